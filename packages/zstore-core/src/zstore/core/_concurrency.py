"""Bounded concurrency: the one helper every default Store method uses for batch work.

An unbounded ``asyncio.gather`` over 100k keys creates 100k tasks at once (memory, and for
remote stores 100k open requests); a one-at-a-time loop wastes all the latency a remote
store could overlap. :func:`concurrent_map` is the middle: a fixed pool of workers.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ENV_VAR",
    "concurrency_limit",
    "concurrent_as_completed",
    "concurrent_map",
]

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_CONCURRENCY = 64
"""The limit used when neither an argument nor ``ZSTORE_CONCURRENCY`` gives one."""

ENV_VAR = "ZSTORE_CONCURRENCY"
"""The environment variable that sets the default concurrency limit."""


def _positive(value: object, source: str) -> int:
    """Return ``value`` as an int >= 1, or raise naming where it came from."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"concurrency limit from {source} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"concurrency limit from {source} must be >= 1, got {value}")
    return value


def concurrency_limit(limit: int | None = None) -> int:
    """Return the concurrency limit to use.

    Parameters
    ----------
    limit : int, optional
        An explicit limit (>= 1). When None, the environment variable
        ``ZSTORE_CONCURRENCY`` is used if set, else 64.

    Returns
    -------
    int
        The limit, at least 1.

    Raises
    ------
    ValueError
        If the limit (argument or environment variable) is not an integer >= 1.
    """
    if limit is not None:
        return _positive(limit, "the limit argument")
    raw = os.environ.get(ENV_VAR)
    if raw is None or raw.strip() == "":
        return DEFAULT_CONCURRENCY
    try:
        parsed = int(raw)
    except ValueError:
        raise ValueError(
            f"environment variable {ENV_VAR}={raw!r} is not an integer; set it to a "
            "positive integer or unset it"
        ) from None
    return _positive(parsed, f"environment variable {ENV_VAR}")


class _CallCancelled(Exception):
    """Carries the CancelledError of a call whose worker nobody cancelled.

    A call can end in CancelledError without its caller being cancelled: it awaited a
    future or task that something else cancelled. Raised as itself, that error would end
    the worker task as *cancelled*, which ``asyncio.wait(FIRST_EXCEPTION)`` does not count
    as a failure and which looks exactly like the cancellations this module makes itself,
    so the call's slot would stay ``None`` (a "missing key" to ``get_partial_values``).
    Wrapped, it is a failure like any other and is raised to the caller, as
    ``asyncio.gather`` raises a child's cancellation.
    """

    def __init__(self, error: asyncio.CancelledError) -> None:
        super().__init__()
        self.error = error


async def _stop_workers(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the unfinished ``tasks`` and return only once every one has finished.

    The wait goes on if the caller is cancelled again meanwhile (as ``asyncio.TaskGroup``
    does), and that cancellation is raised once the workers are gone: returning at the
    second ``cancel()`` would leave the workers running, still writing for a caller that
    has moved on. Every task's exception is then marked retrieved: a call that fails while
    it is being cancelled (a cleanup that raises) would otherwise be logged as "Task
    exception was never retrieved" when the caller was cancelled and so never asked.
    """
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    interrupted: asyncio.CancelledError | None = None
    while pending:
        try:
            await asyncio.wait(pending)
        except asyncio.CancelledError as error:
            interrupted = error
        pending = [task for task in pending if not task.done()]
    for task in tasks:
        if not task.cancelled():
            task.exception()
    if interrupted is not None:
        raise interrupted


def _being_cancelled() -> bool:
    """Whether something asked to cancel the running task (as opposed to an awaited one)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def concurrent_map(
    items: Iterable[T],
    func: Callable[[T], Awaitable[R]],
    limit: int | None = None,
) -> list[R]:
    """Await ``func(item)`` for every item with at most ``limit`` calls in flight.

    A fixed pool of ``min(limit, len(items))`` worker tasks takes items in order, so at most
    ``limit`` calls are ever in flight and no more than that many tasks exist.

    Parameters
    ----------
    items : Iterable
        The items; consumed into a list once.
    func : callable
        An async function of one item.
    limit : int, optional
        The most calls in flight; see :func:`concurrency_limit` for the default.

    Returns
    -------
    list
        ``[await func(item) for item in items]``, in input order.

    Raises
    ------
    BaseException
        The first exception raised by a call, as itself (not wrapped in a group). The calls
        still in flight are cancelled and no further items are started. If the caller is
        cancelled, every worker is cancelled too.
    asyncio.CancelledError
        Also when a call ends in CancelledError although the caller was not cancelled (it
        awaited something another task cancelled), as ``asyncio.gather`` does: such a call
        is a failure, never a result.
    """
    work = list(items)
    n_workers = min(concurrency_limit(limit), len(work))
    if n_workers == 0:
        return []
    if n_workers == 1:
        # One worker needs no tasks: awaiting in place saves the task overhead.
        return [await func(item) for item in work]

    results: list[R] = [None] * len(work)  # type: ignore[list-item]
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        # Single-threaded event loop: reading and bumping next_index cannot interleave.
        while next_index < len(work):
            index = next_index
            next_index += 1
            try:
                results[index] = await func(work[index])
            except asyncio.CancelledError as error:
                if _being_cancelled():
                    raise  # the caller's cancellation, passed on by the finally below
                raise _CallCancelled(error) from None

    tasks = [asyncio.ensure_future(worker()) for _ in range(n_workers)]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        # No item starts from here on: a call that swallows its cancellation and returns
        # would otherwise let its worker go on to the next item, and the wait below would
        # run (write) every remaining item after a failure or a cancellation.
        next_index = len(work)
        await _stop_workers(tasks)
    # Report the failure of the lowest-numbered failed worker, so the result does not depend
    # on set order. Asking every task for its exception also marks each one retrieved, so
    # asyncio does not log "Task exception was never retrieved" for the others.
    failures = [t.exception() for t in tasks if not t.cancelled()]
    for failure in failures:
        if failure is not None:
            if isinstance(failure, _CallCancelled):
                raise failure.error
            raise failure
    return results


async def concurrent_as_completed(
    items: Iterable[T],
    func: Callable[[T], Awaitable[R]],
    limit: int | None = None,
) -> AsyncGenerator[R, None]:
    """Yield ``await func(item)`` for every item as each finishes, ``limit`` at a time.

    The streaming sibling of :func:`concurrent_map`: the same fixed pool of at most
    ``limit`` worker tasks, but results are yielded in completion order, so a consumer can
    use the first results while later calls are still running.

    Parameters
    ----------
    items : Iterable
        The items; consumed into a list once.
    func : callable
        An async function of one item.
    limit : int, optional
        The most calls in flight; see :func:`concurrency_limit` for the default.

    Yields
    ------
    object
        Each call's result, in completion order.

    Raises
    ------
    BaseException
        The first exception raised by a call, as itself. The calls still in flight are
        cancelled; so are they when the consumer stops iterating (``aclose``) or is
        cancelled.
    asyncio.CancelledError
        Also when a call ends in CancelledError although the consumer was not cancelled,
        as in :func:`concurrent_map`.
    """
    work = list(items)
    n_workers = min(concurrency_limit(limit), len(work))
    done: asyncio.Queue[tuple[R | None, BaseException | None]] = asyncio.Queue()
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(work):
            index = next_index
            next_index += 1
            try:
                result = await func(work[index])
            except asyncio.CancelledError as error:
                if _being_cancelled():
                    raise  # the consumer's cancellation or aclose, from the finally below
                done.put_nowait((None, error))
                return
            except BaseException as error:
                # Every failure must reach the queue: the consumer waits for one entry per
                # item and would wait forever for a call that ended without one.
                done.put_nowait((None, error))
                return
            done.put_nowait((result, None))

    tasks = [asyncio.ensure_future(worker()) for _ in range(n_workers)]
    try:
        for _ in range(len(work)):
            result, error = await done.get()
            if error is not None:
                raise error
            yield result  # type: ignore[misc]  # None only alongside an error
    finally:
        next_index = len(work)  # no item starts from here on, as in concurrent_map
        await _stop_workers(tasks)
