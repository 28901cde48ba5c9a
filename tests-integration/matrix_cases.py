"""The two axes of the integration matrix: stores, and buffer prototypes.

A store joins the matrix with one :class:`StoreCase`: how to make its constructor
arguments in a fresh directory, and how to read and write its backend directly (the raw
``set``/``get`` that ``ztesting.StoreTests`` checks the store's own methods against).
A prototype joins with one entry in :data:`PROTOTYPES`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zbuffer.core import Buffer, BufferPrototype
from zbuffer.cpu import buffer_prototype as cpu_prototype
from zstore.core import MemoryStore, Store
from zstore.local import LocalStore
from zstore.zip import ZipStore
from ztesting.buffer import test_buffer_prototype
from ztesting.device import simulated_device_prototype

RawSet = Callable[[Any, str, Buffer], Awaitable[None]]
RawGet = Callable[[Any, str], Awaitable[bytes]]


@dataclass(frozen=True)
class StoreCase:
    """One store of the matrix and the direct access to its backend."""

    name: str
    store_cls: type[Store]
    kwargs: Callable[[Path], dict[str, Any]]
    raw_set: RawSet
    raw_get: RawGet


async def _memory_set(store: MemoryStore, key: str, value: Buffer) -> None:
    store._store_dict[key] = value


async def _memory_get(store: MemoryStore, key: str) -> bytes:
    return store._store_dict[key].to_bytes()


def _local_root(tmp: Path) -> dict[str, Any]:
    # A read-only LocalStore never creates its root, so the suite's read-only opens need it.
    root = tmp / "root"
    root.mkdir()
    return {"root": root}


async def _local_set(store: LocalStore, key: str, value: Buffer) -> None:
    path = Path(store.root, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(value.to_bytes())


async def _local_get(store: LocalStore, key: str) -> bytes:
    return Path(store.root, key).read_bytes()


async def _zip_set(store: ZipStore, key: str, value: Buffer) -> None:
    store._archive_sync().write(key, value.as_buffer_like())


async def _zip_get(store: ZipStore, key: str) -> bytes:
    data = store._archive_sync().read(key)
    assert data is not None, f"{key!r} is not in {store.path}"
    return bytes(data)


STORES = [
    StoreCase("memory", MemoryStore, lambda tmp: {"store_dict": {}}, _memory_set, _memory_get),
    StoreCase("local", LocalStore, _local_root, _local_set, _local_get),
    StoreCase(
        "zip",
        ZipStore,
        lambda tmp: {"path": tmp / "store.zip", "mode": "w", "compression": zipfile.ZIP_STORED},
        _zip_set,
        _zip_get,
    ),
    StoreCase(
        "zip-deflated",
        ZipStore,
        lambda tmp: {"path": tmp / "store.zip", "mode": "w", "compression": zipfile.ZIP_DEFLATED},
        _zip_set,
        _zip_get,
    ),
]

PROTOTYPES: dict[str, BufferPrototype] = {
    "cpu": cpu_prototype,
    "test-buffer": test_buffer_prototype,
    # Device memory simulated on the CPU (no implicit host conversion, as CuPy): the GPU
    # logic of every store, exercised on machines without a GPU.
    "simulated-device": simulated_device_prototype,
}
