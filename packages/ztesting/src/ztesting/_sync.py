"""Run store coroutines from synchronous code (Hypothesis state machines, sync helpers).

Hypothesis' stateful testing cannot drive coroutines, so the state machines call stores
through :func:`sync`. Calls from a thread with no running loop go to ONE long-lived loop
owned by that thread (``run_until_complete``: no thread hop per call, which matters when a
state machine makes thousands of tiny calls). Calls from inside a running loop go to a
shared loop on a daemon thread instead. Never a fresh ``asyncio.run`` per call: a store may
bind loop-affine objects (locks, executors, client sessions) to the loop it first runs on,
and a new loop per call would break such a store for reasons unrelated to its correctness.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Coroutine

__all__ = ["collect_aiterator", "sync"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    """Return the shared background loop, starting its thread on first use."""
    global _loop  # noqa: PLW0603 -- one loop per process is the point
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="ztesting-sync-loop", daemon=True
            )
            thread.start()
            _loop = loop
        return _loop


_local = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """The calling thread's own reusable loop (for threads with no running loop)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
    return loop


def sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` to completion and return its result.

    Parameters
    ----------
    coro : coroutine
        The coroutine to run.
    timeout : float, optional
        Seconds to wait before raising ``TimeoutError``; ``None`` waits for ever.

    Returns
    -------
    object
        The coroutine's result; its exception, if any, is re-raised here.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop = _thread_loop()
        if timeout is None:
            return loop.run_until_complete(coro)
        return loop.run_until_complete(asyncio.wait_for(coro, timeout))
    # Called from async code: blocking this loop is the caller's choice, but the coroutine
    # must run elsewhere or it would wait for ever.
    return asyncio.run_coroutine_threadsafe(coro, _background_loop()).result(timeout)


async def collect_aiterator(iterator: AsyncIterator[T]) -> tuple[T, ...]:
    """Collect every item of an async iterator into a tuple, in order."""
    return tuple([item async for item in iterator])
