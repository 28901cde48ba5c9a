"""The direct write path for stored members: header and data in one ``pwritev``.

Archives that are published without compaction (nothing overwritten or deleted) are
exactly what that path wrote, so they must be valid for zipfile and ``unzip``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.core import validate_key
from zstore.zip import ZipStore, ZipStoreAccessModeLiteral, _archive

if TYPE_CHECKING:
    from pathlib import Path

VALUES = {f"c/{i}": bytes([i]) * (i * 1000) for i in range(20)}


async def write_fresh(path: Path, mode: ZipStoreAccessModeLiteral = "w") -> None:
    store = await ZipStore.open(path, mode=mode)
    for key, value in VALUES.items():
        await store.set(key, Buffer.from_bytes(value))
    store.close()


async def test_fresh_stored_archive_is_valid_for_zipfile(tmp_path: Path) -> None:
    path = tmp_path / "fresh.zip"
    await write_fresh(path)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == list(VALUES)
        for key, value in VALUES.items():
            assert zf.read(key) == value
            assert zf.getinfo(key).compress_type == zipfile.ZIP_STORED


@pytest.mark.skipif(shutil.which("unzip") is None, reason="needs the `unzip` binary (Debian unzip)")
async def test_fresh_stored_archive_passes_unzip_t(tmp_path: Path) -> None:
    path = tmp_path / "fresh.zip"
    await write_fresh(path)
    result = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No errors detected" in result.stdout


async def test_append_after_zipfile_members_and_compressed_ones(tmp_path: Path) -> None:
    # Members written by zipfile, then by our direct path, then by zipfile's writestr
    # (deflated) through a second store: offsets must chain through all three.
    path = tmp_path / "mixed.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("first", b"x" * 5000)
    await write_fresh(path, mode="a")
    store = await ZipStore.open(path, mode="a", compression=zipfile.ZIP_DEFLATED)
    await store.set("last", Buffer.from_bytes(b"y" * 5000))
    await store.set("tail", Buffer.from_bytes(b"fresh"))
    store.close()  # nothing overwritten: published as written, without compaction
    expected = {"first": b"x" * 5000, **VALUES, "last": b"y" * 5000, "tail": b"fresh"}
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == list(expected), "each key once, in write order"
        assert {n: zf.read(n) for n in zf.namelist()} == expected
    reader = await ZipStore.open(path, mode="r")
    for key, value in expected.items():
        got = await reader.get(key, buffer_prototype)
        assert got is not None
        assert got.to_bytes() == value, key
    reader.close()


async def test_reads_before_close_see_direct_writes(tmp_path: Path) -> None:
    store = await ZipStore.open(tmp_path / "live.zip", mode="w")
    await store.set("k", Buffer.from_bytes(b"0123456789"))
    got = await store.get("k", buffer_prototype)
    assert got is not None
    assert got.to_bytes() == b"0123456789"
    store.close()


def test_pwrite_all_finishes_short_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "short"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    have_pwritev = _archive._HAVE_PWRITEV

    def short_pwritev(fd: int, parts: object, offset: int) -> int:
        # Write only the first 2 bytes, as a kernel may on a signal or a full pipe.
        return os.pwrite(fd, b"he", offset)

    try:
        if have_pwritev:
            monkeypatch.setattr(os, "pwritev", short_pwritev)
            _archive._pwrite_all(fd, (b"head", memoryview(b"-and-data")), 3)
            monkeypatch.undo()
        monkeypatch.setattr(_archive, "_HAVE_PWRITEV", False)
        _archive._pwrite_all(fd, (b"HEAD", memoryview(b"+AND+DATA")), 20)
    finally:
        os.close(fd)
    data = path.read_bytes()
    if have_pwritev:
        assert data[3:16] == b"head-and-data"
    assert data[20:33] == b"HEAD+AND+DATA"


def test_a_closed_archive_refuses_writes_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "closed.zip"
    archive = _archive.ZipArchive(
        path, "w", compression=zipfile.ZIP_STORED, allowZip64=True, validate_name=validate_key
    )
    archive.close()
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"closed\.zip is closed"):
        archive.write("k", b"v")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["closed.zip"], "no temporary file"


async def test_past_the_member_count_limit_without_zip64_the_write_fails_not_the_close(
    tmp_path: Path,
) -> None:
    # Without ZIP64 an archive holds at most 65,535 members: the write past that fails at
    # once, and close() still publishes the ones before it (instead of failing, and
    # dropping every write, when it writes the central directory).
    path = tmp_path / "many.zip"
    store = await ZipStore.open(path, mode="w", allowZip64=False)
    empty = Buffer.from_bytes(b"")
    await store._set_many((f"{i}", empty) for i in range(zipfile.ZIP_FILECOUNT_LIMIT))
    # Naming the archive and the key: zipfile's "Files count would require ZIP64
    # extensions" named neither.
    message = rf"^{re.escape(str(path))}: key 'one too many' cannot be written: .*ZIP64"
    with pytest.raises(zipfile.LargeZipFile, match=message):
        await store.set("one too many", empty)
    store.close()
    with zipfile.ZipFile(path) as zf:
        assert len(zf.infolist()) == zipfile.ZIP_FILECOUNT_LIMIT
