"""get_sync, set_sync and delete_sync on the file system: files written by other
programs, directories made and pruned.

Their contract, and their parity with get, set and delete, is checked by ztesting's
SyncStoreTests in test_conformance.py (zarr-python's sync tests, and more).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.core import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
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


def test_get_ranges_sync_reads_every_range_from_one_version_of_the_value(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rewrite (an atomic replace) lands between the reads of two groups. Every range of
    # one call must come from the same value: the file opened once. Store.get_ranges_sync
    # opened the key again for each group and mixed the old value with the new one.
    store = LocalStore(root)
    store.set_sync("k", Buffer.from_bytes(b"a" * 64))
    real_pread = os.pread
    rewritten = []

    def pread(fd: int, length: int, offset: int) -> bytes:
        data = real_pread(fd, length, offset)
        if not rewritten:
            rewritten.append(True)
            store.set_sync("k", Buffer.from_bytes(b"b" * 64))
        return data

    monkeypatch.setattr(os, "pread", pread)
    requests = [RangeByteRequest(0, 4), SuffixByteRequest(4), RangeByteRequest(40, 48)]
    got = store.get_ranges_sync("k", requests, prototype=buffer_prototype, max_gap_bytes=0)
    assert rewritten, "the test never rewrote the value"
    assert sorted(i for i, _ in got) == [0, 1, 2]
    values = {b.to_bytes() for _, b in got if b is not None}
    assert values in ({b"a" * 4, b"a" * 8}, {b"b" * 4, b"b" * 8}), values


def test_get_ranges_sync_answers_as_get_sync(root: Path) -> None:
    store = LocalStore(root)
    data = bytes(range(100))
    store.set_sync("k", Buffer.from_bytes(data))
    store.set_sync("empty", Buffer.from_bytes(b""))
    requests = [
        RangeByteRequest(0, 10),
        OffsetByteRequest(90),
        SuffixByteRequest(5),
        None,
        RangeByteRequest(5, 20),
        RangeByteRequest(200, 300),
        RangeByteRequest(95, 150),
        RangeByteRequest(10, 10),
        SuffixByteRequest(500),
    ]
    for key in ("k", "empty"):
        for options in ({}, {"max_gap_bytes": 0}, {"max_coalesced_bytes": 0}):
            got = dict(store.get_ranges_sync(key, requests, prototype=buffer_prototype, **options))
            assert sorted(got) == list(range(len(requests)))
            for i, request in enumerate(requests):
                assert _bytes(got[i]) == _bytes(store.get_sync(key, byte_range=request))
    # prototype=None is the default prototype, as for get_sync (and zarr-python).
    assert _bytes(store.get_ranges_sync("k", [None], prototype=None)[0][1]) == data  # type: ignore[arg-type]
    assert store.get_ranges_sync("missing", [], prototype=buffer_prototype) == []
    with pytest.raises(ExceptionGroup) as missing:
        store.get_ranges_sync("missing", [None], prototype=buffer_prototype)
    assert missing.group_contains(FileNotFoundError)
    (root / "d").mkdir()
    with pytest.raises(ExceptionGroup) as directory:
        store.get_ranges_sync("d", [None], prototype=buffer_prototype)
    assert directory.group_contains(FileNotFoundError)
    with pytest.raises(ExceptionGroup) as bad:
        store.get_ranges_sync("k", [None, "junk"], prototype=buffer_prototype)  # type: ignore[list-item]
    assert bad.group_contains(TypeError)
    with pytest.raises(ValueError, match="segment"):
        store.get_ranges_sync("../k", [None], prototype=buffer_prototype)
    with pytest.raises(TypeError, match="max_gap_bytes"):
        store.get_ranges_sync("k", [None], prototype=buffer_prototype, max_gap_bytes="1")  # type: ignore[arg-type]
