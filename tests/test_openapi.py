"""The OpenAPI document describes every operation and every status the service answers, its
unions are ones a validator can decide (every item fits exactly one variant), and /docs works
with no internet access."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema

from .conftest import RunningServer, auth_headers
from .item_examples import EXAMPLES

OPERATIONS = {
    ("post", "/api/v1/llm/conversations"): "conversations.create",
    ("get", "/api/v1/llm/conversations"): "conversations.list",
    ("get", "/api/v1/llm/conversations/{conversation_id}"): "conversations.retrieve",
    ("post", "/api/v1/llm/conversations/{conversation_id}"): "conversations.update",
    ("delete", "/api/v1/llm/conversations/{conversation_id}"): "conversations.delete",
    ("post", "/api/v1/llm/conversations/{conversation_id}/items"): "conversations.items.create",
    ("get", "/api/v1/llm/conversations/{conversation_id}/items"): "conversations.items.list",
    ("delete", "/api/v1/llm/conversations/{conversation_id}/items"): (
        "conversations.items.deleteMany"
    ),
    ("get", "/api/v1/llm/conversations/{conversation_id}/items/{item_id}"): (
        "conversations.items.retrieve"
    ),
    ("delete", "/api/v1/llm/conversations/{conversation_id}/items/{item_id}"): (
        "conversations.items.delete"
    ),
}
#: MKA1's own (docs/sharing.md): only in MKA1's document.
SHARING_OPERATIONS = {
    ("post", "/api/v1/authorization/llm/grant"): "llm.grant",
    ("post", "/api/v1/authorization/llm/revoke"): "llm.revoke",
    ("get", "/api/v1/authorization/llm/check"): "llm.check",
    ("get", "/api/v1/llm/usage/conversations"): "getConversationsUsage",
}


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_openapi_describes_every_operation(server: RunningServer) -> None:
    response = httpx.get(server.url + "/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    found = {
        (method, path): op["operationId"]
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    }
    assert found == {**OPERATIONS, **SHARING_OPERATIONS}
    for path, ops in doc["paths"].items():
        for op in ops.values():
            ok = "204" if op["operationId"] in ("llm.grant", "llm.revoke") else "200"
            assert ok in op["responses"] and "401" in op["responses"]
            names = {p["name"] for p in op["parameters"]}
            assert "X-On-Behalf-Of" in names
            assert set(re.findall(r"{(\w+)}", path)) <= names
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, ref
    create_items = schemas["CreateItemsInput"]["properties"]["items"]
    assert create_items["maxItems"] == 20 and create_items["minItems"] == 1
    assert create_items["items"] == {"$ref": "#/components/schemas/InputItem"}
    assert schemas["ConversationObject"]["required"] == [
        "id",
        "created_at",
        "deleted_at",
        "metadata",
        "identity",
    ]


def test_docs_page_loads_its_assets_from_this_server(server: RunningServer) -> None:
    page = httpx.get(server.url + "/docs")
    assert page.status_code == 200
    assert "SwaggerUIBundle" in page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/docs/assets/") for s in sources)
    for source in sources:
        asset = httpx.get(server.url + source)
        assert asset.status_code == 200 and len(asset.content) > 1000, source


def test_the_openai_face_has_its_own_document(server: RunningServer) -> None:
    doc = httpx.get(server.url + "/v1/openapi.json").json()
    found = {
        (method, path): op["operationId"]
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    }
    mka1_only = {"conversations.list", "conversations.items.deleteMany"}
    assert found == {
        (method, path.replace("/api/v1/llm/", "/v1/")): op
        for (method, path), op in OPERATIONS.items()
        if op not in mka1_only
    }
    items = doc["paths"]["/v1/conversations/{conversation_id}/items"]["get"]
    order = next(p for p in items["parameters"] if p["name"] == "order")
    assert order["schema"]["default"] == "desc"  # OpenAI's default: newest first
    links = doc["paths"]["/v1/conversations"]["post"]["responses"]["200"]["links"]
    assert not set(links) & mka1_only
    page = httpx.get(server.url + "/docs").text
    assert '"/openapi.json"' in page and '"/v1/openapi.json"' in page


def test_every_status_the_service_answers_is_documented(server: RunningServer) -> None:
    """Those of the service, and those an HTTP server answers before it (400, 414, 431)."""
    doc = httpx.get(server.url + "/openapi.json").json()
    for ops in doc["paths"].values():
        for op in ops.values():
            assert {"400", "401", "404", "408", "413", "414", "415", "429", "431"} <= set(
                op["responses"]
            ), op["operationId"]
            for status in ("400", "414", "431"):
                assert "Granian" in op["responses"][status]["description"]  # its empty answers


def _variants(components: dict[str, Any], union: str, value: Any) -> list[str]:
    """The names of the ``union``'s oneOf variants that ``value`` is valid under."""
    fits = []
    for variant in components["schemas"][union]["oneOf"]:
        validator = jsonschema.Draft202012Validator({"components": components, **variant})
        if validator.is_valid(value):
            fits.append(variant["$ref"].rsplit("/", 1)[1])
    return fits


def test_every_item_fits_exactly_one_variant(server: RunningServer, user: str) -> None:
    """Every example of the 24 types, as sent (``InputItem``) and as stored and answered
    (``Item``, whose ``type`` is its discriminator), is valid under exactly one variant: what
    a oneOf requires, so that validators (and Schemathesis) accept the service's answers."""
    doc = httpx.get(server.url + "/openapi.json").json()
    components = doc["components"]
    headers = auth_headers(user=user)
    stored_items = []
    for example in EXAMPLES.values():
        for variant in ("full", "minimal"):
            sent = example.variant(variant)
            assert len(_variants(components, "InputItem", sent)) == 1, (example.title, variant)
            created = httpx.post(server.api, json={"items": [sent]}, headers=headers)
            assert created.status_code == 200, created.text
            listed = httpx.get(f"{server.api}/{created.json()['id']}/items", headers=headers)
            (stored,) = listed.json()["data"]
            fits = _variants(components, "Item", stored)
            assert len(fits) == 1, (example.title, variant, fits)
            stored_items.append((stored["type"], fits[0]))
    item = components["schemas"]["Item"]
    assert item["discriminator"]["propertyName"] == "type"
    mapping = item["discriminator"]["mapping"]
    assert sorted(mapping.values()) == sorted(v["$ref"] for v in item["oneOf"])
    for type_name, variant_name in stored_items:
        assert mapping[type_name] == f"#/components/schemas/{variant_name}"
