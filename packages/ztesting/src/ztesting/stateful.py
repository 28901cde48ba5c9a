"""Hypothesis state machines that drive any store and compare it with a model.

``ZarrStoreStateMachine`` compares a store with a plain dict under random sets, gets,
byte ranges, deletes and listings. ``HierarchyStateMachine`` builds and removes
zarr-v3-shaped layouts (``<path>/zarr.json`` and chunks under ``<path>/c/``) directly as
keys and compares the directory operations with a ``MemoryStore``.

Both take the store under test as their argument and clear it when they start, so a store
opened once per test (a directory, a zip file) can be reused by every Hypothesis example::

    from hypothesis.stateful import run_state_machine_as_test

    def test_my_store(store):
        run_state_machine_as_test(lambda: ZarrStoreStateMachine(store))

Neither machine skips rules for any store type: file and zip stores must agree with the
model exactly (for example, ``is_empty`` and ``list_dir`` must not report directories that
are left empty after their keys are deleted).
"""

from __future__ import annotations

import builtins
import json
from typing import TYPE_CHECKING

import hypothesis.strategies as st
from hypothesis import assume, note
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from zbuffer.core import default_buffer_prototype
from zstore.core import MemoryStore, normalize_prefix
from ztesting._sync import collect_aiterator, sync
from ztesting.store import expected_bytes
from ztesting.strategies import byte_requests, key_ranges, keys, short_node_names

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from hypothesis.strategies import DataObject

    from zbuffer.core import Buffer, BufferPrototype
    from zstore.core import ByteRequest, Store

__all__ = ["HierarchyStateMachine", "SyncStoreWrapper", "ZarrStoreStateMachine"]

MAX_BINARY_SIZE = 100


class SyncStoreWrapper:
    """Synchronous methods over a store's async API, for Hypothesis state machines.

    Hypothesis' stateful testing cannot await, so each method runs the store's coroutine
    on ztesting's background event loop and returns its result.

    Parameters
    ----------
    store : Store
        The store to wrap; available as ``.store``.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def read_only(self) -> bool:
        """The wrapped store's ``read_only``."""
        return self.store.read_only

    @property
    def supports_listing(self) -> bool:
        """The wrapped store's ``supports_listing``."""
        return self.store.supports_listing

    @property
    def supports_writes(self) -> bool:
        """The wrapped store's ``supports_writes``."""
        return self.store.supports_writes

    @property
    def supports_deletes(self) -> bool:
        """The wrapped store's ``supports_deletes``."""
        return self.store.supports_deletes

    def set(self, key: str, data_buffer: Buffer) -> None:
        """``store.set``."""
        sync(self.store.set(key, data_buffer))

    def set_if_not_exists(self, key: str, data_buffer: Buffer) -> None:
        """``store.set_if_not_exists``."""
        sync(self.store.set_if_not_exists(key, data_buffer))

    def set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        """``store._set_many``."""
        sync(self.store._set_many(values))

    def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        """``store.get``."""
        return sync(self.store.get(key, prototype=prototype, byte_range=byte_range))

    def get_many(
        self, keys: Iterable[str], prototype: BufferPrototype
    ) -> builtins.list[tuple[str, Buffer | None]]:
        """``store._get_many`` of whole values, collected in the order the store yields."""
        requests = [(key, prototype, None) for key in keys]
        return builtins.list(sync(collect_aiterator(self.store._get_many(requests))))

    def get_partial_values(
        self, key_ranges: Iterable[tuple[str, ByteRequest | None]], prototype: BufferPrototype
    ) -> builtins.list[Buffer | None]:
        """``store.get_partial_values``."""
        return sync(self.store.get_partial_values(prototype=prototype, key_ranges=key_ranges))

    def get_ranges(
        self, key: str, byte_ranges: Sequence[ByteRequest | None], prototype: BufferPrototype
    ) -> builtins.list[Buffer | None]:
        """``store.get_ranges``, gathered into a list in request order."""
        batches = sync(
            collect_aiterator(self.store.get_ranges(key, byte_ranges, prototype=prototype))
        )
        out: dict[int, Buffer | None] = {}
        for index, value in (pair for batch in batches for pair in batch):
            assert index not in out, f"get_ranges yielded index {index} twice"
            out[index] = value
        assert sorted(out) == builtins.list(range(len(byte_ranges))), sorted(out)
        return [out[i] for i in range(len(byte_ranges))]

    def delete(self, path: str) -> None:
        """``store.delete``."""
        sync(self.store.delete(path))

    def delete_dir(self, prefix: str) -> None:
        """``store.delete_dir``."""
        sync(self.store.delete_dir(prefix))

    def is_empty(self, prefix: str) -> bool:
        """``store.is_empty``."""
        return sync(self.store.is_empty(prefix=prefix))

    def clear(self) -> None:
        """``store.clear``."""
        sync(self.store.clear())

    def exists(self, key: str) -> bool:
        """``store.exists``."""
        return sync(self.store.exists(key))

    def getsize(self, key: str) -> int:
        """``store.getsize``."""
        return sync(self.store.getsize(key))

    def getsize_prefix(self, prefix: str) -> int:
        """``store.getsize_prefix``."""
        return sync(self.store.getsize_prefix(prefix))

    def list(self) -> builtins.list[str]:
        """``store.list``, collected."""
        return builtins.list(sync(collect_aiterator(self.store.list())))

    def list_prefix(self, prefix: str) -> builtins.list[str]:
        """``store.list_prefix``, collected."""
        return builtins.list(sync(collect_aiterator(self.store.list_prefix(prefix))))

    def list_dir(self, prefix: str) -> builtins.list[str]:
        """``store.list_dir``, collected."""
        return builtins.list(sync(collect_aiterator(self.store.list_dir(prefix))))


def _conflicts(key: str, existing: Iterable[str]) -> bool:
    """Whether ``key`` would need a file and a directory of the same name.

    ``a`` and ``a/b`` cannot both exist on a file system; zarr layouts never create that,
    so the model avoids it rather than excluding file stores from the machine.
    """
    parents = {key[:i] for i, ch in enumerate(key) if ch == "/"}
    below = key + "/"
    return any(k in parents or k.startswith(below) for k in existing)


class ZarrStoreStateMachine(RuleBasedStateMachine):
    """Compare any store with a dict model under random operations.

    Rules apply an operation to the store and the model; invariants check after every
    step that keys, values, sizes and emptiness agree. Unlike zarr-python's machine it
    runs unchanged on file and zip stores.

    Parameters
    ----------
    store : Store
        A writable store; it is cleared when the machine starts.
    prototype : BufferPrototype, optional
        The prototype to write and read with; the default prototype if omitted.
    """

    def __init__(self, store: Store, prototype: BufferPrototype | None = None) -> None:
        super().__init__()
        self.model: dict[str, bytes] = {}
        self.store = SyncStoreWrapper(store)
        self.prototype = prototype if prototype is not None else default_buffer_prototype()

    def _buf(self, data: bytes) -> Buffer:
        return self.prototype.buffer.from_bytes(data)

    @initialize()
    def init_store(self) -> None:
        # Stores handed in by a fixture outlive one Hypothesis example: start from empty.
        self.store.clear()

    def teardown(self) -> None:
        """Leave the store empty so the next example (or test) starts clean."""
        if not self.store.read_only:
            self.store.clear()

    def _write_keys(self) -> st.SearchStrategy[str]:
        """Keys to write: an existing key (an overwrite) as often as a fresh one."""
        fresh = keys(max_num_nodes=3)
        if not self.model:
            return fresh
        return st.sampled_from(sorted(self.model)) | fresh

    def _directories(self) -> builtins.list[str]:
        """Every directory of a key in the model (never a key itself: see ``_conflicts``)."""
        return sorted(
            {key.rsplit("/", i)[0] for key in self.model for i in range(1, key.count("/") + 1)}
        )

    def _probe_keys(self) -> st.SearchStrategy[str]:
        """Keys to ask about: fresh ones, and directories of existing keys when there are."""
        fresh = keys(max_num_nodes=3)
        directories = self._directories()
        return st.sampled_from(directories) | fresh if directories else fresh

    @rule(data=st.data(), value=st.binary(min_size=0, max_size=MAX_BINARY_SIZE))
    def set(self, data: DataObject, value: bytes) -> None:
        key = data.draw(self._write_keys(), label="key")
        assume(not _conflicts(key, self.model))
        note(f"(set) {key!r} <- {value!r}")
        assert not self.store.read_only
        self.store.set(key, self._buf(value))
        self.model[key] = value

    @rule(data=st.data(), value=st.binary(min_size=0, max_size=MAX_BINARY_SIZE))
    def set_if_not_exists(self, data: DataObject, value: bytes) -> None:
        key = data.draw(self._write_keys(), label="key")
        assume(not _conflicts(key, self.model))
        note(f"(set_if_not_exists) {key!r} <- {value!r}")
        self.store.set_if_not_exists(key, self._buf(value))
        self.model.setdefault(key, value)

    @rule(data=st.data())
    def set_many(self, data: DataObject) -> None:
        items = data.draw(
            st.dictionaries(self._write_keys(), st.binary(max_size=MAX_BINARY_SIZE), max_size=4),
            label="items",
        )
        assume(not any(_conflicts(k, [*self.model, *items]) for k in items))
        note(f"(_set_many) {sorted(items)}")
        self.store.set_many([(k, self._buf(v)) for k, v in items.items()])
        self.model.update(items)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def get(self, data: DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        # Bounds near the value's length hit the interesting edges (last byte, end, one past
        # the end) far more often than bounds drawn up to the largest possible value.
        byte_range = data.draw(byte_requests(len(self.model[key]) + 2))
        note(f"(get) {key!r} {byte_range}")
        observed = self.store.get(key, self.prototype, byte_range)
        assert observed is not None, f"get({key!r}) returned None for an existing key"
        assert isinstance(observed, self.prototype.buffer), type(observed)
        expected = expected_bytes(self.model[key], byte_range)
        assert observed.to_bytes() == expected, (key, byte_range, observed.to_bytes(), expected)

    @rule(data=st.data())
    def get_missing(self, data: DataObject) -> None:
        key = data.draw(self._probe_keys(), label="key")
        assume(key not in self.model)
        note(f"(get missing) {key!r}")
        assert self.store.get(key, self.prototype) is None

    @precondition(lambda self: any("/" in key for key in self.model))
    @rule(data=st.data())
    def directory_is_not_a_key(self, data: DataObject) -> None:
        directory = data.draw(st.sampled_from(self._directories()), label="directory")
        note(f"(directory as a key) {directory!r}")
        assert self.store.exists(directory) is False, f"exists({directory!r}) of a directory"
        got = self.store.get(directory, self.prototype)
        assert got is None, f"get({directory!r}) of a directory gave {got!r}"
        assert self.store.get_partial_values([(directory, None)], self.prototype) == [None]
        try:
            size = self.store.getsize(directory)
        except FileNotFoundError:
            pass
        else:
            raise AssertionError(f"getsize({directory!r}) of a directory gave {size}")

    @rule(data=st.data())
    def get_many(self, data: DataObject) -> None:
        candidates = self._probe_keys()
        if self.model:
            candidates = st.sampled_from(sorted(self.model)) | candidates
        requested = data.draw(st.lists(candidates, max_size=5, unique=True), label="keys")
        note(f"(_get_many) {requested}")
        observed = self.store.get_many(requested, self.prototype)
        answers = {k: None if v is None else v.to_bytes() for k, v in observed}
        assert len(observed) == len(answers), f"_get_many answered a key twice: {observed}"
        expected = {k: self.model.get(k) for k in requested}
        assert answers == expected, (answers, expected)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def get_partial_values(self, data: DataObject) -> None:
        pairs = data.draw(
            key_ranges(keys=st.sampled_from(sorted(self.model)), max_size=MAX_BINARY_SIZE + 10)
        )
        note(f"(get_partial_values) {pairs}")
        # A one-shot generator: stores must not exhaust the iterable early.
        observed = self.store.get_partial_values((p for p in pairs), self.prototype)
        assert len(observed) == len(pairs)
        for (key, byte_range), obs in zip(pairs, observed, strict=True):
            assert obs is not None, f"None for existing key {key!r}"
            expected = expected_bytes(self.model[key], byte_range)
            assert obs.to_bytes() == expected, (key, byte_range, obs.to_bytes(), expected)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def get_ranges(self, data: DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        requests = data.draw(st.lists(byte_requests(len(self.model[key]) + 2), max_size=6))
        note(f"(get_ranges) {key!r} {requests}")
        observed = self.store.get_ranges(key, requests, self.prototype)
        for request, obs in zip(requests, observed, strict=True):
            assert obs is not None, f"get_ranges gave None for existing key {key!r}"
            expected = expected_bytes(self.model[key], request)
            assert obs.to_bytes() == expected, (key, request, obs.to_bytes(), expected)

    @precondition(lambda self: self.store.supports_deletes)
    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def delete(self, data: DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        note(f"(delete) {key!r}")
        self.store.delete(key)
        del self.model[key]

    @precondition(lambda self: self.store.supports_deletes)
    @rule(key=keys(max_num_nodes=3))
    def delete_missing(self, key: str) -> None:
        assume(key not in self.model)
        note(f"(delete missing) {key!r}")
        self.store.delete(key)

    @precondition(lambda self: self.store.supports_deletes)
    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def delete_dir(self, data: DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        parts = key.split("/")
        directory = "/".join(parts[: data.draw(st.integers(0, len(parts) - 1))])
        note(f"(delete_dir) {directory!r}")
        self.store.delete_dir(directory)
        below = directory + "/" if directory else ""
        for k in [k for k in self.model if k.startswith(below)]:
            del self.model[k]

    @rule()
    def clear(self) -> None:
        assert not self.store.read_only
        note("(clear)")
        self.store.clear()
        self.model.clear()
        assert self.store.is_empty("")
        assert self.store.list() == []

    @rule()
    def is_empty(self) -> None:
        note("(is_empty)")
        assert self.store.is_empty("") == (not self.model)

    @rule(data=st.data())
    def exists(self, data: DataObject) -> None:
        key = data.draw(self._probe_keys(), label="key")
        note(f"(exists) {key!r}")
        assert self.store.exists(key) == (key in self.model)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def getsize(self, data: DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model)))
        assert self.store.getsize(key) == len(self.model[key]), key

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def directory_queries(self, data: DataObject) -> None:
        # Measure a directory that some key lives in, and one that only shares its
        # string prefix (e.g. "a" for a key "ab/..."), which must count as empty.
        key = data.draw(st.sampled_from(sorted(self.model)))
        parts = key.split("/")
        directory = "/".join(parts[: data.draw(st.integers(0, len(parts) - 1))])
        candidates = {directory, directory[:-1] if len(directory) > 1 else directory}
        for prefix in sorted(p for p in candidates if _is_valid_prefix(p) and not p.endswith("/")):
            below = prefix + "/" if prefix else ""
            under = {k: v for k, v in self.model.items() if k.startswith(below)}
            note(f"(directory queries) {prefix!r}")
            observed_size = self.store.getsize_prefix(prefix)
            assert observed_size == sum(map(len, under.values())), (prefix, observed_size)
            assert self.store.is_empty(prefix) == (not under), prefix
            names = self.store.list_dir(prefix)
            expected = sorted({k[len(below) :].split("/")[0] for k in under})
            assert sorted(names) == expected, (prefix, names, expected)
            assert len(names) == len(set(names)), f"list_dir({prefix!r}) repeated: {names}"

    @rule(data=st.data())
    def list_prefix(self, data: DataObject) -> None:
        base = data.draw(st.sampled_from(sorted(self.model))) if self.model else ""
        prefix = base[: data.draw(st.integers(0, len(base)))]
        note(f"(list_prefix) {prefix!r}")
        observed = sorted(self.store.list_prefix(prefix))
        assert observed == sorted(k for k in self.model if k.startswith(prefix)), prefix

    @invariant()
    def check_paths_equal(self) -> None:
        assert sorted(self.model) == sorted(self.store.list())

    @invariant()
    def check_vals_equal(self) -> None:
        for key, val in self.model.items():
            store_item = self.store.get(key, self.prototype)
            assert store_item is not None, f"{key!r} vanished"
            assert store_item.to_bytes() == val, key

    @invariant()
    def check_zarr_keys(self) -> None:
        listed = self.store.list()
        assert len(listed) == len(set(listed)), "list() repeated keys"
        assert self.store.is_empty("") is (not listed)
        for key in listed:
            assert self.store.exists(key) is True, key


# ---------------------------------------------------------------------- hierarchy

_GROUP_DOC = json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}).encode()


def _array_doc(ndim: int) -> bytes:
    return json.dumps(
        {
            "zarr_format": 3,
            "node_type": "array",
            "shape": [4] * ndim,
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        }
    ).encode()


def _is_valid_prefix(prefix: str) -> bool:
    """Whether ``prefix`` passes ``normalize_prefix`` (truncating ``a/.b`` gives ``a/.``)."""
    try:
        normalize_prefix(prefix)
    except ValueError:
        return False
    return True


def _meta_key(path: str) -> str:
    return f"{path}/zarr.json" if path else "zarr.json"


def _chunk_key(path: str, index: tuple[int, ...]) -> str:
    return "/".join([path, "c", *map(str, index)]) if path else "/".join(["c", *map(str, index)])


class HierarchyStateMachine(RuleBasedStateMachine):
    """Build and remove zarr-v3-shaped hierarchies as raw keys; compare with a MemoryStore.

    Groups are ``<path>/zarr.json``; arrays are ``<path>/zarr.json`` plus chunk keys
    ``<path>/c/i/j...`` (a fixed number of dimensions per array, so no key is both a value
    and a directory). Node names are at most 3 characters, so siblings that share a string
    prefix (``a`` / ``a-``/ ``ab``) are common and expose prefix-matching bugs. After every
    step, ``list_dir``, ``list_prefix``, ``is_empty``, ``getsize_prefix`` and ``delete_dir``
    must agree with the model.

    Parameters
    ----------
    store : Store
        A writable store; it is cleared when the machine starts.
    prototype : BufferPrototype, optional
        The prototype to write and read with; the default prototype if omitted.
    """

    def __init__(self, store: Store, prototype: BufferPrototype | None = None) -> None:
        super().__init__()
        self.store = SyncStoreWrapper(store)
        self.model = SyncStoreWrapper(MemoryStore())
        self.prototype = prototype if prototype is not None else default_buffer_prototype()
        self.groups: set[str] = set()
        self.arrays: dict[str, int] = {}  # path -> ndim
        self.documents: dict[str, bytes] = {}  # path -> its zarr.json as last written

    # ------------------------------------------------------------------ helpers

    def _set_both(self, key: str, data: bytes) -> None:
        value = self.prototype.buffer.from_bytes(data)
        self.store.set(key, value)
        self.model.set(key, value)

    def _set_document(self, path: str, document: bytes) -> None:
        self._set_both(_meta_key(path), document)
        self.documents[path] = document

    def _directories(self) -> builtins.list[str]:
        """Every directory the model has, plus a few that only share a string prefix."""
        dirs = {""}
        for key in self.model.list():
            parts = key.split("/")
            dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
        # Truncated names ("fo" for "foo") and extended ones ("foo-"): not directories.
        near = {d[:-1] for d in dirs if len(d) > 1 and not d[:-1].endswith("/")}
        near |= {d + "-" for d in dirs if d}
        return sorted(dirs | {d for d in near if _is_valid_prefix(d)})

    def _forget_under(self, path: str) -> None:
        below = path + "/" if path else ""
        self.groups = {g for g in self.groups if g != path and not g.startswith(below)}
        self.arrays = {
            a: n for a, n in self.arrays.items() if a != path and not a.startswith(below)
        }
        self.documents = {
            p: d for p, d in self.documents.items() if p != path and not p.startswith(below)
        }

    def _draw_parent(self, data: DataObject) -> str:
        return data.draw(st.sampled_from(sorted(self.groups)), label="parent group")

    # ------------------------------------------------------------------ rules

    @initialize()
    def init_store(self) -> None:
        self.store.clear()
        self._set_document("", _GROUP_DOC)
        self.groups.add("")

    def teardown(self) -> None:
        """Leave the store empty so the next example starts clean."""
        if not self.store.read_only:
            self.store.clear()

    @rule(name=short_node_names, data=st.data())
    def add_group(self, name: str, data: DataObject) -> None:
        parent = self._draw_parent(data)
        path = f"{parent}/{name}" if parent else name
        assume(path not in self.groups and path not in self.arrays)
        note(f"add group {path!r}")
        self._set_document(path, _GROUP_DOC)
        self.groups.add(path)

    @rule(name=short_node_names, ndim=st.integers(0, 2), data=st.data())
    def add_array(self, name: str, ndim: int, data: DataObject) -> None:
        parent = self._draw_parent(data)
        path = f"{parent}/{name}" if parent else name
        assume(path not in self.groups and path not in self.arrays)
        note(f"add array {path!r} ndim={ndim}")
        self._set_document(path, _array_doc(ndim))
        self.arrays[path] = ndim
        chunks = data.draw(
            st.lists(st.tuples(*[st.integers(0, 3)] * ndim), max_size=4, unique=True),
            label="chunks",
        )
        for index in chunks:
            self._set_both(_chunk_key(path, index), data.draw(st.binary(max_size=16)))

    @rule(data=st.data(), value=st.text(max_size=12))
    def update_attributes(self, data: DataObject, value: str) -> None:
        # Rewrites a zarr.json in place, as zarr does when attributes change: an overwrite,
        # usually to another length.
        path = data.draw(st.sampled_from(sorted(self.documents)), label="node")
        document = json.loads(self.documents[path])
        document["attributes"] = {"note": value}
        note(f"update attributes of {path!r}")
        self._set_document(path, json.dumps(document).encode())

    @precondition(lambda self: bool(self.arrays))
    @rule(data=st.data())
    def write_chunk(self, data: DataObject) -> None:
        path = data.draw(st.sampled_from(sorted(self.arrays)), label="array")
        ndim = self.arrays[path]
        index = data.draw(st.tuples(*[st.integers(0, 3)] * ndim), label="chunk index")
        note(f"write chunk {_chunk_key(path, index)!r}")
        self._set_both(_chunk_key(path, index), data.draw(st.binary(max_size=16)))

    @precondition(lambda self: bool(self.arrays))
    @rule(data=st.data())
    def delete_chunk(self, data: DataObject) -> None:
        path = data.draw(st.sampled_from(sorted(self.arrays)), label="array")
        chunks = [k for k in self.model.list_prefix(f"{path}/c") if k != _meta_key(path)]
        chunks = [k for k in chunks if k == f"{path}/c" or k.startswith(f"{path}/c/")]
        assume(chunks)
        key = data.draw(st.sampled_from(sorted(chunks)), label="chunk")
        note(f"delete chunk {key!r}")
        self.store.delete(key)
        self.model.delete(key)

    @precondition(lambda self: bool(self.arrays))
    @rule(data=st.data())
    def delete_all_chunks(self, data: DataObject) -> None:
        path = data.draw(st.sampled_from(sorted(self.arrays)), label="array")
        prefix = data.draw(st.sampled_from([f"{path}/c", f"{path}/c/"]))
        note(f"delete_dir {prefix!r}")
        self.store.delete_dir(prefix)
        self.model.delete_dir(prefix)

    @precondition(lambda self: len(self.groups) + len(self.arrays) > 1)
    @rule(data=st.data())
    def delete_node(self, data: DataObject) -> None:
        nodes = sorted((self.groups | set(self.arrays)) - {""})
        path = data.draw(st.sampled_from(nodes), label="node")
        spelling = data.draw(st.sampled_from([path, path + "/"]), label="spelling")
        note(f"delete node {spelling!r}")
        self.store.delete_dir(spelling)
        self.model.delete_dir(spelling)
        # The node's own zarr.json lives inside the directory, so it goes too; siblings
        # whose names merely start with this node's name must stay.
        self._forget_under(path)

    @rule()
    def clear_and_recreate_root(self) -> None:
        note("clear")
        self.store.clear()
        self.model.clear()
        assert self.store.is_empty("/")
        self.groups.clear()
        self.arrays.clear()
        self.documents.clear()
        self._set_document("", _GROUP_DOC)
        self.groups.add("")

    @rule(data=st.data())
    def check_list_dir(self, data: DataObject) -> None:
        directory = data.draw(st.sampled_from(self._directories()), label="directory")
        spelling = data.draw(st.sampled_from([directory, directory + "/"]))
        if spelling == "/" and directory == "":
            spelling = data.draw(st.sampled_from(["", "/"]))
        observed = self.store.list_dir(spelling)
        expected = self.model.list_dir(spelling)
        assert len(observed) == len(set(observed)), f"list_dir({spelling!r}) repeats: {observed}"
        assert sorted(observed) == sorted(expected), (spelling, sorted(observed), sorted(expected))

    @rule(data=st.data())
    def check_list_prefix(self, data: DataObject) -> None:
        keys_now = self.model.list() or [""]
        base = data.draw(st.sampled_from(sorted(keys_now)))
        prefix = base[: data.draw(st.integers(0, len(base)))]
        assert sorted(self.store.list_prefix(prefix)) == sorted(self.model.list_prefix(prefix)), (
            prefix
        )

    @rule(data=st.data())
    def check_is_empty_and_size(self, data: DataObject) -> None:
        directory = data.draw(st.sampled_from(self._directories()), label="directory")
        assert self.store.is_empty(directory) == self.model.is_empty(directory), directory
        assert self.store.getsize_prefix(directory) == self.model.getsize_prefix(directory), (
            directory
        )

    @rule(data=st.data())
    def check_directory_as_a_key(self, data: DataObject) -> None:
        # A directory ("a", "a/c") is not a key; the names near one ("a-") may be.
        name = data.draw(st.sampled_from(self._directories()[1:] or ["zarr.json"]), label="name")
        expected = self.model.get(name, self.prototype)
        observed = self.store.get(name, self.prototype)
        assert (observed is None) == (expected is None), (name, observed, expected)
        assert self.store.exists(name) is (expected is not None), name
        if expected is None:
            try:
                size = self.store.getsize(name)
            except FileNotFoundError:
                pass
            else:
                raise AssertionError(f"getsize({name!r}) of a directory gave {size}")

    # ------------------------------------------------------------------ invariants

    @invariant()
    def check_all_keys(self) -> None:
        store_keys = sorted(self.store.list_prefix(""))
        model_keys = sorted(self.model.list_prefix(""))
        assert store_keys == model_keys, (store_keys, model_keys)
        # Every node the test created has its metadata, as last written, in the store itself.
        assert set(self.documents) == self.groups | set(self.arrays)
        for path, document in self.documents.items():
            stored = self.store.get(_meta_key(path), self.prototype)
            assert stored is not None, f"the store lost {_meta_key(path)!r}"
            assert stored.to_bytes() == document, f"the store changed {_meta_key(path)!r}"

    @invariant()
    def check_root_listing(self) -> None:
        assert sorted(self.store.list_dir("")) == sorted(self.model.list_dir(""))
