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
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Dispatcher"]

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

_Job = tuple["Callable[[], Any]", "asyncio.Future[Any]", asyncio.AbstractEventLoop]


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
        with self._lock:
            self._pending.append((func, future, loop))
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
        return await future

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


def _run_batch(
    batch: list[_Job],
) -> dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]]:
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    while batch:
        job = batch.pop(0)
        by_loop.setdefault(job[2], []).append(_call(job))
    return by_loop


def _call(job: _Job) -> tuple[asyncio.Future[Any], bool, Any]:
    func, future, _ = job
    try:
        return (future, True, func())
    except BaseException as exc:
        return (future, False, exc)
