"""Calls made in one event-loop tick share worker jobs: each still gets its own result."""

from __future__ import annotations

import asyncio
import zipfile
from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.zip import ArchiveError, ZipStore

if TYPE_CHECKING:
    from pathlib import Path

VALUES = {f"k/{i}": bytes([i % 256]) * (100 + i) for i in range(300)}


def make_archive(path: Path, corrupt: str | None = None) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for key, value in VALUES.items():
            zf.writestr(key, value)
    if corrupt is not None:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo(corrupt)
            start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        data = bytearray(path.read_bytes())
        data[start] ^= 0xFF  # the CRC no longer matches
        path.write_bytes(bytes(data))


async def test_one_failing_read_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    make_archive(path, corrupt="k/7")
    store = await ZipStore.open(path, mode="r")
    keys = [*VALUES, "missing"]
    got = await asyncio.gather(
        *(store.get(k, buffer_prototype) for k in keys), return_exceptions=True
    )
    for key, result in zip(keys, got, strict=True):
        if key == "k/7":
            assert isinstance(result, ArchiveError)
            assert "k/7" in str(result)
        elif key == "missing":
            assert result is None
        else:
            assert isinstance(result, Buffer), key
            assert result.to_bytes() == VALUES[key], key
    store.close()


async def test_cancelled_reads_do_not_disturb_the_others(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    make_archive(path)
    store = await ZipStore.open(path, mode="r")
    # Whole values: they are always read by a worker (a range of a stored member in the
    # page cache is copied on the loop, and would be done before the cancel).
    tasks = {k: asyncio.ensure_future(store.get(k, buffer_prototype)) for k in VALUES}
    await asyncio.sleep(0)  # every get has queued its read
    cancelled = list(VALUES)[::2]
    for key in cancelled:
        tasks[key].cancel()
    for key, task in tasks.items():
        if key in cancelled:
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            result = await task
            assert result is not None
            assert result.to_bytes() == VALUES[key], key
    store.close()


async def test_writes_in_one_tick_apply_in_call_order(tmp_path: Path) -> None:
    store = await ZipStore.open(tmp_path / "w.zip", mode="w")
    await asyncio.gather(
        store.set("a", Buffer.from_bytes(b"1")),
        store.set("a", Buffer.from_bytes(b"2")),
        store.set("b", Buffer.from_bytes(b"1")),
        store.delete("b"),  # after the set of b: b ends up missing
        store.set("c/x", Buffer.from_bytes(b"1")),
        store.delete_dir("c"),  # after the set of c/x
        store.set("d", Buffer.from_bytes(b"last")),
    )
    assert sorted([k async for k in store.list()]) == ["a", "d"]
    for key, value in {"a": b"2", "d": b"last"}.items():
        got = await store.get(key, buffer_prototype)
        assert got is not None
        assert got.to_bytes() == value
    store.close()
    with zipfile.ZipFile(tmp_path / "w.zip") as zf:
        assert sorted(zf.namelist()) == ["a", "d"]


async def test_same_key_set_in_one_tick_keeps_the_last(tmp_path: Path) -> None:
    store = await ZipStore.open(tmp_path / "w.zip", mode="w")
    await asyncio.gather(*(store.set("x", Buffer.from_bytes(bytes([i]))) for i in range(200)))
    got = await store.get("x", buffer_prototype)
    assert got is not None
    assert got.to_bytes() == bytes([199])
    store.close()
    with zipfile.ZipFile(tmp_path / "w.zip") as zf:
        assert zf.read("x") == bytes([199])
        assert zf.namelist() == ["x"]
