"""MemoryStore passes StoreTests and both state machines, with the cpu and test buffers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from hypothesis.stateful import run_state_machine_as_test

from zbuffer import cpu
from zstore.core import MemoryStore
from ztesting.buffer import StoreExpectingTestBuffer, TestBuffer, test_buffer_prototype
from ztesting.stateful import HierarchyStateMachine, ZarrStoreStateMachine
from ztesting.sync_store import SyncStoreTests

if TYPE_CHECKING:
    from zbuffer.core import Buffer


def _raw_set(store: MemoryStore, key: str, value: Buffer) -> None:
    # Bypass the store API, as StoreTests asks: write the backing dict. The store notices
    # the new key count and rebuilds its index on the next operation.
    store._store_dict[key] = value


class TestMemoryStore(SyncStoreTests[MemoryStore, cpu.Buffer]):
    store_cls = MemoryStore
    buffer_cls = cpu.Buffer

    async def set(self, store: MemoryStore, key: str, value: Buffer) -> None:
        _raw_set(store, key, value)

    async def get(self, store: MemoryStore, key: str) -> Buffer:
        return store._store_dict[key]

    @pytest.fixture
    def store_kwargs(self) -> dict[str, Any]:
        return {"store_dict": None}

    def test_store_repr(self, store: MemoryStore) -> None:
        assert repr(store) == f"MemoryStore('memory://{id(store._store_dict)}')"

    def test_store_supports_writes(self, store: MemoryStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: MemoryStore) -> None:
        assert store.supports_listing


class TestStoreExpectingTestBuffer(SyncStoreTests[StoreExpectingTestBuffer, TestBuffer]):
    store_cls = StoreExpectingTestBuffer
    buffer_cls = TestBuffer

    async def set(self, store: StoreExpectingTestBuffer, key: str, value: Buffer) -> None:
        _raw_set(store, key, value)

    async def get(self, store: StoreExpectingTestBuffer, key: str) -> Buffer:
        return store._store_dict[key]

    @pytest.fixture
    def store_kwargs(self) -> dict[str, Any]:
        return {"store_dict": None}

    def test_buffer_prototype_is_the_test_buffer_prototype(self, buffer_prototype: Any) -> None:
        assert buffer_prototype is test_buffer_prototype


@pytest.mark.parametrize(
    "prototype", [cpu.buffer_prototype, test_buffer_prototype], ids=["cpu", "test"]
)
def test_memory_store_state_machine(prototype: Any) -> None:
    store = MemoryStore()
    run_state_machine_as_test(lambda: ZarrStoreStateMachine(store, prototype=prototype))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "prototype", [cpu.buffer_prototype, test_buffer_prototype], ids=["cpu", "test"]
)
def test_memory_store_hierarchy_state_machine(prototype: Any) -> None:
    store = MemoryStore()
    run_state_machine_as_test(lambda: HierarchyStateMachine(store, prototype=prototype))  # type: ignore[arg-type]


def test_store_expecting_test_buffer_state_machines() -> None:
    store = StoreExpectingTestBuffer()
    run_state_machine_as_test(lambda: ZarrStoreStateMachine(store, prototype=test_buffer_prototype))  # type: ignore[arg-type]
    run_state_machine_as_test(lambda: HierarchyStateMachine(store, prototype=test_buffer_prototype))  # type: ignore[arg-type]


async def test_store_expecting_test_buffer_checks_range_reads_and_batch_writes() -> None:
    # MemoryStore serves get_ranges(_sync) and _set_many without get, get_sync or set: the
    # checks were skipped there, where zarr-python's StoreExpectingTestBuffer makes them.
    store = StoreExpectingTestBuffer()
    store.set_sync("c/0", TestBuffer.from_bytes(b"abcdef"))
    store.set_sync("zarr.json", cpu.Buffer.from_bytes(b"{}"))
    with pytest.raises(TypeError, match="TestBuffer"):
        store.get_ranges_sync("c/0", [None], prototype=cpu.buffer_prototype)
    with pytest.raises(TypeError, match="TestBuffer"):
        [b async for b in store.get_ranges("c/0", [None], prototype=cpu.buffer_prototype)]
    with pytest.raises(TypeError, match="TestBuffer"):
        await store._set_many([("c/1", cpu.Buffer.from_bytes(b"x"))])
    assert store.get_sync("c/1") is None, "a refused batch wrote something"
    # The right prototype, and metadata keys, still pass.
    got = store.get_ranges_sync("c/0", [None], prototype=test_buffer_prototype)
    assert [(i, type(b), b.to_bytes()) for i, b in got] == [(0, TestBuffer, b"abcdef")]  # type: ignore[union-attr]
    batches = [b async for b in store.get_ranges("c/0", [None], prototype=test_buffer_prototype)]
    assert [type(b) for batch in batches for _, b in batch] == [TestBuffer]
    meta = store.get_ranges_sync("zarr.json", [None], prototype=cpu.buffer_prototype)
    assert meta[0][1] is not None
    await store._set_many(
        [("c/2", TestBuffer.from_bytes(b"y")), ("a/zarr.json", cpu.Buffer.from_bytes(b"{}"))]
    )
