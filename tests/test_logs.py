"""The request log: exactly one JSON line per request, with the documented fields, and never a
secret: not the API key, not the ``X-On-Behalf-Of`` value, not the search text, not any content.

It runs the real ``serve`` (Granian) and reads everything the process writes on standard error,
so the server's own lines (start-up, shutdown) are checked too: in JSON mode every line is JSON.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import httpx

from .conftest import BASE_PATH, migrated_database
from .processes import cli_env, run_cli, serving

REQUEST_FIELDS = {
    "ts",
    "level",
    "event",
    "request_id",
    "operation",
    "method",
    "path",
    "status",
    "duration_ms",
    "account",
}


def _secrets() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {
        "key": f"sk-logsecret-{tag}",
        "wrong_key": f"sk-wrongsecret-{tag}",
        "on_behalf_of": f"obo-secret-{tag}",
        "search": f"searchsecret{tag}",
        "content": f"contentsecret{tag}",
        "metadata": f"metasecret{tag}",
        "path": f"pathsecret{tag}",
    }


def test_one_json_line_per_request_and_no_secrets(tmp_path: Any) -> None:
    s = _secrets()
    account = "acct_logs"
    env = cli_env(migrated_database(tmp_path), MKA1_API_KEYS=f"{s['key']}=acct_logs")
    env["MKA1_LOG_FORMAT"] = "json"
    # request id → what its line must say: operation, method, path, status, account known
    sent: dict[str, tuple[str, str, str | None, int, bool]] = {}
    with serving(env=env) as (url, lines), httpx.Client(base_url=url, timeout=30) as http:
        auth = {"Authorization": f"Bearer {s['key']}", "X-On-Behalf-Of": s["on_behalf_of"]}

        def call(op: str, path: str | None, method: str, target: str, **kw: Any) -> Any:
            request_id = f"req-{op}-{uuid.uuid4().hex[:8]}"
            headers = {**kw.pop("headers", auth), "X-Request-ID": request_id}
            response = http.request(method, target, headers=headers, **kw)
            known = headers.get("Authorization") == auth["Authorization"] and op != "readyz"
            sent[request_id] = (op, method, path, response.status_code, known)
            return response

        conv = BASE_PATH + "/{conversation_id}"
        created = call(
            "create_conversation",
            BASE_PATH,
            "POST",
            BASE_PATH,
            json={
                "metadata": {"note": s["metadata"]},
                "items": [{"role": "user", "content": f"hello {s['content']}"}],
            },
        ).json()
        cid = created["id"]
        listed = call(
            "list_conversations", BASE_PATH, "GET", BASE_PATH, params={"search": s["content"]}
        )
        assert [c["id"] for c in listed.json()["data"]] == [cid]
        call("list_conversations", BASE_PATH, "GET", f"{BASE_PATH}?search={s['search']}")
        items = call("list_items", conv + "/items", "GET", f"{BASE_PATH}/{cid}/items").json()
        item_id = items["data"][0]["id"]
        call(
            "get_item",
            conv + "/items/{item_id}",
            "GET",
            f"{BASE_PATH}/{cid}/items/{item_id}",
        )
        call("get_conversation", conv, "GET", f"{BASE_PATH}/{cid}/")  # trailing slash: 404
        call(
            "list_conversations",
            BASE_PATH,
            "GET",
            BASE_PATH,
            headers={"Authorization": f"Bearer {s['wrong_key']}"},
        )
        call("unmatched", None, "GET", f"/api/v1/{s['path']}")
        call("readyz", "/readyz", "GET", "/readyz", headers={})
    # Fix up the one whose route did not match (a trailing slash is no route): unmatched.
    for request_id, (op, method, _, status, known) in list(sent.items()):
        if status == 404 and op == "get_conversation":
            sent[request_id] = ("unmatched", method, None, status, known)

    text = "".join(lines)
    for name, secret in s.items():
        assert secret not in text, f"the log contains the {name}"
    records = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    requests = [r for r in records if r.get("event") == "request"]
    ours = [r for r in requests if r["request_id"] in sent]
    assert sorted(r["request_id"] for r in ours) == sorted(sent)  # exactly one line each
    account_hash = hashlib.sha256(account.encode()).hexdigest()[:12]
    for record in ours:
        op, method, path, status, known = sent[record["request_id"]]
        assert set(record) >= REQUEST_FIELDS, record
        assert record["level"] == "INFO"
        assert (record["operation"], record["method"], record["path"], record["status"]) == (
            op,
            method,
            path,
            status,
        )
        assert isinstance(record["duration_ms"], float) and record["duration_ms"] >= 0
        assert record["ts"].endswith("Z")
        assert record["account"] == (account_hash if known else None), record
        if "{conversation_id}" in (path or ""):
            assert record["conversation_id"] == cid
    item_line = next(r for r in ours if r["operation"] == "get_item")
    assert item_line["item_id"] == item_id
    # The server's own lines are JSON too, and its access log is off (ours replaces it).
    assert any(r.get("logger") == "_granian" for r in records)
    assert len(requests) == len([r for r in records if "status" in r])


def test_text_format_is_for_people(tmp_path: Any) -> None:
    env = cli_env(migrated_database(tmp_path), MKA1_API_KEYS="sk-text=acct", MKA1_LOG_FORMAT="text")
    with serving(env=env) as (url, lines):
        httpx.get(url + BASE_PATH, headers={"Authorization": "Bearer sk-text"})
    request_lines = [line for line in lines if "op=list_conversations" in line]
    assert len(request_lines) == 1
    assert f" 200 GET {BASE_PATH} " in request_lines[0]
    assert "sk-text" not in "".join(lines)


def test_log_level_warning_drops_request_lines(tmp_path: Any) -> None:
    env = cli_env(migrated_database(tmp_path), MKA1_API_KEYS="k=acct", MKA1_LOG_LEVEL="warning")
    with serving(env=env) as (url, lines):
        httpx.get(url + BASE_PATH, headers={"Authorization": "Bearer k"})
    assert not [line for line in lines if '"event":"request"' in line]


def test_unknown_log_settings_are_refused(tmp_path: Any) -> None:
    database = migrated_database(tmp_path)
    for name, bad in (("MKA1_LOG_FORMAT", "xml"), ("MKA1_LOG_LEVEL", "loud")):
        result = run_cli("serve", env=cli_env(database, **{name: bad}))
        assert result.returncode == 1
        assert name in result.stderr and repr(bad) in result.stderr
