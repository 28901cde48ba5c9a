"""concurrent_map is bounded, ordered, and fails fast."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from zstore.core import concurrency_limit, concurrent_as_completed, concurrent_map


class InFlight:
    """Counts calls in flight and remembers the most seen at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.started: list[int] = []

    async def __call__(self, item: int) -> int:
        self.started.append(item)
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            # Yield a few times so many calls overlap if the helper lets them.
            for _ in range(3):
                await asyncio.sleep(0)
            return item * 10
        finally:
            self.now -= 1


@pytest.mark.parametrize("limit", [1, 2, 5, 64])
async def test_never_more_than_limit_in_flight(limit: int) -> None:
    counter = InFlight()
    result = await concurrent_map(range(200), counter, limit=limit)
    assert result == [i * 10 for i in range(200)]
    assert counter.most == min(limit, 200), f"saw {counter.most} in flight with limit {limit}"


async def test_limit_is_actually_used_not_just_respected() -> None:
    counter = InFlight()
    await concurrent_map(range(50), counter, limit=8)
    assert counter.most == 8


async def test_results_keep_input_order_when_completion_order_differs() -> None:
    async def slow_for_small(item: int) -> int:
        for _ in range(10 - item):
            await asyncio.sleep(0)
        return item

    assert await concurrent_map(range(10), slow_for_small, limit=10) == list(range(10))


async def test_empty_input_gives_empty_list() -> None:
    async def never(item: int) -> int:
        raise AssertionError("called")

    assert await concurrent_map([], never) == []


async def test_env_var_sets_the_default_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZSTORE_CONCURRENCY", "3")
    counter = InFlight()
    await concurrent_map(range(30), counter)
    assert counter.most == 3


async def test_first_exception_propagates_as_itself_and_cancels_the_rest() -> None:
    cancelled: list[int] = []
    finished: list[int] = []

    async def work(item: int) -> int:
        if item == 3:
            await asyncio.sleep(0)
            raise KeyError("boom at 3")
        try:
            for _ in range(100):
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        finished.append(item)
        return item

    with pytest.raises(KeyError, match="boom at 3"):
        await concurrent_map(range(100), work, limit=8)
    assert cancelled, "calls in flight were not cancelled"
    assert len(finished) < 100 - 1, "items kept being started after the failure"
    # Nothing is left running after the call returns.
    current = asyncio.current_task()
    assert [t for t in asyncio.all_tasks() if t is not current] == []


async def test_exception_with_limit_one_also_propagates() -> None:
    calls: list[int] = []

    async def work(item: int) -> int:
        calls.append(item)
        if item == 1:
            raise RuntimeError("second fails")
        return item

    with pytest.raises(RuntimeError, match="second fails"):
        await concurrent_map(range(5), work, limit=1)
    assert calls == [0, 1]


async def test_cancelling_the_caller_cancels_every_worker() -> None:
    started = asyncio.Event()
    cancelled: list[int] = []

    async def work(item: int) -> int:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        return item

    task = asyncio.ensure_future(concurrent_map(range(10), work, limit=4))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == [0, 1, 2, 3]


def test_concurrency_limit_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZSTORE_CONCURRENCY", raising=False)
    assert concurrency_limit() == 64
    assert concurrency_limit(7) == 7
    monkeypatch.setenv("ZSTORE_CONCURRENCY", "12")
    assert concurrency_limit() == 12
    assert concurrency_limit(5) == 5
    monkeypatch.setenv("ZSTORE_CONCURRENCY", "  ")
    assert concurrency_limit() == 64


@pytest.mark.parametrize("raw", ["zero", "1.5", "0", "-2"])
def test_bad_env_var_is_an_error_naming_it(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("ZSTORE_CONCURRENCY", raw)
    with pytest.raises(ValueError, match="ZSTORE_CONCURRENCY"):
        concurrency_limit()


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_limit_argument_is_a_value_error(bad: int) -> None:
    with pytest.raises(ValueError, match=">= 1"):
        concurrency_limit(bad)


@pytest.mark.parametrize("bad", [1.5, "4", True])
def test_non_int_limit_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="must be an int"):
        concurrency_limit(bad)  # type: ignore[arg-type]


async def _cancelled_inside() -> None:
    """Await a future that someone else cancelled: a CancelledError the caller did not ask
    for, as a call gets when a shared future it waits on is cancelled."""
    future = asyncio.get_running_loop().create_future()
    future.cancel()
    await future


@pytest.mark.parametrize("limit", [1, 4])
async def test_a_call_cancelled_from_inside_is_raised_not_returned_as_none(limit: int) -> None:
    async def work(item: int) -> int:
        await asyncio.sleep(0)
        if item == 1:
            await _cancelled_inside()
        return item * 10

    # asyncio.gather raises the CancelledError of a call to a caller that was not cancelled;
    # a None in the call's slot would read as "missing key" to get_partial_values.
    with pytest.raises(asyncio.CancelledError):
        await concurrent_map(range(4), work, limit=limit)
    current = asyncio.current_task()
    assert current is not None
    assert current.cancelling() == 0, "the caller itself was cancelled"
    assert [t for t in asyncio.all_tasks() if t is not current] == [], "workers outlived the call"


async def test_a_call_cancelled_from_inside_ends_concurrent_as_completed() -> None:
    async def work(item: int) -> int:
        await asyncio.sleep(0)
        if item == 1:
            await _cancelled_inside()
        return item * 10

    async def collect() -> list[int]:
        return [r async for r in concurrent_as_completed(range(4), work, limit=4)]

    # The timeout only guards against the hang this test is about (no result was queued).
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(collect(), 30)
    current = asyncio.current_task()
    assert [t for t in asyncio.all_tasks() if t is not current] == [], "workers outlived the call"


async def test_a_base_exception_of_a_call_ends_concurrent_as_completed() -> None:
    class Stop(BaseException):
        pass

    async def work(item: int) -> int:
        await asyncio.sleep(0)
        if item == 2:
            raise Stop("not an Exception")
        return item

    async def collect() -> list[int]:
        return [r async for r in concurrent_as_completed(range(4), work, limit=4)]

    with pytest.raises(Stop, match="not an Exception"):
        await asyncio.wait_for(collect(), 30)  # the timeout only guards against a hang


@pytest.mark.parametrize("stop", ["aclose", "a call fails"])
async def test_concurrent_as_completed_cancels_the_calls_in_flight_when_it_stops(
    stop: str,
) -> None:
    started: list[int] = []
    cancelled: list[int] = []
    never = asyncio.Event()

    async def work(item: int) -> int:
        started.append(item)
        if item == 0:
            return item
        if item == 1 and stop == "a call fails":
            await asyncio.sleep(0)
            raise KeyError("boom")
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        return item

    results = concurrent_as_completed(range(10), work, limit=3)
    assert await anext(results) == 0
    if stop == "aclose":
        await results.aclose()  # type: ignore[attr-defined]  # an async generator
    else:
        with pytest.raises(KeyError, match="boom"):
            await anext(results)
    # Every call started but 0 (done) and, in the failing case, 1 (the failure) is blocked.
    done = {0, 1} if stop == "a call fails" else {0}
    blocked = [item for item in started if item not in done]
    assert blocked, started
    assert sorted(cancelled) == sorted(blocked), (started, cancelled)
    current = asyncio.current_task()
    assert [t for t in asyncio.all_tasks() if t is not current] == [], "workers outlived it"
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(started) < 10, "items were started after it stopped"


# --- cancellation and cleanup (adversarial review, 0.1.7) ----------------------------------


async def test_a_call_that_fails_while_being_cancelled_is_not_logged_as_unretrieved() -> None:
    # The caller is cancelled; each call's cleanup raises. Those failures must not be
    # reported by asyncio as "Task exception was never retrieved" (a log line per worker).
    loop = asyncio.get_running_loop()
    logged: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: logged.append(context))
    started = asyncio.Event()

    async def work(item: int) -> int:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None
        return item

    task = asyncio.ensure_future(concurrent_map(range(6), work, limit=3))
    await started.wait()
    task.cancel()
    await asyncio.wait([task])  # not `await task`: its traceback would keep the workers alive
    assert task.cancelled()
    del task
    gc.collect()
    loop.set_exception_handler(None)
    assert logged == []


async def test_a_call_that_swallows_its_cancellation_starts_no_further_item() -> None:
    # After a failure, no further item may start ("fail-fast"), even when a call in flight
    # catches its cancellation and returns: its worker used to go on through every item.
    started: list[int] = []
    both = asyncio.Barrier(2)

    async def work(item: int) -> int:
        started.append(item)
        if item >= 2:
            return item
        await both.wait()  # items 0 and 1 in flight together
        if item == 0:
            raise KeyError("first fails")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return item  # a call that does not let itself be cancelled
        return item

    with pytest.raises(KeyError, match="first fails"):
        await concurrent_map(range(20), work, limit=2)
    assert started == [0, 1]


@pytest.mark.parametrize("how", ["map", "as_completed"])
async def test_cancelling_twice_still_waits_for_every_worker(how: str) -> None:
    # A second cancel() while the workers wind down used to return at once and leave them
    # running behind a caller that had moved on.
    started = asyncio.Event()
    winding_down = asyncio.Event()
    release = asyncio.Event()
    running = 0

    async def work(item: int) -> int:
        nonlocal running
        running += 1
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            winding_down.set()
            await release.wait()  # a cleanup that takes its time
            raise
        finally:
            running -= 1
        return item

    async def consume() -> None:
        if how == "map":
            await concurrent_map(range(6), work, limit=3)
        else:
            async for _ in concurrent_as_completed(range(6), work, limit=3):
                pass

    task = asyncio.ensure_future(consume())
    await started.wait()
    task.cancel()
    await winding_down.wait()
    task.cancel()  # again, while the workers wind down
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done(), "returned with workers still running"
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert running == 0
