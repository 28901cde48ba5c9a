"""Cancellation, close() with writes queued, pickling with writes queued, and os.fork()."""

from __future__ import annotations

import asyncio
import os
import pickle
import threading
import zipfile
from typing import TYPE_CHECKING, Any

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.zip import ArchiveError, ZipStore
from zstore.zip._archive import ZipArchive

if TYPE_CHECKING:
    from pathlib import Path


def buf(data: bytes) -> Buffer:
    return Buffer.from_bytes(data)


def contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


async def queue_sets(store: ZipStore, count: int) -> list[asyncio.Future[None]]:
    """``count`` set() calls, each started (queued) and none finished."""
    tasks = [asyncio.ensure_future(store.set(f"k{i}", buf(b"v"))) for i in range(count)]
    await asyncio.sleep(0)  # every task runs up to its await: the calls are queued
    assert not any(task.done() for task in tasks)
    return tasks


async def test_close_publishes_the_sets_queued_before_it(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    store = await ZipStore.open(path, mode="w")
    tasks = await queue_sets(store, 50)
    store.close()
    # Before: the writes ran after the close, reopened the archive and wrote to a
    # temporary file that nothing published (1 of 50 keys, or none, was in the archive).
    assert len(contents(path)) == 50
    await asyncio.gather(*tasks)
    assert store._archive is None, "a write queued before close() reopened the store"


async def test_a_pickled_copy_holds_the_sets_queued_before_it(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    store = await ZipStore.open(path, mode="w")
    tasks = await queue_sets(store, 20)
    copy = pickle.loads(pickle.dumps(store))
    assert len([key async for key in copy.list()]) == 20
    await asyncio.gather(*tasks)
    copy.close()
    store.close()


async def test_a_set_cancelled_before_it_ran_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.zip"
    store = await ZipStore.open(path, mode="w")
    await store.set("k", buf(b"old!"))
    started, release = threading.Event(), threading.Event()
    real_write = ZipArchive.write

    def write(self: ZipArchive, key: str, *args: Any, **kwargs: Any) -> bool:
        if key == "blocker":
            started.set()
            release.wait(5)
        return real_write(self, key, *args, **kwargs)

    monkeypatch.setattr(ZipArchive, "write", write)
    blocker = asyncio.ensure_future(store.set("blocker", buf(b"b")))
    await asyncio.sleep(0)
    assert started.wait(5)
    value = bytearray(b"new!")
    cancelled = asyncio.ensure_future(store.set("k", Buffer.from_bytes(value)))
    await asyncio.sleep(0)  # queued behind the blocked write
    cancelled.cancel()
    # The caller was told the set did not happen, and reuses its buffer.
    value[:] = b"junk"
    release.set()
    await blocker
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    got = await store.get("k", buffer_prototype)
    assert got is not None
    # Before: b"junk", a value no set() was ever called with.
    assert got.to_bytes() == b"old!"
    store.close()
    assert contents(path) == {"k": b"old!", "blocker": b"b"}


def _fork() -> int:
    # A test process runs threads (the store's workers, xdist's); the child below only
    # writes through a store and leaves with os._exit, which is safe.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _run_in_child(work: Any) -> int:
    """Run ``work()`` in a forked child; returns its exit status (0: no exception)."""
    pid = _fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            work()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


async def test_a_forked_child_that_writes_never_corrupts_the_archive(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    store = await ZipStore.open(path, mode="w")
    await store.set("parent/0", buf(b"P" * 100))

    def child() -> None:
        async def write() -> None:
            await store.set("child/0", buf(b"C" * 300))

        asyncio.run(write())
        store.close()

    assert _run_in_child(child) == 0
    await store.set("parent/1", buf(b"Q" * 100))
    # The child reopened the file (it could not see the parent's unpublished writes) and
    # published first: the parent's close refuses to overwrite it, as for any two writers.
    with pytest.raises(ArchiveError, match="changed by another writer"):
        store.close()
    # Before: the child published the parent's temporary file, which the parent then
    # wrote into: "Bad magic number for central directory".
    assert contents(path) == {"child/0": b"C" * 300}
    assert not [p.name for p in tmp_path.iterdir() if p.name != "x.zip"]


async def test_a_forked_child_never_publishes_the_parents_writes(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    store = await ZipStore.open(path, mode="w")
    await store.set("parent/0", buf(b"P" * 100))
    # The child only reads, then closes its store (or drops it).
    assert _run_in_child(store.close) == 0
    await store.set("parent/1", buf(b"Q" * 100))
    store.close()  # before: "changed by another writer", and parent/1 was lost
    assert contents(path) == {"parent/0": b"P" * 100, "parent/1": b"Q" * 100}


async def test_a_forked_child_reads_the_archive_and_leaks_no_descriptor(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a", b"stored")
    store = await ZipStore.open(path, mode="a")
    await store.set("b", buf(b"unpublished"))

    def child() -> None:
        before = len(os.listdir("/proc/self/fd"))

        async def read() -> None:
            got = await store.get("a", buffer_prototype)
            assert got is not None
            assert got.to_bytes() == b"stored"
            # The parent's unpublished write is not in the file the child opened.
            assert await store.get("b", buffer_prototype) is None

        asyncio.run(read())
        store.close()
        assert len(os.listdir("/proc/self/fd")) <= before

    assert _run_in_child(child) == 0
    store.close()
    assert contents(path) == {"a": b"stored", "b": b"unpublished"}
