"""make_store / make_store_path, including resolution through the zstore.stores group."""

from __future__ import annotations

import os
from importlib.metadata import EntryPoint
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING, Any

import pytest

from zbuffer.cpu import Buffer
from zstore.core import MemoryStore, Store, StorePath, _resolve, make_store, make_store_path

if TYPE_CHECKING:
    from zbuffer.core import Buffer as AnyBuffer
    from zstore.core import AccessModeLiteral


async def test_none_gives_a_new_open_memory_store() -> None:
    first = await make_store(None)
    second = await make_store(None)
    assert isinstance(first, MemoryStore)
    assert first._is_open
    assert isinstance(second, MemoryStore)
    assert first._store_dict is not second._store_dict


async def test_a_dict_becomes_the_store() -> None:
    data: dict[str, AnyBuffer] = {}
    store = await make_store(data)
    assert isinstance(store, MemoryStore)
    await store.set("k", Buffer.from_bytes(b"1"))
    assert "k" in data


async def test_mode_r_makes_the_memory_store_read_only() -> None:
    store = await make_store({}, mode="r")
    assert store.read_only


@pytest.mark.parametrize("mode", [None, "r+", "a", "w", "w-"])
@pytest.mark.parametrize("empty", [True, False], ids=["dict", "None"])
async def test_every_other_mode_makes_a_writable_memory_store(
    mode: AccessModeLiteral | None, empty: bool
) -> None:
    store = await make_store({} if empty else None, mode=mode)
    assert not store.read_only


async def test_stores_and_store_paths_pass_through() -> None:
    store = MemoryStore()
    assert await make_store(store) is store
    assert await make_store(StorePath(store, "a")) is store
    path = StorePath(store, "a")
    assert await make_store_path(path, path="b") == StorePath(store, "a/b")


async def test_make_store_path_opens_in_mode() -> None:
    data: dict[str, AnyBuffer] = {"g/a": Buffer.from_bytes(b"1")}
    with pytest.raises(FileExistsError):
        await make_store_path(data, path="g", mode="w-")
    path = await make_store_path(data, path="g", mode="w")
    assert data == {}
    assert path.path == "g"
    read_only = await make_store_path(None, mode="r")
    assert read_only.read_only


async def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="Invalid mode"):
        await make_store(None, mode="rw")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Unsupported type for store_like: 'int'"):
        await make_store(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="storage_options"):
        await make_store({}, storage_options={"anon": True})
    with pytest.raises(TypeError, match="storage_options"):
        await make_store_path(StorePath(MemoryStore()), storage_options={"anon": True})


class Recorder:
    """A fake resolver that claims what ``claims`` accepts and records its calls."""

    def __init__(self, name: str, claims: Any) -> None:
        self.name = name
        self.claims = claims
        self.calls: list[tuple[object, dict[str, Any]]] = []

    def __call__(self, store_like: object, **kwargs: Any) -> Store | None:
        self.calls.append((store_like, kwargs))
        if self.claims(os.fspath(store_like)):  # type: ignore[call-overload]
            return MemoryStore(read_only=kwargs["read_only"])
        return None


async def test_strings_resolve_through_the_first_resolver_that_claims_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    zip_ = Recorder("zip", lambda s: s.endswith(".zip"))
    local = Recorder("local", lambda s: "://" not in s)
    monkeypatch.setattr(_resolve, "store_resolvers", lambda: [("zip", zip_), ("local", local)])

    store = await make_store("data.zip", mode="r")
    assert isinstance(store, MemoryStore)
    assert store.read_only
    assert store._is_open
    assert zip_.calls == [("data.zip", {"mode": "r", "read_only": True, "storage_options": None})]
    assert local.calls == [], "a later resolver was asked after one claimed the path"

    await make_store(Path("some/dir"), mode="a")
    assert local.calls[-1][0] == Path("some/dir")
    assert local.calls[-1][1]["read_only"] is False


async def test_async_resolvers_are_awaited(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(store_like: object, **kwargs: Any) -> Store | None:
        return MemoryStore()

    monkeypatch.setattr(_resolve, "store_resolvers", lambda: [("x", resolve)])
    assert isinstance(await make_store("anything"), MemoryStore)


async def test_storage_options_reach_resolvers_for_remote_urls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    remote = Recorder("fsspec", lambda s: s.startswith("s3://"))
    monkeypatch.setattr(_resolve, "store_resolvers", lambda: [("fsspec", remote)])
    await make_store("s3://bucket/key", storage_options={"anon": True})
    assert remote.calls[0][1]["storage_options"] == {"anon": True}
    with pytest.raises(TypeError, match="storage_options"):
        await make_store("local/path", storage_options={"anon": True})


@pytest.mark.parametrize(
    "url", ["simplecache::s3://bucket/data.zarr", "filecache::gs://bucket/key", "zip::memory://a"]
)
async def test_storage_options_reach_resolvers_for_chained_urls(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    remote = Recorder("fsspec", lambda s: "::" in s)
    monkeypatch.setattr(_resolve, "store_resolvers", lambda: [("fsspec", remote)])
    options = {"s3": {"anon": True}}
    await make_store(url, storage_options=options)
    await make_store_path(url, path="g", storage_options=options)
    assert [call[1]["storage_options"] for call in remote.calls] == [options, options], (
        f"{url} is a remote URL: its storage_options belong to the resolver"
    )


async def test_memory_urls_take_no_storage_options_as_in_zarr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_resolve, "store_resolvers", list)
    with pytest.raises(TypeError, match="storage_options"):
        await make_store("memory://x", storage_options={})


async def test_error_messages_are_zarrs_word_for_word() -> None:
    # Code written against zarr-python 3.4.2 may match these texts in full.
    modes = "('r', 'r+', 'a', 'w', 'w-')"
    with pytest.raises(ValueError) as info:
        await make_store(None, mode="x")  # type: ignore[arg-type]
    assert str(info.value) == f"Invalid mode: x, expected one of {modes}"
    with pytest.raises(ValueError) as info:
        await StorePath.open(MemoryStore(), "g", mode="x")  # type: ignore[arg-type]
    assert str(info.value) == f"Invalid mode: x, expected one of {modes}"
    unused = (
        "'storage_options' was provided but unused. "
        "'storage_options' is only used when the store is passed as an FSSpec URI string."
    )
    with pytest.raises(TypeError) as type_info:
        await make_store({}, storage_options={})
    assert str(type_info.value) == unused
    with pytest.raises(TypeError) as type_info:
        await make_store_path(StorePath(MemoryStore()), storage_options={"anon": True})
    assert str(type_info.value) == unused


@pytest.mark.parametrize(
    ("path", "expected"),
    [(Path("a"), "a"), (Path("/a/b/"), "a/b"), (PureWindowsPath("a\\b"), "a/b"), (b"a/b", "a/b")],
    ids=str,
)
async def test_make_store_path_takes_pathlib_paths_as_zarr_does(
    path: Path | bytes, expected: str
) -> None:
    store_path = await make_store_path({}, path=path)
    assert store_path.path == expected
    joined = await make_store_path(StorePath(MemoryStore(), "root"), path=path)
    assert joined.path == f"root/{expected}"


@pytest.mark.parametrize(
    ("store_like", "dist"),
    [
        ("data.zip", "zstore-zip"),
        ("DATA.ZIP", "zstore-zip"),
        (Path("dir/archive.zip"), "zstore-zip"),
        ("s3://bucket/key", "zstore-fsspec"),
        ("gs://bucket/key", "zstore-fsspec"),
        ("http://host/data", "zstore-fsspec"),
        ("https://host/data.zip", "zstore-fsspec"),
        ("memory://x", "zstore-fsspec"),
        # fsspec chained URLs: the first protocol is the scheme, as zarr-python reads it.
        ("simplecache::s3://bucket/data.zarr", "zstore-fsspec"),
        ("zip::https://host/archive.zip", "zstore-fsspec"),
        ("simplecache::/tmp/archive.zip", "zstore-fsspec"),
        ("blockcache::file:///tmp/data", "zstore-fsspec"),
        ("some/local/dir", "zstore-local"),
        (Path("/tmp/data"), "zstore-local"),
        ("file:///tmp/data", "zstore-local"),
        ("C:\\data", "zstore-local"),
        # A one-letter scheme is a Windows drive, never a URL.
        ("C://data", "zstore-local"),
        ("d://dir/archive.zip", "zstore-zip"),
        # Only a plain file:// URL is local: a chain that starts with file:: is fsspec's.
        ("file::s3://bucket/data", "zstore-fsspec"),
    ],
)
async def test_unclaimed_strings_say_which_distribution_to_install(
    monkeypatch: pytest.MonkeyPatch, store_like: str | Path, dist: str
) -> None:
    monkeypatch.setattr(_resolve, "store_resolvers", list)
    with pytest.raises(ImportError) as info:
        await make_store(store_like)
    message = str(info.value)
    assert f"pip install {dist}" in message, message
    assert repr(os.fspath(store_like)) in message, message


def fake_entry_points(*pairs: tuple[str, str]) -> Any:
    def lookup(*, group: str) -> list[EntryPoint]:
        assert group == "zstore.stores"
        return [EntryPoint(name, value, group) for name, value in pairs]

    return lookup


def test_entry_points_are_loaded_in_order_with_local_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        _resolve,
        "entry_points",
        fake_entry_points(
            ("local", "zstore.core:MemoryStore"),
            ("zip", "zstore.core:StorePath"),
            ("fsspec", "zstore.core:make_store"),
        ),
    )
    resolvers = _resolve.store_resolvers()
    assert [name for name, _ in resolvers] == ["fsspec", "zip", "local"]
    assert resolvers[2][1] is MemoryStore  # type: ignore[comparison-overlap]


def test_a_broken_entry_point_is_an_import_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        _resolve, "entry_points", fake_entry_points(("broken", "no_such_module_xyz:resolve"))
    )
    with pytest.raises(ImportError, match=r"'broken'.*no_such_module_xyz"):
        _resolve.store_resolvers()


def test_installed_entry_points_are_callables() -> None:
    resolvers = _resolve.store_resolvers()
    assert all(callable(resolve) for _, resolve in resolvers), resolvers
