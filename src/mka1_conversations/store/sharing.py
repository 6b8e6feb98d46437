"""The rules of sharing (``domain/sharing.py``), over any backend: finding a caller's grant,
granting, revoking, checking.

Ownership is enforced where it always was, by every statement's owner filter
(``conversations.py``): the owner's request runs as before. Only when it finds no conversation
(NotFound) is the caller's grant looked up (``granted_owner``: one indexed read of the grants
table, by the caller's key and by its account's ``*``), and the operation run again as the
conversation's owner, whom the grant names. A grant is keyed by its grantee, so under Citus that
lookup is one shard, and the operation then runs on the owner's.

Stored responses are shared the same way (``resource="response"``: their own grants table,
migration 0010); ``responses.py`` runs a response operation again as the owner its grant names.
"""

from __future__ import annotations

from typing import Protocol

from ..domain.errors import InvalidRequest
from ..domain.identity import Owner
from ..domain.sharing import EVERYONE, Access, Grant, Role, grantee_key, owner_of_key, require

__all__ = [
    "GRANT_TABLES",
    "GrantStatements",
    "check",
    "grant",
    "granted_owner",
    "revoke",
]

GRANT_TABLES = {
    "conversation": ("conversation_grants", "conversation_id", "conversation_owner"),
    "response": ("response_grants", "response_id", "response_owner"),
}
"""The grants table of each resource type (migrations 0009, 0010), its resource id column and
its owner column: what each dialect's grant statements are written over."""


class GrantStatements(Protocol):
    """Each statement on a ``resource``: ``"conversation"`` (conversations and their grants) or
    ``"response"`` (stored responses and theirs)."""

    async def conversation_is_live(
        self, owner_key: str, conversation_id: str, resource: str = "conversation"
    ) -> bool: ...

    async def find_grant(
        self, grantee_keys: tuple[str, str], conversation_id: str, resource: str = "conversation"
    ) -> tuple[str, int] | None:
        """(the resource's owner key, the highest role) of the grants of the resource to any
        of ``grantee_keys``; None without one."""

    async def put_grant(
        self,
        grantee_key: str,
        conversation_id: str,
        owner_key: str,
        role: int,
        *,
        now: int,
        resource: str = "conversation",
    ) -> None:
        """The grantee's role on the resource is ``role`` now (granted or replaced)."""

    async def delete_grant(
        self,
        grantee_key: str,
        conversation_id: str,
        owner_key: str,
        at_least: int,
        resource: str = "conversation",
    ) -> None:
        """Remove the grantee's grant on the resource if its role is ``at_least`` or
        higher."""


async def _access(
    st: GrantStatements, caller: Owner, conversation_id: str, resource: str
) -> Access | None:
    found = await st.find_grant(
        (caller.key, grantee_key(caller.account, EVERYONE)), conversation_id, resource
    )
    if found is None:
        return None
    owner = owner_of_key(found[0])
    if owner.account != caller.account:  # never across accounts (a grant names its own)
        return None
    return Access(owner, Role(found[1]))


async def granted_owner(
    st: GrantStatements,
    caller: Owner,
    conversation_id: str,
    needed: Role,
    resource: str = "conversation",
) -> Owner:
    """For a caller who does not own the conversation: the owner to run the operation as,
    through the caller's grant. NotFound when it has none (or the conversation is gone),
    PermissionDenied when its role is below ``needed`` (then only after making sure the
    conversation is live: a deleted one is 404 to everyone)."""
    access = await _access(st, caller, conversation_id, resource)
    live = True
    if access is not None and access.role < needed:
        live = await st.conversation_is_live(access.owner.key, conversation_id, resource)
    return require(access, needed, conversation_id, live=live, resource_type=resource)


async def _as_owner(
    st: GrantStatements, caller: Owner, conversation_id: str, resource: str
) -> Owner:
    """The resource's owner, if the caller may grant on it (its creator, or granted owner)."""
    if await st.conversation_is_live(caller.key, conversation_id, resource):
        return caller
    access = await _access(st, caller, conversation_id, resource)
    live = access is not None and await st.conversation_is_live(
        access.owner.key, conversation_id, resource
    )
    return require(access, Role.OWNER, conversation_id, live=live, resource_type=resource)


def _not_creator(change: Grant, owner: Owner) -> None:
    if change.grantee == owner.key:
        raise InvalidRequest(
            f"Invalid 'userId': '{change.user_id}' created this {change.resource_type} and is "
            "its owner "
            "for good; a grant cannot change that.",
            code="invalid_value",
            param="userId",
        )


async def grant(st: GrantStatements, caller: Owner, change: Grant, now: int) -> None:
    resource = change.resource_type
    owner = await _as_owner(st, caller, change.conversation_id, resource)
    _not_creator(change, owner)
    await st.put_grant(
        change.grantee, change.conversation_id, owner.key, change.role, now=now, resource=resource
    )


async def revoke(st: GrantStatements, caller: Owner, change: Grant) -> None:
    resource = change.resource_type
    owner = await _as_owner(st, caller, change.conversation_id, resource)
    _not_creator(change, owner)
    await st.delete_grant(change.grantee, change.conversation_id, owner.key, change.role, resource)


async def check(
    st: GrantStatements,
    caller: Owner,
    conversation_id: str,
    role: Role,
    resource: str = "conversation",
) -> bool:
    """Whether the caller may act as ``role`` on the live resource; False when it does not
    exist or the caller cannot see it."""
    if await st.conversation_is_live(caller.key, conversation_id, resource):
        return True
    access = await _access(st, caller, conversation_id, resource)
    if access is None or access.role < role:
        return False
    return await st.conversation_is_live(access.owner.key, conversation_id, resource)
