"""The benchmark's data, written straight into a migrated SQLite file before any server starts.

Items go through the project's own ``prepare_items`` (validation, normalisation, ids, search text)
and are inserted with the same SQL the Store uses (``store/sqlite.py``), so the rows, indexes and
full-text index are exactly what the API would have written, at a fraction of the cost of HTTP.

Text is drawn from a synthetic vocabulary with a Zipf distribution (seeded, so every run loads
the same words), which gives the full-text index a realistic shape: a few very common words and a
long tail. Search queries use words of middling frequency.

The search-scale owner (the search/filter issue's scenario) has 10,000 conversations of 20 items
each, with a low-cardinality (``team``, 10 values) and a high-cardinality (``customer``, 5,000
values) metadata key. Its queries are chosen from the data as loaded: a common and a rare
metadata value, and a common-ish and a rare pair of words (``ScaleQuery``).
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

from mka1_conversations.domain.identity import Owner
from mka1_conversations.domain.ids import CONVERSATION_PREFIX, new_id
from mka1_conversations.domain.items import NewItem, prepare_items
from mka1_conversations.store.snapshots import SnapshotMemory
from mka1_conversations.store.sqlite.statements import SQLiteStatements
from mka1_conversations.store.words import word_counts

ACCOUNT = "bench"
CHANNELS = ("support", "sales", "billing", "web", "mobile", "email", "voice", "partner")
TIERS = ("free", "pro", "enterprise")
TEAMS = tuple(f"t{n}" for n in range(10))


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much data each scenario works on."""

    writer_conversations: int = 64  # append-1, append-20 and the chat turn cycle over these
    writer_items: int = 20
    reader_conversations: int = 8  # list-20 and get-item read these
    reader_items: int = 1_000
    search_conversations: int = 10_000  # one owner: list, metadata filter, search
    search_items: int = 5
    growth_small_items: int = 100
    growth_large_items: int = 100_000
    growth_append_pool: int = 256  # small conversations that append-growth cycles over
    owner_small: int = 100  # conversations of the "few conversations" owner
    owner_large: int = 100_000
    scale_conversations: int = 10_000  # search-scale: one owner, metadata and word filters
    scale_items: int = 20
    scale_customers: int = 5_000  # values of the high-cardinality metadata key


FULL = Sizes()
QUICK = Sizes(
    writer_conversations=8,
    writer_items=4,
    reader_conversations=2,
    reader_items=200,
    search_conversations=300,
    search_items=3,
    growth_small_items=20,
    growth_large_items=1_000,
    growth_append_pool=8,
    owner_small=20,
    owner_large=1_000,
    scale_conversations=300,
    scale_items=5,
    scale_customers=150,
)


@dataclass(frozen=True, slots=True)
class ScaleQuery:
    """One list-conversations query of the search-scale owner, chosen from the loaded data."""

    name: str  # "metadata-common", "metadata-rare", "search-common", "search-rare"
    title: str
    metadata: dict[str, str]
    search: str | None
    matches: int  # conversations of the owner that match
    word_conversations: dict[str, int] = field(default_factory=dict)  # per search word

    def query_string(self) -> str:
        """The URL parameters after ``?limit=20&order=desc``."""
        parts = [f"metadata%5B{k}%5D={v}" for k, v in self.metadata.items()]
        if self.search:
            parts.append("search=" + self.search.replace(" ", "+"))
        return "&".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "metadata": self.metadata,
            "search": self.search,
            "matches": self.matches,
            "word_conversations": self.word_conversations,
        }


@dataclass(slots=True)
class Dataset:
    """Ids the scenarios address. Owners are end users (``X-On-Behalf-Of``) of account bench."""

    sizes: Sizes
    writer: list[str] = field(default_factory=list)
    reader: list[str] = field(default_factory=list)
    reader_item_ids: list[tuple[str, str]] = field(default_factory=list)
    search_owner: str = "u-search"
    search_words: list[tuple[str, str]] = field(default_factory=list)
    growth_small: str = ""
    growth_small_pool: list[str] = field(default_factory=list)
    growth_large: str = ""
    owner_small: str = "u-few"
    owner_large: str = "u-many"
    scale_owner: str = "u-scale"
    scale_queries: list[ScaleQuery] = field(default_factory=list)
    load_seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "sizes": {k: getattr(self.sizes, k) for k in self.sizes.__slots__},
            "counts": self.counts,
            "load_seconds": round(self.load_seconds, 2),
            "search_queries": [" ".join(p) for p in self.search_words],
            "scale_queries": [q.to_json() for q in self.scale_queries],
        }


# --- text ---------------------------------------------------------------------------------------

_ONSETS = ("b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")


class Text:
    """Seeded Zipf-distributed words over a synthetic vocabulary (pronounceable, unique)."""

    def __init__(self, seed: int = 1, vocabulary: int = 5_000) -> None:
        self.rng = random.Random(seed)
        words: list[str] = []
        seen: set[str] = set()
        while len(words) < vocabulary:
            syllables = self.rng.randint(2, 4)
            word = "".join(
                self.rng.choice(_ONSETS) + self.rng.choice(_VOWELS) for _ in range(syllables)
            )
            if word not in seen:
                seen.add(word)
                words.append(word)
        self.words = words
        self.cum = list(accumulate(1.0 / (rank + 1) ** 1.05 for rank in range(vocabulary)))

    def sentence(self, low: int = 8, high: int = 40) -> str:
        n = self.rng.randint(low, high)
        return " ".join(self.rng.choices(self.words, cum_weights=self.cum, k=n)).capitalize() + "."

    def query_pairs(self, count: int) -> list[tuple[str, str]]:
        """Two-word searches from words ranked 30-300 (present, not ubiquitous)."""
        rng = random.Random(7)
        band = self.words[30:300]
        return [(rng.choice(band), rng.choice(band)) for _ in range(count)]


def raw_items(text: Text, count: int) -> list[dict[str, Any]]:
    """A conversation's worth of items: mostly user/assistant turns, some tool calls."""
    out: list[dict[str, Any]] = []
    for n in range(count):
        kind = n % 10
        if kind == 7:
            out.append(
                {
                    "type": "function_call",
                    "call_id": f"call_{n}",
                    "name": "lookup",
                    "arguments": json.dumps({"query": text.sentence(2, 6)}),
                }
            )
        elif kind == 8:
            out.append(
                {
                    "type": "function_call_output",
                    "call_id": f"call_{n - 1}",
                    "output": text.sentence(5, 30),
                }
            )
        elif n % 2 == 0:
            out.append({"role": "user", "content": text.sentence()})
        else:
            out.append(
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [
                        {"type": "output_text", "text": text.sentence(), "annotations": []}
                    ],
                }
            )
    return out


# --- writing ------------------------------------------------------------------------------------


class Loader:
    """Inserts conversations and items with the Store's SQL, in large transactions."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA cache_size = -262144")
        self.statements = SQLiteStatements(self.db, SnapshotMemory(), None)
        self.clock_us = time.time_ns() // 1000 - 10**12  # updated_at values, increasing
        self.now = int(time.time())
        self.items = 0
        self.conversations = 0

    def _tick(self) -> int:
        self.clock_us += 1_000
        return self.clock_us

    def conversation(
        self, owner: Owner, metadata: dict[str, str], items: Sequence[NewItem] = ()
    ) -> str:
        conversation_id = new_id(CONVERSATION_PREFIX)
        self.db.execute(
            "INSERT INTO conversations (id, owner_id, created_at, updated_at, metadata, next_seq) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (conversation_id, owner.key, self.now, self._tick(), json.dumps(metadata), len(items)),
        )
        if metadata:
            self.db.executemany(
                "INSERT INTO conversation_metadata (conversation_id, owner_id, key, value) "
                "VALUES (?, ?, ?, ?)",
                [(conversation_id, owner.key, k, v) for k, v in metadata.items()],
            )
        self._insert_items(owner, conversation_id, items, first_seq=1)
        self.conversations += 1
        return conversation_id

    def _insert_items(
        self, owner: Owner, conversation_id: str, items: Sequence[NewItem], *, first_seq: int
    ) -> None:
        self.statements.insert_items(
            owner.key,
            conversation_id,
            items,
            word_counts(it.search_text for it in items),
            first_seq=first_seq,
            now=self.now,
        )
        self.items += len(items)

    def big_conversation(self, owner: Owner, text: Text, count: int, chunk: int = 5_000) -> str:
        """A conversation of ``count`` items, prepared and inserted in chunks."""
        conversation_id = self.conversation(owner, {})
        seq = 1
        while seq <= count:
            n = min(chunk, count - seq + 1)
            prepared = prepare_items(raw_items(text, n))
            self._insert_items(owner, conversation_id, prepared, first_seq=seq)
            seq += n
        self.db.execute(
            "UPDATE conversations SET next_seq = ? WHERE id = ?", (count, conversation_id)
        )
        return conversation_id

    def transaction(self) -> _Txn:
        return _Txn(self.db)

    def close(self) -> None:
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()


class _Txn:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN")

    def __exit__(self, *exc: object) -> None:
        self.db.execute("COMMIT" if exc[0] is None else "ROLLBACK")


def _owner(end_user: str) -> Owner:
    return Owner(ACCOUNT, end_user)


def _prepared(text: Text, count: int) -> list[NewItem]:
    return prepare_items(raw_items(text, count)) if count else []


def load(path: Path, sizes: Sizes) -> Dataset:
    """Fill the (migrated, empty) database at ``path``; return the ids the scenarios use."""
    started = time.perf_counter()
    data = Dataset(sizes)
    text = Text()
    rng = random.Random(3)
    loader = Loader(path)

    with loader.transaction():
        writer = _owner("u-writer")
        for _ in range(sizes.writer_conversations):
            data.writer.append(
                loader.conversation(writer, {"channel": "web"}, _prepared(text, sizes.writer_items))
            )
        reader = _owner("u-reader")
        for _ in range(sizes.reader_conversations):
            prepared = _prepared(text, sizes.reader_items)
            conversation_id = loader.conversation(reader, {"channel": "web"}, prepared)
            data.reader.append(conversation_id)
            data.reader_item_ids += [(conversation_id, it.id) for it in prepared]

    search = _owner(data.search_owner)
    for start in range(0, sizes.search_conversations, 1_000):
        with loader.transaction():
            for _ in range(start, min(start + 1_000, sizes.search_conversations)):
                metadata = {"channel": rng.choice(CHANNELS), "tier": rng.choice(TIERS)}
                loader.conversation(search, metadata, _prepared(text, sizes.search_items))
    data.search_words = text.query_pairs(16)

    grow = _owner("u-growth")
    with loader.transaction():
        data.growth_small = loader.big_conversation(grow, text, sizes.growth_small_items)
        for _ in range(sizes.growth_append_pool):
            data.growth_small_pool.append(
                loader.conversation(grow, {}, _prepared(text, sizes.growth_small_items))
            )
    with loader.transaction():
        data.growth_large = loader.big_conversation(grow, text, sizes.growth_large_items)

    for end_user, count in (
        (data.owner_small, sizes.owner_small),
        (data.owner_large, sizes.owner_large),
    ):
        owner = _owner(end_user)
        for start in range(0, count, 10_000):
            with loader.transaction():
                for n in range(start, min(start + 10_000, count)):
                    loader.conversation(owner, {"n": str(n)})

    data.scale_queries = load_scale(loader, text, sizes, _owner(data.scale_owner))

    data.counts = {"conversations": loader.conversations, "items": loader.items}
    loader.close()
    data.load_seconds = time.perf_counter() - started
    return data


# --- search-scale -------------------------------------------------------------------------------


def load_scale(loader: Loader, text: Text, sizes: Sizes, owner: Owner) -> list[ScaleQuery]:
    """The search-scale owner's conversations, then its four queries, picked from what was
    written: which conversations hold each metadata value and each word."""
    rng = random.Random(5)
    teams: Counter[str] = Counter()
    customers: Counter[str] = Counter()
    holders: defaultdict[str, list[int]] = defaultdict(list)  # word -> conversation numbers
    for start in range(0, sizes.scale_conversations, 1_000):
        with loader.transaction():
            for n in range(start, min(start + 1_000, sizes.scale_conversations)):
                metadata = {
                    "team": rng.choice(TEAMS),
                    "customer": f"cust-{rng.randrange(sizes.scale_customers):05d}",
                }
                teams[metadata["team"]] += 1
                customers[metadata["customer"]] += 1
                prepared = _prepared(text, sizes.scale_items)
                loader.conversation(owner, metadata, prepared)
                for word in {w for it in prepared for w in it.search_text.split()}:
                    holders[word].append(n)
    return pick_scale_queries(sizes.scale_conversations, teams, customers, holders)


def pick_scale_queries(
    conversations: int,
    teams: Counter[str],
    customers: Counter[str],
    holders: dict[str, list[int]],
) -> list[ScaleQuery]:
    """A common and a rare metadata value; a common-ish pair of words (each in about 40 % of
    the conversations) and a rare pair (each in 0.4-1.5 %, together in 1-3 conversations)."""
    team = "t3"
    customer = min(sorted(customers), key=lambda c: customers[c])
    df = {w: len(c) for w, c in holders.items()}
    by_word = sorted(df)
    common = sorted(by_word, key=lambda w: (abs(df[w] - 0.4 * conversations), w))[:2]
    low, high = max(1, int(0.004 * conversations)), max(3, int(0.015 * conversations))
    band = [w for w in by_word if low <= df[w] <= high]
    random.Random(9).shuffle(band)
    rare: list[str] | None = None
    sets: dict[str, set[int]] = {}
    for i, a in enumerate(band[:300]):
        for b in band[i + 1 : 300]:
            both = len(sets.setdefault(a, set(holders[a])) & sets.setdefault(b, set(holders[b])))
            if 1 <= both <= 3:
                rare = [a, b]
                break
        if rare:
            break
    if rare is None:  # tiny data: the two rarest words, whatever they share
        rare = sorted(by_word, key=lambda w: (df[w], w))[:2]

    def together(words: list[str]) -> int:
        return len(set.intersection(*(set(holders[w]) for w in words)))

    def share(count: int) -> str:
        return f"{count:,} of {conversations:,}"

    return [
        ScaleQuery(
            "metadata-common",
            f"metadata team={team} ({share(teams[team])} match)",
            {"team": team},
            None,
            teams[team],
        ),
        ScaleQuery(
            "metadata-rare",
            f"metadata customer={customer} ({share(customers[customer])} match)",
            {"customer": customer},
            None,
            customers[customer],
        ),
        ScaleQuery(
            "search-common",
            f"search of 2 common-ish words ({share(together(common))} match)",
            {},
            " ".join(common),
            together(common),
            {w: df[w] for w in common},
        ),
        ScaleQuery(
            "search-rare",
            f"search of 2 rare words ({share(together(rare))} match)",
            {},
            " ".join(rare),
            together(rare),
            {w: df[w] for w in rare},
        ),
    ]
