"""Listing conversations page by page covers every matching conversation exactly once, in the
order of the moment the listing started, even while they change between page requests."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Literal

import httpx
import pytest
from meetkai_mka1 import SDK
from meetkai_mka1.utils import RetryConfig

from .conftest import BASE_PATH, KEY_A, RunningServer

CONVERSATIONS = 11
Order = Literal["asc", "desc"]


@pytest.fixture
def sdk(server: RunningServer) -> Iterator[SDK]:
    with SDK(
        bearer_auth=KEY_A,
        server_url=server.url,
        retry_config=RetryConfig("none", None, False),  # type: ignore[arg-type]
    ) as client:
        yield client


def _conversations(http: httpx.Client, count: int) -> list[str]:
    """``count`` conversations; odd ones are tagged team=red and mention 'crimson tide'."""
    ids = []
    for n in range(count):
        red = n % 2 == 1
        ids.append(
            http.post(
                BASE_PATH,
                json={
                    "metadata": {"team": "red" if red else "blue", "n": str(n)},
                    "items": [
                        {
                            "role": "user",
                            "content": f"note {n}: " + ("Crimson TIDE" if red else "calm"),
                        }
                    ],
                },
            ).json()["id"]
        )
    return ids


def _disturb(http: httpx.Client, ids: list[str], rng: random.Random) -> None:
    """What other clients do between two page requests."""
    for _ in range(3):
        target = rng.choice(ids)
        action = rng.randrange(4)
        if action == 0:
            http.post(
                f"{BASE_PATH}/{target}/items", json={"items": [{"role": "user", "content": "more"}]}
            )
        elif action == 1:
            current = http.get(f"{BASE_PATH}/{target}").json()["metadata"]
            http.post(f"{BASE_PATH}/{target}", json={"metadata": {**current, "touched": "yes"}})
        elif action == 2:
            added = http.post(
                f"{BASE_PATH}/{target}/items", json={"items": [{"role": "user", "content": "x"}]}
            ).json()
            http.delete(f"{BASE_PATH}/{target}/items/{added['first_id']}")
        else:  # a new conversation: not part of a listing that started before it
            http.post(BASE_PATH, json={"metadata": {"team": "red"}})


def _walk(list_page: Callable[[str | None], tuple[list[str], bool, str]]) -> list[str]:
    seen: list[str] = []
    after: str | None = None
    for _ in range(100):
        ids, has_more, last_id = list_page(after)
        seen += ids
        if not has_more:
            return seen
        assert last_id == ids[-1]
        after = last_id
    raise AssertionError("the listing did not end")


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pages_of_three_cover_everything_once_while_conversations_change(
    http: httpx.Client, sdk: SDK, user: str, order: Order, seed: int
) -> None:
    ids = _conversations(http, CONVERSATIONS)
    rng = random.Random(seed)
    snapshot = [
        c["id"] for c in http.get(BASE_PATH, params={"order": order, "limit": 50}).json()["data"]
    ]
    assert sorted(snapshot) == sorted(ids)

    def page(after: str | None) -> tuple[list[str], bool, str]:
        result = sdk.llm.conversations.list(after=after, limit=3, order=order, x_on_behalf_of=user)
        _disturb(http, ids, rng)
        return [c.id for c in result.data], result.has_more, result.last_id or ""

    assert _walk(page) == snapshot


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(
    "form",
    ["sdk-dict", "sdk-json", "metadata-json", "metadata-bracket", "bare-key"],
)
def test_filtered_pages_cover_every_match_once_while_conversations_change(
    http: httpx.Client, sdk: SDK, user: str, order: Order, form: str
) -> None:
    ids = _conversations(http, CONVERSATIONS)
    red = set(ids[1::2])
    rng = random.Random(form)
    start = http.get(
        BASE_PATH, params={"order": order, "limit": 50, "team": "red", "search": "crimson tide"}
    ).json()["data"]
    snapshot = [c["id"] for c in start]
    assert set(snapshot) == red

    def page(after: str | None) -> tuple[list[str], bool, str]:
        if form.startswith("sdk"):
            metadata: dict[str, str] | str = (
                {"team": "red"} if form == "sdk-dict" else '{"team": "red"}'
            )
            result = sdk.llm.conversations.list(
                after=after,
                limit=3,
                order=order,
                metadata=metadata,
                search="CRIMSON tide",
                x_on_behalf_of=user,
            )
            ids_, more, last = [c.id for c in result.data], result.has_more, result.last_id or ""
        else:
            params: dict[str, str | int] = {"limit": 3, "order": order, "search": "crimson tide"}
            if form == "metadata-json":
                params["metadata"] = '{"team":"red"}'
            elif form == "metadata-bracket":
                params["metadata[team]"] = "red"
            else:
                params["team"] = "red"
            if after:
                params["after"] = after
            body = http.get(BASE_PATH, params=params).json()
            ids_, more, last = [c["id"] for c in body["data"]], body["has_more"], body["last_id"]
        _disturb(http, ids, rng)
        return ids_, more, last

    assert _walk(page) == snapshot


def test_a_cursor_that_was_never_handed_out_pages_from_now(http: httpx.Client) -> None:
    ids = _conversations(http, 5)
    # The client builds its own cursor from the middle of the list: it works, in today's order.
    middle = http.get(BASE_PATH, params={"limit": 50}).json()["data"][2]["id"]
    rest = http.get(BASE_PATH, params={"after": middle, "limit": 50}).json()["data"]
    assert [c["id"] for c in rest] == ids[3:]


def test_deleted_conversations_leave_a_listing_in_progress(http: httpx.Client) -> None:
    ids = _conversations(http, 6)
    first = http.get(BASE_PATH, params={"limit": 2}).json()
    http.delete(f"{BASE_PATH}/{ids[4]}")
    rest = http.get(BASE_PATH, params={"limit": 50, "after": first["last_id"]}).json()["data"]
    assert [c["id"] for c in rest] == [ids[2], ids[3], ids[5]]


# Above this many holders, a search word or metadata pair is tested conversation by conversation
# while walking the list instead of being read up front (both stores; see _DRIVE_FROM_MATCHES).
COMMON = 400
MANY = COMMON + 90


def _many_conversations(http: httpx.Client) -> list[str]:
    """``MANY`` conversations, oldest first: every one says 'alpha' and is kind=all; those with
    n % 6 != 0 say 'beta' (408 holders: common), even ones 'gamma' (245: rare)."""
    ids = []
    for n in range(MANY):
        words = ["alpha"] + ["beta"] * (n % 6 != 0) + ["gamma"] * (n % 2 == 0)
        response = http.post(
            BASE_PATH,
            json={
                "metadata": {"kind": "all", "n": str(n)},
                "items": [{"role": "user", "content": f"{' '.join(words)} {n}"}],
            },
        )
        assert response.status_code == 200, response.text
        ids.append(response.json()["id"])
    return ids


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_common_words_and_pairs_page_exactly_once_in_order(
    http: httpx.Client, order: Order
) -> None:
    assert MANY > COMMON and sum(n % 6 != 0 for n in range(MANY)) > COMMON > MANY // 2
    ids = _many_conversations(http)
    number = {conversation_id: n for n, conversation_id in enumerate(ids)}
    by_update = list(ids)  # the list order (updated_at ascending), as the test moves them
    rng = random.Random(order)
    cases: list[tuple[dict[str, str], Callable[[int], bool]]] = [
        ({"search": "alpha"}, lambda n: True),  # common
        ({"search": "ALPHA Beta"}, lambda n: n % 6 != 0),  # common x common
        ({"search": "beta gamma"}, lambda n: n % 6 in (2, 4)),  # common x rare
        ({"kind": "all", "search": "beta"}, lambda n: n % 6 != 0),  # common pair x common word
        ({"kind": "all"}, lambda n: True),
        ({"search": "gamma", "n": "4"}, lambda n: n == 4),  # rare x rare
        ({"search": "alpha delta"}, lambda n: False),  # no holder at all
    ]
    for params, matches in cases:
        expected = [i for i in by_update if matches(number[i])]
        if order == "desc":
            expected.reverse()
        moved: list[str] = []

        def page(
            after: str | None, params: dict[str, str] = params, moved: list[str] = moved
        ) -> tuple[list[str], bool, str]:
            query: dict[str, str | int] = {**params, "limit": 50, "order": order}
            if after:
                query["after"] = after
            response = http.get(BASE_PATH, params=query)
            assert response.status_code == 200, response.text
            body = response.json()
            # Another client writes to a conversation (a word no filter uses): it moves to the
            # end of the list, but a listing in progress keeps it where it was.
            target = rng.choice(ids)
            added = http.post(
                f"{BASE_PATH}/{target}/items",
                json={"items": [{"role": "user", "content": "again"}]},
            )
            assert added.status_code == 200, added.text
            moved.append(target)
            return [c["id"] for c in body["data"]], body["has_more"], body["last_id"]

        assert _walk(page) == expected, params
        for target in moved:
            by_update.remove(target)
            by_update.append(target)
