"""Sharing (MKA1's resource authorization): roles, what each operation needs, and the rules of a
grant, a revocation and a check (docs/sharing.md).

Roles are ordered owner > writer > reader. The creator of a conversation is its owner for good
(no grant row: ownership is the conversation's ``owner_id``); a grant gives one end user of the
owner's account, or all of them (``"*"``), one role on one conversation. Grants never cross
accounts: the grantee is always named within the granter's account.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Literal

import msgspec

from .errors import InvalidRequest, NotFound, PermissionDenied
from .identity import Owner, parse_on_behalf_of

__all__ = [
    "EVERYONE",
    "NEEDS",
    "RESPONSE_NEEDS",
    "Access",
    "CheckQuery",
    "GrantInput",
    "Role",
    "grantee_key",
    "parse_grant",
    "require",
]

EVERYONE = "*"
"""``userId`` of a grant to every end user of the account."""

ResourceTypeName = Literal[
    "completion", "file", "vector_store", "conversation", "response", "skill"
]
RoleName = Literal["owner", "writer", "reader"]

SHARED_TYPES = frozenset({"conversation", "response"})
"""Resource types this service shares: conversations and stored responses."""


class Role(IntEnum):
    READER = 1
    WRITER = 2
    OWNER = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def named(cls, name: str) -> Role:
        return cls[name.upper()]


#: What each conversation operation needs (operations not listed are the caller's own:
#: creating and listing conversations).
NEEDS: dict[str, Role] = {
    "get_conversation": Role.READER,
    "list_items": Role.READER,
    "get_item": Role.READER,
    "create_items": Role.WRITER,
    "delete_item": Role.WRITER,
    "delete_items": Role.WRITER,
    "update_conversation": Role.WRITER,
    "delete_conversation": Role.OWNER,
    "grant": Role.OWNER,
    "revoke": Role.OWNER,
}

#: What each stored-response operation needs: a response is immutable, so a writer may do what
#: a reader may and no more. Continuing from a shared response (``previous_response_id``) is
#: not shared: a chain is one owner's responses (docs/sharing.md).
RESPONSE_NEEDS: dict[str, Role] = {
    "get_response": Role.READER,
    "list_input_items": Role.READER,
    "delete_response": Role.OWNER,
    "grant": Role.OWNER,
    "revoke": Role.OWNER,
}


@dataclass(frozen=True, slots=True)
class Access:
    """A caller's access to a conversation through a grant: the conversation's owner (whose
    rows the operation then runs on) and the highest role granted to the caller or to
    everyone."""

    owner: Owner
    role: Role


def require(
    access: Access | None,
    needed: Role,
    resource_id: str,
    *,
    live: bool,
    resource_type: str = "conversation",
) -> Owner:
    """The owner to run as, when ``access`` allows ``needed`` on a ``live`` resource (a
    conversation or a stored response); NotFound when the caller cannot see it (no grant, or
    not live), PermissionDenied when it can but its role is too low."""
    if access is None or not live:
        if resource_type == "response":
            raise NotFound.response(resource_id)
        raise NotFound.conversation(resource_id)
    if access.role < needed:
        raise PermissionDenied.role(resource_type, resource_id, needed.label, access.role.label)
    return access.owner


def grantee_key(account: str, user_id: str) -> str:
    """The stored key of a grantee: ``account:end_user`` (an Owner's key), ``account:*``."""
    return f"{account}:{user_id}"


def owner_of_key(key: str) -> Owner:
    """The Owner a stored owner key names (accounts hold no ``:``)."""
    account, _, end_user = key.partition(":")
    return Owner(account, end_user)


_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class GrantInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/authorization/llm/grant`` and ``…/revoke`` (the wire's
    camelCase names)."""

    resourceType: ResourceTypeName
    resourceId: _Id
    userId: Annotated[str, msgspec.Meta(min_length=1, max_length=150)]
    role: RoleName


@dataclass(frozen=True, slots=True)
class Grant:
    """A validated grant or revocation: the grantee's stored key and the role, on the resource
    ``conversation_id`` names (a conversation, or a stored response when ``resource_type`` is
    ``"response"``)."""

    conversation_id: str
    grantee: str
    user_id: str
    role: Role
    resource_type: str = "conversation"


def check_resource_type(resource_type: str, param: str = "resourceType") -> None:
    """Only shared types: 400 naming ``resourceType`` for any other."""
    if resource_type not in SHARED_TYPES:
        raise InvalidRequest(
            f"Unsupported value: 'resourceType' does not support '{resource_type}' on this "
            "server: only 'conversation' and 'response' resources are shared here.",
            code="unsupported_value",
            param=param,
        )


def parse_grant(caller: Owner, body: GrantInput, *, granting: bool) -> Grant:
    """The grant (or revocation) ``body`` asks for, within the caller's account."""
    check_resource_type(body.resourceType)
    role = Role.named(body.role)
    if body.userId == EVERYONE:
        if granting and role is Role.OWNER:
            raise InvalidRequest(
                "Invalid value for 'role': a grant to every end user ('*') may be 'reader' or "
                "'writer', not 'owner'.",
                code="invalid_value",
                param="role",
            )
        user_id = EVERYONE
    else:
        try:
            user_id = parse_on_behalf_of(body.userId)
        except InvalidRequest:
            raise InvalidRequest(
                "Invalid 'userId': expected an end user of your account (1 to 150 printable "
                "ASCII characters, as sent in 'X-On-Behalf-Of') or '*'.",
                code="invalid_value",
                param="userId",
            ) from None
    return Grant(
        body.resourceId, grantee_key(caller.account, user_id), user_id, role, body.resourceType
    )


@dataclass(frozen=True, slots=True)
class CheckQuery:
    """``GET /api/v1/authorization/llm/check``: may the caller act as ``role`` on the
    resource?"""

    resource_type: str
    resource_id: str
    role: Role
