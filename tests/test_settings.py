"""Settings read from the environment: the model server's (``MKA1_UPSTREAM_*``)."""

from __future__ import annotations

import pytest

from mka1_conversations.settings import Settings, SettingsError


def test_no_model_server_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.upstream_url is None and settings.upstream_api_key is None
    assert settings.upstream_timeout_seconds == 300


def test_model_server_settings() -> None:
    settings = Settings.from_env(
        {
            "MKA1_UPSTREAM_URL": " http://127.0.0.1:8001/v1/ ",
            "MKA1_UPSTREAM_API_KEY": "sk-up",
            "MKA1_UPSTREAM_TIMEOUT": "12.5",
        }
    )
    assert settings.upstream_url == "http://127.0.0.1:8001/v1"
    assert settings.upstream_api_key == "sk-up" and settings.upstream_timeout_seconds == 12.5
    assert "sk-up" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MKA1_UPSTREAM_URL", "127.0.0.1:8001/v1"),
        ("MKA1_UPSTREAM_URL", "ftp://host/v1"),
        ("MKA1_UPSTREAM_URL", "http://host:port/v1"),
        ("MKA1_UPSTREAM_URL", "http:///v1"),
        ("MKA1_UPSTREAM_URL", "http://[::1/v1"),
        ("MKA1_UPSTREAM_URL", "http://127.0.0.1:8001/v1/ünïcode"),
        ("MKA1_UPSTREAM_URL", "http://127.0.0.1:8001/v 1"),
        ("MKA1_UPSTREAM_API_KEY", "sk-1\nX-Injected: yes"),
        ("MKA1_UPSTREAM_API_KEY", "sk-\u2603"),
        ("MKA1_UPSTREAM_TIMEOUT", "0"),
        ("MKA1_UPSTREAM_TIMEOUT", "soon"),
    ],
)
def test_bad_model_server_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
