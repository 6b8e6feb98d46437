"""``identity`` per MKA1_IDENTITY_MODE, and that the mode changes only how it is shown."""

from __future__ import annotations

import hashlib

import httpx

from .conftest import ACCOUNT_A, BASE_PATH, KEY_A, auth_headers, serve_app
from .conftest import test_settings as settings_for


def test_switching_the_identity_mode_changes_only_how_identity_is_shown(database_url: str) -> None:

    with serve_app(settings_for(database_url, identity_mode="raw")) as url:
        mine = httpx.post(url + BASE_PATH, json={}, headers=auth_headers(KEY_A, "u:1"))
        account_level = httpx.post(url + BASE_PATH, json={}, headers=auth_headers(KEY_A))
        assert mine.json()["identity"] == f"{ACCOUNT_A}:u:1"
        assert account_level.json()["identity"] == f"{ACCOUNT_A}:"
    conversation_id = mine.json()["id"]
    with serve_app(settings_for(database_url, identity_mode="hash")) as url:
        got = httpx.get(f"{url}{BASE_PATH}/{conversation_id}", headers=auth_headers(KEY_A, "u:1"))
        assert got.status_code == 200
        assert got.json()["identity"] == hashlib.sha256(f"{ACCOUNT_A}:u:1".encode()).hexdigest()
        # The account itself (no X-On-Behalf-Of) is another owner: it does not see it.
        assert (
            httpx.get(
                f"{url}{BASE_PATH}/{conversation_id}", headers=auth_headers(KEY_A)
            ).status_code
            == 404
        )
