"""Every store x every buffer prototype: ztesting's StoreTests and both state machines.

One test class is made per (store, prototype) pair, so the pair shows in every test id and
the conftest can tally results into the store x prototype table. A store with the blocking
methods (``get_sync``, ``set_sync``, ``delete_sync``) runs SyncStoreTests, which adds
their tests.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis.stateful import run_state_machine_as_test
from matrix_cases import PROTOTYPES, STORES, StoreCase

from zbuffer.core import Buffer, BufferPrototype
from zstore.core import Store, SupportsSyncStore
from ztesting.stateful import HierarchyStateMachine, ZarrStoreStateMachine
from ztesting.store import StoreTests
from ztesting.sync_store import SyncStoreTests

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


class _MatrixCase(StoreTests[Store, Buffer]):
    """StoreTests bound to one StoreCase and one prototype, plus the two state machines."""

    case: StoreCase
    prototype: BufferPrototype
    matrix_store: str
    matrix_prototype: str

    async def set(self, store: Store, key: str, value: Buffer) -> None:
        await self.case.raw_set(store, key, value)

    async def get(self, store: Store, key: str) -> Buffer:
        return self.buffer_cls.from_bytes(await self.case.raw_get(store, key))

    @pytest.fixture
    def store_kwargs(self, tmp_path: Path) -> dict[str, Any]:
        return self.case.kwargs(tmp_path)

    @pytest.fixture
    def buffer_prototype(self) -> BufferPrototype:
        return self.prototype

    def _fresh_stores(self, tmp_path: Path) -> Callable[[], Store]:
        """A factory of new stores, each in its own directory, for one hypothesis run."""
        counter = itertools.count()

        def make() -> Store:
            directory = tmp_path / f"example-{next(counter)}"
            directory.mkdir()
            return self.case.store_cls(**self.case.kwargs(directory))

        return make

    def test_zarr_store_state_machine(self, tmp_path: Path) -> None:
        make = self._fresh_stores(tmp_path)
        # hypothesis accepts any factory of machines; its annotation says only classes.
        run_state_machine_as_test(lambda: ZarrStoreStateMachine(make(), self.prototype))  # type: ignore[arg-type]

    def test_hierarchy_state_machine(self, tmp_path: Path) -> None:
        make = self._fresh_stores(tmp_path)
        run_state_machine_as_test(lambda: HierarchyStateMachine(make(), self.prototype))  # type: ignore[arg-type]


def _class_name(*parts: str) -> str:
    return "Test" + "".join(p.replace("-", " ").title().replace(" ", "") for p in parts)


for _case, (_proto_name, _prototype) in itertools.product(STORES, PROTOTYPES.items()):
    _name = _class_name(_case.name, _proto_name)
    _sync = issubclass(_case.store_cls, SupportsSyncStore)
    globals()[_name] = type(
        _name,
        (_MatrixCase, SyncStoreTests) if _sync else (_MatrixCase,),
        {
            "case": _case,
            "prototype": _prototype,
            "store_cls": _case.store_cls,
            "buffer_cls": _prototype.buffer,
            "matrix_store": _case.name,
            "matrix_prototype": _proto_name,
        },
    )
