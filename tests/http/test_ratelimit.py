"""Token buckets: a key may send its burst at once, then one request per 1/rate seconds; each
key has its own bucket; a refused take says how long to wait."""

from __future__ import annotations

import pytest

from mka1_conversations.http.ratelimit import TokenBuckets


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_buckets_allow_the_burst_then_the_rate() -> None:
    clock = _Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k") == pytest.approx(0.5)
    assert buckets.take("other") == 0.0  # one bucket per key
    clock.now += 0.25
    assert buckets.take("k") == pytest.approx(0.25)
    clock.now += 0.25
    assert buckets.take("k") == 0.0
    clock.now += 100  # refills up to the burst, no further
    assert [buckets.take("k") for _ in range(4)][-1] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        TokenBuckets(rate=0, burst=1)
