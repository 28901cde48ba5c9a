"""What the zip format cannot hold is refused by name, before anything is written.

A key that passes ``zstore.core.validate_key`` may still be no zip member name; a clock,
an archive's file name or a member count may pass a limit of the format or of the file
system. Each case gives a clear error (or works), and the members written before stay
readable by this store, Python's zipfile and ``unzip``.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time
import types
import unicodedata
import zipfile
from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.zip import ZipStore, _archive

if TYPE_CHECKING:
    from pathlib import Path


def buf(data: bytes) -> Buffer:
    return Buffer.from_bytes(data)


async def read(store: ZipStore, key: str) -> bytes | None:
    value = await store.get(key, buffer_prototype)
    return None if value is None else value.to_bytes()


def assert_whole(path: Path, expected: dict[str, bytes]) -> None:
    """``path`` holds exactly ``expected`` for zipfile and, where installed, ``unzip -t``."""
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert {n: zf.read(n) for n in zf.namelist()} == expected
        assert len(zf.namelist()) == len(expected), "each key once"
    if shutil.which("unzip") is not None:
        result = subprocess.run(
            ["unzip", "-tq", str(path)], check=False, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- keys that are no member name

# A lone surrogate: a str can hold it (os.fsdecode makes them of undecodable bytes), no
# UTF-8 or cp437 encoding can. Then names past 65,535 bytes, the format's limit, in ASCII
# and in UTF-8 (40,000 characters, 80,000 bytes).
UNNAMEABLE = {
    "surrogate": ("\udc80x", r"'\\udc80' at position 0 is a surrogate"),
    "surrogate deep": ("a/b\ud800/c", r"'\\ud800' at position 3 is a surrogate"),
    "too long": ("a" * 70_000, r"is 70000 bytes long in UTF-8: too long"),
    "too long in UTF-8": ("é" * 40_000, r"is 80000 bytes long in UTF-8: too long"),
}


@pytest.mark.parametrize("how", ["set", "set_if_not_exists", "_set_many"])
@pytest.mark.parametrize("case", list(UNNAMEABLE))
async def test_a_key_that_cannot_be_a_member_name_is_refused_by_name_before_writing(
    tmp_path: Path, case: str, how: str
) -> None:
    key, why = UNNAMEABLE[case]
    path = tmp_path / "names.zip"
    store = await ZipStore.open(path, mode="w")
    await store.set("before", buf(b"kept"))
    await store.set("grüße/c/0", buf(b"kept too"))
    if how == "set":
        call = store.set(key, buf(b"bad"))
    elif how == "set_if_not_exists":
        call = store.set_if_not_exists(key, buf(b"bad"))
    else:
        # Checked before the first pair is written: a bad key writes none.
        call = store._set_many([("ok-but-with-a-bad-one", buf(b"no")), (key, buf(b"bad"))])
    with pytest.raises(ValueError, match=why) as info:
        await call
    # The key (or its first 40 characters) and the archive.
    assert str(info.value).startswith(f"key {key[:40]!r}"), info.value
    assert str(path) in str(info.value), info.value
    assert await read(store, "before") == b"kept"
    assert await read(store, key) is None
    await store.set("after", buf(b"still writable"))
    store.close()
    assert_whole(path, {"before": b"kept", "grüße/c/0": b"kept too", "after": b"still writable"})


async def test_the_longest_member_name_is_written_and_read_back(tmp_path: Path) -> None:
    # 65,535 bytes in UTF-8 is the limit itself: accepted, and zipfile reads it back.
    # (`unzip` warns past its own limit of 4,096 bytes, and is not asked here.)
    key = "ü" * 30_000 + "a" * 5_535
    assert len(key.encode()) == _archive.MAX_NAME_BYTES
    path = tmp_path / "longest.zip"
    store = await ZipStore.open(path, mode="w")
    await store.set(key, buf(b"v"))
    store.close()
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == [key]
        assert zf.testzip() is None
    store = await ZipStore.open(path, mode="r")
    assert await read(store, key) == b"v"
    store.close()


async def test_keys_that_differ_only_in_unicode_normalization_stay_two_keys(
    tmp_path: Path,
) -> None:
    # As in MemoryStore: keys are compared as strings, never normalized; an overwrite
    # and a close that compacts keep both, each with its own value.
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    path = tmp_path / "norm.zip"
    store = await ZipStore.open(path, mode="w")
    await store.set(nfc, buf(b"composed"))
    await store.set(nfd, buf(b"decomposed"))
    await store.set(nfc, buf(b"composed again"))
    store.close()
    assert_whole(path, {nfc: b"composed again", nfd: b"decomposed"})
    store = await ZipStore.open(path, mode="r")
    assert sorted([k async for k in store.list()]) == sorted([nfc, nfd])
    assert await read(store, nfd) == b"decomposed"
    store.close()


# ---------------------------------------------------------------- other limits


@pytest.mark.parametrize("now", [100.0, 4.5e9], ids=["1970", "2112"])
async def test_a_clock_outside_the_formats_dates_still_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, now: float
) -> None:
    # A machine without a real-time clock boots in 1970; a header holds 1980 to 2107.
    # zipfile refused every write ("ZIP does not support timestamps before 1980", or a
    # struct.error after 2107); the nearest date the format holds is written instead.
    path = tmp_path / "clock.zip"
    store = await ZipStore.open(path, mode="w")
    await store.set("before", buf(b"1"))
    clock = types.SimpleNamespace(time=lambda: now, localtime=time.localtime)
    monkeypatch.setattr(_archive, "time", clock)
    await store.set("k", buf(b"v"))
    monkeypatch.undo()
    store.close()
    assert_whole(path, {"before": b"1", "k": b"v"})
    with zipfile.ZipFile(path) as zf:
        year = zf.getinfo("k").date_time[0]
    assert year == (1980 if now < 1e9 else 2107)


async def test_an_archive_whose_name_is_nearly_the_longest_a_file_can_have_is_writable(
    tmp_path: Path,
) -> None:
    # The temporary file next to the archive (".<name>.<random>.zstore-tmp") must fit
    # the file system's 255 bytes too: with the archive's whole name it did not, and
    # every mode failed with ENAMETOOLONG naming a file the caller never named.
    if os.pathconf(tmp_path, "PC_NAME_MAX") < 253:  # pragma: no cover - unusual file system
        pytest.skip("the temporary directory's file system takes shorter names")
    path = tmp_path / ("n" * 246 + "é.zip")  # 253 bytes
    for mode in ("w", "a"):
        store = await ZipStore.open(path, mode=mode)
        await store.set(f"k-{mode}", buf(mode.encode()))
        store.close()
    store = await ZipStore.open(path, mode="a")
    await store.delete("k-w")  # a close that compacts, through a second temporary file
    store.close()
    assert_whole(path, {"k-a": b"a"})
    assert os.listdir(tmp_path) == [path.name], "no temporary file is left"


async def test_an_archive_path_with_a_nul_is_refused_naming_it(tmp_path: Path) -> None:
    # Every file system call refused it with a bare "embedded null byte".
    bad = tmp_path / "a\x00b.zip"
    with pytest.raises(ValueError, match=r"path '.*a\\x00b\.zip' contains a NUL"):
        ZipStore(bad, mode="w")
    assert os.listdir(tmp_path) == []


async def test_a_failed_write_names_the_key_and_the_archive_and_keeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "full.zip"
    store = await ZipStore.open(path, mode="w")
    await store.set("before", buf(b"kept"))

    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device (simulated)")

    monkeypatch.setattr(_archive, "_pwrite_all", disk_full)
    with pytest.raises(OSError, match="simulated") as info:
        await store.set("lost", buf(b"x" * 100))
    monkeypatch.undo()
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "key 'lost'" in notes, notes
    assert str(path) in notes, notes
    await store.set("after", buf(b"written"))
    store.close()
    assert_whole(path, {"before": b"kept", "after": b"written"})


# ---------------------------------------------------------------- member count

# Past 65,535 members an archive needs ZIP64 end records. Just past the limit costs a
# few seconds here: writing, closing (the append path), reopening, deleting one and
# closing again (the compacting path), with zipfile and `unzip -t` after each close.
MANY = zipfile.ZIP_FILECOUNT_LIMIT + 5


def assert_member_count(path: Path, count: int) -> None:
    """zipfile and ``unzip -t`` read all ``count`` members of ``path`` (without zipfile's
    CRC pass, which for this many members costs more than everything else)."""
    with zipfile.ZipFile(path) as zf:
        assert len(zf.infolist()) == count
        assert zf.read("last") == b"v"
    if shutil.which("unzip") is not None:
        result = subprocess.run(
            ["unzip", "-tq", str(path)], check=False, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


async def test_past_65535_members_the_archive_stays_readable_by_other_tools(
    tmp_path: Path,
) -> None:
    path = tmp_path / "many.zip"
    store = await ZipStore.open(path, mode="w")
    empty = buf(b"")
    await store._set_many((f"c/{i}", empty) for i in range(MANY - 1))
    await store.set("last", buf(b"v"))
    store.close()
    assert_member_count(path, MANY)
    store = await ZipStore.open(path, mode="a")
    assert await read(store, "last") == b"v"
    assert await store.getsize_prefix("c") == 0
    await store.delete("c/0")
    store.close()
    assert_member_count(path, MANY - 1)
