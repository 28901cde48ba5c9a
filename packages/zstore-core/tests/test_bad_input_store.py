"""Bad input: a clear error naming the argument and the value, and no stored data changed.

Where zarr-python 3.4.2 raises for the same input, the error is also an instance of zarr's
exception type, so code moved from ``zarr.storage`` that catches it still does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.core import (
    MemoryStore,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    StorePath,
    SuffixByteRequest,
    _resolve,
    make_store,
    make_store_path,
    normalize_byte_range,
    normalize_prefix,
    validate_key,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from zbuffer.core import Buffer as AnyBuffer
    from zbuffer.core import BufferPrototype
    from zstore.core import ByteRequest


def buf(data: bytes) -> Buffer:
    return Buffer.from_bytes(data)


async def filled() -> MemoryStore:
    store = await MemoryStore.open()
    await store.set("a/x", buf(b"0123456789"))
    return store


def contents(store: MemoryStore) -> dict[str, bytes]:
    return {key: value.to_bytes() for key, value in store._store_dict.items()}


# ---------------------------------------------------------------------- byte requests


@pytest.mark.parametrize("flag", [True, False, np.True_])
@pytest.mark.parametrize(
    "make",
    [
        lambda v: RangeByteRequest(v, 5),
        lambda v: RangeByteRequest(0, v),
        OffsetByteRequest,
        SuffixByteRequest,
    ],
    ids=["range-start", "range-end", "offset", "suffix"],
)
def test_a_bool_is_not_a_byte_offset(make: Any, flag: object) -> None:
    # operator.index takes True as 1: RangeByteRequest(True, 5) read bytes 1 to 5.
    with pytest.raises(
        TypeError, match=r"must be an integer, got (bool|bool_): (np\.)?(True|False)"
    ):
        make(flag)


@pytest.mark.parametrize("request_", [(0, 2), slice(0, 2), [0, 2], 2, "0-2"])
def test_a_request_of_the_wrong_type_is_also_zarrs_value_error(request_: object) -> None:
    for expected in (TypeError, ValueError):
        with pytest.raises(expected, match=r"Unexpected byte_range, got .*RangeByteRequest"):
            normalize_byte_range(request_, 10)  # type: ignore[arg-type]


async def test_get_with_a_zarr2_tuple_range_raises_zarrs_value_error() -> None:
    store = await filled()
    with pytest.raises(ValueError, match=r"Unexpected byte_range, got \(0, 2\) \(tuple\)"):
        await store.get("a/x", buffer_prototype, (0, 2))  # type: ignore[arg-type]


# ---------------------------------------------------------------------- keys


class SneakyStr(str):
    """A str whose overridden methods hide what it contains."""

    __slots__ = ()

    def __contains__(self, item: object) -> bool:
        return False

    def startswith(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def split(self, *args: Any, **kwargs: Any) -> list[str]:  # type: ignore[override]
        return ["fine"]

    def endswith(self, *args: Any, **kwargs: Any) -> bool:
        return False


@pytest.mark.parametrize("text", ["a/../b", "/etc/passwd", "a//b", "a\\b", "a/./b"])
def test_a_str_subclass_cannot_hide_a_bad_key(text: str) -> None:
    with pytest.raises(ValueError, match="key"):
        validate_key(SneakyStr(text))


@pytest.mark.parametrize("text", ["a/../b", "../x"])
def test_a_str_subclass_cannot_hide_a_bad_prefix(text: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        normalize_prefix(SneakyStr(text))


async def test_a_str_subclass_key_is_stored_as_a_plain_str() -> None:
    store = MemoryStore()
    await store.set(np.str_("a/b"), buf(b"1"))
    store.set_sync(np.str_("a/c"), buf(b"2"))
    await store._set_many([(np.str_("a/d"), buf(b"3"))])
    assert [type(key) for key in store._store_dict] == [str, str, str]
    assert type(validate_key(np.str_("a/b"))) is str
    got = await store.get(np.str_("a/b"), buffer_prototype)
    assert got is not None
    assert got.to_bytes() == b"1"


# ---------------------------------------------------------------------- store_dict


@pytest.mark.parametrize("bad", [[("a", buf(b"1"))], "abc", 5, ()])
def test_a_store_dict_that_is_not_a_mapping_is_a_type_error_naming_it(bad: object) -> None:
    with pytest.raises(
        TypeError, match=rf"store_dict must be a MutableMapping.*got {type(bad).__name__}"
    ):
        MemoryStore(store_dict=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [b"abc", np.zeros(3, dtype="u1"), memoryview(b"abc"), None],
    ids=["bytes", "ndarray", "memoryview", "None"],
)
def test_a_store_dict_value_that_is_not_a_buffer_is_refused_naming_its_key(value: object) -> None:
    # zarr-python takes it, then get raises AttributeError ('bytes' object has no
    # attribute 'as_numpy_array') from inside the store.
    data: Any = {"ok": buf(b"1"), "bad/key": value}
    with pytest.raises(TypeError, match=r"store_dict\['bad/key'\] must be a Buffer"):
        MemoryStore(store_dict=data)
    assert data["ok"].to_bytes() == b"1"


@pytest.mark.parametrize(
    ("key", "error"),
    [("../x", ValueError), ("a/", ValueError), ("", ValueError), (1, TypeError)],
)
def test_a_store_dict_key_no_store_could_write_is_refused(key: object, error: type) -> None:
    # Such keys were listed (an int key broke list_dir with "'<' not supported") but could
    # never be read, written or deleted through the store.
    with pytest.raises(error, match=r"store_dict holds an invalid key: key"):
        MemoryStore(store_dict={key: buf(b"1")})  # type: ignore[dict-item]


# ---------------------------------------------------------------------- batches


@pytest.mark.parametrize("item", [("k",), "k", ("k", None, None), 5], ids=repr)
async def test_get_partial_values_names_an_item_that_is_not_a_pair(item: object) -> None:
    store = await filled()
    with pytest.raises(TypeError, match=r"get_partial_values expects \(key, byte_range\) pairs"):
        await store.get_partial_values(buffer_prototype, [("a/x", None), item])  # type: ignore[list-item]


@pytest.mark.parametrize("item", [("k",), "kvw", ("k", buf(b"1"), None), 5], ids=repr)
async def test_set_many_names_an_item_that_is_not_a_pair_and_writes_nothing(item: object) -> None:
    store = await filled()
    before = contents(store)
    with pytest.raises(TypeError, match=r"_set_many expects \(key, value\) pairs"):
        await store._set_many([("b/new", buf(b"1")), item])  # type: ignore[list-item]
    assert contents(store) == before


# ---------------------------------------------------------------------- prototypes


@pytest.mark.parametrize("prototype", ["cpu", Buffer, (Buffer,)], ids=repr)
async def test_a_prototype_that_is_not_one_names_the_argument(prototype: Any) -> None:
    store = await filled()
    calls = [
        lambda: store.get("a/x", prototype),
        lambda: store.get("a/x", prototype, RangeByteRequest(0, 1)),
        lambda: store.get_partial_values(prototype, [("a/x", None)]),
    ]
    for call in calls:
        # Also zarr-python's AttributeError ('str' object has no attribute 'buffer').
        for expected in (TypeError, AttributeError):
            with pytest.raises(expected, match="prototype must be a BufferPrototype or None"):
                await call()
    with pytest.raises(TypeError, match="prototype must be a BufferPrototype or None"):
        store.get_sync("a/x", prototype=prototype)
    with pytest.raises(TypeError, match="prototype must be a BufferPrototype or None"):
        store.get_ranges_sync("a/x", [RangeByteRequest(0, 1)], prototype=prototype)


async def test_a_buffer_class_given_as_prototype_gets_a_hint() -> None:
    store = await filled()
    with pytest.raises(TypeError, match=r"the class .*Buffer; pass a prototype such as"):
        await store.get("a/x", Buffer)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- read_only


@pytest.mark.parametrize("flag", ["false", "yes", None, 2, -1, 1.0])
def test_read_only_must_be_a_bool(flag: object) -> None:
    # zarr-python keeps it: read_only="false" made a read-only store, None a writable one.
    with pytest.raises(TypeError, match=rf"read_only must be a bool, got {type(flag).__name__}"):
        MemoryStore(read_only=flag)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="read_only must be a bool"):
        MemoryStore().with_read_only(flag)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flag", "expected"), [(np.True_, True), (np.False_, False), (1, True), (0, False)]
)
def test_a_numpy_bool_or_0_or_1_read_only_is_a_bool(flag: object, expected: bool) -> None:
    store = MemoryStore(read_only=flag)  # type: ignore[arg-type]
    assert store.read_only is expected


# ---------------------------------------------------------------------- the Store defaults


class BytesDictStore(Store):  # noqa: PLW1641 - unhashable like every store
    """Only the abstract methods: every other method is the Store default."""

    supports_writes = True
    supports_deletes = True
    supports_listing = True

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, bytes] = {}

    def __eq__(self, other: object) -> bool:
        return self is other

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> AnyBuffer | None:
        value = self.data.get(validate_key(key))
        if value is None:
            return None
        start, stop = normalize_byte_range(byte_range, len(value))
        return prototype.buffer.from_bytes(value[start:stop])

    async def exists(self, key: str) -> bool:
        return validate_key(key) in self.data

    async def set(self, key: str, value: AnyBuffer) -> None:
        self.data[validate_key(key)] = value.to_bytes()

    async def delete(self, key: str) -> None:
        self.data.pop(validate_key(key), None)

    async def _all(self) -> AsyncIterator[str]:
        for key in list(self.data):
            yield key

    def list(self) -> AsyncIterator[str]:
        return self._all()

    def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        return self._all()

    def list_dir(self, prefix: str) -> AsyncIterator[str]:
        return self._all()


@pytest.mark.parametrize(
    "value", [b"raw", memoryview(b"raw"), np.zeros(2, "u1")], ids=["bytes", "memoryview", "ndarray"]
)
async def test_the_default_set_many_writes_nothing_when_a_value_is_not_a_buffer(
    value: object,
) -> None:
    # The good pairs were set, concurrently, before the bad one failed in its own set.
    store = BytesDictStore()
    with pytest.raises(TypeError, match=r"the value for key 'b' must be a Buffer instance"):
        await store._set_many([("a", buf(b"1")), ("b", value)])  # type: ignore[list-item]
    assert store.data == {}


async def test_the_default_set_many_names_an_item_that_is_not_a_pair() -> None:
    store = BytesDictStore()
    with pytest.raises(TypeError, match=r"_set_many expects \(key, value\) pairs, got str: 'abc'"):
        await store._set_many([("a", buf(b"1")), "abc"])  # type: ignore[list-item]
    assert store.data == {}


async def test_the_default_get_partial_values_names_an_item_that_is_not_a_pair() -> None:
    store = BytesDictStore()
    await store.set("a", buf(b"1"))
    # Before: ('a',) raised IndexError, and 'abc' read key 'a' with the byte_range 'b'.
    for item in [("a",), "abc"]:
        with pytest.raises(TypeError, match=r"get_partial_values expects \(key, byte_range\)"):
            await store.get_partial_values(buffer_prototype, [item])  # type: ignore[list-item]


# ---------------------------------------------------------------------- StorePath


async def test_joining_none_to_a_store_path_is_a_type_error() -> None:
    # `path / None` was `path` itself, so a name that was None by mistake wrote over the
    # parent's key; zarr-python raises TypeError.
    store = await filled()
    parent = StorePath(store, "a/x")
    with pytest.raises(TypeError, match="cannot join None to the StorePath"):
        parent / None  # type: ignore[operator]
    assert contents(store) == {"a/x": b"0123456789"}


@pytest.mark.parametrize("store", [{}, "memory://x", None], ids=repr)
async def test_store_path_open_names_a_store_that_is_not_one(store: object) -> None:
    # zarr-python: AttributeError: 'dict' object has no attribute 'read_only'.
    for expected in (TypeError, AttributeError):
        with pytest.raises(expected, match=r"StorePath\.open expects a Store, got"):
            await StorePath.open(store, "a", mode="w")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["x", "rw", "R"])
async def test_make_store_path_of_a_store_path_refuses_an_unknown_mode(mode: str) -> None:
    path = StorePath(await filled(), "a")
    with pytest.raises(ValueError, match=rf"Invalid mode: {mode}, expected one of"):
        await make_store_path(path, mode=mode)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- resolution


def refusing_resolvers(*names: str) -> Any:
    def resolvers() -> list[tuple[str, Any]]:
        return [(name, lambda store_like, **kwargs: None) for name in names]

    return resolvers


@pytest.mark.parametrize(
    ("store_like", "dist", "hint"),
    [
        ("", "zstore-local", "an empty string names no directory"),
        ("file://rel/path", "zstore-local", "a file:// URL whose host is 'rel'"),
        ("some/dir", "zstore-local", ""),
        ("archive.zip", "zstore-zip", ""),
        ("s3://bucket/x", "zstore-fsspec", ""),
    ],
)
async def test_an_installed_package_that_refuses_a_string_is_not_reported_missing(
    monkeypatch: pytest.MonkeyPatch, store_like: str, dist: str, hint: str
) -> None:
    # Before: ImportError "install it with `pip install zstore-local`", with it installed.
    monkeypatch.setattr(_resolve, "store_resolvers", refusing_resolvers("fsspec", "zip", "local"))
    with pytest.raises(
        ValueError, match=rf"{dist}, which is installed but did not claim it"
    ) as info:
        await make_store(store_like)
    assert repr(store_like) in str(info.value)
    assert hint in str(info.value)
    assert "pip install" not in str(info.value)
