"""Overwrites, deletes, duplicates, modes, pickling and concurrency of ZipStore."""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import shutil
import stat
import subprocess
import sys
import threading
import time
import warnings
import zipfile
from typing import TYPE_CHECKING, Any, Literal

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.core import RangeByteRequest, SuffixByteRequest
from zstore.zip import ArchiveError, ZipStore
from zstore.zip import _store as zip_store_module
from zstore.zip._archive import ZipArchive

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def buf(data: bytes) -> Buffer:
    return Buffer.from_bytes(data)


async def read(store: ZipStore, key: str, byte_range: object = None) -> bytes | None:
    value = await store.get(key, buffer_prototype, byte_range)  # type: ignore[arg-type]
    return None if value is None else value.to_bytes()


async def keys(store: ZipStore) -> list[str]:
    return sorted([k async for k in store.list()])


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None, f"{path} has a corrupt member"
        return zf.namelist()


# ---------------------------------------------------------------- overwrites and duplicates


async def test_overwrite_reads_latest_value_and_lists_key_once(tmp_path: Path) -> None:
    store = await ZipStore.open(tmp_path / "x.zip", mode="w")
    for i in range(5):
        await store.set("a/0", buf(b"v%d" % i))
    assert await read(store, "a/0") == b"v4", "an overwritten key must read its latest value"
    assert await keys(store) == ["a/0"], "an overwritten key must be listed once"
    assert [n async for n in store.list_dir("a")] == ["0"]
    assert await store.getsize("a/0") == 2


async def test_archive_holds_each_key_once_after_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    store = await ZipStore.open(path, mode="w")
    for i in range(3):
        await store.set("k", buf(bytes([i]) * 1000))
        await store.set("other", buf(b"o"))
    store.close()
    assert sorted(names(path)) == ["k", "other"], "close() must compact duplicate entries"
    with zipfile.ZipFile(path) as zf:
        assert zf.read("k") == bytes([2]) * 1000
    assert path.stat().st_size < 2500, "dead copies must not stay in the file"


async def test_overwrite_in_append_mode_of_existing_member(archive: Path) -> None:
    store = await ZipStore.open(archive, mode="a")
    await store.set("a/c/0", buf(b"new"))
    assert await read(store, "a/c/0") == b"new"
    store.close()
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist().count("a/c/0") == 1
        assert zf.read("a/c/0") == b"new"
        assert zf.read("zarr.json") == b"{}", "untouched members must survive compaction"


async def test_archive_with_duplicate_names_reads_last_and_compacts(tmp_path: Path) -> None:
    path = tmp_path / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile's "Duplicate name"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("k", b"old")
            zf.writestr("k", b"new")
            zf.writestr("j", b"j")
    store = await ZipStore.open(path, mode="a")
    assert await read(store, "k") == b"new", "the last entry of a duplicated name wins"
    assert await keys(store) == ["j", "k"]
    await store.set("j", buf(b"J"))
    store.close()
    assert sorted(names(path)) == ["j", "k"]


async def test_keys_written_in_one_session_and_deleted_vanish_from_archive(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.zip"
    store = await ZipStore.open(path, mode="w")
    await store._set_many([("g/zarr.json", buf(b"{}")), ("g/c/0", buf(b"0")), ("h", buf(b"h"))])
    await store.delete("h")
    await store.delete_dir("g/c")
    assert await keys(store) == ["g/zarr.json"]
    store.close()
    assert names(path) == ["g/zarr.json"]


async def test_delete_of_existing_member_in_append_mode(archive: Path) -> None:
    store = await ZipStore.open(archive, mode="a")
    assert store.supports_deletes
    await store.delete("zarr.json")
    assert await read(store, "zarr.json") is None
    await store.delete_dir("a")
    assert await store.is_empty("")
    store.close()
    assert names(archive) == []


async def test_clear_empties_archive_at_once(archive: Path) -> None:
    store = await ZipStore.open(archive, mode="a")
    await store.clear()
    assert names(archive) == [], "clear() replaces the archive with an empty one"
    await store.set("k", buf(b"v"))
    store.close()
    assert names(archive) == ["k"]


@pytest.fixture
def slow_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every write job wait 0.1 s first (for stores made after this fixture): an
    operation that does not queue behind set() calls then runs before them."""
    real = zip_store_module._write_job

    def slow(calls: Any) -> Any:
        time.sleep(0.1)
        return real(calls)

    monkeypatch.setattr(zip_store_module, "_write_job", slow)


@pytest.mark.usefixtures("slow_writes")
async def test_clear_comes_after_the_sets_called_before_it(archive: Path) -> None:
    store = await ZipStore.open(archive, mode="a")
    await asyncio.gather(store.set("new", buf(b"v")), store.clear())  # no "closed" error
    assert await keys(store) == []
    await store.set("after", buf(b"w"))
    store.close()
    assert names(archive) == ["after"]


@pytest.mark.usefixtures("slow_writes")
async def test_move_comes_after_the_sets_called_before_it(archive: Path, tmp_path: Path) -> None:
    store = await ZipStore.open(archive, mode="a")
    target = tmp_path / "moved.zip"
    await asyncio.gather(store.set("new", buf(b"v")), store.move(target))
    assert await read(store, "new") == b"v"
    store.close()
    assert "new" in names(target)


async def test_clear_of_a_mode_x_store_refuses_an_existing_file(archive: Path) -> None:
    before = archive.read_bytes()
    store = ZipStore(archive, mode="x")
    with pytest.raises(FileExistsError, match="mode 'x'"):
        await store.clear()
    assert archive.read_bytes() == before


async def test_set_if_not_exists_is_atomic_under_concurrency(tmp_path: Path) -> None:
    store = await ZipStore.open(tmp_path / "x.zip", mode="w")
    await asyncio.gather(*(store.set_if_not_exists("k", buf(b"%d" % i)) for i in range(30)))
    value = await read(store, "k")
    assert value is not None
    store.close()
    assert names(tmp_path / "x.zip") == ["k"], "only one of the racing writers may write"


async def test_list_dir_and_getsize_prefix_use_directory_semantics(tmp_path: Path) -> None:
    store = await ZipStore.open(tmp_path / "x.zip", mode="w")
    await store._set_many(
        [("foo/a", buf(b"12")), ("foo/b/c", buf(b"345")), ("foo-bar/x", buf(b"6789"))]
    )
    assert sorted([n async for n in store.list_dir("foo")]) == ["a", "b"]
    assert await store.getsize_prefix("foo") == 5, "foo must not count foo-bar/"
    assert await store.getsize_prefix("") == 9
    await store.delete("foo/b/c")
    assert [n async for n in store.list_dir("foo")] == ["a"]
    assert await store.is_empty("foo/b")


# ---------------------------------------------------------------- modes


def test_mode_x_refuses_an_existing_file(archive: Path) -> None:
    before = archive.read_bytes()
    store = ZipStore(archive, mode="x")
    with pytest.raises(FileExistsError, match=str(archive)):
        asyncio.run(store._open())
    assert archive.read_bytes() == before, "mode 'x' must not touch an existing file"


async def test_mode_x_creates_and_later_reopens_with_append(tmp_path: Path) -> None:
    path = tmp_path / "new.zip"
    store = await ZipStore.open(path, mode="x")
    await store.set("k", buf(b"v"))
    store.close()
    await store.set("k2", buf(b"w"))  # reopens with 'a': the first key must survive
    store.close()
    assert sorted(names(path)) == ["k", "k2"]


async def test_mode_w_replaces_and_mode_r_needs_a_file(archive: Path, tmp_path: Path) -> None:
    store = await ZipStore.open(archive, mode="w")
    assert await keys(store) == []
    store.close()
    with pytest.raises(FileNotFoundError, match=r"missing\.zip"):
        await ZipStore.open(tmp_path / "missing.zip", mode="r")


async def test_read_only_write_raises_and_changes_nothing(archive: Path) -> None:
    before = archive.read_bytes()
    store = await ZipStore.open(archive, mode="r")
    for call in (
        store.set("k", buf(b"v")),
        store.delete("zarr.json"),
        store.delete_dir("a"),
        store.clear(),
        store.set_if_not_exists("k", buf(b"v")),
        store._set_many([("k", buf(b"v"))]),
    ):
        with pytest.raises(ValueError, match="read-only mode"):
            await call
    store.close()
    assert archive.read_bytes() == before


async def test_with_read_only_copies_are_unopened_stores_of_the_same_file(archive: Path) -> None:
    store = await ZipStore.open(archive, mode="r")
    writer = store.with_read_only(False)
    assert not writer._is_open
    assert writer == store
    await writer.set("k", buf(b"v"))
    writer.close()
    reader = store.with_read_only(True)
    assert await read(reader, "k") == b"v"


async def test_a_read_only_copy_never_creates_the_archive(tmp_path: Path) -> None:
    path = tmp_path / "missing.zip"
    store = ZipStore(path, mode="w")  # not opened yet: nothing on disk
    reader = store.with_read_only(True)
    with pytest.raises(FileNotFoundError, match=r"missing\.zip"):
        await reader.exists("k")
    assert not path.exists(), "a read-only store must not create the file"


async def test_move_publishes_and_moves(archive: Path, tmp_path: Path) -> None:
    store = await ZipStore.open(archive, mode="a")
    await store.set("k", buf(b"v"))
    target = tmp_path / "sub" / "moved.zip"
    await store.move(target)
    assert store.path == target
    assert not archive.exists()
    assert await read(store, "k") == b"v"
    assert "k" in names(target)


async def test_unclosed_store_publishes_when_collected(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    store = await ZipStore.open(path, mode="w")
    await store.set("k", buf(b"v"))
    del store
    gc.collect()
    assert names(path) == ["k"], "a dropped store publishes its writes, as zarr's does"


async def test_second_writer_cannot_overwrite_first_writers_archive(archive: Path) -> None:
    first = await ZipStore.open(archive, mode="a")
    second = await ZipStore.open(archive, mode="a")
    await first.set("first", buf(b"1"))
    await second.set("second", buf(b"2"))
    first.close()
    with pytest.raises(ArchiveError, match="changed by another writer"):
        second.close()
    assert "first" in names(archive), "the first writer's data must survive"
    assert not [p for p in archive.parent.iterdir() if p.name.endswith(".zstore-tmp")]


# ---------------------------------------------------------------- pickling


_CHILD = """
import asyncio, pickle, sys
from zbuffer.cpu import buffer_prototype
store = pickle.loads(sys.stdin.buffer.read())
async def main():
    value = await store.get("a/c/0", buffer_prototype)
    print(value.to_bytes().decode(), store.read_only, sorted([k async for k in store.list()]))
asyncio.run(main())
"""


def test_pickled_read_only_store_works_in_another_process(archive: Path) -> None:
    store = ZipStore(archive, mode="r")
    asyncio.run(store._open())
    out = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=pickle.dumps(store),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert out.split()[0] == "0123456789"
    assert "True" in out, "the copy must stay read-only"


async def test_pickled_writable_store_publishes_first(archive: Path) -> None:
    store = await ZipStore.open(archive, mode="a")
    await store.set("a/c/0", buf(b"fresh"))
    payload = pickle.dumps(store)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], input=payload, capture_output=True, check=True
    ).stdout.decode()
    assert out.split()[0] == "fresh", "the copy must see writes made before pickling"
    assert "False" in out
    assert await read(store, "a/c/0") == b"fresh"


@pytest.mark.parametrize("mode", ["w", "x"])
async def test_a_copy_of_an_unopened_creating_store_opens_with_append(
    tmp_path: Path, mode: Literal["w", "x"]
) -> None:
    path = tmp_path / "new.zip"
    store = ZipStore(path, mode=mode)
    copy = pickle.loads(pickle.dumps(store))
    await store.set("k", buf(b"v"))  # the original's first open creates the archive
    store.close()
    # Opening the copy with 'w' would truncate the archive; with 'x', refuse it.
    assert await read(copy, "k") == b"v"
    await copy.set("k2", buf(b"w"))
    copy.close()
    assert sorted(names(path)) == ["k", "k2"]


# ---------------------------------------------------------------- threads and the event loop


async def test_many_concurrent_range_reads_return_the_right_bytes(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    values = {f"c/{i}": os.urandom(4096 + i) for i in range(50)}
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in values.items():
            zf.writestr(k, v)
    store = await ZipStore.open(path, mode="r")
    requests = [(k, RangeByteRequest(i, i + 100)) for i in range(0, 4000, 97) for k in values]
    got = await asyncio.gather(*(read(store, k, r) for k, r in requests))
    for (k, r), g in zip(requests, got, strict=True):
        assert g == values[k][r.start : r.end], f"wrong bytes for {k} {r}"
    partial = await store.get_partial_values(
        buffer_prototype, [("c/3", SuffixByteRequest(10)), ("missing", None)]
    )
    assert partial[0] is not None
    assert partial[0].to_bytes() == values["c/3"][-10:]
    assert partial[1] is None


async def test_zip_io_runs_off_the_event_loop_thread(tmp_path: Path) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    real_pread = os.pread

    def spy(fd: int, n: int, offset: int) -> bytes:
        seen.append(threading.get_ident())
        return real_pread(fd, n, offset)

    store = await ZipStore.open(tmp_path / "x.zip", mode="w")
    await store.set("k", buf(b"value"))
    os.pread = spy
    try:
        assert await read(store, "k") == b"value"
    finally:
        os.pread = real_pread
    assert seen, "the read must go through pread"
    assert loop_thread not in seen, "zip reads must not run on the event-loop thread"


# ---------------------------------------------------------------- store resolution


def test_entry_point_resolves_zip_paths_only(tmp_path: Path) -> None:
    from importlib.metadata import entry_points

    (point,) = [e for e in entry_points(group="zstore.stores") if e.name == "zip"]
    resolve = point.load()
    store = resolve(tmp_path / "a.ZIP", mode="w-", read_only=False, storage_options=None)
    assert isinstance(store, ZipStore)
    assert store._mode == "x", "zarr's 'w-' means create exclusively"
    assert isinstance(resolve(str(tmp_path / "b.zip"), mode="r"), ZipStore)
    assert resolve(f"file://{tmp_path}/c.zip", mode="r+").path == tmp_path / "c.zip"
    # 'r+' reads and writes an archive that exists, and creates none.
    missing = resolve(tmp_path / "missing.zip", mode="r+")
    assert not missing.read_only
    with pytest.raises(FileNotFoundError, match=r"missing\.zip"):
        asyncio.run(missing._open())
    assert not (tmp_path / "missing.zip").exists()
    chained = f"simplecache::{tmp_path}/x.zip"  # fsspec's syntax: fsspec's to open
    for not_mine in (tmp_path / "dir", "s3://bucket/x.zip", chained, 42, b"x.zip"):
        assert resolve(not_mine, mode="r") is None, f"{not_mine!r} is not a local zip path"
    with pytest.raises(ValueError, match="storage_options"):
        resolve(tmp_path / "d.zip", mode="r", storage_options={"anon": True})
    with pytest.raises(ValueError, match="mode must be"):
        resolve(tmp_path / "d.zip", mode="rw")


async def test_mode_r_with_read_only_false_writes_to_an_existing_archive(archive: Path) -> None:
    store = await ZipStore.open(archive, mode="r", read_only=False)
    assert not store.read_only
    await store.set("k", buf(b"v"))
    store.close()
    assert sorted(names(archive)) == ["a/c/0", "a/c/1", "k", "zarr.json"]


async def test_store_reopens_after_close_and_sees_published_data(archive: Path) -> None:
    store = await ZipStore.open(archive, mode="a")
    await store.set("k", buf(b"v"))
    store.close()
    assert not store._is_open
    assert await read(store, "k") == b"v", "using a closed store reopens the archive"
    assert store._is_open


# ---------------------------------------------------------------- the file on disk


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, whatever the test runner's: new files are then 0o644."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def permissions(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("compacts", [False, True], ids=["appended", "compacted"])
async def test_publishing_keeps_the_archive_permissions(archive: Path, compacts: bool) -> None:
    archive.chmod(0o640)
    store = await ZipStore.open(archive, mode="a")
    await store.set("new", buf(b"v"))
    if compacts:
        await store.delete("a/c/1")
    store.close()
    assert permissions(archive) == 0o640
    assert "new" in names(archive)


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("mode", ["w", "x", "a"])
async def test_new_archives_get_the_permissions_zipfile_gives_them(
    tmp_path: Path, mode: Literal["w", "x", "a"]
) -> None:
    path = tmp_path / "new.zip"
    store = await ZipStore.open(path, mode=mode)
    await store.set("k", buf(b"v"))
    store.close()
    with zipfile.ZipFile(tmp_path / "by-zipfile.zip", "w") as zf:
        zf.writestr("k", b"v")
    assert permissions(path) == permissions(tmp_path / "by-zipfile.zip") == 0o644


@pytest.mark.usefixtures("umask_022")
async def test_mode_w_keeps_the_permissions_of_the_file_it_replaces(archive: Path) -> None:
    archive.chmod(0o640)
    store = await ZipStore.open(archive, mode="w")
    await store.set("k", buf(b"v"))
    store.close()
    assert permissions(archive) == 0o640, "as zipfile's 'w', which truncates the file"


async def test_an_archive_reached_by_a_symlink_is_replaced_where_it_is(
    archive: Path, tmp_path: Path
) -> None:
    links = tmp_path / "links"
    links.mkdir()
    link = links / "link.zip"
    link.symlink_to(archive)
    store = await ZipStore.open(link, mode="a")
    await store.set("new", buf(b"v"))
    await store.delete("a/c/1")
    store.close()
    assert link.is_symlink(), "the link must stay a link"
    assert link.resolve() == archive.resolve()
    assert sorted(names(archive)) == ["a/c/0", "new", "zarr.json"]
    assert os.listdir(links) == ["link.zip"], "no temporary file next to the link"
    assert sorted(os.listdir(archive.parent)) == ["data.zip", "links"]


@pytest.mark.parametrize("compacts", [False, True], ids=["appended", "compacted"])
async def test_the_archive_comment_is_kept(archive: Path, compacts: bool) -> None:
    with zipfile.ZipFile(archive, "a") as zf:
        zf.comment = b"made by a tool that signs its archives"
    store = await ZipStore.open(archive, mode="a")
    await store.set("new", buf(b"v"))
    if compacts:
        await store.delete("a/c/1")
    store.close()
    with zipfile.ZipFile(archive) as zf:
        assert zf.comment == b"made by a tool that signs its archives"


async def test_compaction_keeps_each_members_extra_field(archive: Path) -> None:
    # An extra field another tool wrote (here a Unix timestamp, id 0x5455) is copied with
    # its member; only a ZIP64 field is dropped, as the copy's header gets a fresh one.
    extra = b"UT\x05\x00\x01\x00\x00\x00\x60"
    with zipfile.ZipFile(archive, "a") as zf:
        info = zipfile.ZipInfo("stamped")
        info.extra = extra
        zf.writestr(info, b"v")
    store = await ZipStore.open(archive, mode="a")
    await store.delete("a/c/1")  # close() compacts
    store.close()
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo("stamped").extra == extra
        assert zf.read("stamped") == b"v"


async def test_a_failed_replace_leaves_the_archive_and_no_temporary_file(
    archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = archive.read_bytes()
    store = await ZipStore.open(archive, mode="a")
    await store.set("new", buf(b"v"))
    await store.delete("a/c/1")  # close() compacts into a second temporary file

    def refuse(src: object, dst: object) -> None:
        raise OSError(5, "Input/output error (simulated)")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="simulated"):
        store.close()
    monkeypatch.undo()
    assert archive.read_bytes() == before
    assert os.listdir(archive.parent) == ["data.zip"]


async def test_async_with_publishes_off_the_event_loop_thread(
    archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed_on: list[int] = []
    real_close = ZipArchive.close

    def spy(self: ZipArchive) -> None:
        closed_on.append(threading.get_ident())
        real_close(self)

    monkeypatch.setattr(ZipArchive, "close", spy)
    async with await ZipStore.open(archive, mode="a") as store:
        await store.set("new", buf(b"v"))
    assert closed_on, "leaving the block must close the store"
    assert threading.get_ident() not in closed_on, "publishing ran on the event loop"
    assert "new" in names(archive)


async def test_two_writers_publishing_at_once_take_turns(
    archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await ZipStore.open(archive, mode="a")
    second = await ZipStore.open(archive, mode="a")
    for store, key, doomed in ((first, "first", "a/c/1"), (second, "second", "a/c/0")):
        await store.set(key, buf(b"v"))
        await store.delete(doomed)  # both publish by compacting: slow, so a wide window
    outcome: list[str] = []

    def close_second() -> None:
        try:
            second.close()
            outcome.append("published")
        except ArchiveError as exc:
            outcome.append(str(exc))

    real_compact = ZipArchive._compact
    rival = threading.Thread(target=close_second)

    def compact_while_the_other_writer_closes(self: ZipArchive) -> Path:
        if not rival.is_alive() and not outcome:
            rival.start()
            rival.join(0.3)  # all the time it needs to publish, if nothing stops it
        return real_compact(self)

    monkeypatch.setattr(ZipArchive, "_compact", compact_while_the_other_writer_closes)
    first.close()
    rival.join()
    assert len(outcome) == 1
    assert "changed by another writer" in outcome[0], "the second writer overwrote the first"
    assert sorted(names(archive)) == ["a/c/0", "first", "zarr.json"]


async def test_listings_answer_while_a_write_holds_the_archive(
    archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first write copies the whole archive, holding it for as long as that takes:
    # listings run on the event-loop thread and must not wait for it.
    copying, release = threading.Event(), threading.Event()
    waits: list[bool] = []
    real_copy = shutil.copyfileobj

    def slow_copy(*args: Any, **kwargs: Any) -> None:
        copying.set()
        # Bounded, so that a listing stuck behind the copy fails the test, not hangs it.
        waits.append(release.wait(5))
        real_copy(*args, **kwargs)

    monkeypatch.setattr(shutil, "copyfileobj", slow_copy)
    store = await ZipStore.open(archive, mode="a")
    write = asyncio.create_task(store.set("new", buf(b"v")))
    assert await asyncio.to_thread(copying.wait, 5)
    listed = await keys(store)
    children = sorted([n async for n in store.list_dir("a/c")])
    size = await store.getsize_prefix("")
    empty = await store.is_empty("a")
    release.set()
    await write
    assert waits == [True], "a listing waited for the write's copy of the archive"
    assert listed == ["a/c/0", "a/c/1", "zarr.json"]
    assert children == ["0", "1"]
    assert (size, empty) == (15, False)
    assert await keys(store) == ["a/c/0", "a/c/1", "new", "zarr.json"]
    store.close()
