"""Every bad input of issue 4 gets a clear error and changes nothing already stored."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import stat
import tempfile
from typing import TYPE_CHECKING, Any

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.local import TMP_PREFIX, LocalStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

from .conftest import listing

BAD_KEYS = ["../x", "a/../../x", "/etc/passwd", "a//b", "a/./b", "a\\b", "a/", ".", "..", ""]


@pytest.fixture
async def filled(root: Path) -> LocalStore:
    store = LocalStore(root)
    await store.set("a/b", Buffer.from_bytes(b"ab"))
    await store.set("top", Buffer.from_bytes(b"top"))
    return store


async def _unchanged(store: LocalStore, root: Path) -> None:
    assert listing(root) == ["a/b", "top"], "the files on disk changed"
    got = await store.get("a/b", buffer_prototype)
    assert got is not None
    assert got.to_bytes() == b"ab"


async def _drain(batches: AsyncIterator[object]) -> list[object]:
    return [batch async for batch in batches]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_traversal_and_absolute_keys_are_refused_everywhere(
    filled: LocalStore, root: Path, key: str
) -> None:
    value = Buffer.from_bytes(b"evil")
    calls: list[Callable[[], Any]] = [
        lambda: filled.get(key, buffer_prototype),
        lambda: filled.set(key, value),
        lambda: filled.set_if_not_exists(key, value),
        lambda: filled.delete(key),
        lambda: filled.exists(key),
        lambda: filled.getsize(key),
        lambda: filled._set_many([("ok", value), (key, value)]),
        lambda: filled.get_partial_values(buffer_prototype, [("a/b", None), (key, None)]),
        lambda: _drain(filled.get_ranges(key, [None], prototype=buffer_prototype)),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="key"):
            await call()
    await _unchanged(filled, root)
    assert not (root.parent / "x").exists(), "a traversal key escaped the root"


@pytest.mark.parametrize("prefix", ["../", "..", "/etc", "a//b", "a/../.."])
async def test_bad_directory_prefixes_are_refused(
    filled: LocalStore, root: Path, prefix: str
) -> None:
    with pytest.raises(ValueError, match="prefix"):
        await filled.delete_dir(prefix)
    with pytest.raises(ValueError, match="prefix"):
        [k async for k in filled.list_dir(prefix)]
    with pytest.raises(ValueError, match="prefix"):
        await filled.getsize_prefix(prefix)
    await _unchanged(filled, root)


async def test_list_prefix_never_leaves_the_root(filled: LocalStore, root: Path) -> None:
    (root.parent / "outside").write_bytes(b"x")
    for prefix in ["../", "../outside", "/", "/etc"]:
        assert [k async for k in filled.list_prefix(prefix)] == []


async def test_a_prefix_starting_with_a_slash_matches_no_key(root: Path) -> None:
    # Keys never start with '/': "/etc" must not match the key "etc/passwd".
    store = LocalStore(root)
    await store.set("etc/passwd", Buffer.from_bytes(b"x"))
    for prefix in ["/etc", "/etc/", "/e", "/"]:
        assert [k async for k in store.list_prefix(prefix)] == [], prefix
    assert [k async for k in store.list_prefix("etc")] == ["etc/passwd"]


async def test_no_key_can_name_a_temporary_file(filled: LocalStore, root: Path) -> None:
    # Temporary names start with a backslash, which every key spelling is refused for.
    for key in [TMP_PREFIX + "1", "a/" + TMP_PREFIX + "x"]:
        with pytest.raises(ValueError, match="backslash"):
            await filled.set(key, Buffer.from_bytes(b"x"))
    # Names that merely look like ours are ordinary keys.
    await filled.set(".zstore-tmp-lookalike", Buffer.from_bytes(b"ok"))
    assert [k async for k in filled.list_dir("")].count(".zstore-tmp-lookalike") == 1
    await filled.delete(".zstore-tmp-lookalike")
    await _unchanged(filled, root)


async def test_writing_a_key_that_names_a_directory_is_refused(
    filled: LocalStore, root: Path
) -> None:
    with pytest.raises(IsADirectoryError, match="'a'") as info:
        await filled.set("a", Buffer.from_bytes(b"x"))
    assert "delete_dir" in str(info.value)
    with pytest.raises(IsADirectoryError, match="'a'"):
        await filled.set_if_not_exists("a", Buffer.from_bytes(b"x"))
    # Reading, sizing or deleting a directory treats it as "no such key", never recursively.
    assert await filled.get("a", buffer_prototype) is None
    assert not await filled.exists("a")
    with pytest.raises(FileNotFoundError):
        await filled.getsize("a")
    await filled.delete("a")
    await _unchanged(filled, root)


async def test_writing_under_a_key_that_is_a_file_is_refused(
    filled: LocalStore, root: Path
) -> None:
    with pytest.raises(NotADirectoryError, match="'top'"):
        await filled.set("top/c/0", Buffer.from_bytes(b"x"))
    assert await filled.get("top/c/0", buffer_prototype) is None
    await filled.delete("top/c/0")  # a missing key: no-op
    await _unchanged(filled, root)


async def test_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"precious")
    for mode in ["r", "r+", "a", "w", "w-"]:
        with pytest.raises(NotADirectoryError, match="not a directory") as info:
            await LocalStore.open(path, mode=mode)  # type: ignore[arg-type]
        assert str(path) in str(info.value)
    with pytest.raises(NotADirectoryError):
        await LocalStore(path).set("k", Buffer.from_bytes(b"x"))
    assert path.read_bytes() == b"precious"


@pytest.mark.parametrize("mode", ["r", "a", "w"])
async def test_root_behind_a_dangling_link_names_the_link(tmp_path: Path, mode: str) -> None:
    # 0.1.7 before this fix told a writable store "store root does not exist (stores opened
    # read-only or with mode 'r' or 'r+' never create it)": wrong for mode 'a' or 'w', and
    # silent about the real problem, a link whose target is missing.
    (tmp_path / "link").symlink_to(tmp_path / "gone", target_is_directory=True)
    for root in (tmp_path / "link", tmp_path / "link" / "deeper"):
        with pytest.raises(FileNotFoundError, match="dangling symbolic link") as info:
            await LocalStore.open(root, mode=mode)  # type: ignore[arg-type]
        assert str(tmp_path / "link") in str(info.value)
        assert "read-only" not in str(info.value)
    assert not (tmp_path / "gone").exists(), "the link's target was created"


@pytest.mark.parametrize("mode", ["r", "r+"])
async def test_modes_r_and_r_plus_never_create_the_root(tmp_path: Path, mode: str) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        await LocalStore.open(missing, mode=mode, read_only=mode == "r")  # type: ignore[arg-type]
    assert info.value.filename == str(missing)
    assert not missing.exists()


async def test_other_modes_create_the_root(tmp_path: Path) -> None:
    for mode in ["a", "w", "w-"]:
        store = await LocalStore.open(tmp_path / mode / "deep", mode=mode)  # type: ignore[arg-type]
        assert store.root.is_dir()
        assert not store.read_only


def test_bad_root_types_are_refused() -> None:
    with pytest.raises(TypeError, match="'root' must be a string or Path"):
        LocalStore(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        LocalStore("")


async def test_bad_values_are_refused(filled: LocalStore, root: Path) -> None:
    with pytest.raises(TypeError, match="must be a Buffer"):
        await filled.set("a/b", b"raw bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Unexpected byte_range"):
        await filled.get("a/b", buffer_prototype, byte_range=(0, 1))  # type: ignore[arg-type]
    await _unchanged(filled, root)


async def test_read_only_store_writes_nothing(filled: LocalStore, root: Path) -> None:
    reader = filled.with_read_only(True)
    message = "store was opened in read-only mode and does not support writing"
    value = Buffer.from_bytes(b"x")
    calls: list[Callable[[], Any]] = [
        lambda: reader.set("a/b", value),
        lambda: reader.set_if_not_exists("new", value),
        lambda: reader._set_many([("new", value)]),
        lambda: reader.delete("a/b"),
        lambda: reader.delete_dir("a"),
        reader.clear,
        lambda: reader.move(root.parent / "elsewhere"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=message):
            await call()
    await _unchanged(filled, root)


async def test_read_only_store_refuses_the_sync_writes(filled: LocalStore, root: Path) -> None:
    reader = filled.with_read_only(True)
    message = "store was opened in read-only mode and does not support writing"
    with pytest.raises(ValueError, match=message):
        reader.set_sync("a/b", Buffer.from_bytes(b"x"))
    with pytest.raises(ValueError, match=message):
        reader.set_sync("new", Buffer.from_bytes(b"x"))
    with pytest.raises(ValueError, match=message):
        reader.delete_sync("a/b")
    with pytest.raises(ValueError, match=message):
        reader.delete_sync("missing")
    await _unchanged(filled, root)
    got = reader.get_sync("a/b")
    assert got is not None, "a read-only store must still read"
    assert got.to_bytes() == b"ab"


# ---------------------------------------------------------------------- permissions
#
# The tests run as root here, and root ignores directory permissions, so a chmod alone
# proves nothing. Instead the checks run in a forked child that first drops to an
# unprivileged user (nobody) when it is root: the kernel then enforces the mode bits for
# real. Run as a normal user, the child just keeps its uid.

NOBODY = 65534


def _as_unprivileged(func: Callable[[str], list[str]], root: str) -> list[str]:
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[str]] = ctx.Queue()

    def child() -> None:
        try:
            if os.geteuid() == 0:
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            queue.put(func(root))
        except BaseException as exc:
            queue.put([f"child crashed: {exc!r}"])

    proc = ctx.Process(target=child)
    proc.start()
    result = queue.get(timeout=60)
    proc.join(60)
    return result


def _permission_checks(root: str) -> list[str]:
    """Run in the child; return what went wrong (empty if every check held)."""
    problems: list[str] = []

    async def main() -> None:
        store = LocalStore(root)
        value = Buffer.from_bytes(b"new")
        # (what, the key the error must name, call). 0.1.7 before this fix named only the
        # temporary file ('\\zstore-tmp-...') for a write, the bare file name for a delete.
        checks: list[tuple[str, str | None, Callable[[], Any]]] = [
            ("set of a new key", "new", lambda: store.set("new", value)),
            ("overwrite", "k", lambda: store.set("k", value)),
            ("set in a new directory", "d/e", lambda: store.set("d/e", value)),
            ("set_if_not_exists", "new2", lambda: store.set_if_not_exists("new2", value)),
            ("set_sync", "k", lambda: asyncio.to_thread(store.set_sync, "k", value)),
            ("delete", "k", lambda: store.delete("k")),
            ("delete_sync", "k", lambda: asyncio.to_thread(store.delete_sync, "k")),
            ("delete in a directory", "sub/k2", lambda: store.delete("sub/k2")),
            ("clear", None, store.clear),
        ]
        for what, key, call in checks:
            try:
                await call()
            except PermissionError as exc:
                if key is not None and (f"{key!r}" not in str(exc) or "zstore-tmp" in str(exc)):
                    problems.append(f"{what}: {exc} does not name the key {key!r}")
            except BaseException as exc:
                problems.append(f"{what}: {exc!r} instead of PermissionError")
            else:
                problems.append(f"{what}: no error on a read-only directory")
        got = await store.get("k", buffer_prototype)
        if got is None or got.to_bytes() != b"old":
            problems.append(f"old value changed or unreadable: {got!r}")
        try:
            await LocalStore.open(os.path.join(root, "sub", "deeper"))
        except PermissionError:
            pass
        except BaseException as exc:
            problems.append(f"creating a root under it: {exc!r} instead of PermissionError")

    asyncio.run(main())
    return problems


# The fork happens while the store's pool threads idle; the child makes its own pool.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_read_only_root_directory_raises_permission_error() -> None:
    # A directory outside pytest's tmp (which is private to root) so nobody can reach it.
    base = tempfile.mkdtemp(prefix="zstore-local-perm-")
    try:
        os.chmod(base, 0o755)
        root = os.path.join(base, "root")
        os.mkdir(root)
        with open(os.path.join(root, "k"), "wb") as f:
            f.write(b"old")
        os.chmod(os.path.join(root, "k"), 0o444)
        os.mkdir(os.path.join(root, "sub"))
        with open(os.path.join(root, "sub", "k2"), "wb") as f:
            f.write(b"old2")
        os.chmod(os.path.join(root, "sub"), 0o555)
        os.chmod(root, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | 0o005)
        if os.geteuid() != 0:
            # Without root we cannot give the directory away, so make it ours but 0o555.
            pass
        problems = _as_unprivileged(_permission_checks, root)
        assert problems == [], problems
        with open(os.path.join(root, "k"), "rb") as f:
            assert f.read() == b"old"
        assert sorted(os.listdir(root)) == ["k", "sub"], "a temporary file was left behind"
        assert os.listdir(os.path.join(root, "sub")) == ["k2"]
    finally:
        for path, dirs, _ in os.walk(base):
            for d in dirs:
                os.chmod(os.path.join(path, d), 0o755)
        import shutil

        shutil.rmtree(base)


def _read_permission_checks(base: str) -> list[str]:
    """Run in the child; return what went wrong (empty if every check held)."""
    problems: list[str] = []
    root = os.path.join(base, "root")

    async def main() -> None:
        store = LocalStore(root, read_only=True)
        checks: list[tuple[str, Callable[[], Any]]] = [
            ("get of an unreadable file", lambda: store.get("secret", buffer_prototype)),
            ("get_sync of an unreadable file", lambda: asyncio.to_thread(store.get_sync, "secret")),
            # An absolute link: the kernel will not follow it beneath the root (slow path).
            ("get through an absolute link", lambda: store.get("alias", buffer_prototype)),
            ("get in an unreadable directory", lambda: store.get("hidden/k", buffer_prototype)),
            ("list_dir of an unreadable directory", lambda: _drain(store.list_dir("hidden"))),
            ("is_empty of an unreadable directory", lambda: store.is_empty("hidden")),
            ("list", lambda: _drain(store.list())),
            ("open of an unreadable root", lambda: LocalStore.open(base + "/xroot", mode="r")),
        ]
        for what, call in checks:
            try:
                got = await call()
            except PermissionError:
                pass
            except BaseException as exc:
                problems.append(f"{what}: {exc!r} instead of PermissionError")
            else:
                problems.append(f"{what}: {got!r} instead of PermissionError")
        ok = await store.get("ok", buffer_prototype)
        if ok is None or ok.to_bytes() != b"ok":
            problems.append(f"a readable key next to them: {ok!r}")

    asyncio.run(main())
    return problems


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_unreadable_files_and_directories_raise_permission_error_not_missing() -> None:
    # Unreadable is not missing: a store that answered None (or an empty listing) would let
    # zarr fill a chunk with the fill value, or report a group empty, over real data.
    base = tempfile.mkdtemp(prefix="zstore-local-perm-")
    try:
        os.chmod(base, 0o755)
        root = os.path.join(base, "root")
        os.makedirs(os.path.join(root, "hidden"))
        for name, data in [("ok", b"ok"), ("secret", b"s"), ("hidden/k", b"h")]:
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
        os.symlink(os.path.join(root, "secret"), os.path.join(root, "alias"))
        os.chmod(root, 0o755)
        os.chmod(os.path.join(root, "ok"), 0o644)
        os.chmod(os.path.join(root, "secret"), 0o000)
        os.chmod(os.path.join(root, "hidden"), 0o000)
        xroot = os.path.join(base, "xroot")  # searchable, not readable
        os.mkdir(xroot)
        os.chmod(xroot, 0o311)
        problems = _as_unprivileged(_read_permission_checks, base)
        assert problems == [], problems
    finally:
        for path, dirs, _ in os.walk(base):
            for d in dirs:
                os.chmod(os.path.join(path, d), 0o755)
        import shutil

        shutil.rmtree(base)
