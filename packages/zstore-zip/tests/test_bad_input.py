"""Corrupt, truncated, hostile or foreign input gives clear errors and loses nothing."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import warnings
import zipfile
import zlib
from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.core import READ_ONLY_MESSAGE, OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zstore.zip import ArchiveError, ZipStore

if TYPE_CHECKING:
    from pathlib import Path


def buf(data: bytes) -> Buffer:
    return Buffer.from_bytes(data)


async def read(store: ZipStore, key: str, byte_range: object = None) -> bytes | None:
    value = await store.get(key, buffer_prototype, byte_range)  # type: ignore[arg-type]
    return None if value is None else value.to_bytes()


def set_declared_size(path: Path, name: str, size: int) -> None:
    """Rewrite the uncompressed size of ``name`` in the central directory and local header."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
        cd_offset = zf.start_dir
    raw = bytearray(path.read_bytes())
    # Local header: uncompressed size at offset 22.
    struct.pack_into("<L", raw, info.header_offset + 22, size)
    # Central directory entry: find it by its signature and name; size at offset 24.
    entry = raw.find(b"PK\x01\x02", cd_offset)
    while raw[entry + 46 : entry + 46 + len(name)] != name.encode():
        entry = raw.find(b"PK\x01\x02", entry + 1)
    struct.pack_into("<L", raw, entry + 24, size)
    path.write_bytes(bytes(raw))


def set_crc(path: Path, name: str, crc: int) -> None:
    """Rewrite the CRC-32 of ``name`` in the central directory and local header."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
        cd_offset = zf.start_dir
    raw = bytearray(path.read_bytes())
    struct.pack_into("<L", raw, info.header_offset + 14, crc)
    entry = raw.find(b"PK\x01\x02", cd_offset)
    while raw[entry + 46 : entry + 46 + len(name)] != name.encode():
        entry = raw.find(b"PK\x01\x02", entry + 1)
    struct.pack_into("<L", raw, entry + 16, crc)
    path.write_bytes(bytes(raw))


# ---------------------------------------------------------------- not an archive


@pytest.mark.parametrize(
    ("content", "mode"),
    [
        (b"", "r"),
        (b"this is not a zip file\n" * 10, "r"),
        (b"this is not a zip file\n" * 10, "a"),
        (b"PK\x03\x04junk", "r"),
        (b"PK\x03\x04junk", "a"),
    ],
)
async def test_non_zip_file_is_refused_by_name_and_kept(
    tmp_path: Path, content: bytes, mode: str
) -> None:
    path = tmp_path / "not.zip"
    path.write_bytes(content)
    with pytest.raises(ArchiveError, match=r"not\.zip is not a readable zip archive"):
        await ZipStore.open(path, mode=mode)
    assert path.read_bytes() == content, "a refused file must not be changed"


async def test_an_empty_file_opened_to_append_becomes_an_archive(tmp_path: Path) -> None:
    # As zipfile's 'a' (so zarr-python's ZipStore) does: an empty file holds nothing to
    # lose, and tempfile.NamedTemporaryFile(suffix=".zip") leaves one.
    path = tmp_path / "empty.zip"
    path.write_bytes(b"")
    store = await ZipStore.open(path, mode="a")
    assert [k async for k in store.list()] == []
    await store.set("k", Buffer.from_bytes(b"v"))
    store.close()
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["k"]


async def test_truncated_archive_is_refused_by_name(archive: Path) -> None:
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(zipfile.BadZipFile, match=str(archive)):
        await ZipStore.open(archive, mode="r")


async def test_archive_whose_members_were_cut_off_names_the_member(tmp_path: Path) -> None:
    path = tmp_path / "cut.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("big", b"x" * 10_000)
    raw = bytearray(path.read_bytes())
    # Zero the member's data: the central directory survives, the data is garbage.
    raw[100:5000] = b"\x00" * 4900
    path.write_bytes(bytes(raw))
    store = await ZipStore.open(path, mode="r")
    with pytest.raises(ArchiveError, match=r"cut\.zip: member 'big': bad CRC-32"):
        await read(store, "big")
    # A range read of intact bytes still works: ranges never read the whole member.
    assert await read(store, "big", RangeByteRequest(6000, 6010)) == b"x" * 10


# ---------------------------------------------------------------- member names


@pytest.mark.parametrize("name", ["../x", "/abs/x", "a//b", "a\\b"])
async def test_member_name_that_is_not_a_key_is_refused_naming_file_and_member(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok", b"fine")
        info = zipfile.ZipInfo("placeholder")
        info.filename = name  # bypass ZipInfo's own clean-up: hostile tools do not clean
        zf.writestr(info, b"evil")
    with zipfile.ZipFile(path) as zf:
        assert name in zf.namelist()
    before = path.read_bytes()
    for mode in ("r", "a"):
        with pytest.raises(ArchiveError, match=r"evil\.zip: member .* is not a valid key"):
            await ZipStore.open(path, mode=mode)
    assert path.read_bytes() == before


@pytest.mark.parametrize("name", ["a\x00/../x", "a\x00b"])
async def test_member_name_that_zipfile_cuts_at_a_nul_is_refused(tmp_path: Path, name: str) -> None:
    # zipfile reads the name only up to its NUL, so this member would open as key "a":
    # another key than the archive names, and one that compaction would rename (or drop as
    # a duplicate of the real "a" written after it).
    path = tmp_path / "nul.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("placeholder")
        info.filename = name
        zf.writestr(info, b"evil")
        zf.writestr("a", b"the real a")
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["a", "a"]
    before = path.read_bytes()
    for mode in ("r", "a"):
        with pytest.raises(
            ArchiveError, match=rf"nul\.zip: member {re.escape(repr(name))} is not a valid key"
        ):
            await ZipStore.open(path, mode=mode)
    assert path.read_bytes() == before


def write_member(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Write a member named ``name`` as it is: hostile tools do not clean names up."""
    info = zipfile.ZipInfo("placeholder")
    info.filename = name
    zf.writestr(info, data)


def patch_bytes(path: Path, old: bytes, new: bytes) -> None:
    """Replace every ``old`` in the file by ``new`` (of the same length)."""
    assert len(old) == len(new)
    raw = path.read_bytes()
    assert raw.count(old) == 2, "once in the local header, once in the central directory"
    path.write_bytes(raw.replace(old, new))


async def test_a_member_name_flagged_utf8_that_is_not_is_refused_naming_the_archive(
    tmp_path: Path,
) -> None:
    # zipfile decodes such a name without a check: a bare UnicodeDecodeError named nothing.
    path = tmp_path / "badname.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok", b"fine")
        zf.writestr("QQé", b"data")  # flagged as UTF-8
    patch_bytes(path, "QQé".encode(), b"QQ\xc3(")
    before = path.read_bytes()
    for mode in ("r", "a"):
        with pytest.raises(
            ArchiveError,
            match=r"badname\.zip is not a readable zip archive: the member name "
            r"b'QQ\\xc3\(' is flagged as UTF-8 but is not",
        ):
            await ZipStore.open(path, mode=mode)
    assert path.read_bytes() == before


async def test_a_member_needing_a_newer_zip_version_is_refused_naming_the_archive(
    tmp_path: Path,
) -> None:
    # zipfile refuses the whole archive with a bare NotImplementedError ("zip file
    # version 25.5") when a member's "version needed to extract" is above what it knows.
    path = tmp_path / "future.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok", b"fine")
    with zipfile.ZipFile(path) as zf:
        cd_offset = zf.start_dir
    raw = bytearray(path.read_bytes())
    struct.pack_into("<H", raw, cd_offset + 6, 255)  # the central directory's field
    path.write_bytes(bytes(raw))
    for mode in ("r", "a"):
        with pytest.raises(
            ArchiveError, match=r"future\.zip is not a readable zip archive: zip file version"
        ):
            await ZipStore.open(path, mode=mode)
    assert path.read_bytes() == bytes(raw)


async def test_a_directory_entry_holding_data_is_refused_not_dropped(tmp_path: Path) -> None:
    # Directory entries are skipped, and compaction does not copy them: one that holds
    # data lost it silently at the first close after any write or delete.
    path = tmp_path / "dirdata.zip"
    with zipfile.ZipFile(path, "w") as zf:
        write_member(zf, "a/", b"data that a directory does not hold")
        zf.writestr("a/b", b"1")
        zf.writestr("c", b"2")
    before = path.read_bytes()
    for mode in ("r", "a"):
        with pytest.raises(
            ArchiveError,
            match=r"dirdata\.zip: member 'a/' is a directory entry .* holds 35 bytes",
        ):
            await ZipStore.open(path, mode=mode)
    assert path.read_bytes() == before


async def test_empty_directory_entries_and_foreign_names_open_as_expected(
    tmp_path: Path,
) -> None:
    # What other tools' archives open as: directory entries (also "/" alone) are no keys,
    # a duplicate name is one key (the last entry wins), a file "a" and a key "a/b" are
    # both keys; nothing is dropped but what is no key, and the rest survives compaction.
    path = tmp_path / "foreign.zip"
    with zipfile.ZipFile(path, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate it writes
        for name, data in [
            ("/", b""),
            ("a/", b""),
            ("a", b"file"),
            ("a/b", b"nested"),
            ("d", b"first"),
            ("d", b"last"),
        ]:
            write_member(zf, name, data)
    store = await ZipStore.open(path, mode="a")
    assert [k async for k in store.list()] == ["a", "a/b", "d"]
    assert [k async for k in store.list_dir("")] == ["a", "d"]
    assert await read(store, "d") == b"last"
    await store.set("new", buf(b"n"))
    store.close()
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert {n: zf.read(n) for n in zf.namelist()} == {
            "a": b"file",
            "a/b": b"nested",
            "d": b"last",
            "new": b"n",
        }


async def test_an_empty_member_name_is_refused_naming_the_archive(tmp_path: Path) -> None:
    # zipfile's ZipInfo.is_dir() raised a bare IndexError for it on Python 3.11.
    path = tmp_path / "noname.zip"
    with zipfile.ZipFile(path, "w") as zf:
        write_member(zf, "", b"x")
    with pytest.raises(ArchiveError, match=r"noname\.zip: member '' is not a valid key"):
        await ZipStore.open(path, mode="r")


# ---------------------------------------------------------------- declared sizes


async def test_member_inflating_past_its_declared_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb", b"\x00" * 5_000_000)
        zf.writestr("fine", b"ok")
    set_declared_size(path, "bomb", 100)
    store = await ZipStore.open(path, mode="r")
    assert await store.getsize("bomb") == 100
    with pytest.raises(ArchiveError, match=r"bomb\.zip: member 'bomb'.*declares 100 bytes"):
        await read(store, "bomb")
    assert await read(store, "fine") == b"ok", "other members stay readable"


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
async def test_member_inflating_to_less_than_declared_is_refused(
    tmp_path: Path, compression: int
) -> None:
    # Deflated members are inflated by this store, the others through zipfile's reader,
    # which returns what there is when the CRC matches: both must refuse.
    path = tmp_path / "short.zip"
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("short", b"abc" * 1000)
    set_declared_size(path, "short", 10_000)
    store = await ZipStore.open(path, mode="r")
    message = r"short\.zip: member 'short'.*declares 10000 bytes"
    with pytest.raises(ArchiveError, match=message):
        await read(store, "short")
    with pytest.raises(ArchiveError, match=message):
        await read(store, "short", SuffixByteRequest(10))


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
async def test_a_whole_read_checks_the_crc_by_every_path(tmp_path: Path, compression: int) -> None:
    path = tmp_path / "crc.zip"
    value = bytes(range(256)) * 40
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("m", value)
    set_crc(path, "m", zlib.crc32(value) ^ 1)
    store = await ZipStore.open(path, mode="r")
    # A part first: the member is located, so later reads may take the fast paths (the
    # loop's page-cache read, the worker's pread), none of which may skip the CRC of a
    # read that covers the whole member.
    assert await read(store, "m", RangeByteRequest(0, 10)) == value[:10]
    message = r"crc\.zip: member 'm': bad CRC-32"
    for whole in (
        None,
        OffsetByteRequest(0),
        RangeByteRequest(0, len(value)),
        SuffixByteRequest(len(value)),
    ):
        with pytest.raises(ArchiveError, match=message):
            await read(store, "m", whole)
        with pytest.raises(ArchiveError, match=message):
            await store.get_partial_values(buffer_prototype, [("m", whole)])
    assert await read(store, "m", RangeByteRequest(1, 9000)) == value[1:9000], "a part needs no CRC"


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_BZIP2])
async def test_a_member_declaring_more_data_than_the_archive_holds_is_refused(
    tmp_path: Path, compression: int
) -> None:
    # A 200-byte archive whose central directory says a member holds 4 TiB: a read must
    # not first allocate what the member declares (a bare MemoryError that names nothing)
    # but say what is wrong, naming the file and the member.
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("liar", b"0123456789")
        zf.writestr("fine", b"ok")
        # zipfile writes the central directory from these on close (with ZIP64 sizes).
        zf.getinfo("liar").file_size = zf.getinfo("liar").compress_size = 1 << 42
    before = path.read_bytes()
    store = await ZipStore.open(path, mode="r")
    assert await store.getsize("liar") == 1 << 42
    message = r"liar\.zip: member 'liar': .*more than the archive holds"
    for byte_range in (None, RangeByteRequest(0, 4), RangeByteRequest(2, 1 << 41)):
        with pytest.raises(ArchiveError, match=message):
            await read(store, "liar", byte_range)
        with pytest.raises(ArchiveError, match=message):
            await store.get_partial_values(buffer_prototype, [("liar", byte_range)])
    assert await read(store, "fine") == b"ok", "other members stay readable"
    store.close()
    # A compaction cannot copy it either: it fails, and the archive stays as it was.
    store = await ZipStore.open(path, mode="a")
    await store.delete("fine")
    with pytest.raises(ArchiveError, match=r"liar\.zip: member 'liar': .*truncated"):
        store.close()
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".zstore-tmp")]


async def test_stored_member_with_mismatched_sizes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "stored.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("m", b"0123456789")
    set_declared_size(path, "m", 1_000_000)
    store = await ZipStore.open(path, mode="r")
    with pytest.raises(ArchiveError, match=r"stored\.zip: member 'm': stored member declares"):
        await read(store, "m", RangeByteRequest(0, 4))


async def test_compaction_of_a_corrupt_member_fails_and_keeps_the_archive(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("bad", b"x" * 100)
        zf.writestr("good", b"y")
    raw = bytearray(path.read_bytes())
    raw[0:4] = b"XXXX"  # destroy the first local header
    path.write_bytes(bytes(raw))
    before = path.read_bytes()
    store = await ZipStore.open(path, mode="a")
    await store.delete("good")
    with pytest.raises(ArchiveError, match=r"c\.zip: member 'bad': no local file header"):
        store.close()
    assert path.read_bytes() == before, "a failed close must leave the archive as it was"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".zstore-tmp")]


# ---------------------------------------------------------------- read-only


async def test_a_write_to_a_read_only_store_names_the_file_and_key(archive: Path) -> None:
    before = archive.read_bytes()
    store = await ZipStore.open(archive, mode="r")
    name = re.escape(str(archive))
    for call, where in (
        (store.set("a/c/0", buf(b"v")), rf"\({name}, key 'a/c/0'\)"),
        (store.set_if_not_exists("new", buf(b"v")), rf"\({name}, key 'new'\)"),
        (store.delete("zarr.json"), rf"\({name}, key 'zarr\.json'\)"),
        (store.delete_dir("a"), rf"\({name}\)"),
        (store.clear(), rf"\({name}\)"),
        (store.move(archive.with_name("moved.zip")), rf"\({name}\)"),
    ):
        # The contract's message, then the file and the key.
        with pytest.raises(ValueError, match=f"^{READ_ONLY_MESSAGE} {where}$"):
            await call
    store.close()
    assert archive.read_bytes() == before
    assert not archive.with_name("moved.zip").exists()


# ---------------------------------------------------------------- move and close


@pytest.mark.parametrize("what", ["file", "directory"])
async def test_move_onto_an_existing_path_is_refused_and_changes_nothing(
    tmp_path: Path, what: str
) -> None:
    # shutil.move replaced a file there (another archive: its data lost), or moved the
    # archive into a directory there while the store pointed at the directory, which
    # every later call then refused as "not a regular file".
    path = tmp_path / "mine.zip"
    store = await ZipStore.open(path, mode="w")
    await store.set("k", buf(b"mine"))
    there = tmp_path / "there.zip"
    if what == "file":
        with zipfile.ZipFile(there, "w") as zf:
            zf.writestr("precious", b"data")
    else:
        there.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(
        FileExistsError, match=rf"mine\.zip to {re.escape(str(there))}: a {what} is there"
    ):
        await store.move(there)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if what == "file":
        with zipfile.ZipFile(there) as zf:
            assert zf.read("precious") == b"data"
    assert await read(store, "k") == b"mine"
    await store.set("k2", buf(b"still writable"))
    # Its own path is no other file: a move there moves nothing.
    await store.move(path)
    store.close()
    with zipfile.ZipFile(path) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == {"k": b"mine", "k2": b"still writable"}


async def test_move_to_a_path_with_a_nul_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "mine.zip"
    store = await ZipStore.open(path, mode="w")
    await store.set("k", buf(b"v"))
    with pytest.raises(ValueError, match=r"path '.*a\\x00b\.zip' contains a NUL"):
        await store.move(tmp_path / "a\x00b.zip")
    assert await read(store, "k") == b"v"
    store.close()
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["k"]


@pytest.mark.parametrize("compacting", [False, True])
async def test_a_close_failing_to_write_the_central_directory_keeps_the_archive(
    archive: Path, monkeypatch: pytest.MonkeyPatch, compacting: bool
) -> None:
    # Mode 'a' over an archive that held members: a close that fails as it writes the
    # central directory (a full disk) leaves the archive on disk as it was.
    before = archive.read_bytes()
    store = await ZipStore.open(archive, mode="a")
    await store.set("new", buf(b"n"))
    if compacting:
        await store.delete("zarr.json")

    def disk_full(self: zipfile.ZipFile, *args: object) -> None:
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(zipfile.ZipFile, "_write_end_record", disk_full)
    with pytest.raises(OSError, match="simulated") as info:
        store.close()
    monkeypatch.undo()
    assert any("left as it was" in note for note in info.value.__notes__)
    assert archive.read_bytes() == before
    assert [p.name for p in archive.parent.iterdir()] == [archive.name], "no temporary file"
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
    if shutil.which("unzip") is not None:
        subprocess.run(["unzip", "-tq", str(archive)], check=True, capture_output=True)


# ---------------------------------------------------------------- arguments


async def test_invalid_keys_and_ranges_name_the_problem(tmp_path: Path) -> None:
    store = await ZipStore.open(tmp_path / "x.zip", mode="w")
    with pytest.raises(ValueError, match=r"\.\./x"):
        await store.set("../x", buf(b"v"))
    with pytest.raises(ValueError, match="/abs"):
        await store.get("/abs", buffer_prototype)
    with pytest.raises(TypeError, match="Unexpected byte_range"):
        await store.get("k", buffer_prototype, (0, 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a Buffer"):
        await store.set("k", b"bytes")  # type: ignore[arg-type]
    store.close()
    with zipfile.ZipFile(tmp_path / "x.zip") as zf:
        assert zf.namelist() == [], "rejected writes must write nothing"


def test_bad_constructor_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode must be"):
        ZipStore(tmp_path / "x.zip", mode="q")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="compression must be"):
        ZipStore(tmp_path / "x.zip", mode="w", compression=9)
    with pytest.raises(TypeError, match="needs a path"):
        ZipStore(open(__file__, "rb"), mode="r")  # type: ignore[arg-type]  # noqa: SIM115
