"""get_sync, set_sync and delete_sync on the file system: files written by other
programs, directories made and pruned.

Their contract, and their parity with get, set and delete, is checked by ztesting's
SyncStoreTests in test_conformance.py (zarr-python's sync tests, and more).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import Buffer
from zstore.local import LocalStore

from .conftest import listing

if TYPE_CHECKING:
    from pathlib import Path


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
