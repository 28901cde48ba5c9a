"""Closing, moving, clearing and publishing while other calls run, and what a publish may
touch on disk."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import os
import shutil
import struct
import threading
import time
import zipfile
from typing import TYPE_CHECKING, Any

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.zip import ArchiveError, ZipStore
from zstore.zip._archive import ZipArchive, _data_descriptor

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def buf(data: bytes) -> Buffer:
    return Buffer.from_bytes(data)


async def read(store: ZipStore, key: str) -> bytes | None:
    value = await store.get(key, buffer_prototype)
    return None if value is None else value.to_bytes()


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        return sorted(zf.namelist())


@contextlib.contextmanager
def held_up(monkeypatch: pytest.MonkeyPatch, obj: Any, name: str) -> Iterator[threading.Event]:
    """Make ``obj.name`` wait (at most 5 s) for the event yielded, once it is called."""
    release = threading.Event()
    real = getattr(obj, name)

    def waiting(*args: Any, **kwargs: Any) -> Any:
        release.wait(5)
        return real(*args, **kwargs)

    monkeypatch.setattr(obj, name, waiting)
    try:
        yield release
    finally:
        release.set()


# ---------------------------------------------------------------- calls during move, clear, close


async def test_a_read_during_a_move_reads_the_moved_archive(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await ZipStore.open(archive, mode="a")
    await store.set("k", buf(b"v"))
    target = tmp_path / "moved.zip"
    with held_up(monkeypatch, shutil, "move") as release:
        moving = asyncio.ensure_future(store.move(target))
        await asyncio.sleep(0.1)  # the move has closed the store and waits to move the file
        reading = asyncio.ensure_future(read(store, "k"))
        await asyncio.sleep(0.1)
        release.set()
        await moving
    # Before, the read reopened the store at the old path (making an empty archive there).
    assert await reading == b"v"
    assert store._archive is not None
    assert store._archive.path == target
    assert not archive.exists()
    store.close()


@pytest.mark.parametrize("operation", ["clear", "move"])
async def test_calls_made_while_clear_or_move_runs_see_the_new_archive(
    archive: Path, tmp_path: Path, operation: str
) -> None:
    store = await ZipStore.open(archive, mode="a")
    await store.set("k", buf(b"v"))
    call = store.clear() if operation == "clear" else store.move(tmp_path / "moved.zip")
    running = asyncio.ensure_future(call)
    await asyncio.sleep(0)  # queued on the writer thread
    # Both queued with the archive as it was when they were made; both used to fail with
    # "the archive ... is closed" when it had been closed by the time they ran.
    got, _ = await asyncio.gather(read(store, "k"), store.set("after", buf(b"w")))
    await running
    assert got in (b"v", None)
    assert await read(store, "after") == b"w"
    store.close()


@pytest.mark.parametrize("operation", ["clear", "move"])
@pytest.mark.parametrize("call", ["set_if_not_exists", "_set_many", "delete", "delete_dir"])
async def test_writes_and_deletes_made_while_clear_or_move_runs_apply_to_the_new_archive(
    archive: Path, tmp_path: Path, operation: str, call: str
) -> None:
    # As set() above: each of these used to take the archive open when it was called, and
    # fail with "the archive ... is closed" once the clear or move queued before it ran.
    store = await ZipStore.open(archive, mode="a")
    moved = tmp_path / "moved" / "data.zip"
    running = asyncio.ensure_future(store.clear() if operation == "clear" else store.move(moved))
    await asyncio.sleep(0)  # queued on the writer thread
    if call == "set_if_not_exists":
        await store.set_if_not_exists("new", buf(b"w"))
    elif call == "_set_many":
        await store._set_many([("new", buf(b"w"))])
    elif call == "delete":
        await store.delete("zarr.json")
    else:
        await store.delete_dir("a")
    await running
    store.close()
    before = ["a/c/0", "a/c/1", "zarr.json"] if operation == "move" else []
    expected = {
        "set_if_not_exists": [*before, "new"],
        "_set_many": [*before, "new"],
        "delete": [k for k in before if k != "zarr.json"],
        "delete_dir": [k for k in before if not k.startswith("a/")],
    }[call]
    assert names(moved if operation == "move" else archive) == sorted(expected)


async def test_async_with_cancelled_while_closing_still_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.zip"
    store = await ZipStore.open(path, mode="w")
    # The writer thread is busy when the block ends: the close waits behind that write.
    queued: list[asyncio.Future[None]] = []
    with held_up(monkeypatch, ZipArchive, "write") as release:

        async def block() -> None:
            async with store:
                queued.append(asyncio.ensure_future(store.set("queued", buf(b"q"))))
                await asyncio.sleep(0.05)  # that write has started, and waits

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(block(), timeout=0.1)
        release.set()
        for _ in range(100):  # the close goes on without its caller
            if store._archive is None:
                break
            await asyncio.sleep(0.05)
    assert store._archive is None, "cancelled while waiting, the close never ran"
    await queued[0]
    assert names(path) == ["queued"]


# ---------------------------------------------------------------- writers taking turns


async def test_a_store_collected_while_another_publishes_never_waits_for_it(
    archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await ZipStore.open(archive, mode="a")
    await first.set("zarr.json", buf(b'{"v": 2}'))  # an overwrite: close() compacts
    dropped = await ZipStore.open(archive, mode="a")
    await dropped.set("lost", buf(b"x"))
    unreachable = dropped._archive
    dropped._archive = None  # only the collector can close it now
    dropped.__dict__["cycle"] = unreachable
    unreachable.__dict__["cycle"] = unreachable
    del dropped, unreachable
    real_copy = ZipArchive._copy_raw

    def copy_then_collect(self: ZipArchive, *args: Any) -> None:
        # The collector runs on whatever thread allocates: here, on the one publishing
        # (holding the writers' turn) while it copies, which finalizes the other archive.
        gc.collect()
        real_copy(self, *args)

    monkeypatch.setattr(ZipArchive, "_copy_raw", copy_then_collect)
    closing = threading.Thread(target=first.close, daemon=True)
    closing.start()
    closing.join(10)
    assert not closing.is_alive(), "the collected archive waited for the turn its thread held"
    assert "lost" not in names(archive), "the collected store's writes are dropped, not merged"


async def test_replacing_an_archive_waits_for_a_writer_publishing_it(archive: Path) -> None:
    # Mode 'w' and clear() replace the archive; while another writer holds its turn (from
    # its check to its replace), doing so would be undone by that writer a moment later.
    fd = os.open(archive, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    store = ZipStore(archive, mode="a")
    clearing = asyncio.ensure_future(store.clear())
    await asyncio.sleep(0.3)
    replaced_while_held = names(archive) == []
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    await clearing
    assert not replaced_while_held
    assert names(archive) == []
    store.close()


# ---------------------------------------------------------------- what a publish may touch


async def test_a_failed_publish_of_a_new_archive_leaves_it_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "new.zip"
    store = await ZipStore.open(path, mode="w")
    await store.set("k", buf(b"v"))

    def refuse(src: object, dst: object) -> None:
        raise OSError(5, "Input/output error (simulated)")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="simulated") as info:
        store.close()
    monkeypatch.undo()
    assert any("left as it was" in note for note in info.value.__notes__)
    assert names(path) == [], "the empty archive the store created must still be there"
    assert os.listdir(tmp_path) == ["new.zip"]


async def test_clear_replaces_a_file_that_is_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"not a zip archive")
    store = ZipStore(path, mode="a")
    await store.clear()  # as zarr-python's: what is there is replaced, not read first
    assert names(path) == []
    store.close()


@pytest.mark.parametrize("mode", ["r", "a", "w"])
async def test_a_named_pipe_is_never_read_nor_replaced(tmp_path: Path, mode: str) -> None:
    pipe = tmp_path / "pipe.zip"
    os.mkfifo(pipe)
    started = time.monotonic()
    with pytest.raises(ArchiveError, match=r"pipe\.zip is not a regular file"):
        await ZipStore.open(pipe, mode=mode)  # type: ignore[arg-type]
    assert time.monotonic() - started < 5, "opening waited for a writer of the pipe"
    assert pipe.is_fifo()


def test_a_data_descriptor_with_64_bit_sizes_follows_a_zip64_header() -> None:
    # An encrypted member over 4 GiB keeps its data descriptor when compacted: readers take
    # its sizes as 8 bytes only after a ZIP64 extra field in the local header.
    info = zipfile.ZipInfo("big")
    info.flag_bits = 0x09
    info.compress_size = info.file_size = zipfile.ZIP64_LIMIT + 1
    info.CRC = 0x12345678
    descriptor = _data_descriptor(info)
    assert struct.unpack("<4sLQQ", descriptor) == (
        b"PK\x07\x08",
        0x12345678,
        zipfile.ZIP64_LIMIT + 1,
        zipfile.ZIP64_LIMIT + 1,
    )
    info.compress_size = info.file_size = 10
    assert len(_data_descriptor(info)) == 16
