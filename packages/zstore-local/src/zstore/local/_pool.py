"""The bounded thread pool LocalStore runs its file I/O on, and the batching around it.

A thread hand-off costs tens of microseconds; reading a small file costs a few. So the
store never pays one hand-off per tiny operation when it can avoid it:

- Batch methods (``_get_many``, ``_set_many``, ``get_partial_values``) cut their work into a
  few chunks, one pool job each (:func:`run_chunked`).
- Single calls (``get``, ``set``, ``exists`` ...) issued by many coroutines in the same
  event-loop tick, as ``asyncio.gather`` does, are collected by a per-loop
  :class:`_Batcher` and sent to the pool in chunks as well (:func:`submit`).

The pool is private to this package (``ZSTORE_LOCAL_THREADS`` threads, default
``min(8, max(2, cpu count))``) so slow user work on the default executor cannot starve the
store, and the store cannot flood the default executor. Results come back with one
``call_soon_threadsafe`` per chunk; no ``contextvars`` copy is made per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

__all__ = ["get_executor", "iter_chunked", "pool_size", "run_chunked", "submit"]

T = TypeVar("T")
R = TypeVar("R")

ENV_VAR = "ZSTORE_LOCAL_THREADS"

# Upper bound on the calls one pool job runs: big enough to amortise the hand-off, small
# enough that the first results arrive early and all threads get work.
_MAX_CHUNK = 64


def pool_size() -> int:
    """The number of worker threads: ``ZSTORE_LOCAL_THREADS``, else ``min(8, max(2, cpus))``.

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


_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_executor_pid = -1
_threads = 1


def get_executor() -> ThreadPoolExecutor:
    """The pool, created on first use and again in a forked child (threads do not fork)."""
    global _executor, _executor_pid, _threads  # noqa: PLW0603 - one pool per process
    pid = os.getpid()
    if _executor is None or _executor_pid != pid:
        with _lock:
            if _executor is None or _executor_pid != pid:
                _threads = pool_size()
                _executor = ThreadPoolExecutor(
                    max_workers=_threads, thread_name_prefix="zstore-local"
                )
                _executor_pid = pid
    return _executor


def _chunk_size(n: int) -> int:
    # Spread the work over twice as many jobs as threads (so a slow job does not leave the
    # others idle), with at most _MAX_CHUNK calls per job.
    per_job = -(-n // (2 * _threads))
    return max(1, min(_MAX_CHUNK, per_job))


# --------------------------------------------------------------------- result delivery

_Item = tuple["asyncio.Future[Any]", "Callable[..., Any]", "tuple[Any, ...]"]


def _deliver(items: Sequence[_Item], outcomes: Sequence[tuple[bool, Any]]) -> None:
    """On the loop thread: resolve each waiting future (skipping cancelled ones)."""
    for (future, _, _), (ok, value) in zip(items, outcomes, strict=True):
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _run_items(loop: asyncio.AbstractEventLoop, items: Sequence[_Item]) -> None:
    """In a worker: run every call, then hand all outcomes back in one loop wake-up."""
    outcomes: list[tuple[bool, Any]] = []
    for future, func, args in items:
        if future.cancelled():
            outcomes.append((False, None))
            continue
        try:
            outcomes.append((True, func(*args)))
        except BaseException as exc:  # delivered to the awaiting coroutine
            outcomes.append((False, exc))
    # RuntimeError: the loop was closed while we worked; nobody is waiting any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_deliver, items, outcomes)


class _Batcher:
    """Collects the single calls made on one event loop during one tick."""

    __slots__ = ("__weakref__", "loop", "pending", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: list[_Item] = []
        self.scheduled = False

    def flush(self) -> None:
        self.scheduled = False
        items, self.pending = self.pending, []
        executor = get_executor()
        step = _chunk_size(len(items))
        for i in range(0, len(items), step):
            executor.submit(_run_items, self.loop, items[i : i + step])


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher] = (
    weakref.WeakKeyDictionary()
)
_last: tuple[asyncio.AbstractEventLoop, _Batcher] | None = None


def submit(func: Callable[..., R], *args: Any) -> asyncio.Future[R]:
    """Run ``func(*args)`` on the pool; await the returned future for its result.

    Calls submitted in the same loop tick share pool jobs. Must be called on the loop's
    thread, inside a running loop.
    """
    global _last  # noqa: PLW0603 - a one-entry cache in front of the weak mapping
    loop = asyncio.get_running_loop()
    last = _last
    if last is not None and last[0] is loop:
        batcher = last[1]
    else:
        found = _batchers.get(loop)
        if found is None:
            found = _batchers[loop] = _Batcher(loop)
        batcher = found
        _last = (loop, batcher)
    future: asyncio.Future[R] = loop.create_future()
    batcher.pending.append((future, func, args))
    if not batcher.scheduled:
        batcher.scheduled = True
        # Runs after every callback already queued for this tick, so the coroutines that
        # gather() started together all land in one batch.
        loop.call_soon(batcher.flush)
    return future


async def iter_chunked(
    func: Callable[[Sequence[T]], list[R]], items: Sequence[T]
) -> AsyncIterator[list[R]]:
    """Run ``func`` over consecutive chunks of ``items`` on the pool, yielding each chunk's
    results in order as soon as that chunk (and every earlier one) is done.

    ``func`` takes a chunk and returns one result per item. The pool's thread count bounds
    how many chunks run at once; the rest wait in the pool's queue. If the consumer stops
    early or a chunk fails, the chunks not yet started are cancelled.
    """
    if not items:
        return
    loop = asyncio.get_running_loop()
    executor = get_executor()
    step = _chunk_size(len(items))
    futures: list[asyncio.Future[list[R]]] = []
    for i in range(0, len(items), step):
        future: asyncio.Future[list[R]] = loop.create_future()
        futures.append(future)
        executor.submit(_run_items, loop, [(future, func, (items[i : i + step],))])
    try:
        for future in futures:
            yield await future
    finally:
        for future in futures:
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # mark retrieved: one failure is enough to report


async def run_chunked(func: Callable[[Sequence[T]], list[R]], items: Sequence[T]) -> list[R]:
    """Like :func:`iter_chunked`, collecting every result in input order."""
    results: list[R] = []
    async for part in iter_chunked(func, items):
        results.extend(part)
    return results
