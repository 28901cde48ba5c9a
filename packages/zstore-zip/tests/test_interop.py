"""Archives we write open with other tools; archives other tools write open with ours."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import warnings
import zipfile
from pathlib import Path

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.core import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zstore.zip import ArchiveError, ZipStore

DATA = Path(__file__).parent / "data"

# Sizes chosen so compressed members span many decompressor reads.
VALUES = {
    "zarr.json": b'{"zarr_format": 3, "node_type": "group"}',
    "a/zarr.json": b'{"zarr_format": 3, "node_type": "array"}',
    "a/c/0/0": bytes(range(256)) * 300,
    "a/c/0/1": b"",
    "a/c/1/0": b"\x00" * 70_000 + b"tail",
}
COMPRESSIONS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


def buf(data: bytes) -> Buffer:
    return Buffer.from_bytes(data)


async def read(store: ZipStore, key: str, byte_range: object = None) -> bytes | None:
    value = await store.get(key, buffer_prototype, byte_range)  # type: ignore[arg-type]
    return None if value is None else value.to_bytes()


async def write_with_ours(path: Path, compression: int) -> None:
    store = await ZipStore.open(path, mode="w", compression=compression)
    await store._set_many((k, buf(v)) for k, v in VALUES.items())
    await store.set("a/c/0/0", buf(VALUES["a/c/0/0"]))  # an overwrite, compacted on close
    store.close()


async def check_reads(store: ZipStore, values: dict[str, bytes]) -> None:
    assert sorted([k async for k in store.list()]) == sorted(values)
    # A range first: on a store just opened it also finds where each member's data starts
    # (on the loop, for stored members whose header is in the page cache).
    for key, value in values.items():
        assert await read(store, key, RangeByteRequest(2, 9)) == value[2:9], key
    for key, value in values.items():
        assert await read(store, key) == value, f"whole read of {key!r}"
        assert await store.getsize(key) == len(value)
        for r in (RangeByteRequest(1, 7), OffsetByteRequest(len(value) // 2), SuffixByteRequest(5)):
            if isinstance(r, RangeByteRequest):
                expected = value[r.start : r.end]
            elif isinstance(r, OffsetByteRequest):
                expected = value[r.offset :]
            else:
                expected = value[max(0, len(value) - r.suffix) :]
            assert await read(store, key, r) == expected, f"{r} of {key!r}"


# ---------------------------------------------------------------- ours -> others


@pytest.mark.parametrize("compression", COMPRESSIONS)
async def test_our_archive_opens_with_python_zipfile(tmp_path: Path, compression: int) -> None:
    path = tmp_path / "ours.zip"
    await write_with_ours(path, compression)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == sorted(VALUES), "each key once, nothing else"
        for key, value in VALUES.items():
            assert zf.read(key) == value
            assert zf.getinfo(key).compress_type == compression


@pytest.mark.skipif(shutil.which("unzip") is None, reason="needs the `unzip` binary (Debian unzip)")
@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
async def test_our_archive_passes_unzip_t(tmp_path: Path, compression: int) -> None:
    path = tmp_path / "ours.zip"
    await write_with_ours(path, compression)
    result = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No errors detected" in result.stdout


async def test_our_archive_opens_with_zarr_python(tmp_path: Path) -> None:
    zarr_storage = pytest.importorskip(
        "zarr.storage", reason="zarr-python is the reference implementation to compare with"
    )
    from zarr.core.buffer import default_buffer_prototype

    path = tmp_path / "ours.zip"
    await write_with_ours(path, zipfile.ZIP_DEFLATED)
    theirs = zarr_storage.ZipStore(path, mode="r")
    for key, value in VALUES.items():
        got = await theirs.get(key, prototype=default_buffer_prototype())
        assert got is not None
        assert got.to_bytes() == value, f"zarr-python reads {key!r} differently"
    theirs.close()


async def test_zarr_python_array_roundtrip_through_our_store(tmp_path: Path) -> None:
    zarr = pytest.importorskip("zarr", reason="zarr-python writes the reference archive")
    import numpy as np

    path = tmp_path / "theirs.zip"
    with zarr.storage.ZipStore(path, mode="w") as theirs:
        arr = zarr.create_array(theirs, shape=(10, 10), chunks=(5, 5), dtype="i4")
        arr[:] = np.arange(100).reshape(10, 10)
    store = await ZipStore.open(path, mode="r")
    keys = sorted([k async for k in store.list()])
    assert "zarr.json" in keys
    assert "c/0/0" in keys
    with zarr.storage.ZipStore(path, mode="r") as theirs:
        for key in keys:
            expected = await theirs.get(key, prototype=zarr.core.buffer.default_buffer_prototype())
            assert await read(store, key) == expected.to_bytes()


# ---------------------------------------------------------------- others -> ours


async def test_archive_with_duplicates_from_zarr_python_opens_with_ours(tmp_path: Path) -> None:
    zarr_storage = pytest.importorskip("zarr.storage", reason="zarr-python writes duplicates")
    from zarr.core.buffer import cpu

    path = tmp_path / "theirs.zip"
    theirs = zarr_storage.ZipStore(path, mode="w")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile's "Duplicate name"
        for i in range(3):
            await theirs.set("k", cpu.Buffer.from_bytes(b"v%d" % i))
    theirs.close()
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist().count("k") == 3, "zarr-python appends a duplicate per overwrite"
    store = await ZipStore.open(path, mode="a")
    assert await read(store, "k") == b"v2"
    assert [k async for k in store.list()] == ["k"]
    await store.set("other", buf(b"o"))
    store.close()
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["k", "other"], "close() removes zarr's duplicates"
        assert zf.read("k") == b"v2"


@pytest.mark.skipif(shutil.which("zip") is None, reason="needs the `zip` binary (Debian zip)")
@pytest.mark.parametrize("level", ["-0", "-6"])
async def test_archive_made_by_zip_opens_with_ours(tmp_path: Path, level: str) -> None:
    source = tmp_path / "tree"
    for key, value in VALUES.items():
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).write_bytes(value)
    path = tmp_path / "by-zip.zip"
    subprocess.run(["zip", "-q", "-r", level, str(path), "."], cwd=source, check=True)
    with zipfile.ZipFile(path) as zf:
        assert any(n.endswith("/") for n in zf.namelist()), "zip -r writes directory entries"
        # Info-ZIP's local extra fields are longer than the central directory's (access
        # time, owner ids): the data offset must come from the local header.
        raw = path.read_bytes()
        info = zf.getinfo(next(iter(VALUES)))
        local_extra = int.from_bytes(
            raw[info.header_offset + 28 : info.header_offset + 30], "little"
        )
        assert local_extra != len(info.extra)
    store = await ZipStore.open(path, mode="r")
    await check_reads(store, VALUES)  # directory entries are not keys
    assert sorted([n async for n in store.list_dir("a")]) == ["c", "zarr.json"]


@pytest.mark.skipif(shutil.which("zip") is None, reason="needs the `zip` binary (Debian zip)")
async def test_archive_made_by_zip_from_stdin_with_data_descriptors(tmp_path: Path) -> None:
    # `zip - -` streams: sizes go in data descriptors after the data, not in local headers.
    path = tmp_path / "stream.zip"
    data = bytes(range(256)) * 100
    # Through a pipe, so zip cannot seek back to fill in the local header.
    streamed = subprocess.run(["zip", "-q", "-", "-"], input=data, capture_output=True, check=True)
    path.write_bytes(streamed.stdout)
    with zipfile.ZipFile(path) as zf:
        assert zf.infolist()[0].flag_bits & 0x08, "expected a member with a data descriptor"
    store = await ZipStore.open(path, mode="a")
    keys = [k async for k in store.list()]
    assert keys == ["-"], "zip names a member read from stdin '-'"
    assert await read(store, keys[0]) == data
    assert await read(store, keys[0], RangeByteRequest(1000, 1010)) == data[1000:1010]
    await store.set("k", buf(b"x"))
    await store.delete("k")  # forces a compaction that copies the streamed member raw
    store.close()
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert zf.read(keys[0]) == data
        # The copy has its sizes in its local header and no descriptor after its data, so
        # it must not claim one (zipfile reads sizes from the central directory and does
        # not care; `unzip -t` finds "overlapped components").
        assert not zf.infolist()[0].flag_bits & 0x08
    assert not int.from_bytes(path.read_bytes()[6:8], "little") & 0x08, "local header flags"
    if shutil.which("unzip") is not None:
        subprocess.run(["unzip", "-tq", str(path)], check=True, capture_output=True)


@pytest.mark.skipif(
    shutil.which("zip") is None or shutil.which("unzip") is None,
    reason="needs the `zip` and `unzip` binaries (Debian zip, unzip)",
)
async def test_encrypted_members_are_refused_to_read_and_copied_whole_by_compaction(
    tmp_path: Path,
) -> None:
    # Info-ZIP's `zip -P` encrypts with a data descriptor, so the password check byte is
    # the high byte of the member's time: a copy must keep the descriptor flag.
    (tmp_path / "secret").write_bytes(b"top secret " * 100)
    (tmp_path / "plain").write_bytes(b"plain")
    path = tmp_path / "enc.zip"
    subprocess.run(["zip", "-q", "-P", "pw", str(path), "secret"], cwd=tmp_path, check=True)
    subprocess.run(["zip", "-q", str(path), "plain"], cwd=tmp_path, check=True)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("secret").flag_bits & 0x09 == 0x09, "encrypted, with a descriptor"
    store = await ZipStore.open(path, mode="a")
    with pytest.raises(ArchiveError, match=r"(?s)enc\.zip.*'secret'.*encrypted"):
        await read(store, "secret", RangeByteRequest(0, 3))
    await store.set("new", buf(b"important"))
    await store.delete("plain")  # close() compacts: every live member is copied
    store.close()
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["new", "secret"]
        assert zf.read("secret", pwd=b"pw") == b"top secret " * 100
        assert zf.read("new") == b"important"
    tested = subprocess.run(
        ["unzip", "-t", "-P", "pw", str(path)], check=False, capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("compression", COMPRESSIONS)
async def test_members_written_by_python_zipfile_read(tmp_path: Path, compression: int) -> None:
    path = tmp_path / "py.zip"
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for key, value in VALUES.items():
            zf.writestr(key, value)
    store = await ZipStore.open(path, mode="r")
    await check_reads(store, VALUES)


DEFLATE64_SHA256 = {
    "zarr.json": "bda4387a7276bf171c729799ddddaffb9f932f678fabc1f9602567d898bc78f0",
    "c/0": "61a9f0104b7f499ab661800b875807b66f5eaca2e64a22655fa34a700d7e045b",
    "c/1": "a1f259d4365ed4320c377ce26f5c8c56dcdc9a89e7b641bfd8eabfbbeac86654",
}


async def test_deflate64_archive_made_by_7z_reads() -> None:
    path = DATA / "deflate64.zip"
    with zipfile.ZipFile(path) as zf:
        assert {i.compress_type for i in zf.infolist()} == {9}, "fixture must be Deflate64"
    store = await ZipStore.open(path, mode="r")
    assert sorted([k async for k in store.list()]) == sorted(DEFLATE64_SHA256)
    whole = {}
    for key, digest in DEFLATE64_SHA256.items():
        value = await read(store, key)
        assert value is not None
        assert hashlib.sha256(value).hexdigest() == digest, f"Deflate64 member {key!r}"
        whole[key] = value
    # A range deep in the member, past the first 64 KiB window.
    assert (
        await read(store, "c/0", RangeByteRequest(150_000, 150_100))
        == whole["c/0"][150_000:150_100]
    )
    assert await read(store, "c/0", SuffixByteRequest(7)) == whole["c/0"][-7:]


async def test_deflate64_members_survive_compaction_raw(tmp_path: Path) -> None:
    path = tmp_path / "d64.zip"
    shutil.copyfile(DATA / "deflate64.zip", path)
    store = await ZipStore.open(path, mode="a")
    await store.delete("c/1")
    store.close()
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("c/0").compress_type == 9, "members are copied, not recompressed"
    store = await ZipStore.open(path, mode="r")
    value = await read(store, "c/0")
    assert value is not None
    assert hashlib.sha256(value).hexdigest() == DEFLATE64_SHA256["c/0"]
