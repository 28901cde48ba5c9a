"""LocalStore against ztesting's StoreTests (with its sync methods: SyncStoreTests) and both
state machines, with no skips."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis.stateful import run_state_machine_as_test

from zbuffer.cpu import Buffer
from zstore.local import TMP_PREFIX, LocalStore
from ztesting.stateful import HierarchyStateMachine, ZarrStoreStateMachine
from ztesting.sync_store import SyncStoreTests

if TYPE_CHECKING:
    from pathlib import Path

    from zbuffer.core import Buffer as CoreBuffer


class TestLocalStore(SyncStoreTests[LocalStore, Buffer]):
    store_cls = LocalStore
    buffer_cls = Buffer

    # The raw helpers use plain file I/O at root/key, not the Store API, as the suite asks.
    async def set(self, store: LocalStore, key: str, value: CoreBuffer) -> None:
        path = store.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value.to_bytes())

    async def get(self, store: LocalStore, key: str) -> Buffer:
        path = store.root / key
        assert path.is_file(), f"{key!r} is not a file under {store.root}"
        return self.buffer_cls.from_bytes(path.read_bytes())

    @pytest.fixture
    def store_kwargs(self, tmp_path: Path) -> dict[str, Any]:
        # An existing root, as in zarr-python's suite: read-only opens never create one.
        root = tmp_path / "store"
        root.mkdir()
        return {"root": root, "read_only": False}

    def test_store_repr(self, store: LocalStore) -> None:
        assert str(store) == f"file://{store.root.as_posix()}"
        assert repr(store) == f"LocalStore('file://{store.root.as_posix()}')"

    def test_store_supports_writes(self, store: LocalStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: LocalStore) -> None:
        assert store.supports_listing

    def test_store_supports_deletes(self, store: LocalStore) -> None:
        assert store.supports_deletes


def test_zarr_store_state_machine(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state")
    run_state_machine_as_test(lambda: ZarrStoreStateMachine(store))  # type: ignore[arg-type]
    assert_no_debris(store.root)


def test_hierarchy_state_machine(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "hierarchy")
    run_state_machine_as_test(lambda: HierarchyStateMachine(store))  # type: ignore[arg-type]
    assert_no_debris(store.root)


def assert_no_debris(root: Path) -> None:
    """After the machines' deletes and clears: no empty directory and no temporary file."""
    for path, dirs, files in os.walk(root):
        if path != str(root):
            assert dirs or files, f"empty directory {path} left behind"
        temps = [name for name in files if name.startswith(TMP_PREFIX)]
        assert not temps, f"temporary files {temps} left in {path}"
