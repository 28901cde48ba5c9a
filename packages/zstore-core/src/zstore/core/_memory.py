"""MemoryStore: an in-memory store with a sorted key index, safe across threads and tasks."""

from __future__ import annotations

import os
import reprlib
import threading
import weakref
from collections.abc import MutableMapping
from itertools import islice
from typing import TYPE_CHECKING, Any

import numpy as np

from zbuffer.core import Buffer, default_buffer_prototype
from zstore.core._byte_request import normalize_byte_range
from zstore.core._keys import _plain_prefix, normalize_prefix, validate_key
from zstore.core._listing import Listing
from zstore.core._sorted_keys import SortedKeys
from zstore.core._store import (
    DEFAULT_MAX_GAP,
    DEFAULT_MAX_SIZE,
    READ_ONLY_MESSAGE,
    Store,
    _missing_key,
    _not_a_pair,
    _not_a_prototype,
    validate_range_options,
)

if TYPE_CHECKING:
    from collections.abc import (
        AsyncGenerator,
        AsyncIterator,
        Collection,
        Iterable,
        Sequence,
    )

    from zbuffer.core import BufferPrototype
    from zstore.core._byte_request import ByteRequest

__all__ = ["MemoryStore"]


def _immutable(array: object) -> bool:
    """Whether no one can ever write to ``array``'s memory.

    True for a read-only NumPy array whose memory belongs to a ``bytes`` object, through
    any chain of array views and memoryviews: what ``Buffer.from_bytes`` makes of a
    compressor's output. Such memory cannot change, so the store may keep the caller's
    buffer as it is. Anything else (writable, or memory owned by a bytearray, mmap or
    device) could be changed by its owner later.
    """
    try:
        if array.flags.writeable:  # type: ignore[attr-defined]
            return False
        owner = array.base  # type: ignore[attr-defined]
    except AttributeError:
        return False  # not a NumPy array (CuPy, a test array type): copy
    while True:
        kind = type(owner)
        if kind is bytes:
            return True
        if kind is np.ndarray:
            owner = owner.base
        elif kind is memoryview:
            owner = owner.obj
        else:
            return False


def _own(value: Buffer) -> tuple[Buffer, int]:
    """A read-only buffer the store can keep: ``value`` itself if its memory is immutable,
    else a frozen copy.

    Encoding a chunk can hand the store a zero-copy view of the user's array, and this store
    keeps what it is given alive in a dict: without the copy, a later change to the user's
    array would rewrite chunks already committed. Immutable memory needs no copy. The copy
    is made read-only at once, so the views ``get`` hands out cannot write into it.

    Returns the buffer to store and its size in bytes (read from the array: cheaper than
    ``len``).
    """
    kind = type(value)
    if kind not in _buffer_types:
        # isinstance against the Buffer ABC costs a tenth of a set: do it once per class.
        if not isinstance(value, Buffer):
            raise TypeError(
                "MemoryStore.set(): `value` must be a Buffer instance. Got an instance of "
                f"{kind} instead."
            )
        _buffer_types.add(kind)
    array = value.as_array_like()
    if _immutable(array):
        return value, array.size
    array = array.copy()
    _freeze(array)
    return kind(array), array.size


# Classes already checked to be Buffer subclasses. Only grows by classes that exist, and
# a class cannot stop being a subclass, so the set never needs invalidating.
_buffer_types: set[type] = set()


def _freeze(array: object) -> None:
    """Make the store's own copy read-only (once per set that copies)."""
    # A plain try is free when nothing is raised; contextlib.suppress costs more.
    try:  # noqa: SIM105
        # Positional: NumPy parses a keyword here at twice the cost of the flag change.
        array.setflags(False)  # type: ignore[attr-defined]
    except AttributeError:
        pass  # an array type without flags (CuPy): the copy alone protects the store


class _State:
    """What every MemoryStore over one dict shares: the dict, its key index, and a lock.

    Stores over the same dict (``with_read_only``, or two stores built on one user dict)
    must agree on the index, so the state is shared through a registry keyed by the dict.
    """

    __slots__ = ("__weakref__", "data", "index", "lock", "sizes")

    def __init__(self, data: MutableMapping[str, Buffer]) -> None:
        _check_store_dict(data)
        self.data = data
        self.lock = threading.Lock()
        self.index = SortedKeys()
        # Every key of the store with its size, in the order the keys were first set. The
        # index holds exactly the oldest keys of this table, so the keys a listing must
        # still move into it are its newest ``len(sizes) - len(index)``: set records a new
        # key with one dict insert and no list of its own. A str-to-int dict is also
        # invisible to the garbage collector, where a list of 100k keys is walked by every
        # full collection (a few ms each, measured).
        self.sizes: dict[str, int] = {}
        self.reindex()

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Buffer]]]:
        # A store pickles its state, not its dict (see MemoryStore.__getstate__), and the
        # state pickles as a copy of the dict taken under the lock: a writer on another
        # thread cannot change the dict while pickle walks it. Stores over one dict share
        # this state object, so pickle's memo writes the copy once and every store in the
        # same pickle unpickles over the same new dict, as zarr-python's stores do.
        with self.lock:
            snapshot = dict(self.data)
        return _unpickled_data, (snapshot,)

    def reindex(self) -> None:
        """Rebuild the index and size table from the dict (caller holds the lock)."""
        self.sizes = {key: len(value) for key, value in self.data.items()}
        self.index = SortedKeys(self.sizes)

    def recount(self) -> bool:
        """Rebuild everything if the number of keys shows that the dict was changed behind
        the store's back; return whether it did (caller holds the lock)."""
        if len(self.data) == len(self.sizes):
            return False
        self.reindex()
        return True

    def sync(self) -> None:
        """Bring the index up to date before a listing (caller holds the lock).

        Moves new keys in, and rebuilds everything if the number of keys shows that the
        dict was changed behind the store's back. A change that keeps the count is caught
        later, if at all, by the listing that meets a key the dict no longer holds (see
        ``keys_with_prefix``, ``children``, ``is_empty``, ``pop_directory``); the README
        says what is and is not seen.
        """
        if self.recount():
            return
        sizes, index = self.sizes, self.index
        count = len(sizes) - len(index)
        if count:
            new_keys: Collection[str]
            if count == len(sizes):
                new_keys = sizes  # all of them, in write order: no copy needed
            else:
                new_keys = list(islice(reversed(sizes), count))
                new_keys.reverse()  # write order, often nearly sorted: cheap for timsort
            if count > 64 and count * 16 > len(index):
                index.update(new_keys)  # one merge beats many inserts for a bulk write
            else:
                for key in sorted(new_keys):
                    index.add(key)

    # Each listing below checks the keys it reports against the dict, and rebuilds the
    # index when one is gone. The count check of ``sync`` cannot see a direct rename (one
    # key out, one in), and later store writes keep the count consistent, so without this
    # a stale key would be listed, and survive delete_dir, for as long as the store lives.
    # One dict lookup per key reported, none on the get and set paths.

    def keys_with_prefix(self, prefix: str) -> list[str]:
        """The keys starting with ``prefix``, sorted (caller holds the lock)."""
        self.sync()
        keys = self.index.with_prefix(prefix) if prefix else list(self.index)
        if not all(map(self.data.__contains__, keys)):
            self.reindex()
            keys = self.index.with_prefix(prefix) if prefix else list(self.index)
        return keys

    def children(self, directory: str) -> list[str]:
        """The names directly under ``directory`` (caller holds the lock)."""
        self.sync()
        try:
            return self.index.children(directory, self.data)
        except KeyError:
            self.reindex()
            return self.index.children(directory)

    def is_empty(self, directory: str) -> bool:
        """Whether no key lies under ``directory`` (caller holds the lock)."""
        self.sync()
        if directory == "":
            return len(self.sizes) == 0  # sync made the count agree with the dict's
        first = self.index.first_with_prefix(directory)
        if first is not None and first not in self.data:
            self.reindex()
            first = self.index.first_with_prefix(directory)
        return first is None

    def pop_directory(self, directory: str) -> None:
        """Delete every key under ``directory``, which is not ``""`` (caller holds the
        lock)."""
        self.sync()
        data, sizes = self.data, self.sizes
        lost = False
        for key in self.index.pop_prefix(directory):
            if data.pop(key, _MISSING) is _MISSING:
                lost = True
            del sizes[key]
        if lost:
            # The index was stale, so the dict may hold keys under directory it never saw.
            self.reindex()
            sizes = self.sizes  # a new table
            for key in self.index.pop_prefix(directory):
                del data[key], sizes[key]

    def put(self, key: str, value: Buffer, size: int) -> None:
        """Insert or replace a value of ``size`` bytes (caller holds the lock).

        A new key goes to the end of ``sizes``, where ``sync`` finds it; a replaced one
        keeps its place there, and in the index.
        """
        self.data[key] = value
        self.sizes[key] = size

    def remove(self, key: str) -> None:
        """Remove if present (caller holds the lock)."""
        self.data.pop(key, None)
        if self.sizes.pop(key, None) is not None:
            # A key not yet in the index was among the newest of sizes: dropping it there
            # is all it takes.
            self.index.discard(key)


_MISSING = object()


def _check_store_dict(data: MutableMapping[str, Buffer]) -> None:
    """Raise unless every key of a user's ``store_dict`` is a valid key and every value a
    Buffer, naming the first that is not.

    Checked once, when the first store over the dict is made: a value of another type
    failed only when read (an AttributeError from deep inside ``get``), and a key no store
    can write was listed, or broke the sorted index (an int key).
    """
    for key, value in data.items():
        try:
            validate_key(key)
        except (TypeError, ValueError) as error:
            raise type(error)(f"store_dict holds an invalid key: {error}") from None
        if type(value) not in _buffer_types:
            if not isinstance(value, Buffer):
                raise TypeError(
                    f"store_dict[{key!r}] must be a Buffer, got {type(value).__name__}; "
                    "wrap bytes with Buffer.from_bytes"
                )
            _buffer_types.add(type(value))


def _buffer_class(prototype: BufferPrototype | None) -> type[Buffer]:
    """The buffer class of ``prototype`` (of the default prototype for None), or the error
    naming an argument that is not a prototype. ``get`` inlines this: its hot path."""
    if prototype is None:
        prototype = default_buffer_prototype()
    try:
        return prototype.buffer
    except AttributeError:
        raise _not_a_prototype(prototype) from None


def _as_sequence(byte_ranges: Iterable[ByteRequest | None]) -> Sequence[ByteRequest | None]:
    """``byte_ranges`` as a list or tuple: an iterator is truthy even when empty, so without
    this no ranges given as an iterator failed on the knobs or a missing key, where
    Store.get_ranges (which lists them first) answers nothing."""
    return byte_ranges if isinstance(byte_ranges, list | tuple) else list(byte_ranges)


def _unpickled_data(data: dict[str, Buffer]) -> dict[str, Buffer]:
    """The dict of unpickled stores: its values are new copies, read-only like every copy
    a store makes."""
    for value in data.values():
        _freeze(value.as_array_like())
    return data


_registry_lock = threading.Lock()
# id(dict) -> state. Each state holds its dict, so while a state is alive the id cannot be
# reused by another dict; once every store over the dict is gone the entry disappears.
_states: weakref.WeakValueDictionary[int, _State] = weakref.WeakValueDictionary()


def _reset_locks_after_fork() -> None:
    # A lock that another thread held when the process forked stays held for ever in the
    # child, which has no such thread: the child's first write or listing on that store
    # hung. What the lock guarded may be half-updated (a key in the dict and not yet in the
    # size table, an index half-merged): emptying the size table makes it disagree with
    # the dict, so the next listing rebuilds both from the dict (see _State.recount).
    global _registry_lock  # noqa: PLW0603 - the module's lock, made anew in the child
    _registry_lock = threading.Lock()
    for state in list(_states.values()):
        if state.lock.locked():  # in the child, only a lock held at the fork is
            state.lock = threading.Lock()
            state.sizes = {}


os.register_at_fork(after_in_child=_reset_locks_after_fork)


def _state_for(data: MutableMapping[str, Buffer]) -> _State:
    with _registry_lock:
        state = _states.get(id(data))
        if state is None or state.data is not data:
            state = _State(data)
            _states[id(data)] = state
        return state


class MemoryStore(Store):  # noqa: PLW1641 - mutable and equal by content, so unhashable
    """Store for local memory, with a sorted key index.

    Parameters
    ----------
    store_dict : MutableMapping of str to Buffer, optional
        The data; the mapping IS the store (writes appear in it), as in zarr-python. A new
        dict if omitted.
    read_only : bool
        Whether the store is read-only.

    Raises
    ------
    TypeError
        If ``store_dict`` is not a MutableMapping, holds a value that is not a Buffer, or a
        key that is not a str (checked when the first store over the mapping is made).
    ValueError
        If a key of ``store_dict`` breaks a key rule (see :func:`~zstore.core.validate_key`).

    Notes
    -----
    - ``set`` copies the value once and freezes the copy, so later changes to the caller's
      array never reach the store. A value whose memory is immutable (a read-only view of
      a ``bytes`` object, as ``Buffer.from_bytes`` makes of a compressor's output) is kept
      as it is, without a copy. ``get`` returns read-only views of stored memory, copying
      only when the requested prototype needs another memory type.
    - Listing, ``delete_dir``, ``is_empty`` and ``getsize_prefix`` use a sorted key index:
      O(log n + k), not a scan of every key.
    - Safe to use from many threads and coroutines at once: a lock makes each mutation and
      each listing atomic.
    - Buffers passed in ``store_dict`` are stored as they are (the caller's responsibility).
      Mutating the dict directly while stores use it is noticed when it changes the number
      of keys, or when a listing, ``is_empty`` or ``delete_dir`` meets a key the dict no
      longer holds; the index is then rebuilt. A key added under a name no listing has
      visited since, and a value replaced by one of another size (``getsize_prefix``), go
      unnoticed until then. See the README.
    """

    supports_writes: bool = True
    supports_deletes: bool = True
    supports_listing: bool = True

    _store_dict: MutableMapping[str, Buffer]

    def __init__(
        self,
        store_dict: MutableMapping[str, Buffer] | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        super().__init__(read_only=read_only)
        if store_dict is None:
            store_dict = {}
        elif type(store_dict) is not dict and not isinstance(store_dict, MutableMapping):
            # zarr-python takes anything here and fails later, in whichever method first
            # touches the object (a list "lists" its pairs as keys).
            raise TypeError(
                "store_dict must be a MutableMapping of str keys to Buffer values (a dict), "
                f"got {type(store_dict).__name__}: {reprlib.repr(store_dict)}"
            )
        self._store_dict = store_dict
        self._state = _state_for(store_dict)

    def with_read_only(self, read_only: bool = False) -> MemoryStore:
        # docstring inherited
        return type(self)(store_dict=self._store_dict, read_only=read_only)

    def __str__(self) -> str:
        return f"memory://{id(self._store_dict)}"

    def __repr__(self) -> str:
        return f"MemoryStore('{self}')"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, type(self))
            and self.read_only == other.read_only
            and (self._store_dict is other._store_dict or self._store_dict == other._store_dict)
        )

    def __getstate__(self) -> dict[str, Any]:
        # The lock and the registry entry cannot travel: the data and the flags do. The
        # shared state stands for the data; it pickles as a copy of the dict (_State's
        # __reduce__) and unpickles as that dict.
        return {
            "store_dict": self._state,
            "read_only": self._read_only,
            "is_open": self._is_open,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(store_dict=state["store_dict"], read_only=state["read_only"])  # type: ignore[misc]
        self._is_open = state["is_open"]

    # ------------------------------------------------------------------ reads

    def _lookup(self, key: str) -> Buffer | None:
        """The stored value of ``key``, or None."""
        key = validate_key(key)
        return self._store_dict.get(key)

    @staticmethod
    def _slice(value: Buffer, wanted: type[Buffer], byte_range: ByteRequest | None) -> Buffer:
        """``byte_range`` of ``value`` as a ``wanted``: a view, converted only if needed."""
        if byte_range is not None:
            start, stop = normalize_byte_range(byte_range, len(value))
            value = value[start:stop]
        # Stored copies are frozen, so handing out the object (or a slice of it) is safe.
        return value if type(value) is wanted else wanted.from_buffer(value)

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """Blocking :meth:`get` (zarr-python 3.4.2's ``SupportsGetSync``).

        Parameters
        ----------
        key : str
            The key to read.
        prototype : BufferPrototype, optional
            The prototype of the returned buffer; the default prototype if None.
        byte_range : ByteRequest, optional
            The bytes to read; the whole value if None.

        Returns
        -------
        Buffer or None
            The bytes, or None if the key does not exist.
        """
        self._is_open = True  # opening a MemoryStore does nothing else
        value = self._lookup(key)
        if value is None:
            return None
        return self._slice(value, _buffer_class(prototype), byte_range)

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        # docstring inherited
        if not self._is_open:
            await self._open()
        if prototype is None:
            prototype = default_buffer_prototype()
        key = validate_key(key)
        value = self._store_dict.get(key)  # _lookup inlined: a call costs a tenth of this path
        if value is None:
            return None
        try:
            wanted = prototype.buffer
        except AttributeError:
            # zarr-python's own AttributeError named neither the argument nor the fix.
            raise _not_a_prototype(prototype) from None
        if byte_range is None and type(value) is wanted:
            return value  # the hot path, without a further call
        return self._slice(value, wanted, byte_range)

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        # docstring inherited
        # Memory is not I/O: a plain loop beats scheduling one task per range.
        if not self._is_open:
            await self._open()
        values: list[Buffer | None] = []
        append, get = values.append, self.get_sync
        for pair in key_ranges:
            try:
                key, byte_range = pair
            except (TypeError, ValueError):
                raise _not_a_pair("get_partial_values", "byte_range", pair) from None
            append(get(key, prototype=prototype, byte_range=byte_range))
        return values

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        # docstring inherited
        if not self._is_open:
            await self._open()
        for key, prototype, byte_range in requests:
            yield key, self.get_sync(key, prototype=prototype, byte_range=byte_range)

    async def get_ranges(
        self,
        key: str,
        byte_ranges: Sequence[ByteRequest | None],
        *,
        prototype: BufferPrototype,
        max_concurrency: int = 10,
        max_gap_bytes: int = DEFAULT_MAX_GAP,
        max_coalesced_bytes: int = DEFAULT_MAX_SIZE,
    ) -> AsyncIterator[Sequence[tuple[int, Buffer | None]]]:
        # docstring inherited
        # Every range of an in-memory value is a view of one lookup: a single batch, with
        # nothing to coalesce, so the gap, size and concurrency budgets only get checked,
        # so that a call fails here exactly where it fails on every other store.
        key = validate_key(key)
        byte_ranges = _as_sequence(byte_ranges)
        if not byte_ranges:
            return  # as Store.get_ranges (and zarr-python): nothing asked, nothing checked
        validate_range_options(max_concurrency, max_gap_bytes, max_coalesced_bytes)
        if not self._is_open:
            await self._open()
        yield self._ranges(key, byte_ranges, prototype)

    def get_ranges_sync(
        self,
        key: str,
        byte_ranges: Sequence[ByteRequest | None],
        *,
        prototype: BufferPrototype,
        max_gap_bytes: int = DEFAULT_MAX_GAP,
        max_coalesced_bytes: int = DEFAULT_MAX_SIZE,
    ) -> Sequence[tuple[int, Buffer | None]]:
        # docstring inherited
        key = validate_key(key)
        byte_ranges = _as_sequence(byte_ranges)
        if not byte_ranges:
            return []
        validate_range_options(1, max_gap_bytes, max_coalesced_bytes)
        self._is_open = True
        return self._ranges(key, byte_ranges, prototype)

    def _ranges(
        self, key: str, byte_ranges: Sequence[ByteRequest | None], prototype: BufferPrototype
    ) -> list[tuple[int, Buffer | None]]:
        """Every range of ``key``'s value, as views of one lookup, tagged with its index.

        Raises
        ------
        ExceptionGroup
            Holding a FileNotFoundError if the key is missing, or what a bad request raised,
            as :meth:`Store.get_ranges` reports a failed fetch.
        """
        value = self._lookup(key)  # one lookup: the value cannot change under the views
        if value is None:
            raise ExceptionGroup(f"get_ranges of {key!r} failed", [_missing_key(key)])
        # None is the default, as get_sync and Store.get_ranges_sync (through get_sync)
        # take it; zarr-python's prototype.buffer raised AttributeError.
        wanted = _buffer_class(prototype)
        if type(value) is not wanted:
            value = wanted.from_buffer(value)  # convert once, not once per range
        # Slice the array directly: the ranges are normalised here, so Buffer.__getitem__'s
        # slice checks and a call per range would only repeat work.
        array, size = value.as_array_like(), len(value)
        batch: list[tuple[int, Buffer | None]] = []
        try:
            for i, byte_range in enumerate(byte_ranges):
                start, stop = normalize_byte_range(byte_range, size)
                batch.append((i, wanted(array[start:stop])))
        except Exception as error:
            raise ExceptionGroup(f"get_ranges of {key!r} failed", [error]) from None
        return batch

    async def exists(self, key: str) -> bool:
        # docstring inherited
        key = validate_key(key)
        return key in self._store_dict

    async def getsize(self, key: str) -> int:
        # docstring inherited
        key = validate_key(key)
        value = self._store_dict.get(key)
        if value is None:
            raise _missing_key(key)
        return len(value)

    async def getsize_prefix(self, prefix: str) -> int:
        # docstring inherited
        directory = normalize_prefix(prefix)
        state = self._state
        with state.lock:
            if directory == "":
                # Every size is recorded on set: no need to move new keys into the index.
                state.recount()
                return sum(state.sizes.values())
            state.sync()
            return sum(map(state.sizes.__getitem__, state.index.with_prefix(directory)))

    # ------------------------------------------------------------------ writes

    async def set(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self.set_sync(key, value)  # memory is not I/O: nothing to wait for

    def set_sync(self, key: str, value: Buffer) -> None:
        """Blocking :meth:`set` (zarr-python 3.4.2's ``SupportsSetSync``).

        Parameters
        ----------
        key : str
            The key to write.
        value : Buffer
            The bytes; kept as they are if immutable, else copied (see the class notes).
        """
        if self._read_only:
            raise ValueError(READ_ONLY_MESSAGE)
        key = validate_key(key)
        self._is_open = True  # opening a MemoryStore does nothing else
        stored, size = _own(value)  # copy outside the lock: a tiny critical section
        state = self._state
        # state.put, inlined, and acquire/release rather than `with` (half the interpreter
        # work of the context protocol): this is the hot path of every chunk write.
        lock = state.lock
        lock.acquire()
        try:
            state.data[key] = stored
            state.sizes[key] = size
        finally:
            lock.release()

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        # docstring inherited
        if self._read_only:
            raise ValueError(READ_ONLY_MESSAGE)
        key = validate_key(key)
        if not self._is_open:
            await self._open()
        # Checked (and copied if need be) before looking: a value of the wrong type is an
        # error whether or not the key exists, as in every other store.
        stored, size = _own(value)
        if key in self._store_dict:
            return
        state = self._state
        with state.lock:
            # Checked again under the lock: exactly one of many racing writers wins.
            if key not in self._store_dict:
                state.put(key, stored, size)

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        # docstring inherited
        if self._read_only:
            raise ValueError(READ_ONLY_MESSAGE)
        if not self._is_open:
            await self._open()
        # Validate and copy everything first, so a bad item writes nothing.
        staged: list[tuple[str, Buffer, int]] = []
        append = staged.append
        for pair in values:
            try:
                key, value = pair
            except (TypeError, ValueError):
                raise _not_a_pair("_set_many", "value", pair) from None
            append((validate_key(key), *_own(value)))
        state = self._state
        with state.lock:
            for key, stored, size in staged:
                state.put(key, stored, size)

    async def delete(self, key: str) -> None:
        # docstring inherited
        self.delete_sync(key)

    def delete_sync(self, key: str) -> None:
        """Blocking :meth:`delete` (zarr-python 3.4.2's ``SupportsDeleteSync``).

        Parameters
        ----------
        key : str
            The key to delete; a missing key is not an error.
        """
        self._check_writable()
        key = validate_key(key)
        state = self._state
        with state.lock:
            state.remove(key)

    async def delete_dir(self, prefix: str) -> None:
        # docstring inherited
        self._check_writable()
        directory = normalize_prefix(prefix)
        state = self._state
        with state.lock:
            if directory == "":
                state.data.clear()
                state.reindex()
                return
            state.pop_directory(directory)

    async def clear(self) -> None:
        # docstring inherited
        self._check_writable()
        state = self._state
        with state.lock:
            state.data.clear()
            state.reindex()

    # ------------------------------------------------------------------ listing

    async def is_empty(self, prefix: str) -> bool:
        # docstring inherited
        directory = normalize_prefix(prefix)
        state = self._state
        with state.lock:
            return state.is_empty(directory)

    def list(self) -> AsyncIterator[str]:
        # docstring inherited
        return Listing(self._keys)

    def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        return Listing(self._keys_with_prefix, prefix)

    def list_dir(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        return Listing(self._children, prefix)

    async def _keys(self) -> Sequence[str]:
        with self._state.lock:
            return list(self._state.data)  # a snapshot, so callers may delete while iterating

    async def _keys_with_prefix(self, prefix: str) -> Sequence[str]:
        prefix = _plain_prefix(prefix)
        state = self._state
        with state.lock:
            return state.keys_with_prefix(prefix)

    async def _children(self, prefix: str) -> Sequence[str]:
        directory = normalize_prefix(prefix)
        state = self._state
        with state.lock:
            return state.children(directory)
