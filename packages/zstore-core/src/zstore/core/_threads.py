"""Blocking I/O on worker threads, many calls per thread hop: the one mechanism every store
with a blocking back end (files, zip archives) uses to keep it off the event loop.

A thread hop (hand a call to a thread, wake the event loop with the result) costs tens of
microseconds, more than reading 4 KiB from the page cache. Handing each call to
``run_in_executor`` would make every small read pay it, and would give each call its own
closure, context copy and wake-up. Instead:

- A :class:`ThreadDispatcher` is a queue of blocking calls drained in batches by at most
  ``max_workers`` threads at once, each batch's results handed back to the event loop with
  one wake-up. With one worker, calls run in the order they were queued (a write lane).
- A :class:`CallBatcher` collects the calls that coroutines make in one event-loop tick,
  as ``asyncio.gather`` does, into jobs of up to ``size`` calls for a dispatcher: a
  thousand coroutines waiting together pay a handful of hops, one waiting alone pays one.
- :meth:`ThreadDispatcher.iter_chunked` runs a batch method's items in chunks, one job
  each, and yields the chunks' results in order.

All dispatchers share one process-wide thread pool (``ZSTORE_THREADS`` threads at most,
default ``min(32, cpus + 4)`` as for Python's default executor), created on first use and
again in a forked child; each dispatcher bounds how many of those threads work for it.
Nothing here runs on, or blocks, the default executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

__all__ = ["THREADS_ENV_VAR", "BatchResult", "CallBatcher", "ThreadDispatcher", "shared_executor"]

T = TypeVar("T")
R = TypeVar("R")

THREADS_ENV_VAR = "ZSTORE_THREADS"
"""The environment variable that caps the shared pool's threads."""


def _pool_size() -> int:
    raw = os.environ.get(THREADS_ENV_VAR, "").strip()
    if not raw:
        return min(32, (os.cpu_count() or 1) + 4)
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"environment variable {THREADS_ENV_VAR}={raw!r} is not an integer; set it to a "
            "positive integer or unset it"
        ) from None
    if value < 1:
        raise ValueError(f"environment variable {THREADS_ENV_VAR} must be >= 1, got {value}")
    return value


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def shared_executor() -> ThreadPoolExecutor:
    """The worker threads every dispatcher of this process runs on, created on first use.

    For work that is not a dispatcher job, such as a helper a job starts and cancels if no
    thread is free. Threads are started only as work needs them.

    Raises
    ------
    ValueError
        If ``ZSTORE_THREADS`` is set to something other than a positive integer.
    """
    global _pool  # noqa: PLW0603 - one pool per process, reset after fork
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_pool_size(), thread_name_prefix="zstore")
        return _pool


# Every dispatcher, so that a forked child can forget the parent's workers.
_dispatchers: weakref.WeakSet[ThreadDispatcher] = weakref.WeakSet()


def _reset_after_fork() -> None:
    # A forked child has none of the parent's threads: a fresh pool when needed, and no
    # dispatcher counting workers that do not exist (its queue would never drain).
    global _pool, _pool_lock  # noqa: PLW0603
    _pool = None
    _pool_lock = threading.Lock()
    for dispatcher in list(_dispatchers):
        dispatcher._forget_workers()


os.register_at_fork(after_in_child=_reset_after_fork)

# (call, future, loop); future and loop are None for a job from `post`.
_Job = tuple["Callable[[], Any]", "asyncio.Future[Any] | None", "asyncio.AbstractEventLoop | None"]
_Outcome = tuple["asyncio.Future[Any]", bool, Any]


def _settable(error: BaseException) -> BaseException:
    """``error`` as an asyncio future accepts it: StopIteration becomes a RuntimeError.

    ``Future.set_exception`` refuses a StopIteration with a TypeError; raised in a delivery
    callback, that would leave this call's caller and every later one of the batch waiting
    forever. PEP 479 makes the same conversion for generators.
    """
    if isinstance(error, StopIteration):
        wrapped = RuntimeError(f"a call on a worker thread raised StopIteration: {error!r}")
        wrapped.__cause__ = error
        return wrapped
    return error


def _deliver(outcomes: list[_Outcome]) -> None:
    """Set the results of one batch; runs on the event loop thread.

    Empties ``outcomes``: the worker that sent it may still hold the list for a moment, and
    a result (a store's archive, say) must not outlive its caller's use of it because of
    that.
    """
    for future, ok, value in outcomes:
        if future.done():  # the caller was cancelled
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(_settable(value))
    outcomes.clear()


class ThreadDispatcher:
    """A queue of blocking calls drained by up to ``max_workers`` threads at once.

    Parameters
    ----------
    max_workers : int
        The most threads that drain this dispatcher's queue at once. With 1, calls run
        one at a time in the order they were queued.
    backlog_per_worker : int
        Another worker starts when more than this many jobs wait per running worker: a
        small burst stays on one thread (no GIL hand-offs), a long one spreads out.

    Notes
    -----
    A call whose future was cancelled before a worker reached it is not run.
    """

    def __init__(self, max_workers: int = 4, *, backlog_per_worker: int = 16) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        if backlog_per_worker < 1:
            raise ValueError(f"backlog_per_worker must be >= 1, got {backlog_per_worker}")
        self._pending: deque[_Job] = deque()
        self._lock = threading.Lock()
        self._workers = 0
        self._max_workers = max_workers
        self._backlog = backlog_per_worker
        _dispatchers.add(self)

    @property
    def max_workers(self) -> int:
        """The most threads that drain this dispatcher's queue at once."""
        return self._max_workers

    def start(self, func: Callable[[], T]) -> asyncio.Future[T]:
        """Queue ``func()`` and return a future for its result, without waiting.

        Must be called on the thread of a running event loop.

        Parameters
        ----------
        func : callable
            A call with no arguments (use ``functools.partial``).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._enqueue((func, future, loop))
        return future

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
        return await self.start(func)

    def post(self, func: Callable[[], object]) -> None:
        """Run ``func()`` on a worker thread, with no result: it delivers its own.

        ``func`` must not raise; what it raises is dropped, ``BaseException`` included.
        """
        self._enqueue((func, None, None))

    async def iter_chunked(
        self, func: Callable[[Sequence[T]], list[R]], items: Sequence[T], size: int = 64
    ) -> AsyncIterator[list[R]]:
        """Run ``func`` over consecutive chunks of ``items``, one job per chunk, yielding
        each chunk's results in order as soon as that chunk (and every earlier one) is done.

        ``func`` takes a chunk and returns one result per item. If the consumer stops early
        or a chunk fails, the chunks not yet started are cancelled (and so never run).

        Parameters
        ----------
        func : callable
            Run on a worker thread with each chunk.
        items : sequence
            The work.
        size : int
            The most items in one chunk; the items are spread over at least two chunks per
            worker when there are enough, so that every worker gets some.
        """
        if not items:
            return
        per_job = -(-len(items) // (2 * self._max_workers))
        step = max(1, min(size, per_job))
        futures = [
            self.start(partial(func, items[i : i + step])) for i in range(0, len(items), step)
        ]
        try:
            for future in futures:
                yield await future
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # mark retrieved: one failure is enough to report

    async def map_chunked(
        self, func: Callable[[Sequence[T]], list[R]], items: Sequence[T], size: int = 64
    ) -> list[R]:
        """As :meth:`iter_chunked`, collecting every result in input order."""
        results: list[R] = []
        async for part in self.iter_chunked(func, items, size):
            results.extend(part)
        return results

    def _enqueue(self, item: _Job) -> None:
        """Queue ``item`` and start a worker if none runs or the backlog per worker is long."""
        with self._lock:
            self._pending.append(item)
            if self._workers == 0 or (
                self._workers < self._max_workers
                and len(self._pending) > self._backlog * self._workers
            ):
                self._workers += 1
                # Submitted under the lock, so that a failure (a bad ZSTORE_THREADS, a pool
                # after interpreter shutdown) can be undone before any other thread sees
                # the queue. Submitted after the lock, a failure left the job queued while
                # its caller got the error: a later call's worker then ran it anyway (a
                # write the caller was told had failed), and the jobs other threads queued
                # meanwhile, counting on this worker, waited for one that never came.
                try:
                    shared_executor().submit(self._drain)
                except BaseException:
                    self._workers -= 1
                    if self._workers:
                        return  # the running workers drain the queue, this job included
                    self._pending.pop()  # the job just queued: nothing else was queued since
                    raise

    def _forget_workers(self) -> None:
        self._lock = threading.Lock()
        self._workers = 0
        self._pending.clear()

    def _drain(self) -> None:
        """Worker: run queued calls in batches until the queue is empty."""
        while True:
            with self._lock:
                if not self._pending:
                    self._workers -= 1
                    return
                # A fair share of the queue, so that a worker started a moment later
                # finds work left: one worker taking everything would run alone. A posted
                # job (a CallBatcher's) is a batch already and delivers its own results:
                # it is taken alone.
                count = min(_BATCH, -(-len(self._pending) // self._workers))
                batch: list[_Job] = []
                while self._pending and len(batch) < count:
                    job = self._pending.popleft()
                    batch.append(job)
                    if job[1] is None:
                        break
            by_loop = _run_batch(batch)
            # Drop the calls before waking the callers: a caller that then drops its store
            # must not find it kept alive by this thread (the results, _deliver drops).
            del batch, job
            for loop, outcomes in by_loop.items():
                # RuntimeError: the loop was closed while we worked; nobody is waiting.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_deliver, outcomes)
            by_loop.clear()


# The most queued jobs one worker takes at a time (their results go back in one wake-up).
_BATCH = 64


def _run_batch(batch: list[_Job]) -> dict[asyncio.AbstractEventLoop, list[_Outcome]]:
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    while batch:
        func, future, loop = batch.pop(0)
        if future is None:  # posted: delivers its own results and does not raise
            # BaseException too: let out, it would leave the worker without releasing its
            # place in the count (so with all places taken no worker would start again)
            # and lose the results of the calls run before it in this batch. A pool
            # thread has nobody to hand it to.
            with contextlib.suppress(BaseException):
                func()
            continue
        assert loop is not None  # set with the future by start()
        if future.cancelled():  # nobody waits for it: do not run it
            continue
        try:
            outcome: _Outcome = (future, True, func())
        except BaseException as exc:  # delivered to the awaiting coroutine
            outcome = (future, False, exc)
        by_loop.setdefault(loop, []).append(outcome)
    return by_loop


def _short_result(func: object, got: int, wanted: int) -> TypeError:
    """The error of a call left without a value by a job function that returned too few."""
    return TypeError(
        f"the CallBatcher job function {func!r} returned {got} values for {wanted} calls "
        "and no error for the rest; it must return one value per call"
    )


BatchResult = tuple[list[Any], dict[int, BaseException]]
"""What a :class:`CallBatcher`'s job function returns: one value per call (ignored for
the calls that failed) and ``{index: exception}`` for the calls that failed."""


class CallBatcher:
    """Gather the calls that coroutines make in one event-loop tick into dispatcher jobs.

    Every call would otherwise be its own job with its own closure, result tuple and
    wake-up; at tens of thousands of small reads that bookkeeping (and the garbage
    collections it triggers) costs more than the reads. Here each call is one tuple
    ``(future, *args)`` appended to a list; at the end of the tick, or when the list holds
    ``size`` calls, the list goes to a worker as one job, which runs ``func`` on the whole
    list and wakes the loop once with all the results. A call made while nothing of this
    batcher is under way on its loop goes at once, rather than a tick later.

    Parameters
    ----------
    dispatcher : ThreadDispatcher
        Where the jobs run. Jobs run in the order they were handed over, so with a
        one-worker dispatcher, calls run in the order they were made.
    func : callable
        Run on a worker thread with a job's list of call tuples; returns a
        :data:`BatchResult`. It must run the calls in list order and must not raise.
    size : int
        The most calls in one job: small enough that the first results come back soon
        and that several workers share a large burst.
    eager : bool
        If True, a job goes as soon as it holds ``size`` calls, so workers start while
        the loop is still queueing calls. If False, the tick's calls wait for the end of
        the tick and are then split evenly, two jobs per worker (at most ``size`` calls
        each): better when the calls are mostly Python, whose workers would otherwise
        contend for the GIL with the loop thread while it queues the rest.
    """

    def __init__(
        self,
        dispatcher: ThreadDispatcher,
        func: Callable[[list[Any]], BatchResult],
        size: int = 64,
        *,
        eager: bool = True,
    ) -> None:
        self._dispatcher = dispatcher
        self._func = func
        self._size = size
        self._eager = eager
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
        if self._eager and len(calls) >= self._size:
            self.flush(loop)

    def flush(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Hand the calls queued on ``loop`` (default: the running loop) to workers now."""
        if loop is None:
            loop = asyncio.get_running_loop()
        calls = self._open.pop(loop, None)
        if not calls:
            return
        if len(calls) <= self._size and self._eager:
            self._post(calls, loop)
            return
        per_job = -(-len(calls) // (2 * self._dispatcher.max_workers))
        step = max(1, min(self._size, per_job))
        for i in range(0, len(calls), step):
            self._post(calls[i : i + step], loop)

    def _post(self, calls: list[Any], loop: asyncio.AbstractEventLoop) -> None:
        self._dispatcher.post(partial(self._run, calls, loop))
        self._in_flight[loop] = self._in_flight.get(loop, 0) + 1
        if len(self._in_flight) > 1 or len(self._open) > 1:
            self._let_go_of_closed_loops()  # another loop has entries: is it dead?

    def _let_go_of_closed_loops(self) -> None:
        """Drop the entries of event loops closed with calls still gathered for them (their
        flush never ran) or results still to deliver (their delivery never ran).

        Nobody waits for those calls any more, and the entries kept the dead loop, its
        queued results and the calls' arguments (a store, and so its open files) alive for
        as long as the batcher lived. A closed loop's thread no longer touches its entries,
        so another loop's thread may drop them.
        """
        for loop in [*self._open, *self._in_flight]:  # a copy: other loops' threads insert
            if loop.is_closed():
                self._open.pop(loop, None)
                self._in_flight.pop(loop, None)

    def _run(self, calls: list[Any], loop: asyncio.AbstractEventLoop) -> None:
        try:
            values, errors = self._func(calls)
            if len(values) < len(calls):
                # A bug in func: _deliver would fail with an IndexError at the first call
                # without a value, leaving it and the rest of the job waiting forever.
                errors = dict(errors)
                for i in range(len(values), len(calls)):
                    errors.setdefault(i, _short_result(self._func, len(values), len(calls)))
        except BaseException as exc:  # a bug in func: fail every call rather than hang
            values, errors = [None] * len(calls), dict.fromkeys(range(len(calls)), exc)
        # Only the futures go back, and the calls' arguments (a store's archive, say) are
        # dropped before the loop wakes: this thread still holds the job until it returns,
        # and a caller that drops its store right after its await must not find the store
        # kept alive by it. The results and errors, _deliver drops.
        futures = [call[0] for call in calls]
        calls.clear()
        try:
            loop.call_soon_threadsafe(self._deliver, loop, futures, values, errors)
        except RuntimeError:
            # The loop was closed while we worked: nobody is waiting, and nothing may keep
            # the dead loop alive here (its thread no longer touches these entries).
            self._in_flight.pop(loop, None)
            self._open.pop(loop, None)

    def _deliver(
        self,
        loop: asyncio.AbstractEventLoop,
        futures: list[asyncio.Future[Any]],
        values: list[Any],
        errors: dict[int, BaseException],
    ) -> None:
        """Set the results of one job; runs on the event loop thread."""
        left = self._in_flight.get(loop, 1) - 1
        if left:
            self._in_flight[loop] = left
        else:
            self._in_flight.pop(loop, None)
        for i, future in enumerate(futures):
            if future.done():  # the caller was cancelled
                continue
            if errors and i in errors:
                future.set_exception(_settable(errors[i]))
            else:
                future.set_result(values[i])
        futures.clear()
        values.clear()
        errors.clear()
