"""Keys, roots and destinations the operating system cannot hold: names over NAME_MAX,
paths over PATH_MAX, characters the file system encoding cannot store.

Writes fail with an error that names the key (or root) and the limit, and leave nothing
behind: no temporary file, no directory made for the key. Reads of a key that cannot
exist answer as for a missing key. A key that may exist but cannot be reached by its path
is an error, never "missing".
"""

from __future__ import annotations

import asyncio
import errno
import os
from typing import TYPE_CHECKING, Any

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.local import LocalStore

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

from .conftest import listing

NAME_MAX = 255
VALUE = Buffer.from_bytes(b"new")

# (key, the segment over NAME_MAX, its size in bytes)
LONG_NAMES = [
    pytest.param("a" * 300, "a" * 300, 300, id="name-300"),
    # The directory 'd' must be created first, then the rename fails.
    pytest.param("d/" + "b" * 256, "b" * 256, 256, id="new-dir/name-256"),
    # 128 characters, 256 bytes in UTF-8.
    pytest.param("é" * 128, "é" * 128, 256, id="multibyte-256"),
    pytest.param("sub/" + "é" * 128, "é" * 128, 256, id="existing-dir/multibyte-256"),
    # A directory level too long: mkdir fails.
    pytest.param("c" * 300 + "/x", "c" * 300, 300, id="dir-300"),
]
# 20 segments of 250 bytes: every name fits, the path does not.
LONG_PATH = "/".join(["p" * 250] * 20)
UNENCODABLE = ["\ud800", "q/\ud800", "\ud800/q", "sub/\ud800"]


def _writes(store: LocalStore, key: str) -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("set", lambda: store.set(key, VALUE)),
        ("set_if_not_exists", lambda: store.set_if_not_exists(key, VALUE)),
        ("_set_many", lambda: store._set_many([(key, VALUE)])),
        ("set_sync", lambda: asyncio.to_thread(store.set_sync, key, VALUE)),
    ]


def _directories(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir())


@pytest.fixture
async def filled(root: Path) -> LocalStore:
    store = LocalStore(root)
    await store.set("a" * NAME_MAX, Buffer.from_bytes(b"longest"))  # exactly NAME_MAX
    await store.set("sub/k", Buffer.from_bytes(b"k"))
    return store


async def _unchanged(store: LocalStore, root: Path) -> None:
    assert listing(root) == ["a" * NAME_MAX, "sub/k"], "files (or a temporary file) changed"
    assert _directories(root) == ["sub"], "a directory made for the key was left behind"
    got = await store.get("a" * NAME_MAX)
    assert got is not None, "the value at the shorter key was lost"
    assert got.to_bytes() == b"longest"


@pytest.mark.parametrize(("key", "segment", "size"), LONG_NAMES)
async def test_a_name_longer_than_name_max_fails_naming_the_key_and_the_limit(
    filled: LocalStore, root: Path, key: str, segment: str, size: int
) -> None:
    # 0.1.8 raised "[Errno 36] File name too long: '\\zstore-tmp-...' -> 'aaa...'": the
    # temporary file, no limit, and it left the directory 'd' it had made.
    if os.pathconf(root, "PC_NAME_MAX") != NAME_MAX:
        pytest.skip("this file system's NAME_MAX is not 255")
    for what, call in _writes(filled, key):
        with pytest.raises(OSError, match="NAME_MAX") as info:
            await call()
        error = info.value
        message = str(error)
        assert error.errno == errno.ENAMETOOLONG, what
        assert f"cannot write key {key!r}" in message, f"{what}: {message}"
        assert f"{segment!r} is {size} bytes" in message, f"{what}: {message}"
        assert "at most 255 bytes per name (NAME_MAX)" in message, f"{what}: {message}"
        assert "zstore-tmp" not in message, f"{what} names the temporary file: {message}"
        await _unchanged(filled, root)


async def test_a_path_longer_than_path_max_fails_naming_the_key_and_the_limit(
    filled: LocalStore, root: Path
) -> None:
    # 0.1.8 named the path of the first directory it could not make, and left the
    # (up to 15) levels it had made above it.
    for what, call in _writes(filled, LONG_PATH):
        with pytest.raises(OSError, match="PATH_MAX") as info:
            await call()
        message = str(info.value)
        assert info.value.errno == errno.ENAMETOOLONG, what
        assert f"cannot write key {LONG_PATH[:200]!r}" in message, f"{what}: {message[:300]}"
        assert f"({len(LONG_PATH)} characters)" in message, "the shortened key gives its length"
        assert "where the operating system allows at most 4095" in message
        await _unchanged(filled, root)


@pytest.mark.parametrize("key", [p.values[0] for p in LONG_NAMES] + [LONG_PATH])
async def test_reads_of_a_key_too_long_to_exist_answer_missing(
    filled: LocalStore, root: Path, key: str
) -> None:
    # A key no file can have was never written: reads say "missing", as for any other
    # missing key, and deletes are no-ops. 0.1.8 raised OSError from every one of them.
    assert await filled.get(key, buffer_prototype) is None
    assert await asyncio.to_thread(filled.get_sync, key) is None
    assert not await filled.exists(key)
    with pytest.raises(FileNotFoundError) as info:
        await filled.getsize(key)
    assert info.value.filename == key
    assert await filled.get_partial_values(buffer_prototype, [(key, None)]) == [None]
    assert [pair async for pair in filled._get_many([(key, buffer_prototype, None)])] == [
        (key, None)
    ]
    with pytest.raises(ExceptionGroup) as group:
        [b async for b in filled.get_ranges(key, [None], prototype=buffer_prototype)]
    assert group.group_contains(FileNotFoundError)
    await filled.delete(key)
    await asyncio.to_thread(filled.delete_sync, key)
    await filled.delete_dir(key)
    assert await filled.is_empty(key)
    assert await filled.getsize_prefix(key) == 0
    assert [k async for k in filled.list_dir(key)] == []
    assert [k async for k in filled.list_prefix(key)] == []
    await _unchanged(filled, root)


@pytest.mark.parametrize("key", UNENCODABLE)
async def test_a_key_the_file_system_encoding_cannot_hold(
    filled: LocalStore, root: Path, key: str
) -> None:
    # A lone surrogate cannot become a UTF-8 file name. 0.1.8 raised a UnicodeEncodeError
    # naming no key from every method (delete and list_dir too), and left 'q' behind.
    for what, call in _writes(filled, key):
        with pytest.raises(ValueError, match="file system encoding") as info:
            await call()
        assert f"cannot write key {key!r}" in str(info.value), what
        await _unchanged(filled, root)
    assert await filled.get(key, buffer_prototype) is None
    assert not await filled.exists(key)
    with pytest.raises(FileNotFoundError):
        await filled.getsize(key)
    await filled.delete(key)
    await asyncio.to_thread(filled.delete_sync, key)
    await filled.delete_dir(key)
    assert await filled.is_empty(key)
    assert await filled.getsize_prefix(key) == 0
    assert [k async for k in filled.list_dir(key)] == []
    await _unchanged(filled, root)


async def test_surrogate_escaped_names_round_trip_through_every_method(root: Path) -> None:
    # Undecodable bytes in a file name come back as surrogate escapes ('\udc80'); such a
    # key is written, listed, sized, moved and deleted like any other.
    store = LocalStore(root)
    for key in ["\udc80x", "d\udc80/k", "a b", "new\nline", "c:d"]:
        await store.set(key, Buffer.from_bytes(b"12"))
    assert sorted([k async for k in store.list()]) == sorted(
        ["\udc80x", "d\udc80/k", "a b", "new\nline", "c:d"]
    )
    assert [k async for k in store.list_dir("d\udc80")] == ["k"]
    assert await store.getsize_prefix("d\udc80") == 2
    dest = root.parent / "moved"
    await store.move(dest)
    got = await store.get("\udc80x")
    assert got is not None
    assert got.to_bytes() == b"12"
    await store.delete("\udc80x")
    await store.delete_dir("d\udc80")
    assert sorted([k async for k in store.list()]) == ["a b", "c:d", "new\nline"]
    assert sorted(os.listdir(dest)) == ["a b", "c:d", "new\nline"], "an empty directory stayed"


async def test_a_key_beyond_path_max_that_may_exist_is_an_error_never_missing(
    tmp_path: Path,
) -> None:
    # Keys written under a short root, then the store moved under a deeper one: the keys
    # exist, readable relative to the root's descriptor, but their paths from '/' are over
    # PATH_MAX. Operations that go by path must say so; "no keys" or a silent no-op delete
    # would be wrong. 0.1.8 raised "[Errno 36] File name too long: '<path>'".
    short = tmp_path / "r"
    store = LocalStore(short)
    levels = (4000 - len(str(short)) - 6) // 201
    key = "/".join(["k" * 200] * levels) + "/leaf"
    await store.set(key, Buffer.from_bytes(b"deep"))
    deeper = tmp_path / ("m" * 200) / ("n" * 200) / "r"
    await store.move(deeper)
    assert len(os.fsencode(f"{deeper}/{key}")) >= 4096
    got = await store.get(key)
    assert got is not None, "a key that exists was reported missing"
    assert got.to_bytes() == b"deep"
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("list", lambda: _drain(store.list())),
        ("getsize_prefix", lambda: store.getsize_prefix("")),
        ("delete", lambda: store.delete(key)),
        ("set in a new directory", lambda: store.set(key.rpartition("/")[0] + "/n/x", VALUE)),
    ]
    for what, call in calls:
        with pytest.raises(OSError, match="PATH_MAX") as info:
            await call()
        assert info.value.errno == errno.ENAMETOOLONG, what
        assert "where the operating system allows at most 4095" in str(info.value), what
    still = await store.get(key)
    assert still is not None, "the key was lost"
    assert still.to_bytes() == b"deep"


async def _drain(it: Any) -> list[Any]:
    return [x async for x in it]


# ---------------------------------------------------------------------- roots and moves


@pytest.mark.parametrize(
    "name", ["r" * 300, "/".join(["q" * 250] * 20)], ids=["name-300", "path-5000"]
)
@pytest.mark.parametrize("mode", ["w", "r"])
async def test_a_root_too_long_fails_naming_it_and_leaves_no_directories(
    tmp_path: Path, name: str, mode: str
) -> None:
    # 0.1.8: a bare "[Errno 36] File name too long", after os.makedirs had made the
    # levels of the path that fit (15 empty directories here).
    root = f"{tmp_path}/{name}"
    with pytest.raises(OSError, match="cannot use the store root") as info:
        await LocalStore.open(root, mode=mode)  # type: ignore[arg-type]
    assert info.value.errno == errno.ENAMETOOLONG
    assert "NAME_MAX" in str(info.value) or "PATH_MAX" in str(info.value)
    assert os.listdir(tmp_path) == [], "directories made for the root were left behind"


@pytest.mark.parametrize(
    ("root", "problem"),
    [("x\0y", "NUL character"), ("\ud800", "file system encoding")],
)
def test_a_root_no_path_can_hold_is_refused_at_construction(
    tmp_path: Path, root: str, problem: str
) -> None:
    # 0.1.8 failed on first use with "embedded null byte" or a UnicodeEncodeError, naming
    # no root.
    with pytest.raises(ValueError, match=problem) as info:
        LocalStore(f"{tmp_path}/{root}")
    assert repr(f"{tmp_path}/{root}") in str(info.value)


async def test_bad_move_destinations_fail_clearly_and_change_nothing(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    store = LocalStore(root)
    await store.set("a/b", Buffer.from_bytes(b"ab"))
    (tmp_path / "afile").write_bytes(b"precious")
    cases: list[tuple[object, type[BaseException], str]] = [
        # 0.1.8: shutil.Error after making root/x inside the store (left behind).
        (root / "x" / "inner", ValueError, "inside it"),
        # 0.1.8: "[Errno 17] File exists: '.../afile'".
        (
            tmp_path / "afile" / "x" / "y",
            NotADirectoryError,
            "a parent of the destination is a file",
        ),
        (tmp_path / "afile", FileExistsError, "already exists"),
        # 0.1.8: a bare "File name too long", leaving the levels that fit behind.
        (tmp_path / ("z" * 300), OSError, "NAME_MAX"),
        (tmp_path / "/".join(["y" * 250] * 20), OSError, "PATH_MAX"),
        # 0.1.8 moved the directory, then every call failed (str + bytes).
        (os.fsencode(tmp_path / "bytes"), TypeError, "text path"),
        (f"{tmp_path}/n\0ul", ValueError, "NUL character"),
    ]
    for dest, kind, message in cases:
        with pytest.raises(kind, match=message):
            await store.move(dest)  # type: ignore[arg-type]
        assert sorted(os.listdir(tmp_path)) == ["afile", "root"], f"move to {dest!r} left this"
        assert listing(root) == ["a/b"], f"move to {dest!r} changed the store"
        assert sorted(os.listdir(root)) == ["a"], f"move to {dest!r} left this in the store"
        got = await store.get("a/b")
        assert got is not None, f"after the move to {dest!r}"
        assert got.to_bytes() == b"ab"
    assert (tmp_path / "afile").read_bytes() == b"precious"


# ---------------------------------------------------------------------- a write the OS cuts

_FILE_SIZE_LIMIT_CHILD = """
import asyncio, json, resource, signal, sys
from zbuffer.cpu import Buffer
from zstore.local import LocalStore

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write(), not a signal


async def main(root):
    store = LocalStore(root)
    await store.set("k", Buffer.from_bytes(b"old"))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))
    big = Buffer.from_bytes(b"x" * 5000)
    calls = [
        ("k", lambda: store.set("k", big)),
        ("d/new", lambda: store.set("d/new", big)),
        ("n2", lambda: store.set_if_not_exists("n2", big)),
        ("k", lambda: asyncio.to_thread(store.set_sync, "k", big)),
    ]
    report = []
    for key, call in calls:
        try:
            await call()
        except OSError as exc:
            report.append([key, type(exc).__name__, exc.errno, exc.strerror, exc.filename])
        else:
            report.append([key, "no error"])
    got = await store.get("k")
    print(json.dumps({"errors": report, "old": got.to_bytes().decode()}))


asyncio.run(main(sys.argv[1]))
"""


def test_a_write_the_os_cuts_short_names_the_key_and_leaves_nothing(root: Path) -> None:
    # A full disk (ENOSPC), a quota (EDQUOT) or a file size limit (EFBIG) fails the
    # write() into the temporary file: 0.1.8 raised "[Errno 27] File too large" naming
    # nothing, and left the directory 'd' it had made for 'd/new'. A file size limit is
    # the one a test can set without privileges (RLIMIT_FSIZE, in a child process).
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _FILE_SIZE_LIMIT_CHILD, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key, kind, code, message, filename in result["errors"]:
        assert kind == "OSError", (key, kind)
        assert code == errno.EFBIG, (key, code)
        assert message == f"cannot write key {key!r}: File too large", message
        assert filename == f"{root}/{key}"
    assert result["old"] == "old", "the old value was lost"
    assert listing(root) == ["k"], "a temporary file (or a value) was left behind"
    assert _directories(root) == [], "the directory made for 'd/new' was left behind"
