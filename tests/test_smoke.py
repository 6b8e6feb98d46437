"""The service answers: health, a conversation's whole life over raw HTTP."""

from __future__ import annotations

import httpx

from .conftest import BASE_PATH, RunningServer


def test_healthz_needs_no_key(server: RunningServer) -> None:
    response = httpx.get(server.url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


def test_conversation_life(http: httpx.Client) -> None:
    created = http.post(
        BASE_PATH,
        json={"metadata": {"topic": "demo"}, "items": [{"role": "user", "content": "Hello!"}]},
    )
    assert created.status_code == 200, created.text
    conv = created.json()
    assert conv["object"] == "conversation" and conv["deleted_at"] is None
    items = http.get(f"{BASE_PATH}/{conv['id']}/items").json()
    assert items["data"][0]["content"] == [{"type": "input_text", "text": "Hello!"}]
    assert items["data"][0]["status"] == "completed"
    assert items["first_id"] == items["last_id"] == items["data"][0]["id"]
    assert http.delete(f"{BASE_PATH}/{conv['id']}").json() == {
        "id": conv["id"],
        "object": "conversation.deleted",
        "deleted": True,
    }
    assert http.get(f"{BASE_PATH}/{conv['id']}").status_code == 404
