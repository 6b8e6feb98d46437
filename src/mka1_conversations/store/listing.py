"""Listing conversations by last update, page after page, as of the moment the listing started.

The sort key (the *position*: ``updated_at`` in microseconds) moves whenever a conversation gets
an item or new metadata, so a plain keyset pager would show a conversation that moved behind
the cursor twice (ascending) or never (descending). Instead every page is served as of a
snapshot time ``T0``:

- the first page (no ``after``) takes ``T0`` from the dialect's clock (``clock_us``: a position
  that every write at or below it has committed; PostgreSQL's positions come from a clock row
  per owner that each moving write holds until it commits, so they are handed out in commit
  order) and remembers it under the page's last id;
- ``after=<id>`` recalls that ``T0`` (a cursor nobody handed out, or older than
  ``SNAPSHOT_RETENTION_US``, starts a fresh snapshot);
- as of ``T0``, a conversation sits at its current position if that is ≤ ``T0``, or else at the
  ``from_position`` of its move that crossed ``T0`` (moves are kept for the retention time);
  conversations created after ``T0`` are not in the snapshot.

So a listing paged to its end returns every conversation that existed when it started, and was
not deleted, exactly once, in the order of that moment, however the conversations move meanwhile.

Filters (metadata pairs, search words: *terms*) apply to the conversations as they are now. Each
term's holders are counted first, stopping past ``DRIVE_FROM_MATCHES``: a term nobody holds ends
the listing at once; a rare one makes the page read through its holders by id; common ones are
tested one conversation at a time while walking the owner's list in order, which may take long
when they rarely occur together (the statements may then read off the event loop).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, TypeVarTuple

from ..domain.conversations import ConversationRecord
from ..domain.errors import InvalidRequest
from ..domain.identity import Owner
from ..domain.search import search_words
from ..domain.store import ConversationPage, ConversationQuery, Order

__all__ = [
    "DRIVE_FROM_MATCHES",
    "SNAPSHOT_RETENTION_US",
    "Filters",
    "Listed",
    "ListingStatements",
    "Term",
    "classify",
    "list_conversations",
    "merge_page",
    "position_as_of",
    "split_terms",
    "terms_of",
]

Ts = TypeVarTuple("Ts")
T = TypeVar("T")

SNAPSHOT_RETENTION_US = 24 * 3600 * 1_000_000
"""How long moves (and remembered snapshots) are kept: a page cursor stays exact this long.
The PostgreSQL migrations prune moves with the same constant."""

DRIVE_FROM_MATCHES = 400
"""Terms held by at most this many of the owner's conversations are rare: the page is read
through their holders by id and sorted; commoner terms are tested while walking the owner's list
in order. Reading by id costs one lookup per holder, walking about (limit + 1) × conversations ÷
holders rows: they break even near 460 holders for an owner with 10,000 conversations."""


@dataclass(frozen=True, slots=True)
class Listed:
    """A conversation and its position in the snapshot."""

    position: int
    record: ConversationRecord

    @property
    def key(self) -> tuple[int, str]:
        return (self.position, self.record.id)


@dataclass(frozen=True, slots=True)
class Term:
    """One condition of a listing: a metadata pair ``(key, value)`` or a search word ``(word,)``,
    held by the conversations that have it."""

    kind: Literal["metadata", "word"]
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Filters:
    """A listing's terms, split by how many conversations hold them."""

    rare: list[Term]
    """Read through their holders, by id."""
    common: list[Term]
    """Tested on each conversation while walking the owner's list."""
    uncounted: list[Term]
    """Terms the dialect does not count (PostgreSQL's metadata, a jsonb containment): filtered
    while walking, like common ones."""

    @property
    def by_id(self) -> bool:
        return bool(self.rare)

    @property
    def may_take_long(self) -> bool:
        """No rare term bounds the page, and some term must be tested while walking: it may
        take as long as the owner's list, when the terms rarely occur together."""
        return not self.rare and bool(self.common or self.uncounted)


NO_FILTERS = Filters([], [], [])


class ListingStatements(Protocol):
    async def clock_us(self, owner_key: str) -> int:
        """A snapshot time for a new listing of this owner: a position at or above which no
        write of the owner is still uncommitted (a later one gets a higher position)."""

    async def cursor_state(
        self, owner_key: str, conversation_id: str
    ) -> tuple[int, int | None] | None:
        """For the cursor conversation (deleted or not): its current position, and the
        snapshot remembered under it, if one was and it was taken less than
        ``SNAPSHOT_RETENTION_US`` ago (else None); None if the owner has no such
        conversation."""

    async def crossing_move(self, owner_key: str, conversation_id: str, t0: int) -> int | None:
        """The ``from_position`` of the conversation's move that crossed ``t0``, if any."""

    async def begin_snapshot(self, owner_key: str, t0: int) -> None:
        """A page of this owner is about to be read as of ``t0``."""

    async def remember_snapshot(self, owner_key: str, last_id: str, t0: int) -> None: ...

    async def count_holders(
        self, owner_key: str, terms: Sequence[Term], cap: int
    ) -> list[int | None]:
        """How many of the owner's conversations hold each term, counting at most ``cap``;
        None for a term this dialect does not count."""

    async def conversation_page(
        self,
        owner_key: str,
        t0: int,
        filters: Filters,
        cursor: tuple[int, str] | None,
        order: Order,
        limit: int,
    ) -> list[Listed]:
        """The first ``limit`` live conversations at positions ≤ ``t0`` past the cursor, in
        order, that pass the filters."""

    async def crossing_moves(self, owner_key: str, t0: int) -> dict[str, int]:
        """Conversation id → ``from_position`` of every move that crossed ``t0``."""

    async def conversations_by_id(
        self, owner_key: str, ids: list[str], filters: Filters
    ) -> list[ConversationRecord]:
        """The live ones among ``ids`` that pass the filters."""

    async def consistent_read(
        self,
        may_take_long: bool,
        rule: Callable[[ListingStatements, *Ts], Coroutine[Any, Any, T]],
        *args: *Ts,
    ) -> T:
        """Run ``rule``'s reads against one state of the database; one that ``may_take_long``
        must not hold up other requests while it runs."""


def terms_of(query: ConversationQuery) -> list[Term]:
    terms = [Term("metadata", pair) for pair in query.metadata.items()]
    terms += [Term("word", (word,)) for word in search_words(query.search or "")]
    return terms


async def split_terms(st: ListingStatements, owner_key: str, terms: list[Term]) -> Filters | None:
    """The terms split by their holders, counted in the index up to ``DRIVE_FROM_MATCHES + 1``
    (see ``classify``); None when nothing can match."""
    if not terms:
        return NO_FILTERS
    return classify(terms, await st.count_holders(owner_key, terms, DRIVE_FROM_MATCHES + 1))


def classify(terms: Sequence[Term], counts: Sequence[int | None]) -> Filters | None:
    """Each term by how many conversations hold it: none (then nothing can match: None), at
    most ``DRIVE_FROM_MATCHES`` (rare), more (common), or not counted (uncounted)."""
    rare: list[Term] = []
    common: list[Term] = []
    uncounted: list[Term] = []
    for term, holders in zip(terms, counts, strict=True):
        if holders is None:
            uncounted.append(term)
        elif holders == 0:
            return None
        elif holders <= DRIVE_FROM_MATCHES:
            rare.append(term)
        else:
            common.append(term)
    return Filters(rare, common, uncounted)


def position_as_of(current: int, crossing_move_from: int | None) -> int:
    """A conversation's position as of T0, from its current one and the ``from_position`` of
    its move that crossed T0 (if it moved since)."""
    return crossing_move_from if crossing_move_from is not None else current


def merge_page(
    unmoved: Sequence[Listed],
    moved: Iterable[Listed],
    *,
    after: tuple[int, str] | None,
    order: Order,
    limit: int,
) -> tuple[list[Listed], bool]:
    """The page: ``unmoved`` holds the first ``limit + 1`` unmoved conversations past the cursor
    (in order, from the index); ``moved`` every moved one, placed at its T0 position."""
    descending = order == "desc"
    # A move that committed after the page was read is in both, at the same T0 position.
    seen = {listed.record.id for listed in unmoved}
    extra = [
        m
        for m in moved
        if m.record.id not in seen
        and (after is None or (m.key < after if descending else m.key > after))
    ]
    rows = sorted([*unmoved, *extra], key=lambda r: r.key, reverse=descending)
    return rows[:limit], len(rows) > limit


async def list_conversations(
    st: ListingStatements, owner: Owner, query: ConversationQuery
) -> ConversationPage:
    owner_key = owner.key
    cursor: tuple[int, str] | None = None
    if query.after is None:
        t0 = await st.clock_us(owner_key)
    else:
        state = await st.cursor_state(owner_key, query.after)
        if state is None:
            raise InvalidRequest.unknown_conversation_cursor(query.after)
        current, remembered = state
        t0 = remembered if remembered is not None else await st.clock_us(owner_key)
        move = await st.crossing_move(owner_key, query.after, t0) if current > t0 else None
        cursor = (position_as_of(current, move), query.after)
    # Before reading the page: from now on, updates of this owner's conversations keep moves.
    await st.begin_snapshot(owner_key, t0)
    filters = await split_terms(st, owner_key, terms_of(query))
    if filters is None:
        return ConversationPage([], False)
    page, has_more = await st.consistent_read(
        filters.may_take_long, _page, owner_key, query, filters, t0, cursor
    )
    if has_more:
        await st.remember_snapshot(owner_key, page[-1].record.id, t0)
    return ConversationPage([listed.record for listed in page], has_more)


async def _page(
    st: ListingStatements,
    owner_key: str,
    query: ConversationQuery,
    filters: Filters,
    t0: int,
    cursor: tuple[int, str] | None,
) -> tuple[list[Listed], bool]:
    unmoved = await st.conversation_page(
        owner_key, t0, filters, cursor, query.order, query.limit + 1
    )
    # Also on a first page: a move may commit between reading T0 and reading the page.
    moved: list[Listed] = []
    crossing = await st.crossing_moves(owner_key, t0)
    if crossing:
        found = await st.conversations_by_id(owner_key, list(crossing), filters)
        moved = [Listed(crossing[record.id], record) for record in found]
    return merge_page(unmoved, moved, after=cursor, order=query.order, limit=query.limit)
