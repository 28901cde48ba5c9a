"""Races: set_if_not_exists has exactly one winner; set and delete_dir never fail each other.

The interleavings of a write and a delete that once raised are replayed deterministically by
running the other side's file-system step at the exact point of the race (a wrapper around
one of ``_files``' steps, doing real work on the real directory); one short threaded run
then checks the whole paths together.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import threading
from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.local import TMP_PREFIX, LocalStore, _files

from .conftest import listing

if TYPE_CHECKING:
    from pathlib import Path

WRITERS = 6
SIZE = 1 << 20  # 1 MiB: big enough that the writes overlap in time
KEYS = ["k", "a/b/k"]


def _value(writer: int) -> bytes:
    return bytes([writer + 1]) * SIZE


def _race(root: str, writer: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    async def main() -> None:
        store = LocalStore(root)
        barrier.wait()
        for key in KEYS:
            await store.set_if_not_exists(key, Buffer.from_bytes(_value(writer)))

    asyncio.run(main())


# The fork happens while the store's pool threads idle; the child makes its own pool.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_set_if_not_exists_from_many_processes_has_one_winner(root: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=_race, args=(str(root), i, barrier)) for i in range(WRITERS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0, f"writer {proc.pid} failed with exit code {proc.exitcode}"

    async def check() -> None:
        store = LocalStore(root)
        for key in KEYS:
            value = await store.get(key, buffer_prototype)
            assert value is not None, f"{key!r}: nobody won"
            data = value.to_bytes()
            winners = [i for i in range(WRITERS) if data == _value(i)]
            assert len(winners) == 1, f"{key!r} holds no single writer's whole value"
        assert sorted([k async for k in store.list()]) == sorted(KEYS)

    asyncio.run(check())
    assert not [p for p in root.rglob(f"{TMP_PREFIX}*")], "temporary files left behind"


async def test_set_if_not_exists_from_many_coroutines_has_one_winner(root: Path) -> None:
    store = LocalStore(root)
    await asyncio.gather(
        *(store.set_if_not_exists("x", Buffer.from_bytes(_value(i))) for i in range(20))
    )
    value = await store.get("x", buffer_prototype)
    assert value is not None
    assert value.to_bytes() in {_value(i) for i in range(20)}
    assert [p.name for p in root.iterdir()] == ["x"]


# ---------------------------------------------------------------------- set vs delete_dir


async def test_set_retries_when_delete_dir_prunes_the_directory_it_just_made(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(root)
    real_open_dir = _files._open_dir
    pruned: list[str] = []

    def open_dir_after_a_prune(
        root_: str, real_root: str, directory: str, root_fd: int = -1
    ) -> int | None:
        # The writer has just made d/; a delete_dir("d") running now removes it.
        if directory == "d/" and not pruned:
            pruned.append(directory)
            os.rmdir(root / "d")
        return real_open_dir(root_, real_root, directory, root_fd)

    monkeypatch.setattr(_files, "_open_dir", open_dir_after_a_prune)
    await store.set("d/sub/k", Buffer.from_bytes(b"v"))
    assert pruned, "the race was not replayed"
    assert listing(root) == ["d/sub/k"], "the write did not land after the prune"


async def test_delete_dir_keeps_a_key_written_after_it_scanned_and_does_not_raise(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(root)
    await store._set_many([(f"d/sub/k{i}", Buffer.from_bytes(b"old")) for i in range(3)])
    await store.set("d/top", Buffer.from_bytes(b"old"))
    real_unlink_all = _files._unlink_all
    written: list[int] = []

    def unlink_all_then_a_write_lands(dir_fd: int, names: list[str]) -> None:
        real_unlink_all(dir_fd, names)
        if "k0" in names:
            # A concurrent set("d/sub/late") renames its file in after the scan.
            os.close(os.open("late", os.O_WRONLY | os.O_CREAT, dir_fd=dir_fd))
            written.append(dir_fd)

    monkeypatch.setattr(_files, "_unlink_all", unlink_all_then_a_write_lands)
    await store.delete_dir("d")  # 0.1.6: OSError ENOTEMPTY
    assert written, "the race was not replayed"
    assert listing(root) == ["d/sub/late"], "a key from before the delete_dir survived"
    assert [k async for k in store.list()] == ["d/sub/late"]
    await store.delete_dir("d")
    assert list(root.iterdir()) == []


async def test_delete_dir_goes_on_when_a_subdirectory_vanishes_under_it(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(root)
    await store._set_many([(f"d/{s}/k", Buffer.from_bytes(b"old")) for s in "ab"])
    await store.set("d/k", Buffer.from_bytes(b"old"))
    real_remove_tree_at = _files._remove_tree_at
    removed: list[str] = []

    def remove_tree_at_after_a_concurrent_delete(parent_fd: int, path: str) -> None:
        # A concurrent delete_dir("d/a") gets there first.
        if path == "a" and not removed:
            removed.append(path)
            shutil.rmtree(root / "d" / "a")
        real_remove_tree_at(parent_fd, path)

    monkeypatch.setattr(_files, "_remove_tree_at", remove_tree_at_after_a_concurrent_delete)
    await store.delete_dir("d")
    assert removed, "the race was not replayed"
    assert list(root.iterdir()) == [], "delete_dir stopped at the vanished directory"


# A set of a key whose directory a delete_dir has just emptied (or a concurrent delete has
# just pruned) removes that empty directory and puts its file there (an empty directory does
# not block its key). delete_dir, finding a file where it scanned a directory, leaves it:
# 0.1.7 before its release raised NotADirectoryError from the rmdir or the open. Checked for
# delete_dir of a prefix and for clear (the root's own walk).
PARENTS = pytest.mark.parametrize("parent", ["d/", ""], ids=["delete_dir", "clear"])


async def _delete_under(store: LocalStore, parent: str) -> None:
    if parent:
        await store.delete_dir(parent)
    else:
        await store.clear()


@PARENTS
async def test_delete_dir_leaves_a_key_written_over_a_directory_it_emptied(
    root: Path, monkeypatch: pytest.MonkeyPatch, parent: str
) -> None:
    store = LocalStore(root)
    old = Buffer.from_bytes(b"old")
    await store._set_many([(f"{parent}b/c", old), ("d/k", old)])
    real_unlink_all = _files._unlink_all
    written: list[str] = []

    def unlink_all_then_a_set_of_the_emptied_directory(dir_fd: int, names: list[str]) -> None:
        real_unlink_all(dir_fd, names)
        if names == ["c"] and not written:
            written.append(parent + "b")
            store.set_sync(parent + "b", Buffer.from_bytes(b"new"))  # before our rmdir of b

    monkeypatch.setattr(_files, "_unlink_all", unlink_all_then_a_set_of_the_emptied_directory)
    await _delete_under(store, parent)  # NotADirectoryError: [Errno 20] Not a directory: 'b'
    assert written, "the race was not replayed"
    assert listing(root) == [parent + "b"], "delete_dir took the newer key or left an older one"
    assert (root / parent / "b").read_bytes() == b"new"


@PARENTS
async def test_delete_dir_leaves_a_key_written_where_a_directory_was_pruned_after_its_scan(
    root: Path, monkeypatch: pytest.MonkeyPatch, parent: str
) -> None:
    store = LocalStore(root)
    old = Buffer.from_bytes(b"old")
    await store._set_many([(f"{parent}b/c", old), ("d/k", old)])
    real_remove_tree_at = _files._remove_tree_at
    written: list[str] = []

    def remove_tree_at_after_a_delete_and_a_set(parent_fd: int, name: str) -> None:
        # (basename: 0.1.7 before the fix passed clear's directories as absolute paths)
        if os.path.basename(name) == "b" and not written:
            # Between delete_dir's scan and its open of b: delete("b/c") prunes b, and
            # set("b") writes its file there.
            written.append(parent + "b")
            store.delete_sync(parent + "b/c")
            store.set_sync(parent + "b", Buffer.from_bytes(b"new"))
        real_remove_tree_at(parent_fd, name)

    monkeypatch.setattr(_files, "_remove_tree_at", remove_tree_at_after_a_delete_and_a_set)
    await _delete_under(store, parent)  # NotADirectoryError from the open of b
    assert written, "the race was not replayed"
    assert listing(root) == [parent + "b"], "delete_dir took the newer key or left an older one"
    assert (root / parent / "b").read_bytes() == b"new"


def test_set_and_delete_dir_racing_in_two_threads_never_fail(root: Path) -> None:
    # A smoke test of the whole paths (its interleavings vary from run to run): a writer
    # thread keeps writing under d/sub while this thread keeps deleting d.
    store = LocalStore(root)
    stop = threading.Event()
    errors: list[BaseException] = []

    async def write() -> None:
        i = 0
        while not stop.is_set():
            try:
                await store.set(f"d/sub/k{i % 20}", Buffer.from_bytes(b"x" * 10))
            except Exception as exc:
                errors.append(exc)
            i += 1

    async def delete() -> None:
        for _ in range(600):
            try:
                await store.delete_dir("d")
            except Exception as exc:
                errors.append(exc)

    writer = threading.Thread(target=asyncio.run, args=(write(),))
    writer.start()
    try:
        asyncio.run(delete())
    finally:
        stop.set()
        writer.join(30)
    assert not errors, f"{len(errors)} failures, the first: {errors[0]!r}"
    assert not [p for p in root.rglob(f"{TMP_PREFIX}*")], "temporary files left behind"
