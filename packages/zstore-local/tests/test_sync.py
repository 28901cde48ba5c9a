"""get_sync, set_sync and delete_sync agree with get, set and delete.

zarr-python's StoreTests (zarr/testing/store.py, 3.4.2) checks the sync methods and their
parity with the async ones; ztesting's does not yet, so their cases are here, on a key at
the root and on keys in directories (whose directories a write makes and a delete prunes).
Each case writes through one API and reads through the other: a sync method that skipped
what its async twin does would be caught.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.core import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zstore.local import LocalStore

from .conftest import listing

if TYPE_CHECKING:
    from pathlib import Path

    from zstore.core import ByteRequest

DATA = b"\x01\x02\x03\x04"
KEYS = pytest.mark.parametrize("key", ["k", "a/k", "a/b/c/k"])


def _bytes(value: object) -> bytes | None:
    return None if value is None else value.to_bytes()  # type: ignore[attr-defined]


@KEYS
def test_get_sync_reads_a_file_written_by_another_program(root: Path, key: str) -> None:
    (root / key).parent.mkdir(parents=True, exist_ok=True)
    (root / key).write_bytes(DATA)
    assert _bytes(LocalStore(root).get_sync(key)) == DATA


def test_get_sync_of_a_missing_key_is_none(root: Path) -> None:
    store = LocalStore(root)
    assert store.get_sync("missing") is None
    assert store.get_sync("a/missing") is None


@KEYS
def test_set_sync_writes_the_file(root: Path, key: str) -> None:
    LocalStore(root).set_sync(key, Buffer.from_bytes(DATA))
    assert (root / key).read_bytes() == DATA
    assert listing(root) == [key], "set_sync left something besides the key"


@KEYS
def test_delete_sync_removes_the_key_and_prunes(root: Path, key: str) -> None:
    store = LocalStore(root)
    store.set_sync(key, Buffer.from_bytes(DATA))
    store.delete_sync(key)
    assert store.get_sync(key) is None
    assert list(root.iterdir()) == [], "delete_sync left an empty directory"


def test_delete_sync_of_a_missing_key_is_a_no_op(root: Path) -> None:
    store = LocalStore(root)
    store.set_sync("a/k", Buffer.from_bytes(DATA))
    store.delete_sync("missing")
    store.delete_sync("a/missing")
    store.delete_sync("a")  # a directory is not a key
    assert listing(root) == ["a/k"]


@KEYS
async def test_set_then_get_sync(root: Path, key: str) -> None:
    store = LocalStore(root)
    await store.set(key, Buffer.from_bytes(DATA))
    assert _bytes(store.get_sync(key)) == DATA


@KEYS
async def test_set_sync_then_get(root: Path, key: str) -> None:
    store = LocalStore(root)
    store.set_sync(key, Buffer.from_bytes(DATA))
    assert _bytes(await store.get(key, buffer_prototype)) == DATA
    assert await store.exists(key)
    assert [k async for k in store.list()] == [key]


@KEYS
async def test_delete_sync_then_get(root: Path, key: str) -> None:
    store = LocalStore(root)
    await store.set(key, Buffer.from_bytes(DATA))
    store.delete_sync(key)
    assert await store.get(key, buffer_prototype) is None
    assert await store.is_empty("")


@KEYS
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
async def test_get_sync_reads_the_same_bytes_as_get(
    root: Path, key: str, byte_range: ByteRequest | None
) -> None:
    store = LocalStore(root)
    await store.set(key, Buffer.from_bytes(DATA))
    async_result = await store.get(key, buffer_prototype, byte_range=byte_range)
    assert _bytes(store.get_sync(key, byte_range=byte_range)) == _bytes(async_result)
