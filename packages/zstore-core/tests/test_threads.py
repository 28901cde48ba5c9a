"""zstore.core's worker-thread mechanism: ThreadDispatcher, CallBatcher, shared_executor."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import sys
import threading
import time
import weakref
from functools import partial
from typing import Any

import pytest

from zstore.core import BatchResult, CallBatcher, ThreadDispatcher, _threads, shared_executor


async def test_run_returns_the_result_from_a_worker_thread() -> None:
    dispatcher = ThreadDispatcher()
    name = await dispatcher.run(lambda: threading.current_thread().name)
    assert name != threading.current_thread().name
    assert name.startswith("zstore")


async def test_run_raises_what_the_call_raised() -> None:
    def fail() -> None:
        raise KeyError("missing thing")

    with pytest.raises(KeyError, match="missing thing"):
        await ThreadDispatcher().run(fail)


async def test_one_worker_runs_calls_in_the_order_they_were_queued() -> None:
    dispatcher = ThreadDispatcher(max_workers=1)
    seen: list[int] = []
    await asyncio.gather(*(dispatcher.run(partial(seen.append, i)) for i in range(500)))
    assert seen == list(range(500))


async def test_never_more_workers_than_max_workers() -> None:
    dispatcher = ThreadDispatcher(max_workers=2, backlog_per_worker=1)
    lock = threading.Lock()
    running = 0
    most = 0

    def job() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.002)
        with lock:
            running -= 1

    await asyncio.gather(*(dispatcher.run(job) for _ in range(40)))
    assert most == 2, f"{most} jobs ran at once with max_workers=2"


async def test_a_call_cancelled_before_a_worker_reaches_it_does_not_run() -> None:
    dispatcher = ThreadDispatcher(max_workers=1)
    gate = threading.Event()
    ran: list[str] = []
    blocker = dispatcher.start(gate.wait)
    doomed = dispatcher.start(partial(ran.append, "doomed"))
    doomed.cancel()
    after = dispatcher.start(partial(ran.append, "after"))
    gate.set()
    await blocker
    await after
    assert ran == ["after"]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="max_workers must be >= 1, got 0"):
        ThreadDispatcher(max_workers=0)
    with pytest.raises(ValueError, match="backlog_per_worker must be >= 1, got 0"):
        ThreadDispatcher(backlog_per_worker=0)


@pytest.mark.parametrize(
    ("value", "message"),
    [("many", "ZSTORE_THREADS='many' is not an integer"), ("0", "must be >= 1, got 0")],
)
def test_a_bad_thread_count_in_the_environment_is_named(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("ZSTORE_THREADS", value)
    with pytest.raises(ValueError, match=message):
        _threads._pool_size()


def test_the_thread_count_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZSTORE_THREADS", "3")
    assert _threads._pool_size() == 3
    monkeypatch.delenv("ZSTORE_THREADS")
    assert _threads._pool_size() == min(32, (os.cpu_count() or 1) + 4)


def test_shared_executor_is_one_per_process() -> None:
    assert shared_executor() is shared_executor()


# --- iter_chunked / map_chunked -----------------------------------------------------------


async def test_map_chunked_keeps_input_order_and_uses_several_jobs() -> None:
    dispatcher = ThreadDispatcher(max_workers=2)
    chunks: list[int] = []

    def double(chunk: Any) -> list[int]:
        chunks.append(len(chunk))
        return [2 * x for x in chunk]

    assert await dispatcher.map_chunked(double, list(range(1000)), size=64) == [
        2 * x for x in range(1000)
    ]
    assert sum(chunks) == 1000
    assert max(chunks) <= 64
    assert len(chunks) == -(-1000 // 64)
    assert await dispatcher.map_chunked(double, []) == []


async def test_map_chunked_spreads_a_small_batch_over_the_workers() -> None:
    dispatcher = ThreadDispatcher(max_workers=2)
    chunks: list[int] = []

    def count(chunk: Any) -> list[int]:
        chunks.append(len(chunk))
        return list(chunk)

    await dispatcher.map_chunked(count, list(range(8)), size=64)
    assert chunks == [2, 2, 2, 2], "two chunks per worker, not one chunk of everything"


async def test_iter_chunked_stopped_early_cancels_the_chunks_not_started() -> None:
    dispatcher = ThreadDispatcher(max_workers=1)
    ran: list[int] = []

    def record(chunk: Any) -> list[int]:
        ran.append(chunk[0])
        time.sleep(0.001)
        return list(chunk)

    parts = dispatcher.iter_chunked(record, list(range(100)), size=1)
    first = await parts.__anext__()
    await parts.aclose()
    await dispatcher.run(lambda: None)  # everything queued before has run or been dropped
    assert first == [0]
    assert len(ran) < 100, "chunks nobody waits for any more must not all run"


async def test_iter_chunked_raises_the_first_failure() -> None:
    def fail_on_three(chunk: Any) -> list[int]:
        if 3 in chunk:
            raise ValueError("bad item 3")
        return list(chunk)

    with pytest.raises(ValueError, match="bad item 3"):
        await ThreadDispatcher().map_chunked(fail_on_three, list(range(10)), size=2)


# --- CallBatcher --------------------------------------------------------------------------


def _square_job(jobs: list[int], calls: list[Any]) -> BatchResult:
    jobs.append(len(calls))
    values: list[Any] = []
    errors: dict[int, BaseException] = {}
    for i, (_, x) in enumerate(calls):
        if x < 0:
            values.append(None)
            errors[i] = ValueError(f"negative: {x}")
        else:
            values.append(x * x)
    return values, errors


async def test_calls_made_in_one_tick_share_jobs() -> None:
    jobs: list[int] = []
    batcher = CallBatcher(ThreadDispatcher(), partial(_square_job, jobs), size=64)
    got = await asyncio.gather(*(batcher.submit(x) for x in range(1000)))
    assert got == [x * x for x in range(1000)]
    assert sum(jobs) == 1000
    # The first call goes alone (nothing was under way); the rest go 64 at a time.
    assert len(jobs) <= 1 + -(-999 // 64), jobs


class _Held:
    """An argument whose lifetime a test watches."""


@pytest.fixture
async def lingering_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker threads linger after waking the loop, as a descheduled thread would."""
    loop = asyncio.get_running_loop()
    real = loop.call_soon_threadsafe

    def slow_worker(*args: Any) -> Any:
        handle = real(*args)
        time.sleep(0.2)
        return handle

    monkeypatch.setattr(loop, "call_soon_threadsafe", slow_worker)


@pytest.mark.usefixtures("lingering_workers")
async def test_a_job_lets_go_of_its_arguments_and_results_before_waking_the_caller() -> None:
    batcher = CallBatcher(ThreadDispatcher(), lambda calls: ([_Held()] * len(calls), {}))
    held = _Held()
    watch = weakref.ref(held)
    result = await batcher.submit(held)
    watch_result = weakref.ref(result)
    del held, result
    await asyncio.sleep(0)  # the loop's handle that resumed us holds the future till now
    gc.collect()
    assert watch() is None, "the worker thread still holds a finished call's arguments"
    assert watch_result() is None, "the worker thread still holds a delivered result"


@pytest.mark.usefixtures("lingering_workers")
async def test_a_dispatched_call_lets_go_of_its_result_before_waking_the_caller() -> None:
    result = await ThreadDispatcher().run(_Held)
    watch = weakref.ref(result)
    del result
    await asyncio.sleep(0)  # the loop's handle that resumed us holds the future till now
    gc.collect()
    assert watch() is None, "the worker thread still holds a delivered result"


async def test_a_lone_call_goes_at_once() -> None:
    jobs: list[int] = []
    batcher = CallBatcher(ThreadDispatcher(), partial(_square_job, jobs))
    assert await batcher.submit(7) == 49
    assert await batcher.submit(8) == 64
    assert jobs == [1, 1]


async def test_each_call_gets_its_own_error() -> None:
    batcher = CallBatcher(ThreadDispatcher(), partial(_square_job, []))
    results = await asyncio.gather(*(batcher.submit(x) for x in (1, -2, 3)), return_exceptions=True)
    assert results[0] == 1
    assert results[2] == 9
    assert isinstance(results[1], ValueError)
    assert "negative: -2" in str(results[1])


async def test_a_job_function_that_raises_fails_its_calls_rather_than_hang() -> None:
    def broken(calls: list[Any]) -> BatchResult:
        raise RuntimeError("bug in the job function")

    batcher = CallBatcher(ThreadDispatcher(), broken)
    results = await asyncio.wait_for(
        asyncio.gather(*(batcher.submit(x) for x in range(5)), return_exceptions=True), 10
    )
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_flush_hands_queued_calls_over_before_a_later_job() -> None:
    # What ZipStore relies on: set() calls queued this tick run before a delete() queued
    # on the same one-worker dispatcher right after flush().
    dispatcher = ThreadDispatcher(max_workers=1)
    order: list[str] = []

    def writes(calls: list[Any]) -> BatchResult:
        order.extend(name for _, name in calls)
        return [None] * len(calls), {}

    batcher = CallBatcher(dispatcher, writes)
    pending = [batcher.submit(f"set{i}") for i in range(3)]
    batcher.flush()
    await dispatcher.run(partial(order.append, "delete"))
    await asyncio.gather(*pending)
    assert order == ["set0", "set1", "set2", "delete"]


async def test_calls_from_two_event_loops_reach_their_own_loop() -> None:
    batcher = CallBatcher(ThreadDispatcher(), partial(_square_job, []))

    def other_loop() -> list[int]:
        async def main() -> list[int]:
            return list(await asyncio.gather(*(batcher.submit(x) for x in range(50))))

        return asyncio.run(main())

    here, there = await asyncio.gather(
        asyncio.gather(*(batcher.submit(x) for x in range(50))),
        asyncio.to_thread(other_loop),
    )
    assert list(here) == there == [x * x for x in range(50)]


def test_a_loop_closed_under_a_job_leaves_nothing_behind() -> None:
    gate = threading.Event()

    def held(calls: list[Any]) -> BatchResult:
        gate.wait(10)
        return [None] * len(calls), {}

    batcher = CallBatcher(ThreadDispatcher(), held)

    async def main() -> None:
        batcher.submit(1)  # a job in flight when asyncio.run closes the loop

    asyncio.run(main())
    assert batcher._in_flight, "the job is still running"
    gate.set()
    deadline = time.monotonic() + 10
    while batcher._in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not batcher._in_flight, "the closed loop is still referenced"


def test_calls_left_for_a_loop_closed_before_its_flush_are_let_go() -> None:
    # A job delivered its results to a loop that was open but never ran again, and calls
    # gathered meanwhile waited for a flush that never ran: the batcher kept the dead loop
    # and the calls' arguments (a store, with its open files) for as long as it lived.
    gate = threading.Event()

    def held(calls: list[Any]) -> BatchResult:
        gate.wait(10)
        return [None] * len(calls), {}

    dispatcher = ThreadDispatcher()
    batcher = CallBatcher(dispatcher, held)
    loop = asyncio.new_event_loop()
    kept = _Held()
    watch = weakref.ref(kept)
    batcher.put(loop, (loop.create_future(), 1))  # goes at once, and holds the worker
    batcher.put(loop, (loop.create_future(), kept))  # gathered: its flush waits for the loop
    del kept
    gate.set()
    deadline = time.monotonic() + 10
    while dispatcher._workers and time.monotonic() < deadline:
        time.sleep(0.01)  # the first job delivers to the open, idle loop
    loop.close()
    assert loop in batcher._open, "the scenario did not happen"

    async def another_loop() -> None:
        await batcher.submit(2)

    asyncio.run(another_loop())
    assert loop not in batcher._open
    assert loop not in batcher._in_flight
    gc.collect()
    assert watch() is None, "the gathered call's argument is still alive"


# --- fork ---------------------------------------------------------------------------------


def _use_in_child(dispatcher: ThreadDispatcher, out: Any) -> None:
    out.put(asyncio.run(dispatcher.run(lambda: "child ran")))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method: Linux only here")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
async def test_a_forked_child_gets_fresh_workers() -> None:
    # The parent's worker is busy at fork time; the child has none of its threads, and
    # must not wait for a worker that the parent's count says is running.
    dispatcher = ThreadDispatcher(max_workers=1)
    gate = threading.Event()
    busy = dispatcher.start(gate.wait)
    while dispatcher._workers == 0:  # the worker has started
        await asyncio.sleep(0.001)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_use_in_child, args=(dispatcher, out))
    child.start()
    try:
        assert out.get(timeout=30) == "child ran"
    finally:
        gate.set()
        child.join(30)
    await busy
    assert child.exitcode == 0


async def test_not_eager_splits_a_tick_evenly_over_the_workers() -> None:
    jobs: list[int] = []
    batcher = CallBatcher(
        ThreadDispatcher(max_workers=2), partial(_square_job, jobs), size=64, eager=False
    )
    got = await asyncio.gather(*(batcher.submit(x) for x in range(200)))
    assert got == [x * x for x in range(200)]
    # The lone first call, then the other 199 in two jobs per worker.
    assert jobs == [1, 50, 50, 50, 49]


def test_a_worker_takes_posted_jobs_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # A batcher's job is a batch already: a worker that took several would leave the other
    # workers idle while it runs them one after another.
    class NoThreads:
        def submit(self, fn: Any) -> None:
            pass  # the test drains by hand

    batches: list[int] = []
    real_run_batch = _threads._run_batch

    def record(batch: list[Any]) -> Any:
        batches.append(len(batch))
        return real_run_batch(batch)

    monkeypatch.setattr(_threads, "shared_executor", NoThreads)
    monkeypatch.setattr(_threads, "_run_batch", record)
    dispatcher = ThreadDispatcher(max_workers=1)
    ran: list[int] = []
    for i in range(5):
        dispatcher.post(partial(ran.append, i))
    dispatcher._drain()
    assert ran == [0, 1, 2, 3, 4]
    assert batches == [1, 1, 1, 1, 1]


class _NoThreads:
    """A stand-in for the shared pool: workers are not started, the test drains by hand."""

    def submit(self, fn: Any) -> None:
        pass


class _Halt(BaseException):
    """Not an Exception, so ``except Exception`` lets it through."""


@pytest.mark.parametrize("error", [_Halt, SystemExit], ids=lambda e: e.__name__)
async def test_a_posted_job_raising_a_base_exception_neither_kills_its_worker_nor_its_batch(
    monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    def halt() -> None:
        raise error("not an Exception")

    monkeypatch.setattr(_threads, "shared_executor", _NoThreads)
    dispatcher = ThreadDispatcher(max_workers=1)
    # One batch: two calls, then the posted job, which ends a batch.
    first, second = dispatcher.start(lambda: 1), dispatcher.start(lambda: 2)
    dispatcher.post(halt)
    after: list[str] = []
    dispatcher.post(partial(after.append, "ran"))
    # Before, the error left the worker here: the calls' results were lost (their callers
    # waited forever) and the worker stayed counted, so no worker ever started again.
    dispatcher._drain()
    assert after == ["ran"], "the queue stopped at the job that raised"
    assert dispatcher._workers == 0, "the worker that ran the job is still counted"
    assert await asyncio.gather(first, second) == [1, 2]


async def test_a_call_raising_stop_iteration_fails_as_runtime_error_rather_than_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # asyncio refuses StopIteration as a future's exception (TypeError); raised in the
    # delivery callback, that left this and every later call of the batch unresolved.
    def stop() -> None:
        raise StopIteration("exhausted")

    monkeypatch.setattr(_threads, "shared_executor", _NoThreads)
    dispatcher = ThreadDispatcher(max_workers=1)
    stopped, later = dispatcher.start(stop), dispatcher.start(lambda: 2)
    dispatcher._drain()
    await asyncio.sleep(0)  # the delivery queued by the worker runs before this resumes
    assert later.done(), "a call after the StopIteration was lost"
    assert later.result() == 2
    error = stopped.exception()
    assert isinstance(error, RuntimeError)
    assert isinstance(error.__cause__, StopIteration)


async def test_a_batched_call_failing_with_stop_iteration_fails_as_runtime_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def job(calls: list[Any]) -> BatchResult:
        errors: dict[int, BaseException] = {
            i: StopIteration(x) for i, (_future, x) in enumerate(calls) if x < 0
        }
        return [x for _future, x in calls], errors

    monkeypatch.setattr(_threads, "shared_executor", _NoThreads)
    dispatcher = ThreadDispatcher(max_workers=1)
    batcher = CallBatcher(dispatcher, job)
    alone = batcher.submit(1)  # nothing under way: goes at once, alone
    stopped, later = batcher.submit(-1), batcher.submit(3)  # gathered into one job
    dispatcher._drain()
    await asyncio.sleep(0)  # delivers `alone`, then hands the gathered job over
    dispatcher._drain()
    await asyncio.sleep(0)
    assert alone.result() == 1
    assert later.done(), "a call after the StopIteration was lost"
    assert later.result() == 3
    assert isinstance(stopped.exception(), RuntimeError)


# --- failures to start a worker, broken job functions (adversarial review, 0.1.7) ----------


async def test_a_job_whose_worker_could_not_start_never_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # start() raised, but the job stayed queued, and the next call's worker ran it: a
    # write its caller had been told failed.
    monkeypatch.setattr(_threads, "_pool", None)
    monkeypatch.setenv("ZSTORE_THREADS", "zero")
    dispatcher = ThreadDispatcher()
    ran: list[str] = []
    with pytest.raises(ValueError, match="ZSTORE_THREADS"):
        dispatcher.start(partial(ran.append, "refused"))
    assert not dispatcher._pending
    assert dispatcher._workers == 0
    monkeypatch.delenv("ZSTORE_THREADS")
    await dispatcher.run(partial(ran.append, "later"))
    assert ran == ["later"]


async def test_a_job_function_returning_too_few_values_fails_the_rest_rather_than_hang() -> None:
    # _deliver hit an IndexError at the first call without a value: it and the calls after
    # it waited forever.
    batcher = CallBatcher(ThreadDispatcher(), lambda calls: ([calls[0][1]], {}))
    first = batcher.submit(0)  # goes alone at once
    rest = [batcher.submit(i) for i in range(1, 4)]  # gathered into one job
    assert await first == 0
    async with asyncio.timeout(5):  # only reached if the calls hang
        results = await asyncio.gather(*rest, return_exceptions=True)
    assert results[0] == 1
    for error in results[1:]:
        assert isinstance(error, TypeError)
        assert "returned 1 values for 3 calls" in str(error)
