"""The running app's services reach a request through its scope's lifespan state, and a request
in an app whose lifespan has not run is told so."""

from __future__ import annotations

from typing import Any, cast

import pytest

from mka1_conversations.http.services import Services, lifespan_state, services


def test_the_state_the_lifespan_yields_is_what_a_request_reads() -> None:
    running = cast(Services, object())  # the accessor only hands it on
    scope: dict[str, Any] = {"type": "http", "state": dict(lifespan_state(running))}
    assert services(scope) is running


@pytest.mark.parametrize("scope", [{"type": "http"}, {"type": "http", "state": {}}])
def test_without_the_lifespan_a_request_is_told_the_app_has_not_started(
    scope: dict[str, Any],
) -> None:
    with pytest.raises(RuntimeError, match="lifespan has not run"):
        services(scope)
