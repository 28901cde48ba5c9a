"""What other programs do to a store's directory: link cycles, empty directories, links to
directories where a key is written, and a root removed or replaced while the store is open."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.local import LocalStore

from .conftest import listing

if TYPE_CHECKING:
    from pathlib import Path


def buf(data: bytes) -> Buffer:
    return Buffer.from_bytes(data)


async def keys_of(it: object) -> list[str]:
    return sorted([k async for k in it])  # type: ignore[attr-defined]


async def value_of(store: LocalStore, key: str) -> bytes | None:
    got = await store.get(key, buffer_prototype)
    return None if got is None else got.to_bytes()


# ---------------------------------------------------------------------- link cycles


async def test_directories_linked_to_each_other_are_listed_without_looping(root: Path) -> None:
    store = LocalStore(root)
    await store.set("x/a", buf(b"1"))
    await store.set("y/b", buf(b"22"))
    (root / "x" / "l").symlink_to("../y", target_is_directory=True)
    (root / "y" / "m").symlink_to("../x", target_is_directory=True)
    # Each link is followed once; back into a directory on the walk path it is not.
    # 0.1.6 followed x/l/m/l/m/... until the kernel's ELOOP.
    assert await keys_of(store.list()) == ["x/a", "x/l/b", "y/b", "y/m/a"]
    assert await keys_of(store.list_prefix("x/")) == ["x/a", "x/l/b"]
    assert await keys_of(store.list_prefix("x/l/")) == ["x/l/b", "x/l/m/a"]
    assert await keys_of(store.list_dir("x")) == ["a", "l"]
    assert await store.getsize_prefix("x") == 3
    assert await store.getsize_prefix("") == 6
    assert not await store.is_empty("x/l")


async def test_a_cycle_of_links_holding_no_keys_is_empty(root: Path) -> None:
    (root / "x").mkdir()
    (root / "y").mkdir()
    (root / "x" / "l").symlink_to("../y", target_is_directory=True)
    (root / "y" / "m").symlink_to("../x", target_is_directory=True)
    store = LocalStore(root)
    assert await store.is_empty("")
    assert await keys_of(store.list_dir("")) == []
    assert await keys_of(store.list()) == []


# ---------------------------------------------------------------------- keys in the way


async def test_an_empty_directory_does_not_block_writing_its_key(root: Path) -> None:
    (root / "a").mkdir()
    (root / "b").mkdir()
    store = LocalStore(root)
    assert await store.is_empty("a")
    await store.set("a", buf(b"v"))  # 0.1.6: "it is a directory holding other keys"
    await store.set_if_not_exists("b", buf(b"w"))
    assert await value_of(store, "a") == b"v"
    assert await value_of(store, "b") == b"w"
    assert listing(root) == ["a", "b"]


async def test_a_directory_holding_a_key_still_blocks_writing_its_key(root: Path) -> None:
    store = LocalStore(root)
    await store.set("a/k", buf(b"kept"))
    for write in (store.set, store.set_if_not_exists):
        with pytest.raises(IsADirectoryError, match="'a': it is a directory holding"):
            await write("a", buf(b"v"))
    assert listing(root) == ["a/k"]


async def test_writing_a_key_that_is_a_link_to_a_directory_is_refused(root: Path) -> None:
    store = LocalStore(root)
    await store.set("real/x", buf(b"1"))
    (root / "a").symlink_to("real", target_is_directory=True)
    assert await keys_of(store.list()) == ["a/x", "real/x"]
    # 0.1.6 renamed the value over the link: the keys under a/ vanished without an error.
    for write in (store.set, store.set_if_not_exists):
        with pytest.raises(IsADirectoryError, match="'a': it is a symbolic link to a dir"):
            await write("a", buf(b"2"))
    with pytest.raises(IsADirectoryError, match="'a'"):
        await store._set_many([("a", buf(b"2"))])
    assert (root / "a").is_symlink()
    assert await keys_of(store.list()) == ["a/x", "real/x"]
    await store.delete_dir("a")  # what the error says to do: removes the link only
    await store.set("a", buf(b"2"))
    assert await value_of(store, "a") == b"2"
    assert await value_of(store, "real/x") == b"1"


async def test_deleting_a_key_that_is_a_link_to_a_directory_keeps_the_keys_under_it(
    root: Path,
) -> None:
    # 0.1.7 before this fix unlinked the link: delete("a"), where "a" is no key (exists is
    # False, writes are refused as for a directory), took away every key under "a/". A
    # delete of a directory is a no-op; delete_dir("a") is what removes the link.
    store = LocalStore(root)
    await store.set("real/x", buf(b"1"))
    (root / "a").symlink_to("real", target_is_directory=True)
    (root / "b").symlink_to(root / "real", target_is_directory=True)
    assert not await store.exists("a")
    await store.delete("a")
    store.delete_sync("b")
    assert (root / "a").is_symlink()
    assert (root / "b").is_symlink()
    assert await keys_of(store.list()) == ["a/x", "b/x", "real/x"]
    assert await value_of(store, "a/x") == b"1"
    await store.delete_dir("a")  # the documented way: the link goes, its target stays
    assert await keys_of(store.list()) == ["b/x", "real/x"]


async def test_a_link_to_a_file_is_overwritten_as_a_key(root: Path) -> None:
    store = LocalStore(root)
    await store.set("target", buf(b"1"))
    (root / "alias").symlink_to("target")
    await store.set("alias", buf(b"2"))  # replaces the link, as zarr-python does
    assert not (root / "alias").is_symlink()
    assert await value_of(store, "alias") == b"2"
    assert await value_of(store, "target") == b"1"


# ---------------------------------------------------------------------- the root replaced


def _replace_root(root: Path, files: dict[str, bytes]) -> None:
    """What a pipeline re-run by another program does: rm -rf root, then fill it anew."""
    shutil.rmtree(root)
    root.mkdir()
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)


def _directories_report_two_links(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``os.fstat`` say what overlayfs says of a directory removed from a container
    image's layer: 2 links (or 1 once copied up), never 0, removed or not."""
    real_fstat = os.fstat

    def fstat(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        if not stat.S_ISDIR(st.st_mode):
            return st
        return os.stat_result((*st[:3], 2, *st[4:]))

    monkeypatch.setattr(os, "fstat", fstat)


# "overlayfs": 0.1.7 before its release took a link count above 0 for proof that the root
# was not removed, and kept looking beneath the removed directory (as 0.1.6 always did).
@pytest.mark.parametrize("link_count", ["counted", "overlayfs"])
async def test_a_root_removed_and_made_again_while_open_is_used_by_path(
    root: Path, monkeypatch: pytest.MonkeyPatch, link_count: str
) -> None:
    if link_count == "overlayfs":
        _directories_report_two_links(monkeypatch)
    store = LocalStore(root)
    await store.set("a/k", buf(b"old"))
    await store.set("top", buf(b"old"))
    _replace_root(root, {"a/k": b"new", "top": b"new"})
    # 0.1.6 kept looking beneath its descriptor of the removed directory: None, False.
    assert await value_of(store, "a/k") == b"new"
    assert await store.exists("top")
    assert await store.getsize("top") == 3
    assert store.get_sync("top") is not None
    assert await keys_of(store.list_dir("a")) == ["k"]
    assert await keys_of(store.list_dir("")) == ["a", "top"]
    # 0.1.6: FileNotFoundError naming a temporary file.
    await store.set("b", buf(b"x"))
    await store.set_if_not_exists("c", buf(b"y"))
    store.set_sync("d", buf(b"z"))
    assert listing(root) == ["a/k", "b", "c", "d", "top"]


@pytest.mark.parametrize("link_count", ["counted", "overlayfs"])
async def test_a_root_moved_away_is_used_until_close(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch, link_count: str
) -> None:
    if link_count == "overlayfs":
        _directories_report_two_links(monkeypatch)
    store = LocalStore(root)
    await store.set("k", buf(b"old"))
    root.rename(tmp_path / "old")
    root.mkdir()
    (root / "k").write_bytes(b"new")
    (root / "only-new").write_bytes(b"new")
    # The moved directory still holds keys, so it was not removed: a miss there stands.
    assert await value_of(store, "k") == b"old"
    assert await value_of(store, "only-new") is None
    store.close()
    assert await value_of(store, "only-new") == b"new"


# The same on a real overlayfs, mounted in a user and mount namespace of a child process:
# a root that is a directory of the lower layer, as in a container image, removed and made
# again. Read-only, it is never copied up (2 links after removal); written to, it is (1).
_OVERLAY_CHILD = """
import asyncio, os, shutil, sys
from zbuffer.cpu import Buffer
from zstore.local import LocalStore

async def main(root, read_only):
    store = LocalStore(root, read_only=read_only)
    if not read_only:
        await store.set("k", Buffer.from_bytes(b"old"))
    assert await store.get("missing") is None  # opens the store's root descriptor
    old_root = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    shutil.rmtree(root)
    os.mkdir(root)
    with open(os.path.join(root, "k"), "wb") as f:
        f.write(b"new")
    got = await store.get("k")
    print(os.fstat(old_root).st_nlink, got and got.to_bytes())

for name in sys.argv[1:]:
    asyncio.run(main(name, name.endswith("read-only")))
"""


def test_a_root_removed_from_an_overlayfs_lower_layer_is_used_by_path(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare(1) to mount an overlayfs in a namespace of a child")
    layers = {name: tmp_path / name for name in ("lower", "upper", "work", "merged")}
    for path in layers.values():
        path.mkdir()
    roots = ["read-only", "written"]
    for name in roots:
        (layers["lower"] / name).mkdir()
    (layers["lower"] / "written" / "k").write_bytes(b"image")
    options = "userxattr,lowerdir={lower},upperdir={upper},workdir={work}".format(**layers)
    merged = layers["merged"]
    script = 'mount -t overlay overlay -o "$1" "$2" || exit 77; shift 2; exec "$@"'
    child = subprocess.run(
        [
            unshare,
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            script,
            "sh",
            options,
            str(merged),
            sys.executable,
            "-c",
            _OVERLAY_CHILD,
            *(str(merged / name) for name in roots),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if child.returncode == 77 or "unshare:" in child.stderr:
        pytest.skip(f"cannot mount an overlayfs in a user namespace here: {child.stderr!r}")
    assert child.returncode == 0, child.stderr
    # Each line: the link count the removed root reports (2, then 1, on Linux 6.18), then
    # what get("k") read afterwards.
    read = [line.partition(" ")[2] for line in child.stdout.splitlines()]
    assert read == ["b'new'", "b'new'"], child.stdout


async def test_close_makes_the_store_use_the_directory_now_at_its_root(
    tmp_path: Path, root: Path
) -> None:
    store = LocalStore(root)
    await store.set("k", buf(b"old"))
    # Moved away rather than removed: the old directory still exists, elsewhere.
    root.rename(tmp_path / "old")
    root.mkdir()
    (root / "k").write_bytes(b"new")
    store.close()
    assert await value_of(store, "k") == b"new"
    await store.set("k2", buf(b"v"))
    assert listing(root) == ["k", "k2"]
    assert listing(tmp_path / "old") == ["k"]


async def test_writing_into_a_removed_root_names_the_key(root: Path) -> None:
    store = LocalStore(root)
    await store.set("a/k", buf(b"old"))
    shutil.rmtree(root)
    for key in ("b", "a/k2"):
        with pytest.raises(FileNotFoundError, match=f"cannot write key '{key}': the store root"):
            await store.set(key, buf(b"x"))
    assert not root.exists(), "a write made the removed root again"
    store.close()  # reopening makes the root again (a writable store may create it)
    await store.set("b", buf(b"x"))
    assert listing(root) == ["b"]
