"""ZipStore against ztesting's StoreTests and both state machines."""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis.stateful import run_state_machine_as_test

from zbuffer.cpu import Buffer
from zstore.zip import ZipStore
from ztesting.stateful import HierarchyStateMachine, ZarrStoreStateMachine
from ztesting.store import StoreTests

if TYPE_CHECKING:
    from pathlib import Path

    from zbuffer.core import Buffer as AnyBuffer


class TestZipStore(StoreTests[ZipStore, Buffer]):
    store_cls = ZipStore
    buffer_cls = Buffer

    # The raw helpers go through the archive layer, not the Store API, as the suite asks.
    async def set(self, store: ZipStore, key: str, value: AnyBuffer) -> None:
        store._archive_sync().write(key, value.as_buffer_like())

    async def get(self, store: ZipStore, key: str) -> Buffer:
        data = store._archive_sync().read(key)
        assert data is not None, f"{key!r} is not in {store.path}"
        return self.buffer_cls.from_bytes(data)

    @pytest.fixture
    def store_kwargs(self, tmp_path: Path) -> dict[str, Any]:
        return {"path": tmp_path / "zarr.zip", "mode": "w", "read_only": False}

    def test_store_repr(self, store: ZipStore) -> None:
        assert repr(store) == f"ZipStore('zip://{store.path}')"

    def test_store_supports_writes(self, store: ZipStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: ZipStore) -> None:
        assert store.supports_listing

    def test_store_supports_deletes(self, store: ZipStore) -> None:
        assert store.supports_deletes


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_zarr_store_state_machine(tmp_path: Path, compression: int) -> None:
    counter = iter(range(10**9))

    def machine() -> ZarrStoreStateMachine:
        path = tmp_path / f"state-{next(counter)}.zip"
        return ZarrStoreStateMachine(ZipStore(path, mode="w", compression=compression))

    run_state_machine_as_test(machine)  # type: ignore[arg-type]


def test_hierarchy_state_machine(tmp_path: Path) -> None:
    counter = iter(range(10**9))

    def machine() -> HierarchyStateMachine:
        return HierarchyStateMachine(ZipStore(tmp_path / f"h-{next(counter)}.zip", mode="w"))

    run_state_machine_as_test(machine)  # type: ignore[arg-type]
