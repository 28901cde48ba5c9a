"""The synchronous surface of zarr-python 3.4.2: the protocols, ``Store.get_ranges_sync``,
MemoryStore's ``*_sync`` methods and StorePath's (with ``get_json``), and ``set_or_delete``.

Their tests with a store that lacks some sync methods are in test_store_abc.py. The
conformance side (every sync method against its async twin) is ztesting's
SyncStoreTests, which MemoryStore runs in ztesting's own tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import numpy as np
import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.core import (
    ByteGetter,
    ByteSetter,
    MemoryStore,
    RangeByteRequest,
    StorePath,
    SuffixByteRequest,
    SupportsDeleteSync,
    SupportsGetSync,
    SupportsSetSync,
    SupportsSyncStore,
    SyncByteGetter,
    SyncByteSetter,
    set_or_delete,
    store_supports_sync_io,
)


def buf(data: bytes) -> Buffer:
    return Buffer.from_bytes(data)


# ---------------------------------------------------------------- protocols


def test_memory_store_has_the_whole_sync_surface() -> None:
    store = MemoryStore()
    for protocol in (SupportsGetSync, SupportsSetSync, SupportsDeleteSync, SupportsSyncStore):
        assert isinstance(store, protocol), protocol.__name__
    assert store_supports_sync_io(store)


def test_a_store_may_opt_out_of_sync_io_at_run_time() -> None:
    class Wrapper(MemoryStore):
        _supports_sync_io = False

    assert isinstance(Wrapper(), SupportsSyncStore)
    assert not store_supports_sync_io(Wrapper())


def test_store_path_is_a_byte_getter_and_setter_sync_and_async() -> None:
    path = StorePath(MemoryStore(), "a")
    for protocol in (ByteGetter, ByteSetter, SyncByteGetter, SyncByteSetter):
        assert isinstance(path, protocol), protocol.__name__
    assert not isinstance(object(), ByteGetter)


async def test_set_or_delete_writes_a_value_and_deletes_for_none() -> None:
    store = MemoryStore()
    path = StorePath(store, "a/b")
    await set_or_delete(path, buf(b"xyz"))
    got = await store.get("a/b", buffer_prototype)
    assert got is not None
    assert got.to_bytes() == b"xyz"
    await set_or_delete(path, None)
    assert await store.get("a/b", buffer_prototype) is None


def test_memory_get_ranges_sync_serves_views_of_one_lookup() -> None:
    store = MemoryStore()
    store.set_sync("k", buf(b"0123456789"))
    tagged = dict(
        store.get_ranges_sync(
            "k", [RangeByteRequest(1, 3), SuffixByteRequest(2)], prototype=buffer_prototype
        )
    )
    first, last = tagged[0], tagged[1]
    assert first is not None
    assert last is not None
    assert (first.to_bytes(), last.to_bytes()) == (b"12", b"89")
    whole = store._store_dict["k"].as_numpy_array()
    assert np.shares_memory(whole, first.as_numpy_array())


# ---------------------------------------------------------------- MemoryStore


def test_set_sync_copies_memory_the_caller_can_still_change() -> None:
    store = MemoryStore()
    array = np.arange(8, dtype="B")
    store.set_sync("k", Buffer.from_array_like(array))
    array[:] = 255
    got = store.get_sync("k")
    assert got is not None
    assert got.to_bytes() == bytes(range(8)), "the store aliased the caller's array"


def test_sync_methods_open_the_store_as_the_async_ones_do() -> None:
    for call in (
        lambda s: s.get_sync("k"),
        lambda s: s.set_sync("k", buf(b"v")),
        lambda s: s.get_ranges_sync("k", [None], prototype=buffer_prototype),
    ):
        store = MemoryStore()
        assert not store._is_open
        with contextlib.suppress(ExceptionGroup):  # get_ranges_sync of a missing key
            call(store)
        assert store._is_open


def test_sync_and_async_writes_keep_one_index() -> None:
    store = MemoryStore()
    store.set_sync("g/a", buf(b"1"))
    store.set_sync("g/b/c", buf(b"22"))
    store.delete_sync("g/a")
    assert store.get_sync("g/a") is None

    async def listing() -> list[str]:
        return sorted([k async for k in store.list_dir("g")])

    assert asyncio.run(listing()) == ["b"]


# ---------------------------------------------------------------- StorePath


def test_store_path_sync_methods_delegate_to_the_store() -> None:
    store = MemoryStore()
    path = StorePath(store, "g") / "c/0"
    path.set_sync(buf(b"abcdef"))
    assert store.get_sync("g/c/0") is not None
    got = path.get_sync(byte_range=RangeByteRequest(2, 4))
    assert got is not None
    assert isinstance(got, Buffer)
    assert got.to_bytes() == b"cd"
    path.delete_sync()
    assert path.get_sync() is None
    assert store.get_sync("g/c/0") is None


async def test_store_path_get_json() -> None:
    store = MemoryStore()
    document = {"zarr_format": 3, "node_type": "group", "attributes": {"a": [1, 2.5, None]}}
    await store.set("g/zarr.json", buf(json.dumps(document).encode()))
    await store.set("g/not-json", buf(b"\x00\x01"))
    await store.set("g/list", buf(b"[1, 2] and more"))
    assert await StorePath(store, "g/zarr.json").get_json() == document
    assert await StorePath(store, "g/missing.json").get_json() is None
    assert await StorePath(store, "g/list").get_json(byte_range=RangeByteRequest(0, 6)) == [1, 2]
    with pytest.raises(json.JSONDecodeError):
        await StorePath(store, "g/not-json").get_json()


async def test_memory_get_ranges_takes_none_for_the_default_prototype() -> None:
    # As get_sync, Store.get_ranges_sync (which hands it on to get_sync) and zarr-python:
    # MemoryStore's own get_ranges(_sync) raised AttributeError on None.
    store = MemoryStore()
    store.set_sync("k", buf(b"0123456789"))
    tagged = store.get_ranges_sync("k", [RangeByteRequest(1, 3)], prototype=None)  # type: ignore[arg-type]
    assert [(i, type(b), b.to_bytes()) for i, b in tagged] == [(0, Buffer, b"12")]  # type: ignore[union-attr]
    batches = [
        batch
        async for batch in store.get_ranges("k", [SuffixByteRequest(2)], prototype=None)  # type: ignore[arg-type]
    ]
    assert [(i, b.to_bytes()) for batch in batches for i, b in batch] == [(0, b"89")]  # type: ignore[union-attr]
