"""MemoryStore: aliasing, views, the key index, read-only, threads."""

from __future__ import annotations

import asyncio
import os
import pickle
import random
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zbuffer.core import Buffer as CoreBuffer
from zbuffer.core import BufferPrototype
from zbuffer.cpu import Buffer, NDBuffer
from zstore.core import (
    READ_ONLY_MESSAGE,
    MemoryStore,
    OffsetByteRequest,
    RangeByteRequest,
    SuffixByteRequest,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from zbuffer.core import Buffer as AnyBuffer


def buf(data: bytes) -> Buffer:
    return Buffer.from_bytes(data)


async def keys_of(it: object) -> list[str]:
    return sorted([k async for k in it])  # type: ignore[attr-defined]


# ---------------------------------------------------------------- aliasing and views


async def test_later_changes_to_the_callers_array_do_not_reach_the_store(
    store: MemoryStore, proto: BufferPrototype
) -> None:
    array = np.arange(16, dtype="B")
    await store.set("k", Buffer.from_array_like(array))
    array[:] = 255
    got = await store.get("k", proto)
    assert got is not None
    assert got.to_bytes() == bytes(range(16)), "the store aliased the caller's array"


async def test_get_returns_views_of_stored_memory_not_copies(
    store: MemoryStore, proto: BufferPrototype
) -> None:
    await store.set("k", buf(b"0123456789"))
    whole = await store.get("k", proto)
    part = await store.get("k", proto, RangeByteRequest(2, 5))
    again = await store.get("k", proto)
    assert whole is not None
    assert part is not None
    assert again is not None
    assert part.to_bytes() == b"234"
    assert np.shares_memory(whole.as_numpy_array(), part.as_numpy_array())
    assert np.shares_memory(whole.as_numpy_array(), again.as_numpy_array())


async def test_returned_views_are_read_only_so_callers_cannot_corrupt_the_store(
    store: MemoryStore, proto: BufferPrototype
) -> None:
    await store.set("k", buf(b"abc"))
    got = await store.get("k", proto)
    assert got is not None
    with pytest.raises(ValueError, match="read-only"):
        got.as_numpy_array()[0] = 0
    after = await store.get("k", proto)
    assert after is not None
    assert after.to_bytes() == b"abc"


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


# Memory its owner can still change: the store must copy it.
MUTABLE_SOURCES = {
    "writable array": lambda: np.frombuffer(bytearray(b"xyz"), dtype="B"),
    "read-only view of a writable array": lambda: _read_only(np.arange(3, dtype="B")),
    "read-only memoryview of a bytearray": lambda: np.frombuffer(
        memoryview(bytearray(b"xyz")).toreadonly(), dtype="B"
    ),
}
# Memory of a bytes object: nobody can change it, so the store keeps it without a copy.
IMMUTABLE_SOURCES = {
    "bytes": lambda: np.frombuffer(b"xyz", dtype="B"),
    "slice of bytes": lambda: np.frombuffer(b"__xyz__", dtype="B")[2:5],
    "memoryview slice of bytes": lambda: np.frombuffer(memoryview(b"__xyz__")[2:5], dtype="B"),
}


@pytest.mark.parametrize("source", MUTABLE_SOURCES.values(), ids=MUTABLE_SOURCES.keys())
async def test_set_copies_mutable_memory_exactly_once(
    store: MemoryStore, source: Callable[[], np.ndarray]
) -> None:
    value = Buffer.from_array_like(source())
    await store.set("k", value)
    stored = store._store_dict["k"]
    assert stored is not value
    assert not np.shares_memory(stored.as_numpy_array(), value.as_numpy_array())
    assert stored.as_numpy_array().base is None or isinstance(
        stored.as_numpy_array().base, np.ndarray
    ), "the copy should own its memory"


@pytest.mark.parametrize("source", IMMUTABLE_SOURCES.values(), ids=IMMUTABLE_SOURCES.keys())
async def test_set_keeps_immutable_memory_without_a_copy(
    store: MemoryStore, proto: BufferPrototype, source: Callable[[], np.ndarray]
) -> None:
    value = Buffer.from_array_like(source())
    await store.set("k", value)
    assert store._store_dict["k"] is value
    got = await store.get("k", proto)
    assert got is not None
    assert got.to_bytes() == b"xyz"
    with pytest.raises(ValueError, match="read-only"):
        got.as_numpy_array()[0] = 0


async def test_the_stored_copy_is_read_only_from_the_start(store: MemoryStore) -> None:
    await store.set("k", Buffer.from_array_like(np.arange(3, dtype="B")))
    stored = store._store_dict["k"].as_numpy_array()
    assert not stored.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        stored[0] = 9


async def test_set_many_keeps_immutable_and_copies_mutable_memory(store: MemoryStore) -> None:
    kept = buf(b"abc")
    mutable = np.arange(3, dtype="B")
    await store._set_many([("a", kept), ("b", Buffer.from_array_like(mutable))])
    mutable[:] = 9
    assert store._store_dict["a"] is kept
    got = await store.get("b")
    assert got is not None
    assert got.to_bytes() == bytes([0, 1, 2])


async def test_values_passed_in_a_user_dict_are_stored_as_is(proto: BufferPrototype) -> None:
    value = buf(b"mine")
    store = MemoryStore({"k": value})
    got = await store.get("k", proto)
    assert got is value


# ---------------------------------------------------------------- device memory, simulated


class _DeviceArray:
    """Device memory simulated on the CPU, behaving as CuPy does where the store can tell:
    no ``flags`` and no ``base``, slices are views, copies are explicit (``copy``, ``get``),
    and implicit conversion to NumPy is refused."""

    ndim = 1
    dtype = np.dtype("B")

    def __init__(self, memory: np.ndarray) -> None:
        self.memory = memory  # stands for the device allocation; tests poke it directly

    @property
    def size(self) -> int:
        return int(self.memory.size)

    def __getitem__(self, key: slice) -> _DeviceArray:
        return _DeviceArray(self.memory[key])

    def copy(self) -> _DeviceArray:
        return _DeviceArray(self.memory.copy())

    def get(self) -> np.ndarray:
        return self.memory.copy()  # the explicit device-to-host copy

    def __array__(self, *args: object, **kwargs: object) -> np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed")


class DeviceBuffer(CoreBuffer):
    """A Buffer over :class:`_DeviceArray`: copies host memory in, hands device memory on."""

    @classmethod
    def create_zero_length(cls) -> DeviceBuffer:
        return cls(_DeviceArray(np.empty(0, dtype="B")))  # type: ignore[arg-type]

    @classmethod
    def from_buffer(cls, buffer: CoreBuffer) -> DeviceBuffer:
        array = buffer.as_array_like()
        if isinstance(array, _DeviceArray):
            return cls(array)
        return cls(_DeviceArray(buffer.as_numpy_array().copy()))  # type: ignore[arg-type]

    @classmethod
    def from_bytes(cls, bytes_like: object) -> DeviceBuffer:
        memory = np.frombuffer(bytes_like, dtype="B").copy()
        return cls(_DeviceArray(memory))  # type: ignore[arg-type]

    def as_numpy_array(self) -> np.ndarray:
        return self._data.get()  # type: ignore[attr-defined, no-any-return]

    def combine(self, others: Iterable[CoreBuffer]) -> DeviceBuffer:
        parts = [self.as_numpy_array(), *(other.as_numpy_array() for other in others)]
        return type(self)(_DeviceArray(np.concatenate(parts)))  # type: ignore[arg-type]


device_prototype = BufferPrototype(buffer=DeviceBuffer, nd_buffer=NDBuffer)


async def test_set_copies_device_memory_and_survives_an_array_without_flags(
    store: MemoryStore,
) -> None:
    # The CuPy path of set: an array the store cannot prove immutable (no flags, no base)
    # is copied, and the copy, which cannot be frozen, is still the store's own.
    value = DeviceBuffer.from_bytes(b"0123456789")
    await store.set("k", value)
    await store._set_many([("m", value)])
    value.as_array_like().memory[:] = ord("x")  # type: ignore[attr-defined]
    for key in ("k", "m"):
        got = await store.get(key, device_prototype)
        assert isinstance(got, DeviceBuffer)
        assert got.to_bytes() == b"0123456789", f"{key}: the store aliased device memory"


async def test_device_values_are_handed_out_as_the_prototype_asks(
    store: MemoryStore, proto: BufferPrototype
) -> None:
    await store.set("k", DeviceBuffer.from_bytes(b"0123456789"))
    stored = store._store_dict["k"].as_array_like().memory  # type: ignore[attr-defined]
    # Same memory type: views of the stored device memory, no copy.
    for request_, expected in ((None, b"0123456789"), (RangeByteRequest(2, 5), b"234")):
        got = await store.get("k", device_prototype, request_)
        assert isinstance(got, DeviceBuffer)
        assert got.to_bytes() == expected
        assert np.shares_memory(got.as_array_like().memory, stored)  # type: ignore[attr-defined]
    # Host prototype: an explicit copy to host memory, whole or ranged, in every read path.
    whole = await store.get("k", proto)
    part = await store.get("k", proto, SuffixByteRequest(3))
    partial = await store.get_partial_values(proto, [("k", OffsetByteRequest(8)), ("k", None)])
    batches = [b async for b in store.get_ranges("k", [RangeByteRequest(1, 3)], prototype=proto)]
    for got, expected in (
        (whole, b"0123456789"),
        (part, b"789"),
        (partial[0], b"89"),
        (partial[1], b"0123456789"),
        (batches[0][0][1], b"12"),
    ):
        assert type(got) is proto.buffer
        assert got.to_bytes() == expected
    # And host values read with the device prototype are moved to the device.
    await store.set("h", buf(b"host"))
    got = await store.get("h", device_prototype)
    assert isinstance(got, DeviceBuffer)
    assert got.to_bytes() == b"host"


# ---------------------------------------------------------------- byte ranges


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (None, b"0123456789"),
        (RangeByteRequest(0, 0), b""),
        (RangeByteRequest(3, 7), b"3456"),
        (RangeByteRequest(8, 100), b"89"),
        (RangeByteRequest(20, 30), b""),
        (OffsetByteRequest(7), b"789"),
        (OffsetByteRequest(10), b""),
        (SuffixByteRequest(3), b"789"),
        (SuffixByteRequest(50), b"0123456789"),
        (SuffixByteRequest(0), b""),
    ],
)
async def test_get_byte_ranges(
    store: MemoryStore,
    proto: BufferPrototype,
    request_: RangeByteRequest | OffsetByteRequest | SuffixByteRequest | None,
    expected: bytes,
) -> None:
    await store.set("k", buf(b"0123456789"))
    got = await store.get("k", proto, request_)
    assert got is not None
    assert isinstance(got, proto.buffer)
    assert got.to_bytes() == expected


async def test_ranges_of_an_empty_value(store: MemoryStore, proto: BufferPrototype) -> None:
    await store.set("empty", buf(b""))
    for request_ in (None, RangeByteRequest(0, 5), OffsetByteRequest(1), SuffixByteRequest(2)):
        got = await store.get("empty", proto, request_)
        assert got is not None
        assert got.to_bytes() == b""


async def test_unknown_range_type_is_an_error(store: MemoryStore, proto: BufferPrototype) -> None:
    await store.set("k", buf(b"abc"))
    with pytest.raises(TypeError, match="Unexpected byte_range, got"):
        await store.get("k", proto, (0, 1))  # type: ignore[arg-type]


async def test_get_partial_values_and_get_ranges(
    store: MemoryStore, proto: BufferPrototype
) -> None:
    await store.set("k", buf(b"0123456789"))
    got = await store.get_partial_values(
        proto, [("k", RangeByteRequest(0, 2)), ("missing", None), ("k", SuffixByteRequest(1))]
    )
    assert [g.to_bytes() if g is not None else None for g in got] == [b"01", None, b"9"]
    ranges = [RangeByteRequest(5, 6), None, OffsetByteRequest(8)]
    results = [
        (i, b.to_bytes() if b else None)
        async for batch in store.get_ranges("k", ranges, prototype=proto)
        for i, b in batch
    ]
    assert sorted(results) == [(0, b"5"), (1, b"0123456789"), (2, b"89")]


@pytest.mark.parametrize("empty", [list, tuple, iter], ids=["list", "tuple", "iterator"])
async def test_get_ranges_of_no_ranges_yields_nothing_whatever_the_key_and_knobs(
    store: MemoryStore, proto: BufferPrototype, empty: Callable[[list[object]], object]
) -> None:
    # As Store.get_ranges and zarr-python: nothing asked, so neither the key's value nor
    # the knobs are looked at, however the empty requests are given.
    batches = [
        batch
        async for batch in store.get_ranges(
            "missing",
            empty([]),  # type: ignore[arg-type]
            prototype=proto,
            max_concurrency=0,
        )
    ]
    assert batches == []


# No ranges, a range of the wrong type and knobs MemoryStore cannot take are checked for
# it, as for every store, by ztesting's StoreTests (ztesting/tests/test_memory_store.py).


# ---------------------------------------------------------------- keys and missing


@pytest.mark.parametrize("bad", ["", "/a", "a//b", "../x", "a/./b", "a\\b", "a\x00", "a/"])
async def test_every_operation_rejects_bad_keys_and_changes_nothing(
    store: MemoryStore, proto: BufferPrototype, bad: str
) -> None:
    await store.set("ok", buf(b"1"))
    for call in (
        store.get(bad, proto),
        store.set(bad, buf(b"x")),
        store.set_if_not_exists(bad, buf(b"x")),
        store.delete(bad),
        store.exists(bad),
        store.getsize(bad),
        store._set_many([("fine", buf(b"x")), (bad, buf(b"x"))]),
    ):
        with pytest.raises(ValueError, match="key"):
            await call
    assert await keys_of(store.list()) == ["ok"], "a rejected call changed the store"


async def test_missing_keys(store: MemoryStore, proto: BufferPrototype) -> None:
    assert await store.get("nope", proto) is None
    assert not await store.exists("nope")
    await store.delete("nope")  # a no-op
    with pytest.raises(FileNotFoundError, match="nope"):
        await store.getsize("nope")


async def test_set_requires_a_buffer(store: MemoryStore) -> None:
    with pytest.raises(TypeError, match="must be a Buffer"):
        await store.set("k", b"bytes")  # type: ignore[arg-type]
    assert not await store.exists("k")


# ---------------------------------------------------------------- directories


async def make_tree(store: MemoryStore) -> None:
    for key in ["foo/a", "foo/b/c", "foo/b/d", "foo-bar/x", "foo", "cc/0", "zarr.json"]:
        await store.set(key, buf(key.encode()))


async def test_directory_semantics_never_match_a_sibling_prefix(store: MemoryStore) -> None:
    await make_tree(store)
    assert await keys_of(store.list_dir("foo")) == ["a", "b"]
    assert await keys_of(store.list_dir("foo/")) == ["a", "b"]
    assert await keys_of(store.list_dir("")) == ["cc", "foo", "foo-bar", "zarr.json"]
    assert await keys_of(store.list_dir("foo/b")) == ["c", "d"]
    assert await keys_of(store.list_dir("nothing")) == []
    assert await store.getsize_prefix("foo") == len(b"foo/a") + 2 * len(b"foo/b/c")
    assert not await store.is_empty("foo")
    assert await store.is_empty("fo")
    assert await store.is_empty("foo/a")
    await store.delete_dir("foo")
    assert await keys_of(store.list()) == ["cc/0", "foo", "foo-bar/x", "zarr.json"]


async def test_list_prefix_is_a_plain_string_match(store: MemoryStore) -> None:
    await make_tree(store)
    assert await keys_of(store.list_prefix("foo")) == [
        "foo",
        "foo-bar/x",
        "foo/a",
        "foo/b/c",
        "foo/b/d",
    ]
    assert await keys_of(store.list_prefix("foo/")) == ["foo/a", "foo/b/c", "foo/b/d"]
    assert len(await keys_of(store.list_prefix(""))) == 7


async def test_delete_dir_root_and_clear_empty_the_store(store: MemoryStore) -> None:
    await make_tree(store)
    await store.delete_dir("")
    assert await store.is_empty("")
    await make_tree(store)
    await store.clear()
    assert await keys_of(store.list()) == []
    assert await store.getsize_prefix("") == 0


@pytest.mark.parametrize("bad", ["a//b", "../x", "/a"])
async def test_bad_prefixes_are_rejected(store: MemoryStore, bad: str) -> None:
    await make_tree(store)
    with pytest.raises(ValueError, match="prefix"):
        await store.delete_dir(bad)
    with pytest.raises(ValueError, match="prefix"):
        await keys_of(store.list_dir(bad))
    assert len(await keys_of(store.list())) == 7


# ---------------------------------------------------------------- read-only


async def test_every_write_path_is_refused_when_read_only(proto: BufferPrototype) -> None:
    writable = MemoryStore()
    await writable.set("k", buf(b"v"))
    store = writable.with_read_only(True)
    assert store.read_only
    assert not store._is_open
    for call in (
        store.set("k", buf(b"x")),
        store.set("new", buf(b"x")),
        store.set_if_not_exists("new", buf(b"x")),
        store.delete("k"),
        store.delete_dir(""),
        store.clear(),
        store._set_many([("new", buf(b"x"))]),
    ):
        with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
            await call
    got = await store.get("k", proto)
    assert got is not None
    assert got.to_bytes() == b"v"
    assert await keys_of(writable.list()) == ["k"]


async def test_read_only_is_not_settable() -> None:
    store = MemoryStore()
    with pytest.raises(AttributeError):
        store.read_only = True  # type: ignore[misc]


async def test_with_read_only_shares_data_and_index(proto: BufferPrototype) -> None:
    writable = MemoryStore()
    reader = writable.with_read_only(True)
    await writable.set("a/b", buf(b"1"))
    assert await keys_of(reader.list_dir("a")) == ["b"]
    assert await reader.getsize_prefix("a") == 1


# ---------------------------------------------------------------- lifecycle, eq, pickle


async def test_open_twice_is_an_error_and_context_managers_close() -> None:
    store = await MemoryStore.open()
    with pytest.raises(ValueError, match="store is already open"):
        await store._open()
    with store:
        assert store._is_open
    assert not store._is_open
    async with MemoryStore() as opened:
        assert opened._is_open
    assert not opened._is_open


async def test_get_and_set_open_a_closed_store(proto: BufferPrototype) -> None:
    store = MemoryStore()
    await store.set("k", buf(b"1"))
    assert store._is_open
    store.close()
    assert await store.get("k", proto) is not None
    assert store._is_open


async def test_pickle_gives_an_equal_working_store(proto: BufferPrototype) -> None:
    store = MemoryStore()
    await store.set("a/b", buf(b"123"))
    loaded = pickle.loads(pickle.dumps(store))
    assert loaded == store
    await loaded.set("a/c", buf(b"4"))
    assert await keys_of(loaded.list_dir("a")) == ["b", "c"]
    assert await keys_of(store.list_dir("a")) == ["b"], "the copy shares state with the original"


async def test_stores_over_one_dict_pickled_together_still_share_it(
    proto: BufferPrototype,
) -> None:
    # As in zarr-python: a store and its read-only view (or two stores over one dict) in one
    # pickle unpickle over one dict, so the view keeps seeing the store's writes.
    writer = MemoryStore()
    await writer.set("a/b", buf(b"1"))
    reader = writer.with_read_only(True)
    writer2, reader2 = pickle.loads(pickle.dumps((writer, reader)))
    assert reader2.read_only
    assert not writer2.read_only
    await writer2.set("a/c", buf(b"22"))
    assert await keys_of(reader2.list_dir("a")) == ["b", "c"], "the view lost the writer's data"
    assert await reader2.getsize_prefix("a") == 3
    assert writer2._store_dict is reader2._store_dict
    assert await keys_of(reader.list_dir("a")) == ["b"], "the copies share the original's dict"
    got = await reader2.get("a/b", proto)
    assert got is not None
    with pytest.raises(ValueError, match="read-only"):
        got.as_numpy_array()[0] = 0  # unpickled values are frozen like every stored copy


async def test_equality(proto: BufferPrototype) -> None:
    a, b = MemoryStore(), MemoryStore()
    assert a == b
    await a.set("k", buf(b"1"))
    assert a != b
    await b.set("k", buf(b"1"))
    assert a == b
    assert a != a.with_read_only(True)
    assert str(a).startswith("memory://")
    assert "MemoryStore" in repr(a)


# ---------------------------------------------------------------- user dicts


async def test_a_user_dict_is_the_store() -> None:
    data: dict[str, AnyBuffer] = {}
    store = MemoryStore(data)
    await store.set("a/b", buf(b"1"))
    assert list(data) == ["a/b"]


async def test_direct_dict_changes_that_add_or_remove_keys_are_seen_by_listings() -> None:
    data: dict[str, AnyBuffer] = {"a/x": buf(b"1")}
    store = MemoryStore(data)
    assert await keys_of(store.list_dir("a")) == ["x"]
    data["a/y"] = buf(b"22")
    assert await keys_of(store.list_dir("a")) == ["x", "y"]
    assert await store.getsize_prefix("a") == 3
    del data["a/x"]
    assert await keys_of(store.list_prefix("a/")) == ["a/y"]
    assert not await store.is_empty("a")


async def _store_after_a_direct_rename(old: str, new: str) -> tuple[MemoryStore, dict]:
    """A store whose dict had ``old`` renamed to ``new`` directly (the count unchanged), then
    saw store writes that change the dict and the index together, so the count stays
    consistent and no longer hints at the rename."""
    data: dict[str, AnyBuffer] = {}
    store = MemoryStore(data)
    await store.set(old, buf(b"1"))
    assert await keys_of(store.list_prefix("")) == [old]  # the index now holds `old`
    data[new] = data.pop(old)
    await store.set("y", buf(b"22"))
    await store.delete("y")
    await store.set("z", buf(b"333"))
    return store, data


@pytest.mark.parametrize(
    ("renamed_to", "method", "prefix", "expected"),
    [
        ("x/b", "list_prefix", "", ["x/b", "z"]),
        ("x/b", "list_prefix", "x/", ["x/b"]),
        ("x/b", "list_dir", "x", ["b"]),
        ("w/a", "list_dir", "", ["w", "z"]),  # the lost key was a sub-directory's first
    ],
)
async def test_a_listing_that_meets_a_key_the_dict_lost_rebuilds_the_index(
    renamed_to: str, method: str, prefix: str, expected: list[str]
) -> None:
    store, _ = await _store_after_a_direct_rename("x/a", renamed_to)
    listed = await keys_of(getattr(store, method)(prefix))
    assert listed == expected, f"{method}({prefix!r}) listed a key the dict no longer holds"


async def test_delete_dir_that_meets_a_key_the_dict_lost_deletes_what_the_dict_holds() -> None:
    store, data = await _store_after_a_direct_rename("x/a", "x/b")
    await store.delete_dir("x")
    assert sorted(data) == ["z"], "delete_dir left a key of the directory behind"
    assert await store.is_empty("x")


async def test_is_empty_that_meets_a_key_the_dict_lost_rebuilds_the_index() -> None:
    store, _ = await _store_after_a_direct_rename("x/a", "w/a")
    assert await store.is_empty("x"), "is_empty saw a key the dict no longer holds"
    assert await keys_of(store.list_dir("w")) == ["a"]


async def test_two_stores_over_one_dict_share_the_index() -> None:
    data: dict[str, AnyBuffer] = {}
    first, second = MemoryStore(data), MemoryStore(data)
    await first.set("a/1", buf(b"1"))
    await second.delete("a/1")
    await second.set("a/2", buf(b"2"))
    assert await keys_of(first.list_dir("a")) == ["2"]


# ---------------------------------------------------------------- index vs a dict model

key_st = st.lists(
    st.sampled_from(["a", "b", "a-b", "c", "0", "zarr.json"]), min_size=1, max_size=3
).map("/".join)
op_st = st.one_of(
    st.tuples(st.just("set"), key_st, st.binary(max_size=4)),
    st.tuples(st.just("delete"), key_st, st.just(b"")),
    st.tuples(st.just("delete_dir"), key_st, st.just(b"")),
    st.tuples(st.just("set_if_not_exists"), key_st, st.binary(max_size=4)),
    st.tuples(st.just("set_many"), key_st, st.binary(max_size=4)),
)


def model_list_dir(model: dict[str, bytes], prefix: str) -> list[str]:
    directory = prefix + "/" if prefix else ""
    return sorted({k[len(directory) :].split("/")[0] for k in model if k.startswith(directory)})


@given(ops=st.lists(op_st, max_size=40), probe=st.one_of(st.just(""), key_st))
def test_index_agrees_with_a_dict_model_under_random_operations(
    ops: list[tuple[str, str, bytes]], probe: str
) -> None:
    async def run() -> None:
        store = MemoryStore()
        model: dict[str, bytes] = {}
        for op, key, value in ops:
            if op == "set":
                await store.set(key, buf(value))
                model[key] = value
            elif op == "set_many":
                await store._set_many([(key, buf(value)), (key + "/m", buf(value))])
                model[key] = value
                model[key + "/m"] = value
            elif op == "set_if_not_exists":
                await store.set_if_not_exists(key, buf(value))
                model.setdefault(key, value)
            elif op == "delete":
                await store.delete(key)
                model.pop(key, None)
            else:
                await store.delete_dir(key)
                for k in [k for k in model if k.startswith(key + "/")]:
                    del model[k]
        assert await keys_of(store.list()) == sorted(model)
        assert await keys_of(store.list_prefix(probe)) == sorted(
            k for k in model if k.startswith(probe)
        )
        assert await keys_of(store.list_dir(probe)) == model_list_dir(model, probe)
        directory = probe + "/" if probe else ""
        under = [k for k in model if k.startswith(directory)]
        assert await store.is_empty(probe) == (not under)
        assert await store.getsize_prefix(probe) == sum(len(model[k]) for k in under)
        for key, value in model.items():
            assert await store.getsize(key) == len(value)

    asyncio.run(run())


def test_the_model_test_runs_as_many_examples_as_the_active_profile_says() -> None:
    # The profile (ztesting's ci, nightly, or --hypothesis-profile) sets how thorough a run
    # is; a count pinned on the test would make nightly no more thorough than ci.
    test = test_index_agrees_with_a_dict_model_under_random_operations
    used = test._hypothesis_internal_use_settings  # type: ignore[attr-defined]
    assert used.max_examples == settings().max_examples, (
        f"pinned to {used.max_examples} examples; the profile says {settings().max_examples}"
    )


# ---------------------------------------------------------------- concurrency


def test_many_threads_writing_and_deleting_keep_the_index_consistent(
    proto: BufferPrototype,
) -> None:
    store = MemoryStore()
    n_threads, per_thread = 8, 200
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads)

    def worker(t: int) -> None:
        async def run() -> None:
            barrier.wait()
            for i in range(per_thread):
                await store.set(f"t{t}/k{i}", buf(bytes([t, i % 256])))
                if i % 3 == 0:
                    await store.delete(f"t{t}/k{i}")
                _ = [k async for k in store.list_dir("")]

        try:
            asyncio.run(run())
        except BaseException as error:  # reported below, in the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    async def check() -> None:
        expected = sorted(
            f"t{t}/k{i}" for t in range(n_threads) for i in range(per_thread) if i % 3
        )
        assert await keys_of(store.list()) == expected
        assert await keys_of(store.list_prefix("")) == expected
        assert await store.getsize_prefix("") == 2 * len(expected)
        for t in range(n_threads):
            assert await keys_of(store.list_dir(f"t{t}")) == sorted(
                f"k{i}" for i in range(per_thread) if i % 3
            )

    asyncio.run(check())


def test_set_if_not_exists_racing_threads_exactly_one_wins(proto: BufferPrototype) -> None:
    store = MemoryStore()
    n = 16
    barrier = threading.Barrier(n)

    def worker(t: int) -> None:
        barrier.wait()
        asyncio.run(store.set_if_not_exists("race", buf(bytes([t]))))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winner = asyncio.run(store.get("race", proto))
    assert winner is not None
    assert len(winner) == 1
    assert len(store._store_dict) == 1


class _RacingDict(dict[str, "AnyBuffer"]):
    """A user dict that counts writes, and whose first membership test in each thread waits
    for every other thread's: all racing writers see the key missing before any writes."""

    def __init__(self, racers: int) -> None:
        super().__init__()
        self.writes = 0
        self._all_checked = threading.Barrier(racers, timeout=30)
        self._waited = threading.local()

    def __contains__(self, key: object) -> bool:
        found = super().__contains__(key)
        if not getattr(self._waited, "done", False):
            self._waited.done = True
            self._all_checked.wait()
        return found

    def __setitem__(self, key: str, value: AnyBuffer) -> None:
        self.writes += 1
        super().__setitem__(key, value)


def test_set_if_not_exists_writes_once_when_racers_all_saw_the_key_missing() -> None:
    n = 8
    data = _RacingDict(n)
    store = MemoryStore(data)

    def worker(t: int) -> None:
        asyncio.run(store.set_if_not_exists("race", buf(bytes([t]))))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert data.writes == 1, f"{data.writes} writers overwrote the winner"


class _SlowWriteDict(dict[str, "AnyBuffer"]):
    """A user dict whose writes and removals pause halfway, saying so: another thread can
    then try to list the store while a set or delete is half done."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = threading.Event()

    def _pause(self) -> None:
        self.inside.set()
        time.sleep(0.05)

    def __setitem__(self, key: str, value: AnyBuffer) -> None:
        self._pause()
        super().__setitem__(key, value)

    def pop(self, key: str, *default: Any) -> Any:
        self._pause()
        return super().pop(key, *default)


@pytest.mark.parametrize("write", ["set", "delete"])
def test_a_listing_waits_for_a_half_done_write_of_another_thread(write: str) -> None:
    # Without the lock, a listing that runs while set has queued a new key but not yet
    # recorded it drops the key from the queue, and no later listing ever shows it; one
    # that runs inside a delete lists the key being deleted.
    data = _SlowWriteDict()
    store = MemoryStore(data)
    asyncio.run(store.set("old", buf(b"1")))
    data.inside.clear()
    listed: list[list[str]] = []

    def lister() -> None:
        data.inside.wait(timeout=30)
        listed.append(asyncio.run(keys_of(store.list_prefix(""))))

    thread = threading.Thread(target=lister)
    thread.start()
    if write == "set":
        asyncio.run(store.set("new", buf(b"2")))
        expected = ["new", "old"]
    else:
        asyncio.run(store.delete("old"))
        expected = []
    thread.join()
    assert listed == [expected], "the listing ran inside the write"
    assert asyncio.run(keys_of(store.list_prefix(""))) == expected
    assert asyncio.run(keys_of(store.list_dir(""))) == expected


async def test_many_coroutines_set_and_get_without_lost_values(proto: BufferPrototype) -> None:
    store = MemoryStore()

    async def write_then_read(i: int) -> bytes:
        await store.set(f"c/{i}", buf(i.to_bytes(4, "little")))
        await asyncio.sleep(0)
        got = await store.get(f"c/{i}", proto)
        assert got is not None
        return got.to_bytes()

    results = await asyncio.gather(*(write_then_read(i) for i in range(500)))
    assert results == [i.to_bytes(4, "little") for i in range(500)]
    assert len(await keys_of(store.list_dir("c"))) == 500


async def test_an_overwritten_value_is_read_only_too(
    store: MemoryStore, proto: BufferPrototype
) -> None:
    await store.set("k", Buffer.from_array_like(np.frombuffer(bytearray(b"old"), "B")))
    await store.get("k", proto)
    await store.set("k", Buffer.from_array_like(np.frombuffer(bytearray(b"new"), "B")))
    got = await store.get("k", proto, RangeByteRequest(0, 2))
    assert got is not None
    with pytest.raises(ValueError, match="read-only"):
        got.as_numpy_array()[0] = 0


async def test_buffers_from_a_user_dict_are_never_frozen(proto: BufferPrototype) -> None:
    value = Buffer.from_array_like(np.frombuffer(bytearray(b"mine"), dtype="B"))
    store = MemoryStore({"k": value})
    await store.get("k", proto)
    value.as_numpy_array()[0] = ord("M")  # still the user's to change
    got = await store.get("k", proto)
    assert got is not None
    assert got.to_bytes() == b"Mine"


async def test_keys_set_before_a_listing_appear_in_it_in_order(store: MemoryStore) -> None:
    for i in reversed(range(50)):
        await store.set(f"d/{i:02d}", buf(b"x"))
    await store.delete("d/10")
    assert [k async for k in store.list_prefix("d/")] == [
        f"d/{i:02d}" for i in range(50) if i != 10
    ]
    await store.delete("d/11")
    await store.set("d/99", buf(b"x"))
    assert [k async for k in store.list_dir("d")][-2:] == ["49", "99"]
    assert "11" not in [k async for k in store.list_dir("d")]


async def test_values_of_an_unpickled_store_are_read_only_views_too(
    proto: BufferPrototype,
) -> None:
    store = MemoryStore()
    await store.set("k", buf(b"abc"))
    loaded = pickle.loads(pickle.dumps(store))
    got = await loaded.get("k", proto)
    assert got is not None
    with pytest.raises(ValueError, match="read-only"):
        got.as_numpy_array()[0] = 0


async def test_set_delete_cycles_without_listing_leave_nothing_behind(
    store: MemoryStore,
) -> None:
    for i in range(5000):
        await store.set(f"tmp/{i % 3}", buf(b"x"))
        await store.delete(f"tmp/{i % 3}")
    await store.set("tmp/kept", buf(b"y"))
    assert store._state.sizes == {"tmp/kept": 1}
    assert [k async for k in store.list_dir("tmp")] == ["kept"]
    assert [k async for k in store.list_prefix("")] == ["tmp/kept"]


async def test_the_index_holds_the_oldest_keys_and_a_listing_moves_in_the_rest(
    store: MemoryStore,
) -> None:
    # The keys a listing has not yet moved into the index are the newest of the size
    # table: after any mix of writes, rewrites and deletes, the index must be exactly the
    # oldest keys of the table, or a listing would miss a key or list a deleted one.
    rng = random.Random(7)
    state = store._state
    for step in range(3000):
        key = f"d{rng.randrange(4)}/k{rng.randrange(60)}"
        action = rng.random()
        if action < 0.55:
            await store.set(key, buf(b"v" * rng.randrange(4)))
        elif action < 0.85:
            await store.delete(key)
        elif action < 0.95:
            await store.delete_dir(f"d{rng.randrange(4)}")
        else:
            listed = [k async for k in store.list_prefix("")]
            assert listed == sorted(store._store_dict), step
        with state.lock:
            oldest = list(state.sizes)[: len(state.index)]
            assert sorted(oldest) == list(state.index), step
            assert state.sizes == {k: len(v) for k, v in store._store_dict.items()}, step


async def test_a_key_deleted_and_set_again_before_a_listing_is_listed_once(
    store: MemoryStore,
) -> None:
    await store.set("a/k", buf(b"1"))
    await store.delete("a/k")
    await store.set("a/k", buf(b"2"))
    await store.set("a/j", buf(b"3"))
    assert [k async for k in store.list_dir("a")] == ["j", "k"]
    assert await store.getsize_prefix("a") == 2


async def test_deleting_an_indexed_empty_value_removes_it_from_the_index(
    store: MemoryStore,
) -> None:
    # A value of 0 bytes has size 0, which is falsy: delete must still drop it from the
    # index, or getsize_prefix would look up a size the store no longer has.
    await store.set("a/empty", buf(b""))
    await store.set("a/full", buf(b"12"))
    assert [k async for k in store.list_dir("a")] == ["empty", "full"]  # now indexed
    await store.delete("a/empty")
    assert await store.getsize_prefix("a") == 2
    assert "a/empty" not in store._state.index


@pytest.mark.parametrize("count", [10, 1000], ids=["few", "bulk-merge"])
async def test_keys_deleted_or_set_again_while_pending_are_listed_as_they_stand(
    store: MemoryStore, count: int
) -> None:
    # The listing that moves pending keys into the index takes them in one merge when
    # there are many: a key deleted while pending must not come back, nor one set again
    # come twice, on either path.
    await store._set_many((f"a/{i:04}", buf(b"x")) for i in range(count))
    await store.delete("a/0001")
    await store.delete("a/0002")
    await store.set("a/0002", buf(b"yy"))
    expected = [f"{i:04}" for i in range(count) if i != 1]
    state = store._state
    with state.lock:
        state.sync()
        # Right at once, not only after a listing noticed a stale key and rebuilt it all.
        assert list(state.index) == sorted(store._store_dict)
    assert [k async for k in store.list_dir("a")] == expected
    assert [k async for k in store.list_prefix("a/")] == [f"a/{k}" for k in expected]
    assert await store.getsize_prefix("a") == count


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork exists on POSIX only")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_fork_while_another_thread_holds_the_lock_leaves_the_child_working() -> None:
    # The child inherited the lock held, with no thread to release it: its first write
    # hung. The alarm turns a hang into a failed exit status. What the lock guarded may be
    # half-updated, so the child must also rebuild the index before it lists.
    store = MemoryStore()
    store.set_sync("a/x", buf(b"1"))
    assert asyncio.run(_listed(store)) == ["a/x"]  # now in the index
    state = store._state
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with state.lock:
            # Caught half-way through an update: the index no longer matches the size
            # table (here a key twice), which only a rebuild from the dict repairs.
            state.index.add("a/x")
            held.set()
            release.wait(10)
            state.reindex()  # the parent's own update completes

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        pid = os.fork()
        if pid == 0:  # the child: report through the exit status only
            code = 3
            try:
                signal.alarm(5)
                store.set_sync("a/y", buf(b"2"))
                listed = asyncio.run(_listed(store))
                code = 0 if listed == ["a/x", "a/y"] else 2
            finally:
                os._exit(code)
    finally:
        release.set()
        thread.join()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), f"the child hung (killed by signal {os.WTERMSIG(status)})"
    assert os.WEXITSTATUS(status) == 0, "the child's store answered wrongly"
    assert sorted(store._store_dict) == ["a/x"], "the child's writes reached the parent"


async def _listed(store: MemoryStore) -> list[str]:
    return sorted([k async for k in store.list_prefix("")])
