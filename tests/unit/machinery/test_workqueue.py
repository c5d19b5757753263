"""The work queue's guarantees: de-duplication, one worker per key, per-key backoff."""
from __future__ import annotations

import asyncio

import pytest

from skiff.machinery.expectations import Expectations
from skiff.machinery.workqueue import ExponentialBackoff, WorkQueue


async def test_duplicate_adds_are_handed_out_once() -> None:
    q = WorkQueue()
    for key in ["a", "b", "a", "a", "b"]:
        q.add(key)
    assert len(q) == 2
    assert [await q.get(), await q.get()] == ["a", "b"]


async def test_key_readded_while_processing_waits_for_done() -> None:
    q = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")
    assert len(q) == 0, "a key being processed must not be handed to a second worker"
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "a"


async def test_get_blocks_until_add_and_returns_none_on_shutdown() -> None:
    q = WorkQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"
    waiting = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.shutdown()
    assert await asyncio.wait_for(waiting, 1) is None


async def test_add_after_delivers_later_and_earliest_timer_wins() -> None:
    q = WorkQueue()
    q.add_after("k", 0.05)
    q.add_after("k", 10)
    assert len(q) == 0
    assert await asyncio.wait_for(q.get(), 2) == "k"


@pytest.mark.parametrize("failures,expected", [(1, 0.005), (2, 0.01), (3, 0.02), (30, 300.0)],
                         ids=["first", "second", "third", "capped"])
def test_backoff_doubles_per_key_and_caps(failures: int, expected: float) -> None:
    b = ExponentialBackoff()
    delays = [b.when("k") for _ in range(failures)]
    assert delays[-1] == pytest.approx(expected)
    assert b.when("other") == pytest.approx(0.005)
    b.forget("k")
    assert b.retries("k") == 0


def test_expectations_satisfied_after_observations_or_ttl() -> None:
    now = [0.0]
    e = Expectations(ttl=10, clock=lambda: now[0])
    assert e.satisfied("rs")
    e.expect("rs", add=2, delete=1)
    assert not e.satisfied("rs")
    e.creation_observed("rs")
    e.creation_observed("rs")
    assert not e.satisfied("rs")
    e.deletion_observed("rs")
    assert e.satisfied("rs")
    e.expect("rs", add=5)
    now[0] = 11
    assert e.satisfied("rs"), "expired expectations must not block a controller forever"
