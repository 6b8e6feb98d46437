"""The rules of sharing (``domain/sharing.py``), over any backend: finding a caller's grant,
granting, revoking, checking.

Ownership is enforced where it always was, by every statement's owner filter
(``conversations.py``): the owner's request runs as before. Only when it finds no conversation
(NotFound) is the caller's grant looked up (``granted_owner``: one indexed read of the grants
table, by the caller's key and by its account's ``*``), and the operation run again as the
conversation's owner, whom the grant names. A grant is keyed by its grantee, so under Citus that
lookup is one shard, and the operation then runs on the owner's.
"""

from __future__ import annotations

from typing import Protocol

from ..domain.errors import InvalidRequest
from ..domain.identity import Owner
from ..domain.sharing import EVERYONE, Access, Grant, Role, grantee_key, owner_of_key, require

__all__ = [
    "GrantStatements",
    "check",
    "grant",
    "granted_owner",
    "revoke",
]


class GrantStatements(Protocol):
    async def conversation_is_live(self, owner_key: str, conversation_id: str) -> bool: ...

    async def find_grant(
        self, grantee_keys: tuple[str, str], conversation_id: str
    ) -> tuple[str, int] | None:
        """(the conversation's owner key, the highest role) of the grants of the conversation
        to any of ``grantee_keys``; None without one."""

    async def put_grant(
        self, grantee_key: str, conversation_id: str, owner_key: str, role: int, *, now: int
    ) -> None:
        """The grantee's role on the conversation is ``role`` now (granted or replaced)."""

    async def delete_grant(
        self, grantee_key: str, conversation_id: str, owner_key: str, at_least: int
    ) -> None:
        """Remove the grantee's grant on the conversation if its role is ``at_least`` or
        higher."""


async def _access(st: GrantStatements, caller: Owner, conversation_id: str) -> Access | None:
    found = await st.find_grant(
        (caller.key, grantee_key(caller.account, EVERYONE)), conversation_id
    )
    if found is None:
        return None
    owner = owner_of_key(found[0])
    if owner.account != caller.account:  # never across accounts (a grant names its own)
        return None
    return Access(owner, Role(found[1]))


async def granted_owner(
    st: GrantStatements, caller: Owner, conversation_id: str, needed: Role
) -> Owner:
    """For a caller who does not own the conversation: the owner to run the operation as,
    through the caller's grant. NotFound when it has none (or the conversation is gone),
    PermissionDenied when its role is below ``needed`` (then only after making sure the
    conversation is live: a deleted one is 404 to everyone)."""
    access = await _access(st, caller, conversation_id)
    live = True
    if access is not None and access.role < needed:
        live = await st.conversation_is_live(access.owner.key, conversation_id)
    return require(access, needed, conversation_id, live=live)


async def _as_owner(st: GrantStatements, caller: Owner, conversation_id: str) -> Owner:
    """The conversation's owner, if the caller may grant on it (its creator, or granted
    owner)."""
    if await st.conversation_is_live(caller.key, conversation_id):
        return caller
    access = await _access(st, caller, conversation_id)
    live = access is not None and await st.conversation_is_live(access.owner.key, conversation_id)
    return require(access, Role.OWNER, conversation_id, live=live)


def _not_creator(change: Grant, owner: Owner) -> None:
    if change.grantee == owner.key:
        raise InvalidRequest(
            f"Invalid 'userId': '{change.user_id}' created this conversation and is its owner "
            "for good; a grant cannot change that.",
            code="invalid_value",
            param="userId",
        )


async def grant(st: GrantStatements, caller: Owner, change: Grant, now: int) -> None:
    owner = await _as_owner(st, caller, change.conversation_id)
    _not_creator(change, owner)
    await st.put_grant(change.grantee, change.conversation_id, owner.key, change.role, now=now)


async def revoke(st: GrantStatements, caller: Owner, change: Grant) -> None:
    owner = await _as_owner(st, caller, change.conversation_id)
    _not_creator(change, owner)
    await st.delete_grant(change.grantee, change.conversation_id, owner.key, change.role)


async def check(st: GrantStatements, caller: Owner, conversation_id: str, role: Role) -> bool:
    """Whether the caller may act as ``role`` on the live conversation; False when it does not
    exist or the caller cannot see it."""
    if await st.conversation_is_live(caller.key, conversation_id):
        return True
    access = await _access(st, caller, conversation_id)
    if access is None or access.role < role:
        return False
    return await st.conversation_is_live(access.owner.key, conversation_id)
