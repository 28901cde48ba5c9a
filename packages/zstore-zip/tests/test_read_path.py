"""The fast read path: ranges of stored members, missing keys, reads racing writes and close."""

from __future__ import annotations

import asyncio
import errno
import os
import struct
import threading
import zipfile
import zlib
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.core import OffsetByteRequest, RangeByteRequest, SuffixByteRequest, validate_key
from zstore.zip import ArchiveError, ZipStore
from zstore.zip._archive import ZipArchive

if TYPE_CHECKING:
    from pathlib import Path

VALUES = {f"c/{i}": os.urandom(5000 + i) for i in range(20)}


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for key, value in VALUES.items():
            zf.writestr(key, value)
    return path


class PreadSpy:
    """Record the thread of every os.pread call, and every os.preadv call with its flags."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.nowait: list[tuple[int, int, bool]] = []  # (thread, flags, served)
        self._real = os.pread
        self._real_v = os.preadv
        # Set by a test to make the page cache look cold (or the file system unwilling).
        self.refuse: OSError | None = None

    def __call__(self, fd: int, n: int, offset: int) -> bytes:
        self.threads.append(threading.get_ident())
        return self._real(fd, n, offset)

    def preadv(self, fd: int, buffers: list[bytearray], offset: int, flags: int = 0) -> int:
        if self.refuse is not None:
            self.nowait.append((threading.get_ident(), flags, False))
            raise self.refuse
        got = self._real_v(fd, buffers, offset, flags)
        self.nowait.append((threading.get_ident(), flags, got == sum(map(len, buffers))))
        return got

    def reads(self) -> int:
        """Reads that delivered data: preads plus page-cache reads that were served."""
        return len(self.threads) + sum(served for _, _, served in self.nowait)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> PreadSpy:
    spy = PreadSpy()
    monkeypatch.setattr(os, "pread", spy)
    if hasattr(os, "preadv"):
        monkeypatch.setattr(os, "preadv", spy.preadv)
    return spy


async def read(store: ZipStore, key: str, byte_range: object = None) -> bytes | None:
    value = await store.get(key, buffer_prototype, byte_range)  # type: ignore[arg-type]
    return None if value is None else value.to_bytes()


async def locate_every_member(store: ZipStore) -> None:
    """Read a little of every member, so the store knows each one's data offset."""
    for key in VALUES:
        assert await read(store, key, RangeByteRequest(0, 10)) == VALUES[key][:10]


async def test_ranges_of_stored_members_are_one_pread_each_off_the_loop(
    stored: Path, spy: PreadSpy
) -> None:
    store = await ZipStore.open(stored, mode="r")
    # First reads locate each member (its local header); later ones are one pread each.
    await locate_every_member(store)
    spy.threads.clear()
    spy.nowait.clear()
    requests = [
        (key, request)
        for key in VALUES
        for request in (
            RangeByteRequest(7, 4000),
            RangeByteRequest(4990, 10**9),  # clipped to the end
            OffsetByteRequest(100),
            SuffixByteRequest(33),
            RangeByteRequest(3, 3),  # empty
        )
    ]
    got = await asyncio.gather(*(read(store, k, r) for k, r in requests))
    for (key, request), data in zip(requests, got, strict=True):
        value = VALUES[key]
        if isinstance(request, RangeByteRequest):
            expected = value[request.start : request.end]
        elif isinstance(request, OffsetByteRequest):
            expected = value[request.offset :]
        else:
            expected = value[-request.suffix :]
        assert data == expected, (key, request)
    assert spy.reads() == len(requests), "a range took more than one read"
    loop_thread = threading.get_ident()
    assert loop_thread not in spy.threads, "a blocking read ran on the event-loop thread"
    for thread, flags, _ in spy.nowait:
        # On the loop thread only ever a read that cannot wait for the disk.
        assert thread != loop_thread or flags == getattr(os, "RWF_NOWAIT", None)
    store.close()


NOWAIT = pytest.mark.skipif(
    getattr(os, "RWF_NOWAIT", None) is None or not hasattr(os, "preadv"),
    reason="preadv2 with RWF_NOWAIT is Linux-only",
)


@NOWAIT
async def test_cached_ranges_are_read_on_the_loop_without_a_thread_hop(
    stored: Path, spy: PreadSpy
) -> None:
    store = await ZipStore.open(stored, mode="r")
    await locate_every_member(store)
    spy.threads.clear()
    spy.nowait.clear()
    got = await asyncio.gather(*(read(store, k, RangeByteRequest(100, 2100)) for k in VALUES))
    assert got == [v[100:2100] for v in VALUES.values()]
    # The archive was just written, so its pages are cached: no worker read at all.
    assert spy.threads == []
    assert all(served and flags == os.RWF_NOWAIT for _, flags, served in spy.nowait)
    assert len(spy.nowait) == len(VALUES)
    store.close()


@NOWAIT
@pytest.mark.parametrize("located", [True, False], ids=["headers read", "fresh store"])
async def test_ranges_not_in_the_page_cache_are_read_by_a_worker(
    stored: Path, spy: PreadSpy, located: bool
) -> None:
    store = await ZipStore.open(stored, mode="r")
    if located:  # else the header reads are refused too, and the worker reads them
        await locate_every_member(store)
    spy.threads.clear()
    spy.refuse = BlockingIOError(11, "Resource temporarily unavailable")
    got = await asyncio.gather(*(read(store, k, SuffixByteRequest(50)) for k in VALUES))
    assert got == [v[-50:] for v in VALUES.values()]
    # A worker reads each refused range once, and before that, on a fresh store, the
    # member's local header.
    reads_per_member = 1 if located else 2
    assert len(spy.threads) == reads_per_member * len(VALUES), "a worker read too much"
    assert threading.get_ident() not in spy.threads
    archive = store._archive
    assert archive is not None
    assert archive._nowait, "a cold cache is no reason to stop asking"
    store.close()


@NOWAIT
async def test_first_ranges_read_their_cached_local_header_on_the_loop(
    stored: Path, spy: PreadSpy
) -> None:
    store = await ZipStore.open(stored, mode="r")
    got = await asyncio.gather(*(read(store, k, RangeByteRequest(9, 3009)) for k in VALUES))
    assert got == [v[9:3009] for v in VALUES.values()]
    assert spy.threads == [], "a first read went to a worker to find the member's data"
    # Two page-cache reads per member, the header and then the range; none after that.
    assert len(spy.nowait) == 2 * len(VALUES)
    assert all(served for _, _, served in spy.nowait)
    archive = store._archive
    assert archive is not None
    with zipfile.ZipFile(stored) as zf:
        for key in VALUES:
            info = zf.getinfo(key)
            # zipfile writes the same extra field in both headers; 30 bytes of fixed fields.
            expected = info.header_offset + 30 + len(key) + len(info.extra)
            assert archive.entries[key].stored_at == expected, key
    spy.nowait.clear()
    assert await read(store, "c/4", SuffixByteRequest(7)) == VALUES["c/4"][-7:]
    assert len(spy.nowait) == 1
    store.close()


def _corrupt_local_header(path: Path, key: str, how: str) -> None:
    with zipfile.ZipFile(path) as zf:
        at = zf.getinfo(key).header_offset
    raw = bytearray(path.read_bytes())
    if how == "signature":
        raw[at : at + 4] = b"PK\x07\x08"
    elif how == "name":
        raw[at + 30] ^= 0x20  # "c/3" becomes "C/3"
    else:  # a name length running past the bytes the central directory suggests
        raw[at + 26 : at + 28] = (4000).to_bytes(2, "little")
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("how", ["signature", "name", "name length"])
async def test_a_bad_local_header_fails_the_range_read_naming_file_and_member(
    stored: Path, how: str
) -> None:
    _corrupt_local_header(stored, "c/3", how)
    before = stored.read_bytes()
    store = await ZipStore.open(stored, mode="r")
    # Whichever path reads the header first (the loop's page-cache read, or a worker),
    # the error is the worker's: it names the archive and the member.
    for _ in range(2):
        with pytest.raises(ArchiveError, match=r"(?s)s\.zip.*'c/3'.*corrupt archive"):
            await store.get("c/3", buffer_prototype, RangeByteRequest(0, 10))
    assert await read(store, "c/4", RangeByteRequest(0, 10)) == VALUES["c/4"][:10]
    store.close()
    assert stored.read_bytes() == before


@NOWAIT
@pytest.mark.parametrize("located", [True, False], ids=["headers read", "fresh store"])
async def test_a_file_system_without_rwf_nowait_is_asked_once(
    stored: Path, spy: PreadSpy, located: bool
) -> None:
    store = await ZipStore.open(stored, mode="r")
    if located:  # the refusal then comes from a range read, else from a header read
        await locate_every_member(store)
    spy.nowait.clear()
    spy.refuse = OSError(errno.EOPNOTSUPP, "Operation not supported")
    for key, value in VALUES.items():
        assert await read(store, key, RangeByteRequest(5, 500)) == value[5:500]
    assert len(spy.nowait) == 1, "the refusal was not remembered"
    store.close()


def _non_ascii_archive(path: Path, encoding: str) -> dict[str, bytes]:
    """An archive whose member names are not ASCII: UTF-8 with its flag set (as zipfile
    writes them), or cp437 without it (as older tools do), patched into both headers."""
    values = {"c/ü": b"u" * 5000, "c/é/x": b"e" * 6000}
    if encoding == "utf-8":
        with zipfile.ZipFile(path, "w") as zf:
            for key, value in values.items():
                zf.writestr(key, value)
        return values
    # ASCII stand-ins as long in bytes as the cp437 names, none a part of another.
    placeholders = {"c/ü": "c/Q", "c/é/x": "c/R/x"}
    with zipfile.ZipFile(path, "w") as zf:
        for key, value in values.items():
            zf.writestr(placeholders[key], value)
    raw = path.read_bytes()
    for key, placeholder in placeholders.items():
        raw = raw.replace(placeholder.encode("ascii"), key.encode("cp437"))
    path.write_bytes(raw)
    with zipfile.ZipFile(path) as zf:
        assert not any(info.flag_bits & 0x800 for info in zf.infolist())
        assert {info.filename for info in zf.infolist()} == set(values)
    return values


@pytest.mark.parametrize("encoding", ["utf-8", "cp437"])
@pytest.mark.parametrize("fresh", [True, False], ids=["loop reads header", "worker reads it"])
async def test_members_named_outside_ascii_read_by_any_path(
    tmp_path: Path, encoding: str, fresh: bool
) -> None:
    path = tmp_path / "names.zip"
    values = _non_ascii_archive(path, encoding)
    store = await ZipStore.open(path, mode="r")
    for key, value in values.items():
        if not fresh:  # a whole read locates the member from a worker first
            assert await read(store, key) == value
        assert await read(store, key, RangeByteRequest(3, 1003)) == value[3:1003]
    store.close()


@pytest.mark.parametrize(
    "compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
async def test_non_ascii_keys_this_store_wrote_read_back_and_survive_compaction(
    tmp_path: Path, compression: int
) -> None:
    # zipfile marks a non-ASCII name as UTF-8 in the headers it writes, not in the ZipInfo
    # this store keeps for the member until the archive is read back.
    path = tmp_path / "names.zip"
    values = {"grüße/c/0": b"0123456789" * 50, "ä/0": b"data", "zarr.json": b"{}"}
    store = await ZipStore.open(path, mode="w", compression=compression)
    for key, value in values.items():
        await store.set(key, Buffer.from_bytes(value))
    for key, value in values.items():
        assert await read(store, key, RangeByteRequest(2, 5)) == value[2:5], key
        assert await read(store, key) == value, key
    await store.set("zarr.json", Buffer.from_bytes(b'{"v": 2}'))  # close() must compact
    store.close()
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == sorted(values)
        assert zf.read("grüße/c/0") == values["grüße/c/0"]
        assert zf.read("zarr.json") == b'{"v": 2}'


@pytest.mark.parametrize("encoding", ["utf-8", "cp437"])
async def test_a_local_header_naming_another_non_ascii_member_is_refused(
    tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "names.zip"
    _non_ascii_archive(path, encoding)
    raw = bytearray(path.read_bytes())
    # The first local header's name ends in the last byte of "ü" (0xbc in UTF-8, 0x81 in
    # cp437); change only that byte, so the name is still not ASCII but is another name.
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("c/ü")
    last = info.header_offset + 30 + len("c/ü".encode(encoding)) - 1
    raw[last] ^= 0x01
    path.write_bytes(bytes(raw))
    store = await ZipStore.open(path, mode="r")
    with pytest.raises(ArchiveError, match=r"(?s)names\.zip.*'c/ü'.*local header names"):
        await store.get("c/ü", buffer_prototype, RangeByteRequest(0, 10))
    assert await read(store, "c/é/x", RangeByteRequest(0, 10)) == b"e" * 10
    store.close()


async def test_missing_keys_are_answered_without_reading(stored: Path, spy: PreadSpy) -> None:
    store = await ZipStore.open(stored, mode="r")
    got = await asyncio.gather(
        *(read(store, f"nope/{i}", RangeByteRequest(0, 4)) for i in range(50))
    )
    assert got == [None] * 50
    assert spy.threads == []
    with pytest.raises(FileNotFoundError, match="nope"):
        await store.getsize("nope")
    store.close()


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a\\b", ""])
async def test_invalid_keys_are_refused_before_and_after_open(stored: Path, key: str) -> None:
    with pytest.raises(ValueError):
        validate_key(key)
    for opened in (False, True):
        store = ZipStore(stored, mode="r")
        if opened:
            await store._ensure_open()
        with pytest.raises(ValueError):
            await store.get(key, buffer_prototype)
        with pytest.raises(ValueError):
            await store.getsize(key)
        store.close()


async def test_a_read_racing_an_overwrite_gets_one_whole_value(tmp_path: Path) -> None:
    store = await ZipStore.open(tmp_path / "w.zip", mode="w")
    old, new = os.urandom(9000), os.urandom(9000)
    await store.set("k", Buffer.from_bytes(old))
    await read(store, "k", RangeByteRequest(0, 1))  # its data offset is known now
    for _ in range(20):
        results = await asyncio.gather(
            read(store, "k", RangeByteRequest(100, 8000)),
            store.set("k", Buffer.from_bytes(new)),
            read(store, "k", RangeByteRequest(100, 8000)),
        )
        for got in (results[0], results[2]):
            assert got in (old[100:8000], new[100:8000])
        assert await read(store, "k", RangeByteRequest(100, 8000)) == new[100:8000]
        old, new = new, os.urandom(9000)
        await store.set("k", Buffer.from_bytes(old))
    store.close()
    with zipfile.ZipFile(tmp_path / "w.zip") as zf:
        assert zf.read("k") == old


def make_archive(path: Path) -> ZipArchive:
    return ZipArchive(
        path, "r", compression=zipfile.ZIP_STORED, allowZip64=True, validate_name=validate_key
    )


def test_close_waits_for_running_reads_to_release_the_files(stored: Path) -> None:
    archive = make_archive(stored)
    entry = archive.entries["c/3"]
    archive.begin_reads()  # a read job is under way
    archive.close()
    # The descriptor is still the archive's: a read in flight gets the right bytes, never
    # those of another file that reused the descriptor number.
    assert bytes(archive.read_entry(entry, RangeByteRequest(10, 20))) == VALUES["c/3"][10:20]
    os.fstat(entry.fd)
    archive.end_reads()  # the last reader closes the files
    with pytest.raises(OSError):
        os.fstat(entry.fd)
    with pytest.raises(ValueError, match=r"s\.zip was closed before this read ran"):
        archive.begin_reads()
    with pytest.raises(ValueError, match="closed"):
        archive.read("c/3")


def test_the_files_stay_open_until_the_last_of_several_readers_ends(stored: Path) -> None:
    archive = make_archive(stored)
    entry = archive.entries["c/3"]
    archive.begin_reads()  # two read jobs are under way
    archive.begin_reads()
    archive.close()
    archive.end_reads()  # one ends: the other still reads the archive's descriptor
    others = [os.open(os.devnull, os.O_RDONLY) for _ in range(4)]  # may reuse its number
    try:
        assert bytes(archive.read_entry(entry, RangeByteRequest(10, 20))) == VALUES["c/3"][10:20]
    finally:
        for fd in others:
            os.close(fd)
    archive.end_reads()  # the last one closes the files
    with pytest.raises(OSError):
        os.fstat(entry.fd)


async def test_an_archive_cut_short_after_opening_fails_ranges_naming_it(stored: Path) -> None:
    store = await ZipStore.open(stored, mode="r")
    await locate_every_member(store)  # later ranges take the fast paths
    with zipfile.ZipFile(stored) as zf:
        last = zf.getinfo("c/19")
    # Another program cuts the file short in place, inside the last member's data.
    os.truncate(stored, last.header_offset + 100)
    message = r"s\.zip: member 'c/19': .*truncated"
    # Small enough for the loop's page-cache read, then past it: each must notice that it
    # got fewer bytes than it asked for, never hand them out (or a buffer never filled).
    for byte_range in (RangeByteRequest(0, 4000), OffsetByteRequest(10)):
        with pytest.raises(ArchiveError, match=message):
            await read(store, "c/19", byte_range)
        with pytest.raises(ArchiveError, match=message):
            await store.get_partial_values(buffer_prototype, [("c/19", byte_range)])
    assert await read(store, "c/0", RangeByteRequest(0, 10)) == VALUES["c/0"][:10]
    store.close()


@pytest.mark.skipif(
    getattr(os, "RWF_NOWAIT", None) is None or not hasattr(os, "preadv"),
    reason="preadv2 with RWF_NOWAIT is Linux-only",
)
def test_a_page_cache_read_after_close_leaves_it_to_the_usual_path(stored: Path) -> None:
    archive = make_archive(stored)
    entry = archive.entries["c/3"]
    archive.read_entry(entry, RangeByteRequest(0, 1))  # learn the data offset, by a pread
    assert entry.stored_at >= 0
    cached = archive.read_cached(entry, 10, 20)
    assert cached is not None
    assert cached.tobytes() == VALUES["c/3"][10:20]
    archive.close()
    # Files opened now may take the descriptor numbers the archive had.
    other = stored.with_name("other.bin")
    other.write_bytes(b"x" * 200_000)
    others = [os.open(other, os.O_RDONLY) for _ in range(4)]
    try:
        # Never a read of a closed (or reused) descriptor: None, and the usual path, which
        # says the archive was closed.
        assert archive.read_cached(entry, 10, 20) is None
    finally:
        for fd in others:
            os.close(fd)
    with pytest.raises(ValueError, match="closed"):
        archive.begin_reads()


async def test_reads_queued_before_close_fail_clearly_or_read_right(stored: Path) -> None:
    store = await ZipStore.open(stored, mode="r")
    await locate_every_member(store)  # the next reads take the fast path
    for _ in range(10):
        tasks = [
            asyncio.ensure_future(read(store, key, RangeByteRequest(5, 4005))) for key in VALUES
        ]
        await asyncio.sleep(0)  # every read is queued
        store.close()
        # Files opened now may reuse the descriptor numbers the archive had.
        others = [os.open(os.devnull, os.O_RDONLY) for _ in range(4)]
        try:
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for fd in others:
                os.close(fd)
        for key, result in zip(VALUES, results, strict=True):
            if isinstance(result, BaseException):
                assert isinstance(result, ValueError | ArchiveError), result
                assert "closed" in str(result) or "s.zip" in str(result)
            else:
                assert result == VALUES[key][5:4005]
    store.close()


# ---------------------------------------------------------------- deflated members

# Compressed sizes from a few bytes to several preads (the first reads 64 KiB).
DEFLATED = {
    "empty": b"",
    "small": b"0123456789" * 7,
    "random": os.urandom(300_000),  # incompressible: about 300 KB compressed
    "zeros": b"\x00" * 3_000_000 + b"end",  # a few KB that inflate to 3 MB
}


@pytest.fixture(scope="module")
def deflated(tmp_path_factory: pytest.TempPathFactory) -> ZipArchive:
    path = tmp_path_factory.mktemp("deflated") / "d.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in DEFLATED.items():
            zf.writestr(key, value)
    return make_archive(path)


@given(
    key=st.sampled_from(sorted(DEFLATED)),
    start=st.integers(0, 3_100_000),
    length=st.integers(0, 400_000),
)
def test_any_range_of_a_deflated_member_is_its_slice(
    deflated: ZipArchive, key: str, start: int, length: int
) -> None:
    value = DEFLATED[key]
    start = min(start, len(value))
    got = deflated.read(key, RangeByteRequest(start, start + length))
    assert bytes(got) == value[start : start + length]


def test_deflated_members_read_whole_and_by_suffix(deflated: ZipArchive) -> None:
    for key, value in DEFLATED.items():
        assert deflated.read(key) == value
        assert deflated.read(key, SuffixByteRequest(5)) == value[-5:]
        assert deflated.read(key, OffsetByteRequest(len(value))) == b""


def test_a_range_of_a_deflated_member_inflates_no_further_than_its_end(
    deflated: ZipArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = deflated.entries["random"]
    deflated.read("random", RangeByteRequest(0, 1))  # the local header, read once
    asked: list[int] = []
    real = os.pread

    def counting(fd: int, n: int, offset: int) -> bytes:
        asked.append(n)
        return real(fd, n, offset)

    monkeypatch.setattr(os, "pread", counting)
    assert deflated.read("random", RangeByteRequest(10, 20)) == DEFLATED["random"][10:20]
    assert asked == [64 * 1024], "more than the first piece read for a range near the start"
    asked.clear()
    assert deflated.read("random") == DEFLATED["random"]
    # Growing pieces (64 KiB, 128 KiB, the rest), so few reads even for a large member.
    first_two = 64 * 1024 + 128 * 1024
    assert asked == [64 * 1024, 128 * 1024, entry.info.compress_size - first_two]


class _SyncFlushed:
    """A deflate compressor that ends its data with a flush, then an empty final block."""

    def __init__(self, *_: object) -> None:
        self._zlib = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)

    def compress(self, data: bytes) -> bytes:
        return self._zlib.compress(data)

    def flush(self) -> bytes:
        return self._zlib.flush(zlib.Z_SYNC_FLUSH) + self._zlib.flush()


def _deflated_with_cut_data(path: Path, value: bytes, cut: int) -> None:
    """An archive whose member "m" (``value``) lacks the last ``cut`` compressed bytes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zipfile, "_get_compressor", _SyncFlushed)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("m", value)
            zf.writestr("fine", b"ok" * 100)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("m")
        directory = zf.start_dir
    raw = bytearray(path.read_bytes())
    # The central directory's compressed size of "m" (its first entry), shrunk.
    assert raw[directory : directory + 4] == b"PK\x01\x02"
    assert raw[directory + 46 : directory + 47] == b"m"
    struct.pack_into("<L", raw, directory + 20, info.compress_size - cut)
    path.write_bytes(bytes(raw))


async def test_a_deflated_member_with_its_data_cut_short_fails_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "cut.zip"
    _deflated_with_cut_data(path, DEFLATED["random"][:100_000], 50_000)
    store = await ZipStore.open(path, mode="r")
    for byte_range in (None, SuffixByteRequest(10)):
        with pytest.raises(ArchiveError, match=r"cut\.zip: member 'm'.*decompresses to fewer"):
            await read(store, "m", byte_range)
    assert await read(store, "fine") == b"ok" * 100
    store.close()


async def test_a_deflated_stream_without_its_end_code_reads_as_zipfile_reads_it(
    tmp_path: Path,
) -> None:
    # Only the 2-byte empty final block is cut: every byte inflates and the CRC matches.
    # zipfile (and so zarr-python) reads such a member; so do we.
    path = tmp_path / "cut.zip"
    value = DEFLATED["random"][:100_000]
    _deflated_with_cut_data(path, value, 2)
    with zipfile.ZipFile(path) as zf:
        assert zf.read("m") == value
    store = await ZipStore.open(path, mode="r")
    assert await read(store, "m") == value
    assert await read(store, "m", SuffixByteRequest(10)) == value[-10:]
    store.close()
