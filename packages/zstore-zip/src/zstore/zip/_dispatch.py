"""Run blocking zip I/O on worker threads, many calls per thread hop.

A thread hop (hand a call to a thread, wake the event loop with the result) costs tens of
microseconds, more than reading 4 KiB from the page cache. Handing each call to
``run_in_executor`` would make every small read pay it. Instead, calls queue up here and a
worker drains the queue in batches, handing each batch's results back to the event loop
with one wake-up. One coroutine waiting alone still pays one hop; a thousand coroutines
waiting together pay a handful.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Batcher", "Dispatcher", "JobResult"]

T = TypeVar("T")

_BATCH = 64
# Start another worker when this many calls wait per running worker.
_BACKLOG_PER_WORKER = 16

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    """The worker threads shared by every ZipStore of this process, created on first use."""
    global _pool  # noqa: PLW0603 - one pool per process, reset after fork
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=min(16, (os.cpu_count() or 1) + 4), thread_name_prefix="zstore-zip"
            )
        return _pool


def _reset_after_fork() -> None:
    # A forked child has none of the parent's threads: start a fresh pool when needed.
    global _pool, _pool_lock  # noqa: PLW0603
    _pool = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)

# (call, future, loop); future and loop are None for a job from `post`.
_Job = tuple["Callable[[], Any]", "asyncio.Future[Any] | None", "asyncio.AbstractEventLoop | None"]


def _deliver(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    """Set the results of one batch; runs on the event loop thread."""
    for future, ok, value in results:
        if future.done():  # the caller was cancelled
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class Dispatcher:
    """A queue of blocking calls drained by up to ``max_workers`` threads.

    Parameters
    ----------
    max_workers : int
        The most threads that drain this dispatcher's queue at once. Reads use ``pread``,
        which releases the GIL, so a few threads overlap I/O and decompression.
    """

    def __init__(self, max_workers: int = 4) -> None:
        self._pending: deque[_Job] = deque()
        self._lock = threading.Lock()
        self._workers = 0
        self._max_workers = max_workers

    async def run(self, func: Callable[[], T]) -> T:
        """Run ``func()`` on a worker thread and return its result.

        Parameters
        ----------
        func : callable
            A call with no arguments (use ``functools.partial``).

        Returns
        -------
        Any
            What ``func`` returned; what it raised is raised here.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._enqueue((func, future, loop))
        return await future

    def _enqueue(self, item: _Job) -> None:
        """Queue ``item`` and start a worker if none runs or the backlog per worker is long."""
        with self._lock:
            self._pending.append(item)
            start = self._workers == 0 or (
                self._workers < self._max_workers
                and len(self._pending) > _BACKLOG_PER_WORKER * self._workers
            )
            if start:
                self._workers += 1
        if start:
            try:
                _executor().submit(self._drain)
            except BaseException:
                with self._lock:
                    self._workers -= 1
                raise

    def post(self, func: Callable[[], object]) -> None:
        """Run ``func()`` on a worker thread, with no result: it delivers its own.

        ``func`` must not raise; what it raises is dropped.
        """
        self._enqueue((func, None, None))

    def _drain(self) -> None:
        """Worker: run queued calls in batches until the queue is empty."""
        while True:
            with self._lock:
                if not self._pending:
                    self._workers -= 1
                    return
                count = min(_BATCH, len(self._pending))
                batch = [self._pending.popleft() for _ in range(count)]
            by_loop = _run_batch(batch)
            # Drop the calls before waking the callers: a caller that then drops its store
            # must not find it kept alive by this thread.
            del batch
            for loop, results in by_loop.items():
                # RuntimeError: the loop was closed while we worked; nobody is waiting.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_deliver, results)
            by_loop.clear()


_ByLoop = dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]]


def _run_batch(batch: list[_Job]) -> _ByLoop:
    by_loop: _ByLoop = {}
    while batch:
        job = batch.pop(0)
        if job[1] is None:  # posted: delivers its own results and does not raise
            with contextlib.suppress(Exception):
                job[0]()
            continue
        loop = job[2]
        assert loop is not None  # set with the future by run()
        by_loop.setdefault(loop, []).append(_call(job))
    return by_loop


def _call(job: _Job) -> tuple[asyncio.Future[Any], bool, Any]:
    func, future, _ = job
    assert future is not None  # posted jobs are run by _run_batch directly
    try:
        return (future, True, func())
    except BaseException as exc:
        return (future, False, exc)


# What a Batcher's job function returns: one value per call, and the calls that raised.
JobResult = tuple[list[Any], dict[int, BaseException]]


class Batcher:
    """Gather the calls that coroutines make in one event-loop tick into worker jobs.

    Every call would otherwise be its own job with its own closure, result tuple and
    wake-up; at tens of thousands of small reads that bookkeeping (and the garbage
    collections it triggers) costs more than the reads. Here each call is one tuple
    ``(future, *args)`` appended to a list; at the end of the tick, or when the list holds
    ``size`` calls, the list goes to a worker as one job, which runs ``func`` on the whole
    list and wakes the loop once with all the results.

    Parameters
    ----------
    dispatcher : Dispatcher
        Where the jobs run. Jobs run in the order they were handed over, so with a
        one-worker dispatcher, calls run in the order they were made.
    func : callable
        Run on a worker thread with a job's list of call tuples; returns one value per call
        and a dict ``{index: exception}`` of the calls that failed (their value is
        ignored). It must run the calls in list order and must not raise.
    size : int
        The most calls in one job: small enough that the first results come back soon
        and that several workers share a large burst.
    """

    def __init__(
        self, dispatcher: Dispatcher, func: Callable[[list[Any]], JobResult], size: int = 64
    ) -> None:
        self._dispatcher = dispatcher
        self._func = func
        self._size = size
        self._open: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        # Jobs handed over and not yet delivered, per loop (each touched by its loop only).
        self._in_flight: dict[asyncio.AbstractEventLoop, int] = {}

    def submit(self, *args: Any) -> asyncio.Future[Any]:
        """Queue a call with ``args``; await the returned future for its result."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.put(loop, (future, *args))
        return future

    def put(self, loop: asyncio.AbstractEventLoop, call: tuple[Any, ...]) -> None:
        """Queue ``call``, a tuple ``(future, *args)`` whose future belongs to ``loop``.

        As :meth:`submit`, for a caller that builds the tuple itself: one allocation
        less per call, which matters at tens of thousands of calls.
        """
        calls = self._open.get(loop)
        if calls is None:
            if not self._in_flight.get(loop):
                # Nothing under way: a lone call goes at once rather than a tick later.
                # Calls that follow while it runs are gathered.
                self._post([call], loop)
                return
            calls = self._open[loop] = []
            loop.call_soon(self.flush, loop)
        calls.append(call)
        if len(calls) >= self._size:
            self.flush(loop)

    def flush(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Hand the calls queued on ``loop`` (default: the running loop) to a worker now."""
        if loop is None:
            loop = asyncio.get_running_loop()
        calls = self._open.pop(loop, None)
        if calls:
            self._post(calls, loop)

    def _post(self, calls: list[Any], loop: asyncio.AbstractEventLoop) -> None:
        self._dispatcher.post(partial(self._run, calls, loop))
        self._in_flight[loop] = self._in_flight.get(loop, 0) + 1

    def _run(self, calls: list[Any], loop: asyncio.AbstractEventLoop) -> None:
        try:
            values, errors = self._func(calls)
        except BaseException as exc:  # a bug in func: fail every call rather than hang
            values, errors = [None] * len(calls), dict.fromkeys(range(len(calls)), exc)
        # RuntimeError: the loop was closed while we worked; nobody is waiting.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._deliver, loop, calls, values, errors)

    def _deliver(
        self,
        loop: asyncio.AbstractEventLoop,
        calls: list[Any],
        values: list[Any],
        errors: dict[int, BaseException],
    ) -> None:
        """Set the results of one job; runs on the event loop thread."""
        left = self._in_flight.get(loop, 1) - 1
        if left:
            self._in_flight[loop] = left
        else:
            self._in_flight.pop(loop, None)
        _deliver_calls(calls, values, errors)


def _deliver_calls(calls: list[Any], values: list[Any], errors: dict[int, BaseException]) -> None:
    """Set the results of calls whose callers are still waiting."""
    for i, call in enumerate(calls):
        future = call[0]
        if future.done():  # the caller was cancelled
            continue
        if errors and i in errors:
            future.set_exception(errors[i])
        else:
            future.set_result(values[i])
