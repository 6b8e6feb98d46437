"""Moving from SQLite to PostgreSQL with ``export``/``import`` keeps every conversation, item,
position, owner and key: the PostgreSQL export equals the SQLite one, and the API answers the
same on both."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import BASE_PATH, KEY_A, KEY_B, auth_headers, fresh_database, serve_app
from .conftest import test_settings as settings_for
from .processes import cli_env, run_cli

OWNERS = [(KEY_A, None), (KEY_A, "user-1"), (KEY_B, "user-1")]
_RANDOM = random.Random(18)
LONG_WORD = "".join(_RANDOM.choices("abcdefghijklmnopqrstuvwxyz", k=3000))  # no compression helps
HEX = _RANDOM.randbytes(2048).hex()


def _fill(url: str) -> None:
    for n, (key, user) in enumerate(OWNERS):
        with httpx.Client(base_url=url, headers=auth_headers(key, user)) as http:
            for c in range(3):
                conv = http.post(
                    BASE_PATH,
                    json={
                        "metadata": {"n": str(n), "c": str(c), "é": "ü"},
                        "items": [{"role": "user", "content": f"hello {n} {c} crème"}],
                    },
                ).json()
                items = http.post(
                    f"{BASE_PATH}/{conv['id']}/items",
                    json={
                        "items": [
                            {
                                "type": "function_call",
                                "call_id": "k",
                                "name": "f",
                                "arguments": '{"x": 1}',
                                "extra": {"kept": True},
                            },
                            {"type": "function_call_output", "call_id": "k", "output": "ok"},
                            {
                                "role": "assistant",
                                "content": [{"type": "output_text", "text": "hi"}],
                            },
                        ]
                    },
                ).json()
                http.delete(f"{BASE_PATH}/{conv['id']}/items/{items['data'][0]['id']}")
                if c == 1:  # words far over PostgreSQL's b-tree row limit (issue 18, finding 2)
                    long = http.post(
                        f"{BASE_PATH}/{conv['id']}/items",
                        json={
                            "items": [
                                {"role": "user", "content": f"{LONG_WORD} {n}"},
                                {"type": "function_call_output", "call_id": "k", "output": HEX},
                            ]
                        },
                    )
                    assert long.status_code == 200, long.text
                if c == 2:
                    http.delete(f"{BASE_PATH}/{conv['id']}")


def _view(url: str) -> list[Any]:
    """Everything the API shows each owner, in order."""
    view: list[Any] = []
    for key, user in OWNERS:
        with httpx.Client(base_url=url, headers=auth_headers(key, user)) as http:
            for order in ("asc", "desc"):
                conversations = http.get(BASE_PATH, params={"order": order}).json()["data"]
                view.append(conversations)
                for conv in conversations:
                    view.append(http.get(f"{BASE_PATH}/{conv['id']}/items").json())
            for search in ("creme", LONG_WORD, HEX):
                view.append(http.get(BASE_PATH, params={"search": search}).json()["data"])
    return view


@pytest.mark.parametrize("target", ["postgres", "citus"])
def test_export_from_sqlite_import_into_postgres_round_trips(target: str, tmp_path: Path) -> None:
    sqlite_env = cli_env(tmp_path / "source.db")
    assert run_cli("migrate", env=sqlite_env).returncode == 0
    key = run_cli("keys", "create", "--account", "moved", env=sqlite_env).stdout.strip()
    with serve_app(settings_for(sqlite_env["MKA1_DATABASE_URL"])) as url:
        _fill(url)
        with httpx.Client(base_url=url, headers=auth_headers(KEY_A, "user-1")) as http:
            shared = http.get(BASE_PATH).json()["data"][0]["id"]
            granted = http.post(
                "/api/v1/authorization/llm/grant",
                json={
                    "resourceType": "conversation",
                    "resourceId": shared,
                    "userId": "viewer",
                    "role": "reader",
                },
            )
            assert granted.status_code == 204, granted.text
        before = _view(url)
    dump = tmp_path / "dump.jsonl"
    exported = run_cli("export", "--output", str(dump), env=sqlite_env)
    assert exported.returncode == 0, exported.stderr
    lines = dump.read_text().splitlines()
    # the key, 9 conversations, 4 items each, 2 more in each owner's second one, the grant
    records = [json.loads(line)["record"] for line in lines]
    assert len(records) - records.count("usage") == 1 + 9 + 9 * 4 + 3 * 2 + 1
    assert records.count("grant") == 1
    assert records.count("usage") >= 3  # each owner's, per key and minute

    with fresh_database(target, tmp_path) as postgres_url:
        postgres_env = cli_env(postgres_url)
        imported = run_cli("import", "--input", str(dump), env=postgres_env)
        assert imported.returncode == 0, imported.stderr
        again = tmp_path / "again.jsonl"
        assert run_cli("export", "--output", str(again), env=postgres_env).returncode == 0
        assert again.read_text() == dump.read_text()
        # Importing the same rows again collides: refused, all or nothing.
        twice = run_cli("import", "--input", str(dump), env=postgres_env)
        assert twice.returncode == 1 and "nothing was imported" in twice.stderr
        with serve_app(settings_for(postgres_url)) as url:
            after = _view(url)
            moved = httpx.get(url + BASE_PATH, headers={"Authorization": f"Bearer {key}"})
            assert moved.status_code == 200
            viewer = httpx.get(f"{url}{BASE_PATH}/{shared}", headers=auth_headers(KEY_A, "viewer"))
            assert viewer.status_code == 200, viewer.text
    assert after == before
