"""Same layout as zarr-python's LocalStore: each writes what the other reads."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.local import LocalStore

if TYPE_CHECKING:
    from pathlib import Path

zarr = pytest.importorskip("zarr", reason="interop tests compare with zarr-python's LocalStore")


async def _zarr_items(root: Path) -> dict[str, bytes]:
    from zarr.core.buffer import default_buffer_prototype

    store = await zarr.storage.LocalStore.open(root, read_only=True)
    out = {}
    async for key in store.list():
        value = await store.get(key, default_buffer_prototype())
        assert value is not None
        out[key] = value.to_bytes()
    return out


async def _our_items(root: Path) -> dict[str, bytes]:
    store = await LocalStore.open(root, read_only=True)
    out = {}
    async for key in store.list():
        value = await store.get(key, buffer_prototype)
        assert value is not None
        out[key] = value.to_bytes()
    return out


async def test_an_array_written_by_zarr_is_read_by_us(tmp_path: Path) -> None:
    root = tmp_path / "zarr-wrote"
    data = np.arange(100, dtype="int32").reshape(10, 10)
    array = zarr.create_array(store=str(root), shape=data.shape, chunks=(3, 3), dtype="int32")
    array[:] = data
    theirs = await _zarr_items(root)
    ours = await _our_items(root)
    assert ours == theirs
    assert "zarr.json" in ours
    assert "c/0/0" in ours
    store = LocalStore(root, read_only=True)
    assert sorted([k async for k in store.list_dir("c")]) == [str(i) for i in range(4)]


async def test_an_array_written_by_us_is_read_by_zarr(tmp_path: Path) -> None:
    source = tmp_path / "source"
    data = np.arange(60, dtype="float64").reshape(6, 10)
    array = zarr.create_array(store=str(source), shape=data.shape, chunks=(4, 4), dtype="f8")
    array[:] = data
    items = await _zarr_items(source)

    # Copy every key through our store into a fresh directory ...
    target = tmp_path / "we-wrote"
    ours = await LocalStore.open(target)
    await ours._set_many([(k, Buffer.from_bytes(v)) for k, v in items.items()])
    # ... and zarr-python reads the same keys, bytes and array back.
    assert await _zarr_items(target) == items
    np.testing.assert_array_equal(zarr.open_array(str(target), mode="r")[:], data)


async def test_single_writes_land_as_plain_files(tmp_path: Path) -> None:
    store = await LocalStore.open(tmp_path)
    await store.set("g/a/c/1/2", Buffer.from_bytes(b"chunk"))
    assert (tmp_path / "g" / "a" / "c" / "1" / "2").read_bytes() == b"chunk"
    assert await _zarr_items(tmp_path) == {"g/a/c/1/2": b"chunk"}
