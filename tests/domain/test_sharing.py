"""The rules of sharing (domain/sharing.py): role order, what each operation needs, who gets
404 and who 403, and what a grant may name."""

from __future__ import annotations

import pytest

from mka1_conversations.domain.errors import InvalidRequest, NotFound, PermissionDenied
from mka1_conversations.domain.identity import Owner
from mka1_conversations.domain.sharing import (
    NEEDS,
    RESPONSE_NEEDS,
    Access,
    GrantInput,
    Role,
    check_resource_type,
    grantee_key,
    owner_of_key,
    parse_grant,
    require,
)

ALICE = Owner("acct", "alice")
BOB = Owner("acct", "bob")


def body(**changes: str) -> GrantInput:
    values = {"resourceType": "conversation", "resourceId": "conv_1", "userId": "bob"}
    values.update(changes)
    return GrantInput(
        resourceType=values["resourceType"],  # type: ignore[arg-type]
        resourceId=values["resourceId"],
        userId=values["userId"],
        role=changes.get("role", "reader"),  # type: ignore[arg-type]
    )


def test_roles_are_ordered() -> None:
    assert Role.OWNER > Role.WRITER > Role.READER
    assert [Role.named(n) for n in ("reader", "writer", "owner")] == list(Role)
    assert Role.WRITER.label == "writer"


def test_what_each_operation_needs() -> None:
    reads = {"get_conversation", "list_items", "get_item"}
    writes = {"create_items", "delete_item", "delete_items", "update_conversation"}
    owners = {"delete_conversation", "grant", "revoke"}
    assert {op for op, r in NEEDS.items() if r is Role.READER} == reads
    assert {op for op, r in NEEDS.items() if r is Role.WRITER} == writes
    assert {op for op, r in NEEDS.items() if r is Role.OWNER} == owners


def test_require_404_then_403() -> None:
    access = Access(ALICE, Role.READER)
    assert require(access, Role.READER, "conv_1", live=True) == ALICE
    with pytest.raises(PermissionDenied) as info:
        require(access, Role.WRITER, "conv_1", live=True)
    assert info.value.status == 403
    assert info.value.type == "permission_error" and info.value.code == "insufficient_role"
    with pytest.raises(NotFound):  # no grant: no oracle
        require(None, Role.READER, "conv_1", live=True)
    with pytest.raises(NotFound):  # deleted: 404 to everyone, whatever the role
        require(access, Role.WRITER, "conv_1", live=False)


def test_response_roles_and_errors() -> None:
    # a response is immutable: a writer may do what a reader may; only an owner deletes/grants
    assert {op for op, r in RESPONSE_NEEDS.items() if r is Role.READER} == {
        "get_response",
        "list_input_items",
    }
    assert {op for op, r in RESPONSE_NEEDS.items() if r is Role.OWNER} == {
        "delete_response",
        "grant",
        "revoke",
    }
    access = Access(ALICE, Role.WRITER)
    with pytest.raises(PermissionDenied) as denied:
        require(access, Role.OWNER, "resp_1", live=True, resource_type="response")
    assert "response 'resp_1'" in denied.value.message
    with pytest.raises(NotFound) as missing:
        require(None, Role.READER, "resp_1", live=True, resource_type="response")
    assert missing.value.message.startswith("Response with id")
    change = parse_grant(ALICE, body(resourceType="response", resourceId="resp_1"), granting=True)
    assert change.resource_type == "response" and change.conversation_id == "resp_1"


def test_keys() -> None:
    assert grantee_key("acct", "bob") == BOB.key
    assert owner_of_key(ALICE.key) == ALICE
    assert owner_of_key("acct:") == Owner("acct")
    assert owner_of_key("acct:a:b") == Owner("acct", "a:b")  # accounts hold no ':'


def test_parse_grant() -> None:
    grant = parse_grant(ALICE, body(role="writer"), granting=True)
    assert (grant.grantee, grant.role, grant.conversation_id) == ("acct:bob", Role.WRITER, "conv_1")
    everyone = parse_grant(ALICE, body(userId="*"), granting=True)
    assert everyone.grantee == "acct:*"
    with pytest.raises(InvalidRequest) as info:
        parse_grant(ALICE, body(userId="*", role="owner"), granting=True)
    assert info.value.param == "role"
    # revoking owner from '*' asks for nothing it could hold: allowed (a no-op)
    assert parse_grant(ALICE, body(userId="*", role="owner"), granting=False).role is Role.OWNER
    for bad in ("", "x" * 151, "tab\there", "é"):
        with pytest.raises(InvalidRequest) as info:
            parse_grant(ALICE, body(userId=bad), granting=True)
        assert info.value.param == "userId"


@pytest.mark.parametrize("resource_type", ["completion", "file", "vector_store", "skill"])
def test_other_resource_types_are_400(resource_type: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_resource_type(resource_type)
    assert info.value.param == "resourceType" and resource_type in info.value.message
    with pytest.raises(InvalidRequest):
        parse_grant(ALICE, body(resourceType=resource_type), granting=True)
    check_resource_type("conversation")
    check_resource_type("response")
