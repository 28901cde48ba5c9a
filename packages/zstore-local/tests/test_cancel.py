"""Cancellation, many event loops and fork: stored data stays whole, nothing leaks.

Interleavings are forced with hooks around ``_files``' steps (real work on real files)
that block a worker thread on an event, never with sleeps; the only waits are for a
condition (the store's worker threads idle again), each bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.core import RangeByteRequest
from zstore.core import _threads as core_threads
from zstore.local import TMP_PREFIX, LocalStore, _files, _pool

from .conftest import listing

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from pathlib import Path

OLD = b"o" * 50_000
NEW = b"n" * 50_000
KEYS = [f"d/{i}" for i in range(40)]


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _idle() -> None:
    """Wait (at most 2 s) until no LocalStore job is queued or running."""
    dispatcher = _pool._dispatch()[0]
    for _ in range(2000):
        if dispatcher._workers == 0 and not dispatcher._pending:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the store's worker threads never became idle")


def _tmp_files(root: Path) -> list[str]:
    return [name for name in listing(root) if name.rpartition("/")[2].startswith(TMP_PREFIX)]


class _Gate:
    """Blocks the worker thread that calls a hooked step, until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.go = threading.Event()
        self.done = threading.Event()

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def hooked(*args: Any, **kwargs: Any) -> Any:
            self.entered.set()
            assert self.go.wait(10), "the test never released the hooked step"
            try:
                return func(*args, **kwargs)
            finally:
                self.done.set()

        return hooked


async def _until(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, 10), "a worker never reached the hook"


async def _drain(first: object) -> None:
    """Consume half of an async iterator (or await a coroutine), as a caller would."""
    if hasattr(first, "__anext__"):
        async for _ in first:  # type: ignore[attr-defined]
            break
    else:
        await first  # type: ignore[misc]


async def _call(op: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    await op()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts /proc/self/fd")
def test_cancel_every_method_at_every_tick(root: Path) -> None:
    """Cancel each method after 0..n loop ticks: no leaked descriptor or temporary file,
    every key old or new (never missing, never mixed), and the store keeps working."""

    async def main() -> None:
        store = LocalStore(root)
        await store._set_many([(k, Buffer.from_bytes(OLD)) for k in KEYS])
        await _idle()
        gc.collect()  # earlier tests' stores: their descriptors close now, not mid-test
        before = _fd_count()
        p = buffer_prototype
        ops: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {
            "get": lambda: _drain(asyncio.gather(*(store.get(k, p) for k in KEYS))),
            "set": lambda: _drain(
                asyncio.gather(*(store.set(k, Buffer.from_bytes(NEW)) for k in KEYS))
            ),
            "set_if_not_exists": lambda: _drain(
                asyncio.gather(
                    *(store.set_if_not_exists(k + "x", Buffer.from_bytes(NEW)) for k in KEYS)
                )
            ),
            "_set_many": lambda: _drain(
                store._set_many([(k, Buffer.from_bytes(NEW)) for k in KEYS])
            ),
            "_get_many": lambda: _drain(store._get_many([(k, p, None) for k in KEYS])),
            "get_partial_values": lambda: _drain(
                store.get_partial_values(p, [(k, RangeByteRequest(0, 9)) for k in KEYS])
            ),
            "get_ranges": lambda: _drain(
                store.get_ranges(
                    KEYS[0],
                    [RangeByteRequest(i, i + 5) for i in range(0, 50_000, 997)],
                    prototype=p,
                )
            ),
            "delete": lambda: _drain(asyncio.gather(*(store.delete(k + "x") for k in KEYS))),
            "list": lambda: _drain(store.list()),
            "list_prefix": lambda: _drain(store.list_prefix("d/")),
            "list_dir": lambda: _drain(store.list_dir("d")),
            "getsize_prefix": lambda: _drain(store.getsize_prefix("d")),
            "is_empty": lambda: _drain(store.is_empty("d")),
        }
        for name, op in ops.items():
            for ticks in range(8):
                # op() runs inside the task: a task cancelled before its first step
                # then leaves no coroutine never awaited.
                task = asyncio.ensure_future(_call(op))
                for _ in range(ticks):
                    await asyncio.sleep(0)
                task.cancel()
                # A late cancel finds the call finished: that is fine too.
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await _idle()
            gc.collect()
            assert _fd_count() <= before, f"{name}: a descriptor leaked"
            assert _tmp_files(root) == [], f"{name}: a temporary file was left"
            values = await asyncio.gather(*(store.get(k, p) for k in KEYS))
            for key, value in zip(KEYS, values, strict=True):
                assert value is not None, f"{name}: {key} lost"
                assert value.to_bytes() in (OLD, NEW), f"{name}: {key} mixed"
        # Still working: a full round trip.
        await store.set("after", Buffer.from_bytes(b"ok"))
        value = await store.get("after", p)
        assert value is not None
        assert value.to_bytes() == b"ok"

    asyncio.run(main())


def test_set_cancelled_while_its_write_runs_stores_whole_value(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancelled set whose write is under way finishes it: new value whole, no temporary
    file, the old value never missing meanwhile."""

    async def main() -> None:
        store = LocalStore(root)
        await store.set("d/0", Buffer.from_bytes(OLD))
        gate = _Gate()
        # Blocks after the temporary file holds the bytes, before the rename.
        monkeypatch.setattr(_files, "_replace", gate.wrap(_files._replace))
        task = asyncio.ensure_future(store.set("d/0", Buffer.from_bytes(NEW)))
        await _until(gate.entered)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Mid-write, readers still see the old value whole (read beside the store: its
        # one busy worker would serve a get only after the blocked write).
        assert await asyncio.to_thread((root / "d" / "0").read_bytes) == OLD
        gate.go.set()
        await _until(gate.done)
        await _idle()
        monkeypatch.undo()
        assert (root / "d" / "0").read_bytes() == NEW
        assert _tmp_files(root) == []

    asyncio.run(main())


@pytest.mark.parametrize("method", ["_set_many", "get_partial_values", "_get_many"])
def test_chunk_job_keeps_root_descriptor_after_cancel(  # noqa: PLR0915 - one interleaving, step by step
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """Cancelled while two chunks run, the store dropped: the chunk still running must not
    work beneath a closed (and reused) root descriptor.

    Before 0.1.9 the chunk jobs held the root's descriptor number but not the store; once
    the store was collected its descriptor was closed, the next open took the number, and
    the chunk still running worked in that directory: _set_many wrote a key of this store
    into another store's root.
    """
    if _pool._dispatch()[0].max_workers < 2:
        pytest.skip("needs two worker threads (ZSTORE_LOCAL_THREADS=1)")
    a, other = tmp_path / "a", tmp_path / "other"
    other.mkdir()
    gates = {"k0": _Gate(), "k1": _Gate()}
    step = "write_file" if method == "_set_many" else "read_file"
    real = getattr(_files, step)

    def hooked(root: str, real_root: str, key: str, *args: Any, **kwargs: Any) -> Any:
        return gates[key].wrap(real)(root, real_root, key, *args, **kwargs)

    monkeypatch.setattr(_files, step, hooked)
    delivered = asyncio.Event()
    real_deliver = core_threads._deliver

    def deliver(outcomes: list[Any]) -> None:
        real_deliver(outcomes)
        delivered.set()  # the worker has dropped the job it ran

    monkeypatch.setattr(core_threads, "_deliver", deliver)

    async def start() -> tuple[asyncio.Task[Any], int, weakref.ref[LocalStore]]:
        store = await LocalStore.open(a)
        for key in gates:
            (a / key).write_bytes(OLD)
        p = buffer_prototype
        pairs = [(k, Buffer.from_bytes(NEW)) for k in gates]
        call: Coroutine[Any, Any, Any] = {
            "_set_many": lambda: store._set_many(pairs),
            "get_partial_values": lambda: store.get_partial_values(p, [(k, None) for k in gates]),
            "_get_many": lambda: _drain(store._get_many([(k, p, None) for k in gates])),
        }[method]()
        return asyncio.ensure_future(call), store._root_fd, weakref.ref(store)

    async def main() -> None:
        task, fd, _ = await start()
        assert fd >= 0
        await _until(gates["k0"].entered)
        await _until(gates["k1"].entered)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        del task
        delivered.clear()
        gates["k0"].go.set()  # the chunk the call awaited ends; k1's still runs
        await delivered.wait()
        gc.collect()
        closed = False
        try:
            os.fstat(fd)
        except OSError:
            closed = True
            # Closed under the running chunk: reuse the number, as the next open would.
            other_fd = os.open(other, os.O_RDONLY | os.O_DIRECTORY)
            if other_fd != fd:  # usually it is: the lowest free number
                os.dup2(other_fd, fd)
                os.close(other_fd)
        else:
            held, root = os.fstat(fd), os.stat(a)
            assert (held.st_dev, held.st_ino) == (root.st_dev, root.st_ino)
        gates["k1"].go.set()
        await _until(gates["k1"].done)
        await _idle()
        assert listing(other) == [], "a key of the store was written into another directory"
        assert not closed, "the root descriptor was closed while a chunk job still used it"
        assert {k: (a / k).read_bytes() in (OLD, NEW) for k in gates} == dict.fromkeys(gates, True)

    asyncio.run(main())


def test_move_cancelled_while_it_runs_follows_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A move cancelled once its job runs (the move itself cannot be stopped) leaves the
    store at the new root; before 0.1.9 it stayed at the old, missing root: empty listings,
    and after close() a new empty directory made there."""
    src, dest = tmp_path / "src", tmp_path / "dest"
    gate = _Gate()

    async def main() -> None:
        store = LocalStore(src)
        await store.set("k", Buffer.from_bytes(b"v"))
        monkeypatch.setattr(_files, "move_root", gate.wrap(_files.move_root))
        task = asyncio.ensure_future(store.move(dest))
        await _until(gate.entered)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.go.set()
        await _until(gate.done)
        # The move job re-points the store under the open lock: once we hold it, it is done.
        await asyncio.to_thread(store._open_lock.acquire)
        store._open_lock.release()
        assert store.root == dest
        assert [key async for key in store.list()] == ["k"]
        store.close()
        value = await store.get("k", buffer_prototype)
        assert value is not None
        assert value.to_bytes() == b"v"
        await store.set("k2", Buffer.from_bytes(b"w"))
        assert not src.exists()
        assert listing(dest) == ["k", "k2"]

    asyncio.run(main())


def test_move_while_reads_are_in_flight(tmp_path: Path) -> None:
    """Reads gathered with a move all find their values (before or after the move)."""

    async def main() -> None:
        store = LocalStore(tmp_path / "m0")  # fresh: the reads' jobs open it
        await store._set_many([(f"k{i}", Buffer.from_bytes(b"v" * 64)) for i in range(50)])
        store.close()
        for rep in range(1, 4):
            reads = [asyncio.ensure_future(store.get(f"k{i}", buffer_prototype)) for i in range(50)]
            await store.move(tmp_path / f"m{rep}")
            values = await asyncio.gather(*reads)
            assert all(v is not None and v.to_bytes() == b"v" * 64 for v in values)
            assert not (tmp_path / f"m{rep - 1}").exists()  # never made again
        assert len([key async for key in store.list()]) == 50

    asyncio.run(main())


def test_two_event_loops_in_two_threads_at_once(root: Path) -> None:
    """One fresh store, two threads each running its own loop, writing and reading the
    same keys at once: every value whole, no error, no descriptor left."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    store = LocalStore(root)

    def run(tag: int) -> None:
        async def main() -> None:
            barrier.wait()
            for _ in range(10):
                await asyncio.gather(
                    *(store.set(k, Buffer.from_bytes(bytes([tag]) * 1000)) for k in KEYS[:10])
                )
                values = await asyncio.gather(*(store.get(k, buffer_prototype) for k in KEYS))
                for value in values[:10]:
                    assert value is not None
                    data = value.to_bytes()
                    assert len(data) == 1000
                    assert len(set(data)) == 1
                assert len([k async for k in store.list_prefix("d/")]) == 10

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    before = _fd_count()
    threads = [threading.Thread(target=run, args=(tag,)) for tag in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert _fd_count() <= before + 1  # the store's root descriptor, opened once
    assert _tmp_files(root) == []
    # asyncio.run again and again with the same store
    for i in range(5):
        asyncio.run(store.set("again", Buffer.from_bytes(bytes([i]))))
    value = asyncio.run(store.get("again", buffer_prototype))
    assert value is not None
    assert value.to_bytes() == b"\x04"


def test_set_if_not_exists_from_many_tasks_has_one_winner(root: Path) -> None:
    async def main() -> None:
        store = LocalStore(root)
        for rep in range(5):
            key = f"w/{rep}"
            await asyncio.gather(
                *(
                    store.set_if_not_exists(key, Buffer.from_bytes(bytes([i]) * 4096))
                    for i in range(32)
                )
            )
            value = await store.get(key, buffer_prototype)
            assert value is not None
            data = value.to_bytes()
            assert len(data) == 4096
            assert len(set(data)) == 1
        assert _tmp_files(root) == []

    asyncio.run(main())


def _child_get(store: LocalStore, real: Callable[..., Any], conn: Any) -> None:
    # Runs in the forked child: os._exit, so that no thread (a stuck one included) is
    # waited for at exit.
    _files.prepare_root = real  # type: ignore[assignment]
    try:
        value = asyncio.run(asyncio.wait_for(store.get("k", buffer_prototype), 1.5))
        conn.send(None if value is None else value.to_bytes())
    except BaseException as exc:
        conn.send(repr(exc))
    os._exit(0)


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the fork start method is tested on Linux only"
)
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_while_a_worker_opens_the_store(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fork while a worker thread was opening a fresh store: the child's copy of the store
    works (before 0.1.9 its open lock stayed held for ever: every call in the child hung),
    and the parent's call finishes."""
    (root / "k").write_bytes(b"v")
    store = LocalStore(root)
    gate = _Gate()
    real = _files.prepare_root
    monkeypatch.setattr(_files, "prepare_root", gate.wrap(real))
    ctx = multiprocessing.get_context("fork")

    async def main() -> None:
        task = asyncio.ensure_future(store.get("k", buffer_prototype))
        await _until(gate.entered)  # the worker holds the store's open lock now
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child_get, args=(store, real, sender))
        child.start()
        try:
            ready = await asyncio.to_thread(receiver.poll, 10)
            got = receiver.recv() if ready else "no answer"
        finally:
            child.join(5)
            if child.exitcode is None:  # pragma: no cover - only on failure
                child.kill()
        gate.go.set()
        value = await task
        assert value is not None
        assert value.to_bytes() == b"v"
        assert got == b"v", got

    asyncio.run(main())


def _child_use(store: LocalStore, conn: Any) -> None:
    async def main() -> list[str]:
        await store.set("child/k", Buffer.from_bytes(b"c"))
        value = await store.get("parent/k", buffer_prototype)
        assert value is not None
        assert value.to_bytes() == b"p"
        return [key async for key in store.list()]

    try:
        conn.send(asyncio.run(main()))
    except BaseException as exc:
        conn.send(repr(exc))
    os._exit(0)


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the fork start method is tested on Linux only"
)
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_after_use_child_and_parent_keep_working(root: Path) -> None:
    """A store opened and used (pool threads started) before a fork works in the child,
    with the child's own pool, and in the parent afterwards."""
    store = LocalStore(root)
    ctx = multiprocessing.get_context("fork")

    async def main() -> None:
        await store.set("parent/k", Buffer.from_bytes(b"p"))
        await asyncio.gather(*(store.get("parent/k", buffer_prototype) for _ in range(20)))
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child_use, args=(store, sender))
        child.start()
        try:
            ready = await asyncio.to_thread(receiver.poll, 10)
            got = receiver.recv() if ready else "no answer"
        finally:
            child.join(5)
            if child.exitcode is None:  # pragma: no cover - only on failure
                child.kill()
        assert got == ["child/k", "parent/k"], got
        await store.set("parent/k2", Buffer.from_bytes(b"q"))
        assert sorted([key async for key in store.list()]) == ["child/k", "parent/k", "parent/k2"]

    asyncio.run(main())
