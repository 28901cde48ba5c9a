"""``SyncStoreTests``: ``StoreTests`` plus the blocking methods some stores add.

A store may offer ``get_sync``, ``set_sync`` and ``delete_sync`` for callers already off the
event loop (zarr-python 3.4.2's ``SupportsGetSync`` / ``SupportsSetSync`` /
``SupportsDeleteSync``, in ``zstore.core``; ``MemoryStore`` and ``LocalStore`` have all
three), and with ``get_sync`` comes ``Store.get_ranges_sync``. They are not abstract
methods of ``Store``, so these tests are opt-in: subclass ``SyncStoreTests`` instead of
``StoreTests``. As in zarr-python, each test skips, saying which method is missing, when
the store has no such method.

Beyond zarr-python's tests (each sync method alone, and sync/async parity): the sync writes
refuse read-only stores and views as the async ones do, every sync method validates keys,
``set_sync`` overwrites, ``get_sync`` honours ``prototype`` and answers ``None`` for a
directory, and ``get_ranges_sync`` answers as ``get_ranges`` does.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from zbuffer.core import Buffer, BufferPrototype
from zstore.core import (
    READ_ONLY_MESSAGE,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    SuffixByteRequest,
    SupportsDeleteSync,
    SupportsGetSync,
    SupportsSetSync,
)
from ztesting._sync import collect_aiterator
from ztesting.store import (
    DIR_LAYOUT,
    DIR_LAYOUT_DIRECTORIES,
    INVALID_KEYS,
    StoreTests,
    by_index,
    expected_bytes,
)
from ztesting.utils import assert_bytes_equal

if TYPE_CHECKING:
    from collections.abc import Callable

    from zstore.core import ByteRequest

__all__ = ["SupportsDeleteSync", "SupportsGetSync", "SupportsSetSync", "SyncStoreTests"]

S = TypeVar("S", bound=Store)
B = TypeVar("B", bound=Buffer)


# One key per rule is enough here: the async methods get the full list.
_SOME_INVALID_KEYS = {name: INVALID_KEYS[name] for name in ("leading-dotdot", "empty", "nul")}


class SyncStoreTests(StoreTests[S, B]):
    """``StoreTests`` plus tests of ``get_sync``, ``set_sync`` and ``delete_sync``."""

    @staticmethod
    def _require_get_sync(store: Store) -> SupportsGetSync:
        """Skip unless ``store`` implements :class:`SupportsGetSync`."""
        if not isinstance(store, SupportsGetSync):
            pytest.skip(f"{type(store).__name__} does not implement get_sync")
        return store

    @staticmethod
    def _require_set_sync(store: Store) -> SupportsSetSync:
        """Skip unless ``store`` implements :class:`SupportsSetSync`."""
        if not isinstance(store, SupportsSetSync):
            pytest.skip(f"{type(store).__name__} does not implement set_sync")
        return store

    @staticmethod
    def _require_delete_sync(store: Store) -> SupportsDeleteSync:
        """Skip unless ``store`` implements :class:`SupportsDeleteSync`."""
        if not isinstance(store, SupportsDeleteSync):
            pytest.skip(f"{type(store).__name__} does not implement delete_sync")
        if not store.supports_deletes:
            pytest.skip(f"{type(store).__name__} does not support deletes")
        return store

    # ================================================================== zarr-python's tests

    async def test_get_sync(self, store: S) -> None:
        getter = self._require_get_sync(store)
        data_buf = self.buf(b"\x01\x02\x03\x04")
        await self.set(store, "sync_get", data_buf)
        result = getter.get_sync("sync_get")
        assert result is not None
        assert_bytes_equal(result, data_buf)

    async def test_get_sync_missing(self, store: S) -> None:
        getter = self._require_get_sync(store)
        assert getter.get_sync("nonexistent") is None

    async def test_set_sync(self, store: S) -> None:
        setter = self._require_set_sync(store)
        data_buf = self.buf(b"\x01\x02\x03\x04")
        setter.set_sync("sync_set", data_buf)
        assert_bytes_equal(await self.get(store, "sync_set"), data_buf)

    async def test_delete_sync(self, store: S) -> None:
        setter = self._require_set_sync(store)
        deleter = self._require_delete_sync(store)
        getter = self._require_get_sync(store)
        setter.set_sync("sync_delete", self.buf(b"\x01\x02\x03\x04"))
        deleter.delete_sync("sync_delete")
        assert getter.get_sync("sync_delete") is None

    async def test_delete_sync_missing(self, store: S) -> None:
        deleter = self._require_delete_sync(store)
        deleter.delete_sync("nonexistent_sync")  # no error

    @pytest.mark.parametrize("direction", ["set_async_get_sync", "set_sync_get_async"])
    async def test_sync_async_set_get_parity(
        self, store: S, direction: str, buffer_prototype: BufferPrototype
    ) -> None:
        setter = self._require_set_sync(store)
        getter = self._require_get_sync(store)
        data_buf = self.buf(b"\x01\x02\x03\x04")
        if direction == "set_async_get_sync":
            await store.set("parity_set_get", data_buf)
            result = getter.get_sync("parity_set_get")
        else:
            setter.set_sync("parity_set_get", data_buf)
            result = await store.get("parity_set_get", prototype=buffer_prototype)
        assert result is not None
        assert_bytes_equal(result, data_buf)

    async def test_delete_sync_visible_to_async_get(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        deleter = self._require_delete_sync(store)
        await store.set("parity_delete", self.buf(b"\x01\x02\x03\x04"))
        deleter.delete_sync("parity_delete")
        assert await store.get("parity_delete", prototype=buffer_prototype) is None

    @pytest.mark.parametrize(
        "byte_range",
        [
            None,
            RangeByteRequest(1, 4),
            OffsetByteRequest(1),
            SuffixByteRequest(1),
            RangeByteRequest(10, 20),
        ],
        ids=["none", "range", "offset", "suffix", "range-past-eof"],
    )
    async def test_get_sync_byte_range_parity(
        self, store: S, byte_range: ByteRequest | None, buffer_prototype: BufferPrototype
    ) -> None:
        getter = self._require_get_sync(store)
        await store.set("parity_byte_range", self.buf(b"\x01\x02\x03\x04"))
        sync_result = getter.get_sync("parity_byte_range", byte_range=byte_range)
        async_result = await store.get(
            "parity_byte_range", prototype=buffer_prototype, byte_range=byte_range
        )
        if async_result is None:
            assert sync_result is None
        else:
            assert sync_result is not None
            assert_bytes_equal(sync_result, async_result)

    # ================================================================== the stricter contract

    async def test_get_sync_returns_instance_of_requested_prototype(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        getter = self._require_get_sync(store)
        await self.set(store, "c/0", self.buf(b"\x01\x02\x03\x04"))
        for proto in self._prototypes(buffer_prototype):
            got = getter.get_sync("c/0", prototype=proto, byte_range=RangeByteRequest(1, 3))
            assert isinstance(got, proto.buffer), type(got)
            assert_bytes_equal(got, b"\x02\x03")

    @pytest.mark.parametrize(
        ("old", "new"), [(b"old", b"a longer new value"), (b"a longer old value", b"")]
    )
    async def test_set_sync_overwrites_an_existing_key(
        self, store: S, old: bytes, new: bytes, buffer_prototype: BufferPrototype
    ) -> None:
        setter = self._require_set_sync(store)
        setter.set_sync("c/0", self.buf(old))
        setter.set_sync("c/0", self.buf(new))
        assert_bytes_equal(await store.get("c/0", buffer_prototype), new, "set_sync overwrite")
        assert await store.getsize("c/0") == len(new)

    async def test_get_sync_of_a_directory_is_none(self, store: S) -> None:
        getter = self._require_get_sync(store)
        await self._fill(store, DIR_LAYOUT)
        for directory in DIR_LAYOUT_DIRECTORIES:
            assert getter.get_sync(directory) is None, f"get_sync({directory!r}) of a directory"

    @pytest.mark.parametrize("method", ["set_sync", "delete_sync"])
    @pytest.mark.parametrize("view", ["opened-read-only", "with_read_only"])
    async def test_read_only_store_refuses_sync_writes(
        self, store: S, open_kwargs: dict[str, Any], method: str, view: str
    ) -> None:
        if view == "opened-read-only":
            target: Store = await self._open_read_only(open_kwargs)
        else:
            try:
                target = store.with_read_only(read_only=True)
            except NotImplementedError:
                pytest.skip(f"{type(store).__name__} does not implement with_read_only")
        await self._fill(store, DIR_LAYOUT)
        value = self.buf(b"new")
        calls: dict[str, Callable[[], object]] = {
            "set_sync": lambda: self._require_set_sync(target).set_sync("foo/zarr.json", value),
            "delete_sync": lambda: self._require_delete_sync(target).delete_sync("foo/zarr.json"),
        }
        with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
            calls[method]()
        assert await self._snapshot(store, DIR_LAYOUT) == DIR_LAYOUT, f"read-only {method} wrote"

    @pytest.mark.parametrize("method", ["get_sync", "set_sync", "delete_sync"])
    @pytest.mark.parametrize("key", list(_SOME_INVALID_KEYS.values()), ids=list(_SOME_INVALID_KEYS))
    async def test_sync_methods_reject_invalid_key(self, store: S, method: str, key: str) -> None:
        calls: dict[str, Callable[[], object]] = {
            "get_sync": lambda: self._require_get_sync(store).get_sync(key),
            "set_sync": lambda: self._require_set_sync(store).set_sync(key, self.buf(b"x")),
            "delete_sync": lambda: self._require_delete_sync(store).delete_sync(key),
        }
        await self.set(store, "a/b", self.buf(b"kept"))
        with pytest.raises(ValueError) as info:
            calls[method]()
        assert repr(key) in str(info.value), f"{method} raised {info.value!r}, not naming {key!r}"
        assert sorted(await collect_aiterator(store.list())) == ["a/b"]
        assert_bytes_equal(await self.get(store, "a/b"), b"kept", f"{method} changed 'a/b'")

    async def test_set_sync_rejects_a_value_that_is_not_a_buffer(self, store: S) -> None:
        setter = self._require_set_sync(store)
        for value in (b"value", None):
            bad: Any = value
            with pytest.raises(TypeError):
                setter.set_sync("c/0", bad)
        assert await collect_aiterator(store.list()) == ()

    # ================================================================== get_ranges_sync

    async def test_get_ranges_sync_equals_individual_gets(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        self._require_get_sync(store)
        value = bytes(range(256)) * 4
        await self.set(store, "blob", self.buf(value))
        requests: list[ByteRequest | None] = [
            RangeByteRequest(0, 10),
            RangeByteRequest(5, 15),
            RangeByteRequest(30, 40),
            RangeByteRequest(900, 1100),
            RangeByteRequest(3000, 3010),
            None,
            OffsetByteRequest(1020),
            SuffixByteRequest(3),
        ]
        for max_gap, max_size in [(0, 1 << 20), (64, 1 << 20), (1 << 16, 16), (-1, 0)]:
            options = {"max_gap_bytes": max_gap, "max_coalesced_bytes": max_size}
            tagged = store.get_ranges_sync("blob", requests, prototype=buffer_prototype, **options)
            results = by_index(tagged, len(requests))
            for i, request in enumerate(requests):
                single = await store.get("blob", buffer_prototype, request)
                assert isinstance(results[i], buffer_prototype.buffer), type(results[i])
                assert_bytes_equal(results[i], single, f"{request} with {options} vs get")
                assert_bytes_equal(results[i], expected_bytes(value, request), f"{request}")

    async def test_get_ranges_sync_of_missing_key_raises_a_group_with_file_not_found(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        self._require_get_sync(store)
        requests: list[ByteRequest | None] = [RangeByteRequest(0, 4), SuffixByteRequest(2)]
        with pytest.raises(BaseExceptionGroup) as info:
            store.get_ranges_sync("missing", requests, prototype=buffer_prototype)
        assert info.group_contains(FileNotFoundError), info.value.exceptions

    async def test_get_ranges_sync_of_no_ranges_is_empty(
        self, store: S, buffer_prototype: BufferPrototype
    ) -> None:
        self._require_get_sync(store)
        for key in ("blob", "missing"):
            assert list(store.get_ranges_sync(key, [], prototype=buffer_prototype)) == []

    @pytest.mark.parametrize("key", list(_SOME_INVALID_KEYS.values()), ids=list(_SOME_INVALID_KEYS))
    async def test_get_ranges_sync_rejects_invalid_key(
        self, store: S, key: str, buffer_prototype: BufferPrototype
    ) -> None:
        self._require_get_sync(store)
        with pytest.raises(ValueError):
            store.get_ranges_sync(key, [RangeByteRequest(0, 1)], prototype=buffer_prototype)


# Mark every coroutine test for pytest-asyncio, as StoreTests' are.
for _name, _value in list(vars(SyncStoreTests).items()):
    if _name.startswith("test_") and inspect.iscoroutinefunction(_value):
        setattr(SyncStoreTests, _name, pytest.mark.asyncio(_value))
