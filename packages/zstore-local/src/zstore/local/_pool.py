"""The worker threads LocalStore runs its file I/O on: one dispatcher for every LocalStore.

Built on :class:`zstore.core.ThreadDispatcher` and :class:`zstore.core.CallBatcher`, the
same mechanism as every store with a blocking back end:

- Single calls (``get``, ``set``, ``exists`` ...) issued by many coroutines in the same
  event-loop tick, as ``asyncio.gather`` does, share jobs (:func:`submit`).
- Batch methods (``_get_many``, ``_set_many``, ``get_partial_values``) cut their work into
  chunks, one job each (:func:`iter_chunked`, :func:`run_chunked`).

At most ``ZSTORE_LOCAL_THREADS`` threads (default ``min(8, max(2, cpu count))``) work for
LocalStores at once, so slow user work on the default executor cannot starve the store,
and the store cannot flood the process with threads.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, TypeVar

from zstore.core import BatchResult, CallBatcher, ThreadDispatcher

if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncIterator, Callable, Sequence

__all__ = ["iter_chunked", "pool_size", "run_chunked", "submit"]

T = TypeVar("T")
R = TypeVar("R")

ENV_VAR = "ZSTORE_LOCAL_THREADS"


def pool_size() -> int:
    """The most threads at work for LocalStores: ``ZSTORE_LOCAL_THREADS``, else
    ``min(8, max(2, cpus))``.

    Not more threads than CPUs: reads served from the page cache are short syscalls between
    bits of Python, and every extra thread adds GIL hand-offs (measured on 2 CPUs: 5k
    gathered 64 KiB reads took about twice as long with 4 threads as with 2). At least two,
    so one slow read does not stall the rest.
    """
    raw = os.environ.get(ENV_VAR, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(
                f"environment variable {ENV_VAR}={raw!r} is not an integer; set it to a "
                "positive integer or unset it"
            ) from None
        if value < 1:
            raise ValueError(f"environment variable {ENV_VAR} must be >= 1, got {value}")
        return value
    return min(8, max(2, os.cpu_count() or 2))


def _run_calls(
    calls: list[tuple[asyncio.Future[Any], Callable[..., Any], tuple[Any, ...]]],
) -> BatchResult:
    """One job of single calls, on a worker thread: each is ``(future, func, args)``."""
    values: list[Any] = []
    errors: dict[int, BaseException] = {}
    for i, (future, func, args) in enumerate(calls):
        if future.cancelled():  # nobody waits for it
            values.append(None)
            continue
        try:
            values.append(func(*args))
        except BaseException as exc:  # delivered to that call's caller
            values.append(None)
            errors[i] = exc
    return values, errors


_lock = threading.Lock()
_threads: tuple[ThreadDispatcher, CallBatcher] | None = None


def _dispatch() -> tuple[ThreadDispatcher, CallBatcher]:
    """The dispatcher and the batcher of single calls, made on first use (reading the
    environment then)."""
    global _threads  # noqa: PLW0603 - one per process
    if _threads is None:
        with _lock:
            if _threads is None:
                # Another worker joins as soon as more than one job waits per worker: a
                # file read may wait for the disk, and reads of big values run in
                # parallel (pread releases the GIL).
                dispatcher = ThreadDispatcher(pool_size(), backlog_per_worker=1)
                # Not eager: opening and reading small files is mostly Python, and workers
                # started while the loop still queues a burst's calls contend with it for
                # the GIL (5k gathered 64 KiB reads: 10-15% slower eager).
                calls = CallBatcher(dispatcher, _run_calls, eager=False)
                _threads = (dispatcher, calls)
    return _threads


def submit(func: Callable[..., R], *args: Any) -> asyncio.Future[R]:
    """Run ``func(*args)`` on a worker thread; await the returned future for its result.

    Calls submitted in the same loop tick share jobs. Must be called on the loop's thread,
    inside a running loop.
    """
    return _dispatch()[1].submit(func, args)


def iter_chunked(
    func: Callable[[Sequence[T]], list[R]], items: Sequence[T]
) -> AsyncIterator[list[R]]:
    """Run ``func`` over consecutive chunks of ``items`` on the worker threads, yielding each
    chunk's results in order (see :meth:`zstore.core.ThreadDispatcher.iter_chunked`)."""
    return _dispatch()[0].iter_chunked(func, items)


async def run_chunked(func: Callable[[Sequence[T]], list[R]], items: Sequence[T]) -> list[R]:
    """Like :func:`iter_chunked`, collecting every result in input order."""
    return await _dispatch()[0].map_chunked(func, items)
