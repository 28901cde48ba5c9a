"""LocalStore's own rules: temporary files, symlinks, pruning, modes, pickling, batching."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import shutil
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.core import ByteRequest, OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zstore.local import TMP_PREFIX, LocalStore, _files, resolve
from zstore.local._store import _read_shared_groups, _SharedOpen

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from pathlib import Path

from .conftest import listing


def buf(data: bytes) -> Buffer:
    return Buffer.from_bytes(data)


async def keys_of(it: object) -> list[str]:
    return sorted([k async for k in it])  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- temporary files


async def test_stale_temporary_files_are_invisible_and_cleaned(root: Path) -> None:
    store = LocalStore(root)
    await store.set("a/b/k", buf(b"1234"))
    (root / "a" / "b" / f"{TMP_PREFIX}deadbeef").write_bytes(b"partial" * 10)
    (root / "lonely").mkdir()
    (root / "lonely" / f"{TMP_PREFIX}cafe").write_bytes(b"partial")
    assert await keys_of(store.list()) == ["a/b/k"]
    assert await keys_of(store.list_prefix("")) == ["a/b/k"]
    assert await keys_of(store.list_dir("")) == ["a"], "a dir of only temp files was listed"
    assert await keys_of(store.list_dir("a/b")) == ["k"]
    assert await store.getsize_prefix("") == 4
    assert await store.is_empty("lonely")
    await store.delete_dir("a")
    assert not (root / "a").exists(), "delete_dir left the stale temp file (and dir)"
    await store.delete_dir("lonely")
    assert list(root.iterdir()) == []


async def test_writes_leave_no_temporary_files(root: Path) -> None:
    store = LocalStore(root, fsync=True)
    await asyncio.gather(*(store.set(f"d/{i % 3}", buf(bytes([i]) * 1000)) for i in range(30)))
    await store.set_if_not_exists("d/0", buf(b"loser"))
    assert listing(root) == ["d/0", "d/1", "d/2"]


# ---------------------------------------------------------------------- directories


async def test_delete_removes_emptied_directories(root: Path) -> None:
    store = LocalStore(root)
    await store.set("a/b/c/k", buf(b"x"))
    await store.set("a/other", buf(b"y"))
    await store.delete("a/b/c/k")
    assert sorted(p.name for p in (root / "a").iterdir()) == ["other"]
    await store.delete("a/other")
    assert list(root.iterdir()) == [], "the root itself must stay, its children must go"
    assert root.is_dir()


async def test_delete_dir_removes_emptied_parents_and_matches_memory(root: Path) -> None:
    store = LocalStore(root)
    await store._set_many(
        [("g/a/zarr.json", buf(b"{}")), ("g/a/c/0", buf(b"0")), ("g-x", buf(b""))]
    )
    await store.delete_dir("g/a")
    assert await keys_of(store.list_dir("")) == ["g-x"]
    assert await store.is_empty("g")
    assert not (root / "g").exists()


async def test_delete_dir_of_a_key_leaves_the_key(root: Path) -> None:
    store = LocalStore(root)
    await store.set("foo", buf(b"kept"))
    await store.delete_dir("foo")
    assert (root / "foo").read_bytes() == b"kept"
    # A link to a file is a key too, and not under 'alias/': neither it nor its target goes.
    (root / "alias").symlink_to("foo")
    await store.delete_dir("alias")
    assert (root / "alias").is_symlink()
    assert await keys_of(store.list()) == ["alias", "foo"]
    assert (root / "foo").read_bytes() == b"kept"


async def test_empty_directories_made_by_others_are_not_listed(root: Path) -> None:
    (root / "empty" / "deeper").mkdir(parents=True)
    store = LocalStore(root)
    assert await keys_of(store.list_dir("")) == []
    assert await store.is_empty("")


# ---------------------------------------------------------------------- symlinks


async def test_links_inside_the_root_are_followed(root: Path) -> None:
    store = LocalStore(root)
    await store.set("real/k", buf(b"data"))
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    (root / "kalias").symlink_to(root / "real" / "k")
    (root / "rel").symlink_to("real", target_is_directory=True)  # relative: kernel fast path
    rel = await store.get("rel/k", buffer_prototype)
    assert rel is not None
    assert rel.to_bytes() == b"data"
    got = await store.get("alias/k", buffer_prototype)
    assert got is not None
    assert got.to_bytes() == b"data"
    assert await keys_of(store.list()) == ["alias/k", "kalias", "real/k", "rel/k"]
    (root / "real" / "loop").symlink_to(root, target_is_directory=True)
    assert await keys_of(store.list()) == ["alias/k", "kalias", "real/k", "rel/k"], "cycle"


async def test_links_leading_outside_the_root_are_refused(tmp_path: Path, root: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (root / "esc").symlink_to(outside, target_is_directory=True)
    (root / "fesc").symlink_to(outside / "secret")
    (root / "relesc").symlink_to("../outside/secret")  # relative escape
    store = LocalStore(root)
    for key in ["esc/secret", "fesc", "relesc"]:
        with pytest.raises(ValueError, match="outside the store root"):
            await store.get(key, buffer_prototype)
        with pytest.raises(ValueError, match="outside the store root"):
            await store.getsize(key)
    with pytest.raises(ValueError, match="outside the store root"):
        await store.set("esc/new", buf(b"x"))
    with pytest.raises(ValueError, match="outside the store root"):
        await store.set_if_not_exists("esc/new", buf(b"x"))
    (root / "reldir").symlink_to("../outside", target_is_directory=True)
    with pytest.raises(ValueError, match="outside the store root"):
        await store._set_many([("reldir/new", buf(b"x"))])
    with pytest.raises(ValueError, match="outside the store root"):
        await store.set("esc/newdir/deeper/k", buf(b"x"))  # no directory made outside
    with pytest.raises(ValueError, match="outside the store root"):
        await store._set_many([("reldir/newdir/k", buf(b"x"))])
    (root / "reldir").unlink()
    assert sorted(p.name for p in outside.iterdir()) == ["secret"], "a file was written outside"
    assert await keys_of(store.list()) == []
    assert await store.getsize_prefix("") == 0
    await store.delete_dir("esc")  # removes the link, never the target
    assert (outside / "secret").read_bytes() == b"secret"
    assert not (root / "esc").exists()


async def test_a_sibling_whose_name_starts_with_the_roots_is_outside(tmp_path: Path) -> None:
    # "/x/root-other" starts with "/x/root" as a string; it is still outside "/x/root".
    # Absolute links: the kernel will not follow them beneath the root, so the store's own
    # check of the opened file decides.
    root = tmp_path / "root"
    root.mkdir()
    sibling = tmp_path / "root-other"
    sibling.mkdir()
    (sibling / "secret").write_bytes(b"secret")
    (root / "fesc").symlink_to(sibling / "secret")
    (root / "desc").symlink_to(sibling, target_is_directory=True)
    store = LocalStore(root)
    for key in ["fesc", "desc/secret"]:
        with pytest.raises(ValueError, match="outside the store root"):
            await store.get(key, buffer_prototype)
    with pytest.raises(ValueError, match="outside the store root"):
        await store.set("desc/new", buf(b"x"))
    assert await keys_of(store.list()) == []
    assert await keys_of(store.list_dir("desc")) == []
    assert await store.getsize_prefix("") == 0
    await store.delete_dir("desc/sub")
    assert sorted(p.name for p in sibling.iterdir()) == ["secret"]
    assert (sibling / "secret").read_bytes() == b"secret"


async def test_a_link_to_a_file_counts_its_targets_size(root: Path) -> None:
    store = LocalStore(root)
    await store.set("d/target", buf(b"x" * 1000))
    (root / "d" / "alias").symlink_to("target")
    assert await keys_of(store.list()) == ["d/alias", "d/target"]
    assert await store.getsize("d/alias") == 1000
    assert await store.getsize_prefix("d") == 2000  # not 1000 + the link's own size
    assert await store.getsize_prefix("") == 2000


# ---------------------------------------------------------------------- API surface


async def test_open_modes_and_read_only(tmp_path: Path) -> None:
    store = await LocalStore.open(tmp_path / "new", mode="w")
    await store.set("k", buf(b"v"))
    writer = await LocalStore.open(tmp_path / "new", mode="r+")
    assert not writer.read_only
    reader = await LocalStore.open(tmp_path / "new", mode="r", read_only=True)
    assert reader.read_only
    assert reader == writer


# The fork happens while the store's pool threads idle; the child makes its own pool.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
async def test_pickle_round_trip_works_in_another_process(root: Path) -> None:
    store = LocalStore(root, fsync=True)
    await store.set("k", buf(b"parent"))
    clone = pickle.loads(pickle.dumps(store))
    assert clone == store
    assert clone.fsync
    assert not clone._is_open

    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_child_write, args=(pickle.dumps(store),))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    got = await store.get("k", buffer_prototype)
    assert got is not None
    assert got.to_bytes() == b"child"


def _child_write(data: bytes) -> None:
    store = pickle.loads(data)
    asyncio.run(store.set("k", buf(b"child")))


@pytest.mark.parametrize("mode", ["r", "r+"])
async def test_a_pickled_store_keeps_the_rule_never_to_create_its_root(
    root: Path, mode: str
) -> None:
    store = await LocalStore.open(root, mode=mode, read_only=mode == "r")  # type: ignore[arg-type]
    clone = pickle.loads(pickle.dumps(store))
    shutil.rmtree(root)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        await clone.exists("k")  # 0.1.6: the r+ clone made the root again
    assert not root.exists()


async def test_move(tmp_path: Path, root: Path) -> None:
    store = LocalStore(root)
    await store.set("a/k", buf(b"v"))
    await store.move(tmp_path / "moved" / "here")
    assert store.root == tmp_path / "moved" / "here"
    assert not root.exists()
    got = await store.get("a/k", buffer_prototype)
    assert got is not None
    assert got.to_bytes() == b"v"
    other = LocalStore(tmp_path / "other")
    await other.set("x", buf(b"x"))
    with pytest.raises(FileExistsError):
        await LocalStore(store.root).move(tmp_path / "other")


def test_root_is_absolute_and_equality_ignores_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert LocalStore("rel").root == tmp_path / "rel"
    assert LocalStore("rel") == LocalStore(tmp_path / "rel")
    assert LocalStore("rel") != LocalStore("other")
    assert str(LocalStore(tmp_path)) == f"file://{tmp_path.as_posix()}"


def test_set_sync_flushes_when_asked(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flushed: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        flushed.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    LocalStore(root, fsync=True).set_sync("a/k", buf(b"v"))
    assert len(flushed) == 2, "set_sync must flush the file and its directory"  # 0.1.6: 0
    flushed.clear()
    LocalStore(root).set_sync("a/k", buf(b"w"))
    assert flushed == []
    assert (root / "a" / "k").read_bytes() == b"w"


def test_deletes_flush_the_directory_when_asked(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        flushed.append(fd)
        real_fsync(fd)

    writer = LocalStore(root, fsync=True)
    writer.set_sync("a/k", buf(b"v"))
    writer.set_sync("a/keep", buf(b"v"))
    monkeypatch.setattr(os, "fsync", counting_fsync)
    writer.delete_sync("a/k")
    assert len(flushed) == 1, "delete_sync must flush the directory it removed the key from"
    flushed.clear()
    asyncio.run(writer.delete("a/keep"))
    assert len(flushed) == 1, "delete must flush the directory it removed the key from"
    flushed.clear()
    # A store made by with_read_only keeps the setting.
    assert writer.with_read_only(True).fsync
    again = writer.with_read_only(False)
    assert again.fsync
    again.set_sync("b", buf(b"v"))
    assert len(flushed) == 2
    flushed.clear()
    plain = LocalStore(root)
    plain.delete_sync("b")
    assert not plain.with_read_only(False).fsync
    assert flushed == []
    assert listing(root) == []


# 0.1.6's set_sync passed fsync=False where the root descriptor goes: it opened the key's
# directory beneath descriptor 0. A process whose descriptor 0 is a directory (stdin closed,
# as in a daemon, and the number reused) wrote the key there. A child process, so that this
# process's descriptor 0 is never touched.
_SET_SYNC_CHILD = """
import os, sys
from zbuffer.cpu import Buffer
from zstore.local import LocalStore
other = os.open(sys.argv[2], os.O_RDONLY | os.O_DIRECTORY)
os.dup2(other, 0)
LocalStore(sys.argv[1]).set_sync("sub/key", Buffer.from_bytes(b"data"))
"""


def test_set_sync_writes_beneath_its_root_whatever_descriptor_0_is(
    tmp_path: Path, root: Path
) -> None:
    other = tmp_path / "other"
    (other / "sub").mkdir(parents=True)
    (root / "sub").mkdir()
    subprocess.run(
        [sys.executable, "-c", _SET_SYNC_CHILD, str(root), str(other)],
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert listing(root) == ["sub/key"]
    assert listing(other) == [], "set_sync wrote into the directory at descriptor 0"


async def _pairs(batches: AsyncIterator[Sequence[tuple[int, Any]]]) -> list[Any]:
    """Flatten get_ranges batches into (index, buffer) pairs."""
    return [pair async for batch in batches for pair in batch]


async def test_get_ranges_reads_one_file_once(root: Path) -> None:
    store = LocalStore(root)
    data = bytes(range(256)) * 16
    await store.set("shard", buf(data))
    requests: list[ByteRequest | None] = [
        RangeByteRequest(0, 10),
        RangeByteRequest(5, 20),
        OffsetByteRequest(4000),
        SuffixByteRequest(7),
        None,
        RangeByteRequest(3000, 9000),
    ]
    got = dict(await _pairs(store.get_ranges("shard", requests, prototype=buffer_prototype)))
    expected = [data[0:10], data[5:20], data[4000:], data[-7:], data, data[3000:]]
    assert [got[i].to_bytes() for i in range(len(requests))] == expected
    with pytest.raises(ExceptionGroup) as info:
        await _pairs(store.get_ranges("nope", requests, prototype=buffer_prototype))
    assert info.group_contains(FileNotFoundError, match="no such key"), info.value.exceptions
    # A directory is not a key: the same as a missing key, not an error reading it.
    await store.set("dir/inner", buf(b"x"))
    with pytest.raises(ExceptionGroup) as info:
        await _pairs(store.get_ranges("dir", requests, prototype=buffer_prototype))
    assert info.group_contains(FileNotFoundError, match="no such key"), info.value.exceptions


async def test_get_ranges_many_dense_ranges_in_index_order(root: Path) -> None:
    store = LocalStore(root)
    data = bytes(range(256)) * 64  # 16 KiB
    await store.set("shard", buf(data))
    # Unsorted, overlapping, some past the end: several merged groups and single reads.
    starts = [(i * 7919) % 17000 for i in range(300)]
    requests: list[ByteRequest | None] = [RangeByteRequest(s, s + 100) for s in starts]
    pairs = sorted(
        await _pairs(
            store.get_ranges(
                "shard", requests, prototype=buffer_prototype, max_coalesced_bytes=4096
            )
        ),
        key=lambda pair: pair[0],
    )
    assert [i for i, _ in pairs] == list(range(len(requests)))
    assert [b.to_bytes() for _, b in pairs] == [data[s : s + 100] for s in starts]
    # zarr-python's rule applied as written (zstore-core 0.1.5): a negative gap merges only
    # ranges that overlap by more than it; the answers stay the same.
    pairs = sorted(
        await _pairs(
            store.get_ranges("shard", requests, prototype=buffer_prototype, max_gap_bytes=-1)
        ),
        key=lambda pair: pair[0],
    )
    assert [b.to_bytes() for _, b in pairs] == [data[s : s + 100] for s in starts]
    with pytest.raises(ValueError, match="max_concurrency"):
        await _pairs(
            store.get_ranges("shard", requests, prototype=buffer_prototype, max_concurrency=0)
        )


async def test_get_ranges_refuses_a_link_out_of_the_root(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    store_root = root / "store"
    store_root.mkdir()
    (store_root / "esc").symlink_to(outside)
    store = LocalStore(store_root)
    with pytest.raises(ExceptionGroup) as info:
        await _pairs(
            store.get_ranges("esc/secret", [RangeByteRequest(0, 3)], prototype=buffer_prototype)
        )
    assert info.group_contains(ValueError, match="outside the store root"), info.value.exceptions


async def test_get_ranges_reads_every_range_through_one_open(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each job opened the key itself, so a value replaced (an atomic rename) between two
    # jobs' opens came back mixed: some ranges of the old value, some of the new.
    store = LocalStore(root)
    await store.set("k", buf(b"a" * 4096))
    real_open = _files.open_for_read
    opens: list[str] = []
    rewritten = threading.Event()

    def open_for_read(root: str, real_root: str, key: str, root_fd: int = -1) -> Any:
        opens.append(key)
        if len(opens) > 1:
            rewritten.wait(10)  # any later open sees the new value
        return real_open(root, real_root, key, root_fd)

    real_pread = os.pread

    def pread(fd: int, length: int, offset: int) -> bytes:
        data = real_pread(fd, length, offset)
        if not rewritten.is_set():
            store.set_sync("k", buf(b"b" * 4096))
            rewritten.set()
        return data

    monkeypatch.setattr(_files, "open_for_read", open_for_read)
    monkeypatch.setattr(os, "pread", pread)
    requests: list[ByteRequest | None] = [RangeByteRequest(i * 512, i * 512 + 8) for i in range(8)]
    got = await _pairs(store.get_ranges("k", requests, prototype=buffer_prototype, max_gap_bytes=0))
    assert rewritten.is_set(), "the test never rewrote the value"
    assert sorted(i for i, _ in got) == list(range(8))
    assert opens == ["k"]
    assert {b.to_bytes() for _, b in got} == {b"a" * 8}
    assert await store.get("k", buffer_prototype) == buf(b"b" * 4096)


def _open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc/self/fd (Linux)"
)
async def test_a_cancelled_get_ranges_closes_its_descriptor_after_the_last_read(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(root)
    data = bytes(range(256)) * 16
    await store.set("k", buf(data))
    await store.get("k", buffer_prototype)  # the store's own descriptors, opened first
    reading, release = threading.Event(), threading.Event()
    descriptors: list[int] = []
    real_pread = os.pread

    def pread(fd: int, length: int, offset: int) -> bytes:
        descriptors.append(fd)
        reading.set()
        release.wait(10)
        return real_pread(fd, length, offset)

    before = _open_descriptors()
    monkeypatch.setattr(os, "pread", pread)
    requests: list[ByteRequest | None] = [RangeByteRequest(0, 8), RangeByteRequest(2048, 2056)]
    task = asyncio.ensure_future(
        _pairs(store.get_ranges("k", requests, prototype=buffer_prototype, max_gap_bytes=0))
    )
    try:
        assert await asyncio.to_thread(reading.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The call is over but a job is still reading: closing now would let another open
        # reuse the number under that read.
        fd = descriptors[0]
        os.fstat(fd)  # still open
        assert str(fd) in _open_descriptors()
    finally:
        release.set()
    for _ in range(500):
        if _open_descriptors() == before:
            break
        await asyncio.sleep(0.01)
    assert _open_descriptors() == before, "the descriptor leaked"
    assert set(descriptors) == {descriptors[0]}, "the jobs read through several descriptors"


def test_a_job_that_starts_after_the_call_ended_opens_nothing(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(root)
    store.set_sync("k", buf(b"abc"))
    opens: list[str] = []
    real_open = _files.open_for_read

    def open_for_read(root: str, real_root: str, key: str, root_fd: int = -1) -> Any:
        opens.append(key)
        return real_open(root, real_root, key, root_fd)

    monkeypatch.setattr(_files, "open_for_read", open_for_read)
    ended = _SharedOpen(str(root), os.path.realpath(root), "k", -1)
    ended.end()
    assert _read_shared_groups(ended, buffer_prototype, [None], [[0]]) is None
    assert opens == []
    live = _SharedOpen(str(root), os.path.realpath(root), "k", -1)
    requests: list[ByteRequest | None] = [None, RangeByteRequest(1, 2)]
    batches = _read_shared_groups(live, buffer_prototype, requests, [[0], [1]])
    assert batches is not None
    assert [[(i, b.to_bytes()) for i, b in batch] for batch in batches] == [
        [(0, b"abc")],
        [(1, b"b")],
    ]
    live.end()
    assert opens == ["k"]


async def test_gathered_gets_fail_one_by_one(root: Path) -> None:
    store = LocalStore(root)
    await store._set_many([(f"k{i}", buf(bytes([i]))) for i in range(50)])
    (root / "esc").symlink_to("/")
    results = await asyncio.gather(
        *(store.get(f"k{i}", buffer_prototype) for i in range(50)),
        store.get("esc/etc/hostname", buffer_prototype),
        store.get("missing", buffer_prototype),
        return_exceptions=True,
    )
    assert [r.to_bytes() for r in results[:50]] == [bytes([i]) for i in range(50)]  # type: ignore[union-attr]
    assert isinstance(results[50], ValueError)
    assert results[51] is None


async def test_first_gather_on_a_fresh_store_opens_it_once(root: Path) -> None:
    # Every get of the gather finds the store unopened; the root is checked (and its
    # descriptor opened) by one of them only, and every get still reads its value.
    await LocalStore(root)._set_many([(f"k{i}", buf(bytes([i]))) for i in range(200)])
    store = LocalStore(root, read_only=True)
    got = await asyncio.gather(*(store.get(f"k{i}", buffer_prototype) for i in range(200)))
    assert [g.to_bytes() for g in got] == [bytes([i]) for i in range(200)]  # type: ignore[union-attr]
    assert store._is_open
    assert len(store._fds) == 1
    writer = LocalStore(root)
    await asyncio.gather(*(writer.set(f"w{i}", buf(b"w")) for i in range(50)))
    assert len(writer._fds) == 1
    assert (root / "w49").read_bytes() == b"w"


async def test_first_gather_on_a_missing_root_fails_every_get(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "missing", read_only=True)
    results = await asyncio.gather(
        *(store.get(f"k{i}", buffer_prototype) for i in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, FileNotFoundError) for r in results)
    assert "missing" in str(results[0])
    assert not (tmp_path / "missing").exists()
    for call in (
        store.exists("k"),
        store.getsize_prefix("a"),
        store.is_empty(""),
        keys_of(store.list_dir("")),
        _pairs(store.get_ranges("k", [None], prototype=buffer_prototype)),
    ):
        with pytest.raises(FileNotFoundError, match="missing"):
            await call
    (tmp_path / "missing").mkdir()
    assert await store.get("k0", buffer_prototype) is None  # opens once the root exists
    assert await keys_of(store.list_dir("")) == []


async def test_cancelled_get_does_not_break_the_batch(root: Path) -> None:
    store = LocalStore(root)
    await store.set("k", buf(b"v"))
    tasks = [asyncio.ensure_future(store.get("k", buffer_prototype)) for _ in range(20)]
    await asyncio.sleep(0)
    tasks[3].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[3], asyncio.CancelledError)
    assert all(d.to_bytes() == b"v" for i, d in enumerate(done) if i != 3)  # type: ignore[union-attr]


async def test_get_many_and_partial_values_in_bulk(root: Path) -> None:
    store = LocalStore(root)
    n = 500
    await store._set_many([(f"c/{i}", buf(i.to_bytes(4, "little"))) for i in range(n)])
    got = {
        k: v
        async for k, v in store._get_many((f"c/{i}", buffer_prototype, None) for i in range(n + 1))
    }
    assert got.pop(f"c/{n}") is None
    assert {k: v.to_bytes() for k, v in got.items()} == {  # type: ignore[union-attr]
        f"c/{i}": i.to_bytes(4, "little") for i in range(n)
    }
    parts = await store.get_partial_values(
        buffer_prototype, [(f"c/{i}", RangeByteRequest(1, 3)) for i in range(n)]
    )
    assert [p.to_bytes() for p in parts] == [i.to_bytes(4, "little")[1:3] for i in range(n)]  # type: ignore[union-attr]
    assert await store.getsize_prefix("c") == 4 * n


# ---------------------------------------------------------------------- resolve


def test_resolve_claims_local_paths_only(tmp_path: Path) -> None:
    claimed = resolve(str(tmp_path), mode="a", read_only=False, storage_options=None)
    assert isinstance(claimed, LocalStore)
    assert claimed.root == tmp_path
    assert resolve(tmp_path, mode="r", read_only=True, storage_options=None) is not None
    url = resolve(f"file://{tmp_path}", mode="a", read_only=False, storage_options=None)
    assert url is not None
    assert url.root == tmp_path
    for other in ["s3://bucket/x", "memory://x", "data.zip", str(tmp_path / "a.ZIP"), 42]:
        assert resolve(other, mode="a", read_only=False, storage_options=None) is None
    assert resolve(str(tmp_path), mode="a", read_only=False, storage_options={"anon": True}) is None


async def test_resolved_store_keeps_the_mode_rule(tmp_path: Path) -> None:
    store = resolve(str(tmp_path / "missing"), mode="r+", read_only=False, storage_options=None)
    assert store is not None
    assert not store.read_only
    with pytest.raises(FileNotFoundError, match="does not exist"):
        await store._open()
    assert not (tmp_path / "missing").exists()


def test_entry_point_is_registered() -> None:
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="zstore.stores") if ep.name == "local"]
    assert found
    assert found[0].load() is resolve


async def test_big_values_read_whole_and_in_ranges(root: Path) -> None:
    # Values of 4 MiB and more are read into a NumPy array instead of a bytes object.
    data = bytes(range(256)) * (4 * 4096) + b"tail"
    store = LocalStore(root)
    await store.set("big", buf(data))
    got = await store.get("big", buffer_prototype)
    assert got is not None
    assert got.to_bytes() == data
    part = await store.get("big", buffer_prototype, RangeByteRequest(1, len(data) - 1))
    assert part is not None
    assert part.to_bytes() == data[1:-1]
    assert (await store.get_partial_values(buffer_prototype, [("big", None)]))[0] == got


def test_big_read_past_the_end_returns_what_is_there(root: Path) -> None:
    from zstore.local import _files

    data = b"\x01" * (4 << 20) + b"\x02" * 10
    (root / "f").write_bytes(data)
    fd = os.open(root / "f", os.O_RDONLY)
    try:
        assert bytes(_files.read_fd(fd, 0, len(data) + 100)) == data  # a file cut short
        assert bytes(_files.read_fd(fd, 5, len(data))) == data[5:]
    finally:
        os.close(fd)


async def test_delete_dir_of_many_files_never_follows_links(tmp_path: Path, root: Path) -> None:
    # Enough files that two threads unlink them; links inside are removed, not followed.
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "secret").write_bytes(b"secret")
    store = LocalStore(root)
    await store._set_many([(f"d/c/{i}", buf(b"x")) for i in range(300)])
    await store._set_many([(f"d/e/f/{i}", buf(b"y")) for i in range(100)])
    await store.set("keep", buf(b"k"))
    (root / "d" / "c" / "link").symlink_to(outside, target_is_directory=True)
    (root / "d" / "e" / "flink").symlink_to(outside / "sub" / "secret")
    await store.delete_dir("d")
    assert not (root / "d").exists()
    assert (outside / "sub" / "secret").read_bytes() == b"secret"
    assert await keys_of(store.list()) == ["keep"]
    await store._set_many([(f"a/{i}", buf(b"z")) for i in range(100)])
    (root / "a" / "link").symlink_to(outside, target_is_directory=True)
    await store.clear()
    assert list(root.iterdir()) == []
    assert (outside / "sub" / "secret").read_bytes() == b"secret"


def test_removing_a_tree_never_follows_a_link_swapped_in_after_the_scan(
    tmp_path: Path, root: Path
) -> None:
    # delete_dir scans, then removes each directory by name: another program may have put
    # a link to a directory outside in its place meanwhile. The removal of that name opens
    # it with O_NOFOLLOW, so the link's target is never emptied.
    from zstore.local import _files

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (root / "d").symlink_to(outside, target_is_directory=True)
    fd = os.open(root, os.O_RDONLY)
    try:
        _files._remove_tree_at(fd, "d")
    finally:
        os.close(fd)
    assert (outside / "secret").read_bytes() == b"secret"


@pytest.mark.parametrize("absolute", [False, True])
async def test_prefixes_through_a_link_leading_outside_see_and_touch_nothing(
    tmp_path: Path, root: Path, absolute: bool
) -> None:
    # Regression (0.1.1): prefix methods followed a linked directory on the way out of the
    # root: list_dir/is_empty/getsize_prefix/list_prefix showed outside names and sizes,
    # and delete_dir('esc/sub') removed files outside the root.
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "secret").write_bytes(b"secret")
    (outside / "top").write_bytes(b"top")
    (root / "esc").symlink_to(outside if absolute else "../outside", target_is_directory=True)
    store = LocalStore(root)
    for prefix in ("esc", "esc/sub"):
        assert await keys_of(store.list_dir(prefix)) == []
        assert await store.is_empty(prefix)
        assert await store.getsize_prefix(prefix) == 0
        assert await keys_of(store.list_prefix(prefix + "/")) == []
    await store.delete_dir("esc/sub")
    await store.delete_dir("esc/sub/deeper")
    assert (outside / "sub" / "secret").read_bytes() == b"secret"
    assert (outside / "top").read_bytes() == b"top"
    assert (root / "esc").is_symlink()
    await store.delete_dir("esc")  # the link goes, its target stays
    assert not (root / "esc").exists()
    assert (outside / "sub" / "secret").read_bytes() == b"secret"


async def test_prefixes_through_a_link_inside_the_root_work(root: Path) -> None:
    store = LocalStore(root)
    await store._set_many([("real/a/k", buf(b"1")), ("real/b", buf(b"22"))])
    (root / "alias").symlink_to("real", target_is_directory=True)
    assert await keys_of(store.list_dir("alias")) == ["a", "b"]
    assert await keys_of(store.list_dir("alias/a")) == ["k"]
    assert not await store.is_empty("alias/a")
    assert await store.getsize_prefix("alias") == 3
    assert await keys_of(store.list_prefix("alias/a/")) == ["alias/a/k"]
    await store.delete_dir("alias/a")
    assert not (root / "real" / "a").exists()
    assert (root / "real" / "b").read_bytes() == b"22"
