"""StorePath: modes, joining, delegation."""

from __future__ import annotations

from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import Buffer
from zstore.core import READ_ONLY_MESSAGE, MemoryStore, RangeByteRequest, StorePath

if TYPE_CHECKING:
    from zbuffer.core import BufferPrototype


def buf(data: bytes) -> Buffer:
    return Buffer.from_bytes(data)


async def filled() -> MemoryStore:
    store = await MemoryStore.open()
    await store.set("g/a", buf(b"1"))
    await store.set("g/b/c", buf(b"22"))
    await store.set("g-other/x", buf(b"3"))
    return store


async def keys(store: MemoryStore) -> list[str]:
    return sorted([k async for k in store.list()])


async def test_mode_w_minus_on_a_non_empty_path_is_file_exists_error() -> None:
    store = await filled()
    with pytest.raises(FileExistsError, match="'g' with mode 'w-'"):
        await StorePath.open(store, "g", mode="w-")
    assert len(await keys(store)) == 3


async def test_mode_w_minus_on_an_empty_path_succeeds() -> None:
    store = await filled()
    path = await StorePath.open(store, "new", mode="w-")
    assert path.path == "new"
    assert not path.read_only


async def test_mode_w_clears_only_that_path() -> None:
    store = await filled()
    path = await StorePath.open(store, "g", mode="w")
    assert await path.is_empty()
    assert await keys(store) == ["g-other/x"]


@pytest.mark.parametrize("mode", ["a", "r+"])
async def test_modes_a_and_r_plus_change_nothing(mode: str) -> None:
    store = await filled()
    path = await StorePath.open(store, "g", mode=mode)  # type: ignore[arg-type]
    assert not path.read_only
    assert len(await keys(store)) == 3


async def test_mode_r_on_a_writable_store_gives_a_read_only_view(
    proto: BufferPrototype,
) -> None:
    store = await filled()
    path = await StorePath.open(store, "g", mode="r")
    assert path.read_only
    assert not store.read_only
    with pytest.raises(ValueError, match=READ_ONLY_MESSAGE):
        await (path / "a").set(buf(b"x"))
    got = await (path / "a").get(proto)
    assert got is not None
    assert got.to_bytes() == b"1"


@pytest.mark.parametrize("mode", ["r+", "a", "w", "w-"])
async def test_writable_modes_on_a_read_only_store_are_refused(mode: str) -> None:
    store = (await filled()).with_read_only(True)
    with pytest.raises(ValueError, match="read-only"):
        await StorePath.open(store, "g", mode=mode)  # type: ignore[arg-type]


async def test_unknown_mode_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Invalid mode"):
        await StorePath.open(MemoryStore(), "g", mode="x")  # type: ignore[arg-type]


async def test_mode_none_opens_the_store() -> None:
    store = MemoryStore()
    await StorePath.open(store, "g")
    assert store._is_open


async def test_delegation(proto: BufferPrototype) -> None:
    store = await filled()
    root = StorePath(store)
    leaf = root / "g" / "new"
    assert leaf.path == "g/new"
    assert not await leaf.exists()
    await leaf.set(buf(b"v"))
    await leaf.set_if_not_exists(buf(b"other"))
    got = await leaf.get()
    assert got is not None
    assert got.to_bytes() == b"v"
    await leaf.delete()
    assert not await leaf.exists()
    with pytest.raises(NotImplementedError):
        await leaf.set(buf(b"v"), byte_range=RangeByteRequest(0, 1))
    await (root / "g").delete_dir()
    assert await keys(store) == ["g-other/x"]
    assert await (root / "g").is_empty()


def test_paths_are_normalised_and_checked() -> None:
    store = MemoryStore()
    assert StorePath(store, "/a/b/").path == "a/b"
    assert StorePath(store, "").path == ""
    assert (StorePath(store, "a") / "").path == "a"
    assert (StorePath(store) / "a/b").path == "a/b"
    for bad in ["a//b", "../x", "a/./b", "a\\b"]:
        with pytest.raises(ValueError, match="path"):
            StorePath(store, bad)
        with pytest.raises(ValueError, match="path"):
            StorePath(store) / bad


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (Path("a/b"), "a/b"),
        (Path("/a/b/"), "a/b"),  # slashes dropped, as for a str
        (PurePosixPath("a//b/"), "a/b"),
        (PureWindowsPath("a\\b"), "a/b"),  # a Windows separator is a separator
        (Path(""), ""),  # pathlib spells the empty path "."
        (b"a/b", "a/b"),  # bytes are ASCII, as in zarr-python
    ],
    ids=repr,
)
def test_pathlib_paths_and_bytes_are_accepted_as_zarr_does(
    path: PurePath | bytes, expected: str
) -> None:
    store = MemoryStore()
    assert StorePath(store, path).path == expected
    assert (StorePath(store, "root") / path).path == "/".join(p for p in ("root", expected) if p)


@pytest.mark.parametrize(
    "path",
    [Path("../x"), Path("a/../b"), PurePosixPath("a\\b"), b"../x", b"caf\xc3\xa9"],
    ids=repr,
)
def test_pathlib_paths_and_bytes_obey_the_key_rules(path: PurePath | bytes) -> None:
    with pytest.raises(ValueError, match="not a valid store path"):
        StorePath(MemoryStore(), path)


def test_a_path_of_another_type_is_a_type_error_in_zarrs_words() -> None:
    with pytest.raises(TypeError, match=r'^Object 5 has an invalid type for "path": int'):
        StorePath(MemoryStore(), 5)  # type: ignore[arg-type]


def test_equality_and_str() -> None:
    store = MemoryStore()
    assert StorePath(store, "a") == StorePath(store, "a/")
    assert StorePath(store, "a") != StorePath(store, "b")
    assert StorePath(store, "a") != StorePath(MemoryStore({"k": buf(b"1")}), "a")
    assert StorePath(store, "a") != "a"
    assert str(StorePath(store, "a/b")) == f"{store}/a/b"
    assert str(StorePath(store)) == str(store)
    assert "StorePath(MemoryStore" in repr(StorePath(store, "a"))
