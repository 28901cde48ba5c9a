"""``StoreTests``: the conformance suite every store subclasses, and ``LatencyStore``.

``StoreTests`` has the shape of zarr-python's ``zarr.testing.store.StoreTests`` (class
attributes ``store_cls`` and ``buffer_cls``; fixtures ``store_kwargs``, ``open_kwargs``,
``store``; abstract raw ``set``/``get`` that bypass the store) and every test of it, plus
tests of the stricter contract in ``zstore.core``: key validation on every method,
directory semantics of prefixes, every byte-range edge, read-only on every write path,
returned buffer types, pickling, and concurrent use from one event loop.

A test's name states the rule it checks; its assertion message says what went wrong.
"""

from __future__ import annotations

import asyncio
import inspect
import pickle
import random
from abc import abstractmethod
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
import pytest
import pytest_asyncio

from zbuffer.core import Buffer, BufferPrototype, default_buffer_prototype
from zstore.core import (
    READ_ONLY_MESSAGE,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    SuffixByteRequest,
)
from ztesting._sync import collect_aiterator
from ztesting.buffer import test_buffer_prototype
from ztesting.utils import assert_bytes_equal

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence

    from zstore.core import ByteRequest

__all__ = ["LatencyStore", "StoreTests", "by_index", "expected_bytes"]

S = TypeVar("S", bound=Store)
B = TypeVar("B", bound=Buffer)

# Keys every store must refuse (zstore.core.validate_key), with why, for test ids.
INVALID_KEYS: dict[str, str] = {
    "empty": "",
    "leading-slash": "/a/b",
    "trailing-slash": "a/b/",
    "empty-segment": "a//b",
    "dot-segment": "a/./b",
    "leading-dot-segment": "./a",
    "dotdot-segment": "a/../b",
    "leading-dotdot": "../x",
    "trailing-dotdot": "a/..",
    "backslash": "a\\b",
    "nul": "a\x00b",
}

# Prefixes every directory method must refuse (zstore.core.normalize_prefix). "" and "/"
# are the root and "foo/" is "foo", so none of those is here; "." is not a spelling of the
# root either (a lax store that drops "." segments lets delete_dir(".") wipe everything).
INVALID_PREFIXES: dict[str, str] = {
    "dot": ".",
    "leading-dot": "./x",
    "inner-dot": "a/./b",
    "leading-slash": "/x",
    "dotdot-alone": "..",
    "dotdot": "../x",
    "empty-segment": "a//b",
    "inner-dotdot": "a/../b",
    "backslash": "a\\b",
    "nul": "a\x00b",
}

# Values that are not Buffers, which every write path must refuse with a TypeError.
NON_BUFFER_VALUES: dict[str, object] = {"bytes": b"value", "none": None}

# Keys (and prefixes) that are not str, which every key method must refuse with a TypeError.
NON_STR_KEYS: list[object] = [1, None, b"c/0"]

# A layout with every sibling trap of prefix matching: "foo" vs "foo-bar" vs "foo.json",
# "c" vs "cc", nested directories, and a root key.
DIR_LAYOUT: dict[str, bytes] = {
    "zarr.json": b"root",
    "foo/zarr.json": b"foo-meta",
    "foo/c/0": b"\x00\x01",
    "foo/c/1": b"\x02\x03\x04",
    "foo/bar/zarr.json": b"bar-meta!",
    "foo/bar/c/0/0": b"x",
    "foo-bar/zarr.json": b"sibling",
    "foo.json": b"file-sibling",
    "c/0": b"c0c0",
    "cc/0": b"cc0cc0cc0",
}

# Every directory of DIR_LAYOUT (no key is also a directory): c, cc, foo, foo-bar, foo/bar,
# foo/bar/c, foo/bar/c/0, foo/c.
DIR_LAYOUT_DIRECTORIES: list[str] = sorted(
    {key.rsplit("/", i)[0] for key in DIR_LAYOUT for i in range(1, key.count("/") + 1)}
)

# The value used for byte-range edges, and (name, value, request) cases: empty values,
# zero-length ranges, ranges starting at / past the end, suffixes longer than the value.
_EDGE_VALUE = b"\x00\x01\x02\x03\x04\x05\x06"
BYTE_RANGE_EDGES: list[tuple[str, bytes, ByteRequest | None]] = [
    ("empty-none", b"", None),
    ("empty-range-0-0", b"", RangeByteRequest(0, 0)),
    ("empty-range-0-5", b"", RangeByteRequest(0, 5)),
    ("empty-offset-0", b"", OffsetByteRequest(0)),
    ("empty-offset-3", b"", OffsetByteRequest(3)),
    ("empty-suffix-0", b"", SuffixByteRequest(0)),
    ("empty-suffix-3", b"", SuffixByteRequest(3)),
    ("whole-range", _EDGE_VALUE, RangeByteRequest(0, 7)),
    ("inner-range", _EDGE_VALUE, RangeByteRequest(2, 5)),
    ("zero-length-range-start", _EDGE_VALUE, RangeByteRequest(0, 0)),
    ("zero-length-range-middle", _EDGE_VALUE, RangeByteRequest(3, 3)),
    ("zero-length-range-at-end", _EDGE_VALUE, RangeByteRequest(7, 7)),
    ("one-byte-range", _EDGE_VALUE, RangeByteRequest(6, 7)),
    ("range-past-end", _EDGE_VALUE, RangeByteRequest(4, 100)),
    ("range-starting-past-end", _EDGE_VALUE, RangeByteRequest(10, 20)),
    ("offset-0", _EDGE_VALUE, OffsetByteRequest(0)),
    ("offset-last-byte", _EDGE_VALUE, OffsetByteRequest(6)),
    ("offset-at-end", _EDGE_VALUE, OffsetByteRequest(7)),
    ("offset-past-end", _EDGE_VALUE, OffsetByteRequest(100)),
    ("suffix-0", _EDGE_VALUE, SuffixByteRequest(0)),
    ("suffix-1", _EDGE_VALUE, SuffixByteRequest(1)),
    ("suffix-whole", _EDGE_VALUE, SuffixByteRequest(7)),
    ("suffix-longer-than-value", _EDGE_VALUE, SuffixByteRequest(100)),
]


def expected_bytes(value: bytes, byte_range: ByteRequest | None) -> bytes:
    """The bytes a store must return for ``byte_range`` of ``value``.

    Written independently of ``zstore.core.normalize_byte_range`` so the tests do not
    share arithmetic with the stores they check: Python slicing with non-negative bounds
    clips at the end exactly as the contract says.
    """
    if byte_range is None:
        return value
    if isinstance(byte_range, RangeByteRequest):
        return value[byte_range.start : byte_range.end]
    if isinstance(byte_range, OffsetByteRequest):
        return value[byte_range.offset :]
    if isinstance(byte_range, SuffixByteRequest):
        return value[max(0, len(value) - byte_range.suffix) :]
    raise AssertionError(f"not a byte request: {byte_range!r}")


async def _keys(iterator: AsyncIterator[str]) -> list[str]:
    return sorted(await collect_aiterator(iterator))


def _names_key(message: str, key: str) -> bool:
    """Whether an error message names ``key`` (as its repr, or verbatim if printable)."""
    return repr(key) in message or (key.isprintable() and key != "" and key in message)


def _names_prefix(message: str, prefix: str) -> bool:
    """Whether an error message names ``prefix`` quoted (its repr, or in "..." or `...`).

    Stricter than :func:`_names_key`: a bare ``.`` or ``..`` is in almost any sentence.
    """
    return any(q in message for q in (repr(prefix), f'"{prefix}"', f"`{prefix}`"))


class StoreTests(Generic[S, B]):
    """The conformance suite for a store class: subclass it in a test module.

    Set ``store_cls`` and ``buffer_cls``, define the ``store_kwargs`` fixture, and implement
    the raw ``set`` and ``get`` helpers, which read and write the backend directly (never
    through the store) so the store's own methods can be checked against them.

    Override the ``buffer_prototype`` fixture to run the suite with another prototype.
    """

    store_cls: type[S]
    buffer_cls: type[B]

    # ------------------------------------------------------------------ to implement

    @abstractmethod
    async def set(self, store: S, key: str, value: Buffer) -> None:
        """Insert a value into the backend under ``key`` without using store methods."""

    @abstractmethod
    async def get(self, store: S, key: str) -> Buffer:
        """Read the value of ``key`` from the backend without using store methods."""

    @abstractmethod
    @pytest.fixture
    def store_kwargs(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Keyword arguments for instantiating a store."""

    # ------------------------------------------------------------------ fixtures

    @pytest.fixture
    def open_kwargs(self, store_kwargs: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for ``store_cls.open``; by default ``store_kwargs``."""
        return store_kwargs

    @pytest_asyncio.fixture
    async def store(self, open_kwargs: dict[str, Any]) -> Store:
        """An opened store."""
        return await self.store_cls.open(**open_kwargs)

    @pytest_asyncio.fixture
    async def store_not_open(self, store_kwargs: dict[str, Any]) -> Store:
        """A store that was constructed but not opened."""
        return self.store_cls(**store_kwargs)

    @pytest.fixture
    def buffer_prototype(self) -> BufferPrototype:
        """The prototype the suite reads with: ``buffer_cls`` with the default nd_buffer."""
        if self.buffer_cls is default_buffer_prototype().buffer:
            return default_buffer_prototype()
        if self.buffer_cls is test_buffer_prototype.buffer:
            return test_buffer_prototype
        return BufferPrototype(
            buffer=self.buffer_cls, nd_buffer=default_buffer_prototype().nd_buffer
        )

    # ------------------------------------------------------------------ helpers

    def buf(self, data: bytes) -> B:
        """Wrap ``data`` in ``buffer_cls``."""
        return self.buffer_cls.from_bytes(data)

    async def _open_read_only(self, open_kwargs: dict[str, Any]) -> S:
        return await self.store_cls.open(**{**open_kwargs, "read_only": True})

    async def _fill(self, store: S, layout: dict[str, bytes]) -> None:
        for key, value in layout.items():
            await self.set(store, key, self.buf(value))

    async def _snapshot(self, store: S, keys: Iterable[str]) -> dict[str, bytes]:
        return {key: (await self.get(store, key)).to_bytes() for key in keys}

    def _prototypes(self, buffer_prototype: BufferPrototype) -> list[BufferPrototype]:
        protos = [buffer_prototype]
        if test_buffer_prototype.buffer is not buffer_prototype.buffer:
            protos.append(test_buffer_prototype)
        return protos

    # ================================================================== zarr-python's tests

    def test_store_repr(self, store: S) -> None:
        """``repr`` names the store class or a base class (override to check more)."""
        text = repr(store)
        names = [cls.__name__ for cls in type(store).__mro__ if issubclass(cls, Store)]
        assert any(name in text for name in names), f"repr {text!r} names none of {names}"

    def test_store_supports_writes(self, store: S) -> None:
        """``supports_writes`` is a bool (override to pin the expected value)."""
        assert isinstance(store.supports_writes, bool)

    def test_store_supports_partial_writes(self, store: S) -> None:
        assert not store.supports_partial_writes

    def test_store_supports_listing(self, store: S) -> None:
        """``supports_listing`` is a bool (override to pin the expected value)."""
        assert isinstance(store.supports_listing, bool)

    def test_store_type(self, store: S) -> None:
        assert isinstance(store, Store)
        assert isinstance(store, self.store_cls)

    def test_store_eq(self, store: S, store_kwargs: dict[str, Any]) -> None:
        assert store == store  # noqa: PLR0124 -- self-equality is the property under test
        # Equality of stores built from the same inputs is what lets a pickled store be
        # compared with its original.
        store2 = self.store_cls(**store_kwargs)
        assert store == store2
        # And the other way: a store equal to anything would pass every check above.
        for other in (object(), 42, None, "store"):
            equal = store == other
            assert not equal, f"{type(store).__name__} == {other!r}"
            assert store != other, f"not {type(store).__name__} != {other!r}"

    async def test_serializable_store(self, store: S, buffer_prototype: BufferPrototype) -> None:
        new_store: S = pickle.loads(pickle.dumps(store))
        assert new_store == store
        assert new_store.read_only == store.read_only
        # zarr-python 3.4.2 round-trips this value through the original store; through the
        # copy is what shows that the copy works.
        data_buf = self.buf(b"\x01\x02\x03\x04")
        await new_store.set("foo", data_buf)
        observed = await new_store.get("foo", prototype=buffer_prototype)
        assert_bytes_equal(observed, data_buf, "the unpickled store does not read back its write")

    def test_store_read_only(self, store: S) -> None:
        assert not store.read_only
        with pytest.raises(AttributeError):
            store.read_only = False  # type: ignore[misc]

    @pytest.mark.parametrize("read_only", [True, False])
    async def test_store_open_read_only(self, open_kwargs: dict[str, Any], read_only: bool) -> None:
        store = await self.store_cls.open(**{**open_kwargs, "read_only": read_only})
        assert store._is_open
        assert store.read_only == read_only

    async def test_store_context_manager(self, open_kwargs: dict[str, Any]) -> None:
        with await self.store_cls.open(**open_kwargs) as store:
            assert store._is_open
            with pytest.raises(ValueError, match="store is already open"):
                await store._open()
        assert not store._is_open

    async def test_read_only_store_raises(self, open_kwargs: dict[str, Any]) -> None:
        store = await self._open_read_only(open_kwargs)
        assert store.read_only
        with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
            await store.set("foo", self.buf(b"bar"))
        with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
            await store.delete("foo")

    async def test_with_read_only_store(self, open_kwargs: dict[str, Any]) -> None:
        store = await self._open_read_only(open_kwargs)
        assert store.read_only
        with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
            await store.set("foo", self.buf(b"bar"))

        try:
            writer = store.with_read_only(read_only=False)
        except NotImplementedError:
            with pytest.raises(
                NotImplementedError,
                match=f"with_read_only is not implemented for the {type(store)} store type.",
            ):
                store.with_read_only(read_only=False)
            return

        assert not writer._is_open
        assert not writer.read_only
        await writer.set("foo", self.buf(b"bar"))
        await writer.delete("foo")

        assert store.read_only
        with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
            await store.set("foo", self.buf(b"bar"))
        with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
            await store.delete("foo")

        reader = store.with_read_only(read_only=True)
        assert reader.read_only
        with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
            await reader.set("foo", self.buf(b"bar"))
        with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
            await reader.delete("foo")

    async def test_with_read_only_views_share_data(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        """A ``with_read_only`` view is over the store's data, not a copy or an empty store.

        Each writer closes before the others look: the contract only promises other store
        objects see a write then (ZipStore publishes on close); for stores whose writes are
        visible at once, closing changes nothing.
        """
        try:
            store.with_read_only(read_only=True)
        except NotImplementedError:
            pytest.skip(f"{type(store).__name__} does not implement with_read_only")
        await store.set("foo/zarr.json", self.buf(b"from the store"))
        store.close()
        reader = store.with_read_only(read_only=True)
        writer = reader.with_read_only(read_only=False)
        for view, name in [(reader, "reader"), (writer, "writer")]:
            assert_bytes_equal(
                await view.get("foo/zarr.json", buffer_prototype),
                b"from the store",
                f"a {name} view does not see the store's write",
            )
            assert await _keys(view.list()) == ["foo/zarr.json"], f"{name} view's list()"
        await writer.set("foo/c/0", self.buf(b"from the writer"))
        await writer.delete("foo/zarr.json")
        writer.close()
        views: list[tuple[Store, str]] = [
            (store, "store"),
            (store.with_read_only(read_only=True), "new reader"),
            (writer, "writer"),
        ]
        for view, name in views:
            assert_bytes_equal(
                await view.get("foo/c/0", buffer_prototype),
                b"from the writer",
                f"the {name} does not see a write through a with_read_only(False) view",
            )
            assert not await view.exists("foo/zarr.json"), f"the {name} missed a delete"
            assert await _keys(view.list()) == ["foo/c/0"], f"the {name}'s list()"

    @pytest.mark.parametrize("key", ["c/0", "foo/c/0.0", "foo/0/0"])
    @pytest.mark.parametrize(
        ("data", "byte_range"),
        [
            (b"\x01\x02\x03\x04", None),
            (b"\x01\x02\x03\x04", RangeByteRequest(1, 4)),
            (b"\x01\x02\x03\x04", OffsetByteRequest(1)),
            (b"\x01\x02\x03\x04", SuffixByteRequest(1)),
            (b"", None),
        ],
    )
    async def test_get(
        self,
        store: S,
        key: str,
        data: bytes,
        byte_range: ByteRequest | None,
        buffer_prototype: BufferPrototype,
    ) -> None:
        await self.set(store, key, self.buf(data))
        observed = await store.get(key, prototype=buffer_prototype, byte_range=byte_range)
        assert_bytes_equal(
            observed, expected_bytes(data, byte_range), f"get({key!r}, {byte_range})"
        )

    async def test_get_not_open(self, store_not_open: S, buffer_prototype: BufferPrototype) -> None:
        assert not store_not_open._is_open
        data_buf = self.buf(b"\x01\x02\x03\x04")
        await self.set(store_not_open, "c/0", data_buf)
        observed = await store_not_open.get("c/0", prototype=buffer_prototype)
        assert_bytes_equal(observed, data_buf)

    async def test_get_raises(self, store: S, buffer_prototype: BufferPrototype) -> None:
        """A byte range that is not a ByteRequest raises "Unexpected byte_range, got"."""
        await self.set(store, "c/0", self.buf(b"\x01\x02\x03\x04"))
        with pytest.raises((ValueError, TypeError), match=r"Unexpected byte_range, got.*"):
            await store.get("c/0", prototype=buffer_prototype, byte_range=(0, 2))  # type: ignore[arg-type]

    async def test_get_many(self, store: S, buffer_prototype: BufferPrototype) -> None:
        """zarr-python's test, plus missing keys: each is ``(key, None)``, never left out."""
        keys = tuple(map(str, range(10)))
        values = tuple(k.encode() for k in keys)
        for k, v in zip(keys, values, strict=True):
            await self.set(store, k, self.buf(v))
        missing: list[tuple[str, ByteRequest | None]] = [
            ("missing", None),
            ("c/1", RangeByteRequest(0, 1)),
        ]
        requests = [*((k, None) for k in keys), *missing]
        observed = await collect_aiterator(
            store._get_many((k, buffer_prototype, r) for k, r in requests)
        )
        observed_kvs = sorted(
            ((k, b.to_bytes() if b is not None else None) for k, b in observed), key=repr
        )
        expected = [*zip(keys, values, strict=True), *((k, None) for k, _ in missing)]
        assert observed_kvs == sorted(expected, key=repr)

    @pytest.mark.parametrize("key", ["c/0", "foo/c/0.0", "foo/0/0"])
    @pytest.mark.parametrize("data", [b"\x01\x02\x03\x04", b""])
    async def test_getsize(self, store: S, key: str, data: bytes) -> None:
        await self.set(store, key, self.buf(data))
        assert await store.getsize(key) == len(data)

    async def test_getsize_prefix(self, store: S) -> None:
        """``getsize_prefix("c")`` counts ``c/...`` and not the sibling ``cc/0``."""
        data_buf = self.buf(b"\x01\x02\x03\x04")
        keys = ["c/0/0", "c/0/1", "c/1/0", "c/1/1"]
        await store._set_many([(k, data_buf) for k in [*keys, "cc/0"]])
        assert await store.getsize_prefix("c") == len(data_buf) * len(keys)

    async def test_getsize_raises(self, store: S) -> None:
        with pytest.raises(FileNotFoundError):
            await store.getsize("c/1000")

    @pytest.mark.parametrize("key", ["zarr.json", "c/0", "foo/c/0.0", "foo/0/0"])
    @pytest.mark.parametrize("data", [b"\x01\x02\x03\x04", b""])
    async def test_set(self, store: S, key: str, data: bytes) -> None:
        assert not store.read_only
        data_buf = self.buf(data)
        await store.set(key, data_buf)
        assert_bytes_equal(await self.get(store, key), data_buf)

    async def test_set_not_open(self, store_not_open: S) -> None:
        assert not store_not_open._is_open
        data_buf = self.buf(b"\x01\x02\x03\x04")
        await store_not_open.set("c/0", data_buf)
        assert_bytes_equal(await self.get(store_not_open, "c/0"), data_buf)

    async def test_set_many(self, store: S) -> None:
        keys = ["zarr.json", "c/0", "foo/c/0.0", "foo/0/0"]
        store_dict = {k: self.buf(k.encode()) for k in keys}
        await store._set_many(store_dict.items())
        for k, v in store_dict.items():
            assert_bytes_equal(await self.get(store, k), v, k)

    @pytest.mark.parametrize("method", ["set", "_set_many"])
    @pytest.mark.parametrize(
        ("old", "new"),
        [(b"old", b"a longer new value"), (b"a longer old value", b"new"), (b"old", b"")],
        ids=["longer", "shorter", "empty"],
    )
    async def test_set_overwrites_an_existing_key(
        self, store: S, method: str, old: bytes, new: bytes, buffer_prototype: BufferPrototype
    ) -> None:
        """A second write of a key replaces its value, size and share of its directory."""

        async def write(value: bytes) -> None:
            if method == "set":
                await store.set("foo/c/0", self.buf(value))
            else:
                await store._set_many([("foo/c/0", self.buf(value))])

        await self.set(store, "foo/zarr.json", self.buf(b"meta"))
        await write(old)
        await write(new)
        what = f"{method} of {new!r} over {old!r}"
        assert_bytes_equal(await store.get("foo/c/0", buffer_prototype), new, what)
        assert_bytes_equal(await self.get(store, "foo/c/0"), new, f"{what} (backend)")
        assert await store.getsize("foo/c/0") == len(new), f"getsize after {what}"
        assert await store.getsize_prefix("foo") == len(new) + 4, f"getsize_prefix after {what}"
        assert await _keys(store.list()) == ["foo/c/0", "foo/zarr.json"], f"keys after {what}"

    @pytest.mark.parametrize(
        "key_ranges",
        [
            [],
            [("zarr.json", RangeByteRequest(0, 2))],
            [("c/0", RangeByteRequest(0, 2)), ("zarr.json", None)],
            [
                ("c/0/0", RangeByteRequest(0, 2)),
                ("c/0/1", SuffixByteRequest(2)),
                ("c/0/2", OffsetByteRequest(2)),
            ],
        ],
    )
    async def test_get_partial_values(
        self,
        store: S,
        key_ranges: list[tuple[str, ByteRequest | None]],
        buffer_prototype: BufferPrototype,
    ) -> None:
        for key, _ in key_ranges:
            await self.set(store, key, self.buf(key.encode()))
        # A one-shot generator: stores must not exhaust the iterable before using it.
        observed = await store.get_partial_values(
            prototype=buffer_prototype, key_ranges=(kr for kr in key_ranges)
        )
        assert len(observed) == len(key_ranges)
        for (key, byte_range), obs in zip(key_ranges, observed, strict=True):
            assert_bytes_equal(obs, expected_bytes(key.encode(), byte_range), f"{key} {byte_range}")

    async def test_exists(self, store: S) -> None:
        assert not await store.exists("foo")
        await store.set("foo/zarr.json", self.buf(b"bar"))
        assert await store.exists("foo/zarr.json")

    async def test_delete(self, store: S) -> None:
        if not store.supports_deletes:
            pytest.skip(f"{type(store).__name__} does not support deletes")
        await store.set("foo/zarr.json", self.buf(b"bar"))
        assert await store.exists("foo/zarr.json")
        await store.delete("foo/zarr.json")
        assert not await store.exists("foo/zarr.json")

    async def test_delete_dir(self, store: S) -> None:
        if not store.supports_deletes:
            pytest.skip(f"{type(store).__name__} does not support deletes")
        await store.set("zarr.json", self.buf(b"root"))
        await store.set("foo-bar/zarr.json", self.buf(b"root"))
        await store.set("foo/zarr.json", self.buf(b"bar"))
        await store.set("foo/c/0", self.buf(b"chunk"))
        await store.delete_dir("foo")
        assert await store.exists("zarr.json")
        assert await store.exists("foo-bar/zarr.json")
        assert not await store.exists("foo/zarr.json")
        assert not await store.exists("foo/c/0")

    async def test_delete_nonexistent_key_does_not_raise(self, store: S) -> None:
        if not store.supports_deletes:
            pytest.skip(f"{type(store).__name__} does not support deletes")
        await store.delete("nonexistent_key")

    async def test_is_empty(self, store: S) -> None:
        assert await store.is_empty("")
        await self.set(store, "foo/bar", self.buf(b"something"))
        assert not await store.is_empty("")
        assert await store.is_empty("fo")
        assert not await store.is_empty("foo/")
        assert not await store.is_empty("foo")
        assert await store.is_empty("spam/")

    async def test_clear(self, store: S) -> None:
        await self.set(store, "key", self.buf(b"something"))
        await store.clear()
        assert await store.is_empty("")

    async def test_list(self, store: S) -> None:
        assert await collect_aiterator(store.list()) == ()
        data = self.buf(b"")
        store_dict = {"foo/zarr.json": data, **{f"foo/c/{i}": data for i in range(10)}}
        await store._set_many(store_dict.items())
        assert await _keys(store.list()) == sorted(store_dict)

    async def test_list_prefix(self, store: S) -> None:
        prefixes = ("", "a/", "a/b/", "a/b/c/")
        data = self.buf(b"")
        store_dict = {p + "zarr.json": data for p in prefixes}
        await store._set_many(store_dict.items())
        for prefix in prefixes:
            observed = await _keys(store.list_prefix(prefix))
            assert observed == sorted(k for k in store_dict if k.startswith(prefix)), prefix

    async def test_list_empty_path(self, store: S) -> None:
        data = self.buf(b"")
        store_dict = {"foo/bar/zarr.json": data, "foo/bar/c/1": data, "foo/baz/c/0": data}
        await store._set_many(store_dict.items())
        assert await _keys(store.list()) == sorted(store_dict)
        assert await _keys(store.list_prefix("")) == sorted(store_dict)
        assert await _keys(store.list_prefix("foo/bar/")) == sorted(
            k for k in store_dict if k.startswith("foo/bar/")
        )

    async def test_list_dir(self, store: S) -> None:
        roots_and_keys: list[tuple[str, dict[str, bytes]]] = [
            ("foo", {"foo/zarr.json": b"bar", "foo/c/1": b"\x01"}),
            (
                "foo/bar",
                {
                    "foo/bar/foobar_first_child": b"1",
                    "foo/bar/foobar_second_child/zarr.json": b"2",
                },
            ),
        ]
        assert await collect_aiterator(store.list_dir("")) == ()
        for root, store_dict in roots_and_keys:
            assert await collect_aiterator(store.list_dir(root)) == ()
            await store._set_many((k, self.buf(v)) for k, v in store_dict.items())
            expected = sorted({k.removeprefix(f"{root}/").split("/")[0] for k in store_dict})
            assert await _keys(store.list_dir(root)) == expected
            assert await _keys(store.list_dir(f"{root}/")) == expected

    async def test_set_if_not_exists(self, store: S, buffer_prototype: BufferPrototype) -> None:
        data_buf = self.buf(b"0000")
        await self.set(store, "k", data_buf)
        new = self.buf(b"1111")
        await store.set_if_not_exists("k", new)
        assert_bytes_equal(await store.get("k", buffer_prototype), data_buf)
        await store.set_if_not_exists("k2", new)
        assert_bytes_equal(await store.get("k2", buffer_prototype), new)

    # ================================================================== keys

    async def _check_invalid_key(
        self, store: S, key: str, call: Callable[[], Awaitable[object]], what: str
    ) -> None:
        """``call`` must raise ValueError naming ``key`` and leave the store as it was."""
        await self.set(store, "a/b", self.buf(b"kept"))
        before = await _keys(store.list())
        with pytest.raises(ValueError) as info:
            await call()
        assert _names_key(str(info.value), key), (
            f"{what} raised {info.value!r}, which does not name the key {key!r}"
        )
        assert await _keys(store.list()) == before, f"{what} with bad key {key!r} changed keys"
        assert_bytes_equal(await self.get(store, "a/b"), b"kept", f"{what} changed 'a/b'")

    @pytest.mark.parametrize("key", list(INVALID_KEYS.values()), ids=list(INVALID_KEYS))
    async def test_get_rejects_invalid_key(
        self, store: S, key: str, buffer_prototype: BufferPrototype
    ) -> None:
        await self._check_invalid_key(store, key, lambda: store.get(key, buffer_prototype), "get")

    @pytest.mark.parametrize("key", list(INVALID_KEYS.values()), ids=list(INVALID_KEYS))
    async def test_set_rejects_invalid_key_and_writes_nothing(self, store: S, key: str) -> None:
        await self._check_invalid_key(store, key, lambda: store.set(key, self.buf(b"x")), "set")

    @pytest.mark.parametrize("key", list(INVALID_KEYS.values()), ids=list(INVALID_KEYS))
    async def test_set_if_not_exists_rejects_invalid_key(self, store: S, key: str) -> None:
        await self._check_invalid_key(
            store, key, lambda: store.set_if_not_exists(key, self.buf(b"x")), "set_if_not_exists"
        )

    @pytest.mark.parametrize("key", list(INVALID_KEYS.values()), ids=list(INVALID_KEYS))
    async def test_delete_rejects_invalid_key(self, store: S, key: str) -> None:
        await self._check_invalid_key(store, key, lambda: store.delete(key), "delete")

    @pytest.mark.parametrize("key", list(INVALID_KEYS.values()), ids=list(INVALID_KEYS))
    async def test_exists_rejects_invalid_key(self, store: S, key: str) -> None:
        await self._check_invalid_key(store, key, lambda: store.exists(key), "exists")

    @pytest.mark.parametrize("key", list(INVALID_KEYS.values()), ids=list(INVALID_KEYS))
    async def test_getsize_rejects_invalid_key(self, store: S, key: str) -> None:
        await self._check_invalid_key(store, key, lambda: store.getsize(key), "getsize")

    async def test_set_many_with_an_invalid_key_writes_nothing(self, store: S) -> None:
        await self._check_invalid_key(
            store,
            "../escape",
            lambda: store._set_many([("ok/1", self.buf(b"1")), ("../escape", self.buf(b"2"))]),
            "_set_many",
        )
        assert not await store.exists("ok/1"), "_set_many wrote part of a batch it rejected"

    async def _check_type_error(
        self, store: S, call: Callable[[], Awaitable[object]], what: str
    ) -> None:
        """``call`` must raise TypeError and leave the store as it was."""
        await self.set(store, "a/b", self.buf(b"kept"))
        before = await _keys(store.list())
        with pytest.raises(TypeError):
            await call()
        assert await _keys(store.list()) == before, f"{what} changed keys"
        assert_bytes_equal(await self.get(store, "a/b"), b"kept", f"{what} changed 'a/b'")

    @pytest.mark.parametrize("method", ["set", "set_if_not_exists", "_set_many"])
    @pytest.mark.parametrize("value", list(NON_BUFFER_VALUES.values()), ids=list(NON_BUFFER_VALUES))
    async def test_write_rejects_a_value_that_is_not_a_buffer(
        self, store: S, method: str, value: Any
    ) -> None:
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "set": lambda: store.set("c/0", value),
            "set_if_not_exists": lambda: store.set_if_not_exists("c/0", value),
            # A good value first: the batch must be refused whole, not written in part.
            "_set_many": lambda: store._set_many([("c/1", self.buf(b"ok")), ("c/0", value)]),
        }
        await self._check_type_error(store, calls[method], f"{method} of {value!r}")

    @pytest.mark.parametrize("value", list(NON_BUFFER_VALUES.values()), ids=list(NON_BUFFER_VALUES))
    async def test_set_if_not_exists_rejects_a_non_buffer_also_for_an_existing_key(
        self, store: S, value: Any
    ) -> None:
        """The TypeError is about the argument: it does not depend on what is stored."""
        await self._check_type_error(
            store, lambda: store.set_if_not_exists("a/b", value), f"set_if_not_exists({value!r})"
        )

    @pytest.mark.parametrize(
        "method",
        [
            "get",
            "get_partial_values",
            "_get_many",
            "set",
            "set_if_not_exists",
            "_set_many",
            "exists",
            "getsize",
            "delete",
        ],
    )
    async def test_key_methods_reject_a_key_that_is_not_a_str(
        self, store: S, method: str, buffer_prototype: BufferPrototype
    ) -> None:
        value = self.buf(b"x")
        calls: dict[str, Callable[[Any], Awaitable[object]]] = {
            "get": lambda k: store.get(k, buffer_prototype),
            "get_partial_values": lambda k: store.get_partial_values(
                buffer_prototype, [("a/b", None), (k, None)]
            ),
            "_get_many": lambda k: collect_aiterator(
                store._get_many([("a/b", buffer_prototype, None), (k, buffer_prototype, None)])
            ),
            "set": lambda k: store.set(k, value),
            "set_if_not_exists": lambda k: store.set_if_not_exists(k, value),
            "_set_many": lambda k: store._set_many([("c/1", value), (k, value)]),
            "exists": store.exists,
            "getsize": store.getsize,
            "delete": store.delete,
        }
        for key in NON_STR_KEYS:
            await self._check_type_error(
                store, partial(calls[method], key), f"{method} with key {key!r}"
            )

    @pytest.mark.parametrize(
        "method", ["list_dir", "delete_dir", "is_empty", "getsize_prefix", "list_prefix"]
    )
    async def test_prefix_methods_reject_a_prefix_that_is_not_a_str(
        self, store: S, method: str
    ) -> None:
        """A prefix of the wrong type is an error, never an answer such as "no keys"."""
        for prefix in NON_STR_KEYS:

            async def call(prefix: object = prefix) -> object:
                result = getattr(store, method)(prefix)
                if inspect.isawaitable(result):
                    return await result
                return await collect_aiterator(result)

            await self._check_type_error(store, call, f"{method}({prefix!r})")

    @pytest.mark.parametrize("method", ["list_dir", "delete_dir", "is_empty", "getsize_prefix"])
    @pytest.mark.parametrize("prefix", list(INVALID_PREFIXES.values()), ids=list(INVALID_PREFIXES))
    async def test_directory_methods_reject_invalid_prefix(
        self, store: S, method: str, prefix: str
    ) -> None:
        await self._fill(store, DIR_LAYOUT)

        async def call() -> object:
            result = getattr(store, method)(prefix)
            if inspect.isawaitable(result):
                return await result
            return await collect_aiterator(result)

        with pytest.raises(ValueError) as info:
            await call()
        message = str(info.value)
        assert "prefix" in message, f"{method}({prefix!r}) raised {info.value!r}"
        assert _names_prefix(message, prefix), (
            f"{method}({prefix!r}) raised {info.value!r}, which does not name the prefix"
        )
        assert await self._snapshot(store, DIR_LAYOUT) == DIR_LAYOUT
        assert await _keys(store.list()) == sorted(DIR_LAYOUT), f"{method}({prefix!r}) changed keys"

    # ================================================================== directories

    async def test_list_dir_lists_each_direct_child_once(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)
        names = list(await collect_aiterator(store.list_dir("foo")))
        assert len(names) == len(set(names)), f"list_dir('foo') repeated names: {names}"
        assert sorted(names) == ["bar", "c", "zarr.json"], names

    async def test_list_dir_never_returns_nested_names(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)
        for prefix in ["", "foo", "foo/", "foo/bar", "foo/c", "c"]:
            names = await collect_aiterator(store.list_dir(prefix))
            nested = [n for n in names if "/" in n or n == ""]
            assert not nested, f"list_dir({prefix!r}) returned nested or empty names {nested}"

    async def test_list_dir_with_and_without_trailing_slash_agree(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)
        for prefix in ["foo", "foo/bar", "foo/c", "c", "cc"]:
            assert await _keys(store.list_dir(prefix)) == await _keys(
                store.list_dir(prefix + "/")
            ), prefix

    async def test_list_dir_of_root_lists_top_level_names(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)
        expected = ["c", "cc", "foo", "foo-bar", "foo.json", "zarr.json"]
        assert await _keys(store.list_dir("")) == expected
        assert await _keys(store.list_dir("/")) == expected, "'/' is the root, as ''"

    async def test_list_dir_does_not_match_siblings_sharing_a_string_prefix(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)
        assert await _keys(store.list_dir("fo")) == [], "'fo' is not a directory"
        assert await _keys(store.list_dir("foo")) == ["bar", "c", "zarr.json"], (
            "list_dir('foo') must not see foo-bar/ or foo.json"
        )
        assert await _keys(store.list_dir("c")) == ["0"], "list_dir('c') must not see cc/"

    async def test_list_dir_of_a_key_or_missing_directory_is_empty(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)
        assert await _keys(store.list_dir("foo.json")) == []
        assert await _keys(store.list_dir("nothing/here")) == []

    @pytest.mark.parametrize(
        "method", ["exists", "get", "get_partial_values", "_get_many", "getsize", "delete"]
    )
    async def test_a_directory_is_not_a_key(
        self, store: S, method: str, buffer_prototype: BufferPrototype
    ) -> None:
        """``foo`` with keys under ``foo/`` is not a key: missing to every key method.

        A file store that asks the file system whether a path exists (or opens it) sees
        a directory there; zarr would then read a group or array that does not exist.
        """
        if method == "delete" and not store.supports_deletes:
            pytest.skip(f"{type(store).__name__} does not support deletes")
        await self._fill(store, DIR_LAYOUT)
        for directory in DIR_LAYOUT_DIRECTORIES:
            call = f"{method}({directory!r}) of a directory"
            if method == "exists":
                assert await store.exists(directory) is False, call
            elif method == "get":
                for byte_range in [None, RangeByteRequest(0, 1), SuffixByteRequest(1)]:
                    got = await store.get(directory, buffer_prototype, byte_range)
                    assert got is None, f"{call} with {byte_range} gave {got!r}"
            elif method == "get_partial_values":
                got_values = await store.get_partial_values(
                    buffer_prototype, [(directory, None), (directory, OffsetByteRequest(0))]
                )
                assert got_values == [None, None], f"{call} gave {got_values!r}"
            elif method == "_get_many":
                pairs = await collect_aiterator(
                    store._get_many([(directory, buffer_prototype, None)])
                )
                assert pairs == ((directory, None),), f"{call} gave {pairs!r}"
            elif method == "getsize":
                with pytest.raises(FileNotFoundError):
                    await store.getsize(directory)
            else:
                await store.delete(directory)  # deleting a missing key is a no-op
                assert await _keys(store.list()) == sorted(DIR_LAYOUT), f"{call} deleted keys"
        assert await self._snapshot(store, DIR_LAYOUT) == DIR_LAYOUT

    async def test_list_prefix_is_a_plain_string_match(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)
        for prefix in ["", "f", "foo", "foo/", "foo-", "c", "c/", "foo/c/", "zarr.json", "x"]:
            expected = sorted(k for k in DIR_LAYOUT if k.startswith(prefix))
            assert await _keys(store.list_prefix(prefix)) == expected, prefix

    @pytest.mark.parametrize("prefix", ["foo", "foo/"])
    async def test_delete_dir_leaves_siblings_sharing_a_string_prefix(
        self, store: S, prefix: str
    ) -> None:
        await self._fill(store, DIR_LAYOUT)
        await store.delete_dir(prefix)
        kept = {k: v for k, v in DIR_LAYOUT.items() if not k.startswith("foo/")}
        assert await _keys(store.list()) == sorted(kept)
        assert await self._snapshot(store, kept) == kept

    async def test_delete_dir_c_leaves_cc_untouched(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)
        await store.delete_dir("c")
        assert not await store.exists("c/0")
        assert await store.exists("cc/0"), "delete_dir('c') deleted cc/0"
        assert_bytes_equal(await self.get(store, "cc/0"), DIR_LAYOUT["cc/0"])

    async def test_delete_dir_of_nested_directory_leaves_parent_keys(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)
        await store.delete_dir("foo/bar")
        kept = {k: v for k, v in DIR_LAYOUT.items() if not k.startswith("foo/bar/")}
        assert await _keys(store.list()) == sorted(kept)

    async def test_delete_dir_of_root_removes_everything(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)
        await store.delete_dir("")
        assert await _keys(store.list()) == []
        assert await store.is_empty("")

    async def test_delete_dir_of_missing_directory_is_a_no_op(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)
        await store.delete_dir("nothing/here")
        await store.delete_dir("fo")
        assert await _keys(store.list()) == sorted(DIR_LAYOUT)

    async def test_delete_dir_of_a_key_path_does_not_delete_the_key(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)
        await store.delete_dir("foo.json")
        assert await store.exists("foo.json"), "delete_dir('foo.json') deleted the key"

    async def test_is_empty_treats_prefix_as_directory(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)
        cases = {
            "": False,
            "/": False,
            "foo": False,
            "foo/": False,
            "foo/bar": False,
            "foo/c/": False,
            "fo": True,
            "foo-": True,
            "foo.json": True,
            "foo/ba": True,
            "nothing": True,
        }
        for prefix, expected in cases.items():
            assert await store.is_empty(prefix) is expected, f"is_empty({prefix!r})"

    async def test_is_empty_of_c_ignores_sibling_cc(self, store: S) -> None:
        await self.set(store, "cc/0", self.buf(b"x"))
        assert await store.is_empty("c"), "is_empty('c') saw cc/0"
        assert not await store.is_empty("cc")

    async def test_getsize_prefix_counts_only_the_directory(self, store: S) -> None:
        await self._fill(store, DIR_LAYOUT)

        def size_under(directory: str) -> int:
            return sum(len(v) for k, v in DIR_LAYOUT.items() if k.startswith(directory))

        cases = {
            "": size_under(""),
            "foo": size_under("foo/"),
            "foo/": size_under("foo/"),
            "foo/bar": size_under("foo/bar/"),
            "c": size_under("c/"),
            "fo": 0,
            "nothing": 0,
        }
        for prefix, expected in cases.items():
            assert await store.getsize_prefix(prefix) == expected, f"getsize_prefix({prefix!r})"

    async def test_list_dir_after_delete_dir_matches_memory_store(self, store: S) -> None:
        from zstore.core import MemoryStore

        model = MemoryStore()
        layout = {
            **DIR_LAYOUT,
            "foo/bar/c/0/1": b"y",
            "foo/bar/c/1/0": b"z",
            "foo/bar-baz/zarr.json": b"q",
            "cc/1/2": b"w",
        }
        await self._fill(store, layout)
        await model._set_many((k, self.buf(v)) for k, v in layout.items())
        directories = sorted(
            {""} | {k.rsplit("/", i)[0] for k in layout for i in range(1, k.count("/") + 1)}
        )
        for target in ["foo/bar/c/0", "foo/bar", "c", "nothing", "foo"]:
            await store.delete_dir(target)
            await model.delete_dir(target)
            for directory in directories:
                assert await _keys(store.list_dir(directory)) == await _keys(
                    model.list_dir(directory)
                ), f"list_dir({directory!r}) after delete_dir({target!r})"
            assert await _keys(store.list()) == await _keys(model.list()), target

    # ================================================================== byte ranges

    @pytest.mark.parametrize(
        ("data", "byte_range"),
        [(d, r) for _, d, r in BYTE_RANGE_EDGES],
        ids=[name for name, _, _ in BYTE_RANGE_EDGES],
    )
    async def test_get_byte_range_edge(
        self,
        store: S,
        data: bytes,
        byte_range: ByteRequest | None,
        buffer_prototype: BufferPrototype,
    ) -> None:
        await self.set(store, "c/0", self.buf(data))
        observed = await store.get("c/0", prototype=buffer_prototype, byte_range=byte_range)
        assert observed is not None, f"get with {byte_range} returned None for an existing key"
        assert_bytes_equal(observed, expected_bytes(data, byte_range), f"get {byte_range}")

    async def test_get_every_small_byte_range_matches_slicing(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        """Every range, offset and suffix with bounds 0..9 on a 7-byte value."""
        await self.set(store, "v", self.buf(_EDGE_VALUE))
        requests: list[ByteRequest] = [
            RangeByteRequest(s, e) for s in range(10) for e in range(s, 10)
        ]
        requests += [OffsetByteRequest(i) for i in range(10)]
        requests += [SuffixByteRequest(i) for i in range(10)]
        observed = await store.get_partial_values(buffer_prototype, [("v", r) for r in requests])
        for request, got in zip(requests, observed, strict=True):
            assert_bytes_equal(got, expected_bytes(_EDGE_VALUE, request), f"{request}")
        for request in requests[::7]:
            got1 = await store.get("v", buffer_prototype, request)
            assert_bytes_equal(got1, expected_bytes(_EDGE_VALUE, request), f"get {request}")

    async def test_get_partial_values_byte_range_edges(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        pairs = []
        for i, (_, data, byte_range) in enumerate(BYTE_RANGE_EDGES):
            await self.set(store, f"edge/{i}", self.buf(data))
            pairs.append((f"edge/{i}", byte_range))
        observed = await store.get_partial_values(buffer_prototype, pairs)
        assert len(observed) == len(pairs)
        for (name, data, byte_range), got in zip(BYTE_RANGE_EDGES, observed, strict=True):
            assert got is not None, f"{name}: None for an existing key"
            assert_bytes_equal(got, expected_bytes(data, byte_range), name)

    @pytest.mark.parametrize(
        "byte_range",
        [None, RangeByteRequest(0, 2), OffsetByteRequest(1), SuffixByteRequest(1)],
        ids=["none", "range", "offset", "suffix"],
    )
    async def test_get_missing_key_returns_none(
        self, store: S, byte_range: ByteRequest | None, buffer_prototype: BufferPrototype
    ) -> None:
        assert await store.get("missing/key", buffer_prototype, byte_range) is None
        observed = await store.get_partial_values(buffer_prototype, [("missing/key", byte_range)])
        assert observed == [None]

    async def test_get_ranges_equals_individual_gets(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        value = bytes(range(256)) * 4
        await self.set(store, "blob", self.buf(value))
        requests: list[ByteRequest | None] = [
            RangeByteRequest(0, 10),
            RangeByteRequest(5, 15),  # overlaps the previous one
            RangeByteRequest(15, 20),  # adjacent
            RangeByteRequest(30, 40),  # small gap
            RangeByteRequest(900, 1000),  # far away
            RangeByteRequest(1000, 2000),  # runs past the end
            RangeByteRequest(3000, 3010),  # starts past the end
            RangeByteRequest(7, 7),  # zero length
            None,
            OffsetByteRequest(1020),
            SuffixByteRequest(3),
            SuffixByteRequest(5000),
        ]
        # The last three are zarr-python's odd values, which it takes as its rule says: a
        # negative gap, a size of 0 or below. Every store must still answer correctly.
        knobs = [(0, 1 << 20), (64, 1 << 20), (1 << 16, 16), (-1, 1 << 20), (0, 0), (-100, -1)]
        for max_gap, max_size in knobs:
            results = await _collect_ranges(
                store.get_ranges(
                    "blob",
                    requests,
                    prototype=buffer_prototype,
                    max_gap_bytes=max_gap,
                    max_coalesced_bytes=max_size,
                ),
                len(requests),
            )
            for i, request in enumerate(requests):
                single = await store.get("blob", buffer_prototype, request)
                assert_bytes_equal(results[i], single, f"get_ranges[{i}] {request} vs get")
                assert_bytes_equal(results[i], expected_bytes(value, request), f"{request}")

    async def test_get_ranges_of_missing_key_raises_a_group_with_file_not_found(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        # zarr-python's contract: failures surface as an exception group (PEP 654).
        requests: list[ByteRequest | None] = [
            RangeByteRequest(0, 4),
            RangeByteRequest(4, 8),
            SuffixByteRequest(2),
        ]
        with pytest.raises(BaseExceptionGroup) as info:
            await _collect_ranges(
                store.get_ranges("missing", requests, prototype=buffer_prototype), len(requests)
            )
        assert info.group_contains(FileNotFoundError), info.value.exceptions

    async def test_get_ranges_of_no_ranges_yields_nothing(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        # As zarr-python: nothing asked, nothing fetched, so a missing key raises nothing.
        await self.set(store, "blob", self.buf(b"abc"))
        for key in ("blob", "missing"):
            batches = [b async for b in store.get_ranges(key, [], prototype=buffer_prototype)]
            assert batches == [], key

    async def test_get_ranges_reports_a_request_of_the_wrong_type_in_its_group(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        await self.set(store, "blob", self.buf(b"abc"))
        requests: list[Any] = [RangeByteRequest(0, 1), (0, 1)]
        with pytest.raises(BaseExceptionGroup) as info:
            await _collect_ranges(store.get_ranges("blob", requests, prototype=buffer_prototype), 2)
        assert info.group_contains(TypeError, match="Unexpected byte_range"), info.value

    @pytest.mark.parametrize(
        ("knob", "value", "error"),
        [
            ("max_concurrency", 0, ValueError),
            ("max_concurrency", None, TypeError),
            ("max_gap_bytes", None, TypeError),
            ("max_coalesced_bytes", "16", TypeError),
        ],
    )
    async def test_get_ranges_names_an_option_it_cannot_take(
        self,
        store: S,
        buffer_prototype: BufferPrototype,
        knob: str,
        value: object,
        error: type[Exception],
    ) -> None:
        await self.set(store, "blob", self.buf(b"abc"))
        options: dict[str, Any] = {knob: value}
        with pytest.raises(error, match=knob):
            await _collect_ranges(
                store.get_ranges(
                    "blob", [RangeByteRequest(0, 1)], prototype=buffer_prototype, **options
                ),
                1,
            )

    # ================================================================== read-only

    @pytest.mark.parametrize(
        "method", ["set", "set_if_not_exists", "delete", "delete_dir", "clear", "_set_many"]
    )
    async def test_read_only_store_refuses_every_write_path(
        self, open_kwargs: dict[str, Any], method: str
    ) -> None:
        store = await self._open_read_only(open_kwargs)
        await self._fill(store, DIR_LAYOUT)
        await _refuse_write(store, method, self.buf(b"new"))
        assert await self._snapshot(store, DIR_LAYOUT) == DIR_LAYOUT, (
            f"read-only {method} changed stored data"
        )
        assert await _keys(store.list()) == sorted(DIR_LAYOUT)

    @pytest.mark.parametrize(
        "method", ["set", "set_if_not_exists", "delete", "delete_dir", "clear", "_set_many"]
    )
    async def test_with_read_only_view_refuses_every_write_path(
        self, store: S, method: str
    ) -> None:
        try:
            reader = store.with_read_only(read_only=True)
        except NotImplementedError:
            pytest.skip(f"{type(store).__name__} does not implement with_read_only")
        await self._fill(store, DIR_LAYOUT)
        await _refuse_write(reader, method, self.buf(b"new"))
        assert await self._snapshot(store, DIR_LAYOUT) == DIR_LAYOUT
        # The writable original is still writable.
        await store.set("after", self.buf(b"ok"))
        assert_bytes_equal(await self.get(store, "after"), b"ok")

    # ================================================================== buffers

    async def test_get_returns_instance_of_requested_prototype(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        await self.set(store, "c/0", self.buf(b"\x01\x02\x03\x04"))
        for proto in self._prototypes(buffer_prototype):
            for byte_range in [None, RangeByteRequest(1, 3), OffsetByteRequest(2)]:
                got = await store.get("c/0", proto, byte_range)
                assert isinstance(got, proto.buffer), (
                    f"get(byte_range={byte_range}) returned {type(got).__name__}, "
                    f"not {proto.buffer.__name__}"
                )
            got = await store.get("c/0", proto, SuffixByteRequest(2))
            assert isinstance(got, proto.buffer), type(got)

    async def test_get_partial_values_returns_instances_of_requested_prototype(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        await self.set(store, "c/0", self.buf(b"\x01\x02\x03\x04"))
        for proto in self._prototypes(buffer_prototype):
            got = await store.get_partial_values(
                proto,
                [("c/0", None), ("c/0", RangeByteRequest(0, 1)), ("c/0", SuffixByteRequest(1))],
            )
            for value in got:
                assert isinstance(value, proto.buffer), type(value)

    async def test_get_many_returns_instances_of_requested_prototype(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        await self.set(store, "c/0", self.buf(b"\x01\x02\x03\x04"))
        for proto in self._prototypes(buffer_prototype):
            got = await collect_aiterator(store._get_many([("c/0", proto, None)]))
            assert [k for k, _ in got] == ["c/0"]
            assert isinstance(got[0][1], proto.buffer), type(got[0][1])

    async def test_get_ranges_returns_instances_of_requested_prototype(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        await self.set(store, "c/0", self.buf(bytes(100)))
        requests: list[ByteRequest | None] = [
            RangeByteRequest(0, 10),
            RangeByteRequest(12, 20),
            SuffixByteRequest(5),
        ]
        for proto in self._prototypes(buffer_prototype):
            results = await _collect_ranges(store.get_ranges("c/0", requests, prototype=proto), 3)
            for value in results:
                assert isinstance(value, proto.buffer), type(value)

    async def test_set_does_not_alias_caller_memory(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        """Changing the caller's memory after ``set`` must not change the stored value."""
        array = np.array([1, 2, 3, 4], dtype="B")
        try:
            value = self.buffer_cls.from_array_like(array)
        except (TypeError, ValueError):
            # Device memory cannot wrap a host array: the caller's memory is then the
            # buffer's own (writable, as from_bytes makes it from a bytearray).
            value = self.buffer_cls.from_bytes(bytearray(array))
        await store.set("c/0", value)
        value[0:4] = np.full(4, 0xFF, dtype="B")  # writes into the caller's memory
        assert_bytes_equal(value, b"\xff\xff\xff\xff", "the test did not change the memory")
        assert_bytes_equal(
            await store.get("c/0", buffer_prototype),
            b"\x01\x02\x03\x04",
            "the store kept a view of the caller's array",
        )

    # ================================================================== pickling

    async def test_pickled_store_is_equal_and_works(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        await store.set("foo/c/0", self.buf(b"\x01\x02\x03"))
        clone: S = pickle.loads(pickle.dumps(store))
        assert clone == store, "an unpickled store must equal its original"
        assert clone.read_only == store.read_only
        assert type(clone) is type(store)
        assert_bytes_equal(await clone.get("foo/c/0", buffer_prototype), b"\x01\x02\x03")
        await clone.set("foo/c/1", self.buf(b"\x04"))
        assert_bytes_equal(await clone.get("foo/c/1", buffer_prototype), b"\x04")
        assert "foo/c/1" in await _keys(clone.list())

    async def test_pickled_read_only_store_stays_read_only(
        self, open_kwargs: dict[str, Any]
    ) -> None:
        store = await self._open_read_only(open_kwargs)
        clone = pickle.loads(pickle.dumps(store))
        assert clone == store
        assert clone.read_only
        with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
            await clone.set("foo", self.buf(b"x"))

    # ================================================================== concurrency

    async def test_concurrent_sets_and_gets_lose_nothing(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        n = 96
        values = {f"c/{i % 7}/{i}": _pattern(i, 1 + (i * 389) % 5000) for i in range(n)}
        await asyncio.gather(*(store.set(k, self.buf(v)) for k, v in values.items()))
        got = await asyncio.gather(*(store.get(k, buffer_prototype) for k in values))
        for (key, expected), observed in zip(values.items(), got, strict=True):
            assert_bytes_equal(observed, expected, f"concurrent set/get of {key!r}")
        assert await _keys(store.list()) == sorted(values)

    async def test_concurrent_overwrites_leave_one_whole_value(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        candidates = [_pattern(i, 1 + i * 97) for i in range(32)]
        allowed = set(candidates)
        seen: list[bytes | None] = []

        async def read() -> None:
            value = await store.get("hot", buffer_prototype)
            seen.append(None if value is None else value.to_bytes())

        work: list[Awaitable[None]] = []
        for value in candidates:
            work.append(store.set("hot", self.buf(value)))
            work.append(read())
        await asyncio.gather(*work)
        final = await store.get("hot", buffer_prototype)
        assert final is not None, "the key vanished after concurrent writes"
        assert final.to_bytes() in allowed, "the final value is torn"
        torn = [v for v in seen if v is not None and v not in allowed]
        assert not torn, f"a reader saw {len(torn)} torn values during concurrent writes"

    async def test_set_if_not_exists_race_has_exactly_one_winner(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        for round_ in range(3):
            key = f"race/{round_}"
            candidates = [_pattern(i, 8 + i) for i in range(24)]
            observed: list[bytes | None] = []

            async def racer(
                value: bytes, key: str = key, observed: list[bytes | None] = observed
            ) -> None:
                await store.set_if_not_exists(key, self.buf(value))
                # What this racer sees right after its own call must be the single winner:
                # a non-atomic implementation lets a late racer overwrite an earlier one.
                got = await store.get(key, buffer_prototype)
                observed.append(None if got is None else got.to_bytes())

            await asyncio.gather(*(racer(v) for v in candidates))
            final = await store.get(key, buffer_prototype)
            assert final is not None, f"no racer wrote {key!r}"
            winner = final.to_bytes()
            assert winner in candidates, f"{key!r} holds a value no racer wrote"
            losers = {v for v in observed if v != winner}
            assert not losers, (
                f"set_if_not_exists on {key!r} let {len(losers)} other values be seen after "
                "the key existed; exactly one racer may win"
            )


def _pattern(seed: int, size: int) -> bytes:
    """``size`` bytes unique to ``seed``, so a torn or swapped value is detectable."""
    rng = random.Random(seed)
    return seed.to_bytes(4, "little")[: min(4, size)] + rng.randbytes(max(0, size - 4))


async def _collect_ranges(
    batches: AsyncIterator[Sequence[tuple[int, Buffer | None]]], n: int
) -> list[Buffer | None]:
    """Gather ``get_ranges`` batches by index, checking each index comes exactly once."""
    tagged: list[tuple[int, Buffer | None]] = []
    async for batch in batches:
        assert len(batch) > 0, "get_ranges yielded an empty batch"
        tagged += batch
    return by_index(tagged, n)


def by_index(tagged: Iterable[tuple[int, Buffer | None]], n: int) -> list[Buffer | None]:
    """The values of ``(index, value)`` pairs of ``n`` requests in index order, checking each
    index comes exactly once (``get_ranges`` and ``get_ranges_sync`` results)."""
    out: dict[int, Buffer | None] = {}
    for index, value in tagged:
        assert index not in out, f"get_ranges yielded index {index} twice"
        assert 0 <= index < n, f"get_ranges yielded index {index} for {n} requests"
        out[index] = value
    assert sorted(out) == list(range(n)), f"get_ranges yielded indices {sorted(out)} of {n}"
    return [out[i] for i in range(n)]


async def _refuse_write(store: Store, method: str, value: Buffer) -> None:
    """Call write ``method`` on a read-only ``store``; it must raise the read-only error."""
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "set": lambda: store.set("foo/zarr.json", value),
        "set_if_not_exists": lambda: store.set_if_not_exists("new/key", value),
        "delete": lambda: store.delete("foo/zarr.json"),
        "delete_dir": lambda: store.delete_dir("foo"),
        "clear": store.clear,
        "_set_many": lambda: store._set_many([("new/key", value), ("foo/zarr.json", value)]),
    }
    with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
        await calls[method]()


# Mark every coroutine test for pytest-asyncio, so the suite runs whether or not the
# downstream project sets asyncio_mode = "auto".
for _name, _value in list(vars(StoreTests).items()):
    if _name.startswith("test_") and inspect.iscoroutinefunction(_value):
        setattr(StoreTests, _name, pytest.mark.asyncio(_value))


class LatencyStore(Store):  # noqa: PLW1641 - equal by content like the store it wraps
    """A store that wraps another and sleeps before each ``get`` and ``set``.

    For performance experiments: latency makes the cost of serial round trips visible.

    Parameters
    ----------
    store : Store
        The store to wrap; every other method is delegated to it.
    get_latency, set_latency : float or (float, float)
        Seconds to sleep before each get / set, or ``(mean, std)`` of a normal
        distribution sampled per call (clipped at 0).
    """

    _store: Store

    def __init__(
        self,
        store: Store,
        *,
        get_latency: float | tuple[float, float] = 0,
        set_latency: float | tuple[float, float] = 0,
    ) -> None:
        super().__init__(read_only=store.read_only)
        self._store = store
        self._get_latency = get_latency if isinstance(get_latency, tuple) else float(get_latency)
        self._set_latency = set_latency if isinstance(set_latency, tuple) else float(set_latency)

    @staticmethod
    def _sample(latency: float | tuple[float, float]) -> float:
        if isinstance(latency, tuple):
            return max(0.0, random.gauss(latency[0], latency[1]))
        return latency

    @property
    def get_latency(self) -> float:
        """Seconds the next ``get`` sleeps (sampled when a distribution was given)."""
        return self._sample(self._get_latency)

    @property
    def set_latency(self) -> float:
        """Seconds the next ``set`` sleeps (sampled when a distribution was given)."""
        return self._sample(self._set_latency)

    def __repr__(self) -> str:
        return f"LatencyStore({self._store!r}, get_latency={self._get_latency!r}, " + (
            f"set_latency={self._set_latency!r})"
        )

    def __eq__(self, value: object) -> bool:
        # docstring inherited
        return (
            isinstance(value, LatencyStore)
            and type(self) is type(value)
            and (self._store == value._store)
        )

    async def _open(self) -> None:
        # docstring inherited
        await self._store._ensure_open()
        await super()._open()

    def close(self) -> None:
        # docstring inherited
        self._store.close()
        super().close()

    def with_read_only(self, read_only: bool = False) -> LatencyStore:
        # docstring inherited
        return type(self)(
            self._store.with_read_only(read_only),
            get_latency=self._get_latency,
            set_latency=self._set_latency,
        )

    @property
    def supports_writes(self) -> bool:
        # docstring inherited
        return self._store.supports_writes

    @property
    def supports_deletes(self) -> bool:
        # docstring inherited
        return self._store.supports_deletes

    @property
    def supports_listing(self) -> bool:
        # docstring inherited
        return self._store.supports_listing

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        """Sleep ``get_latency`` seconds, then get from the wrapped store."""
        await asyncio.sleep(self.get_latency)
        return await self._store.get(key, prototype=prototype, byte_range=byte_range)

    async def set(self, key: str, value: Buffer) -> None:
        """Sleep ``set_latency`` seconds, then set in the wrapped store."""
        self._check_writable()
        await asyncio.sleep(self.set_latency)
        await self._store.set(key, value)

    async def exists(self, key: str) -> bool:
        # docstring inherited
        return await self._store.exists(key)

    async def getsize(self, key: str) -> int:
        # docstring inherited
        return await self._store.getsize(key)

    async def getsize_prefix(self, prefix: str) -> int:
        # docstring inherited
        return await self._store.getsize_prefix(prefix)

    async def delete(self, key: str) -> None:
        # docstring inherited
        self._check_writable()
        await self._store.delete(key)

    async def delete_dir(self, prefix: str) -> None:
        # docstring inherited
        self._check_writable()
        await self._store.delete_dir(prefix)

    async def clear(self) -> None:
        # docstring inherited
        self._check_writable()
        await self._store.clear()

    async def is_empty(self, prefix: str) -> bool:
        # docstring inherited
        return await self._store.is_empty(prefix)

    def list(self) -> AsyncIterator[str]:
        # docstring inherited
        return self._store.list()

    def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        return self._store.list_prefix(prefix)

    def list_dir(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        return self._store.list_dir(prefix)
