"""The ``Store`` abstract base class: zarr-python 3's ``zarr.abc.store.Store`` contract.

Concrete stores override the abstract methods; every default implementation here runs batch
work through :func:`~zstore.core.concurrent_map` (bounded, ``ZSTORE_CONCURRENCY``) and uses
the shared key, prefix and byte-range rules, so a store that overrides only the abstract
methods is already correct, and a store that can do better overrides the rest.
"""

from __future__ import annotations

import errno
from abc import ABC, abstractmethod
from contextlib import aclosing
from numbers import Integral, Real
from operator import itemgetter
from typing import TYPE_CHECKING, Literal

import numpy as np

from zstore.core._byte_request import RangeByteRequest
from zstore.core._concurrency import concurrent_as_completed, concurrent_map
from zstore.core._keys import normalize_prefix, validate_key
from zstore.core._protocols import SupportsGetSync

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
    from types import TracebackType
    from typing import Any, Self

    from zbuffer.core import Buffer, BufferPrototype
    from zstore.core._byte_request import ByteRequest

__all__ = [
    "DEFAULT_MAX_GAP",
    "DEFAULT_MAX_SIZE",
    "READ_ONLY_MESSAGE",
    "Store",
    "coalesce_ranges",
    "validate_range_options",
]

READ_ONLY_MESSAGE = "store was opened in read-only mode and does not support writing"
"""The message of the ValueError every write path of a read-only store raises."""

DEFAULT_MAX_GAP = 1 << 20
"""get_ranges merges two ranges separated by at most this many bytes (1 MiB, as zarr)."""

DEFAULT_MAX_SIZE = 16 << 20
"""get_ranges never merges ranges into one fetch larger than this (16 MiB, as zarr)."""


def _missing_key(key: str) -> FileNotFoundError:
    """A FileNotFoundError that names the missing key (``str`` and ``.filename``)."""
    return FileNotFoundError(errno.ENOENT, "no such key in the store", key)


def _merged_ranges(
    requests: Sequence[ByteRequest | None], group: list[int]
) -> list[RangeByteRequest]:
    """The members of a group of several requests: all ranges, as coalesce_ranges merges
    nothing else."""
    return [r for i in group if isinstance(r := requests[i], RangeByteRequest)]


def _group_request(requests: Sequence[ByteRequest | None], group: list[int]) -> ByteRequest | None:
    """The one request that fetches a group of :func:`coalesce_ranges`: its only member, or
    the span of its members."""
    if len(group) == 1:
        return requests[group[0]]
    ranges = _merged_ranges(requests, group)
    return RangeByteRequest(min(r.start for r in ranges), max(r.end for r in ranges))


def _split_group(
    key: str, requests: Sequence[ByteRequest | None], group: list[int], fetched: Buffer | None
) -> list[tuple[int, Buffer | None]]:
    """Each member's bytes, out of what the :func:`_group_request` of ``group`` fetched.

    Raises
    ------
    FileNotFoundError
        If nothing was fetched: the key is missing.
    """
    if fetched is None:
        raise _missing_key(key)
    if len(group) == 1:
        return [(group[0], fetched)]
    ranges = _merged_ranges(requests, group)
    start = min(r.start for r in ranges)
    # Slicing clips at the fetched length, exactly as a separate get of each range would
    # clip at the value's end.
    return [
        (i, fetched[r.start - start : r.end - start]) for i, r in zip(group, ranges, strict=True)
    ]


class _NotAPrototypeError(TypeError, AttributeError):
    """A ``prototype`` argument that is not a BufferPrototype.

    A TypeError, as the wrong type of argument; also the AttributeError that zarr-python
    3.4.2 raises there (reading ``prototype.buffer``), so code that catches it still does.
    """


def _not_a_prototype(prototype: object) -> _NotAPrototypeError:
    """The error for a ``prototype`` without a ``buffer`` class, such as a Buffer class."""
    if isinstance(prototype, type):
        got = f"the class {prototype.__module__}.{prototype.__qualname__}"
    else:
        got = f"{type(prototype).__name__}: {prototype!r}"
    return _NotAPrototypeError(
        f"prototype must be a BufferPrototype or None, got {got}; pass a prototype such as "
        "zbuffer.cpu.buffer_prototype or zbuffer.core.default_buffer_prototype()"
    )


def _not_a_pair(method: str, second: str, item: object) -> TypeError:
    """The error for an item of a batch that is not a ``(key, <second>)`` pair."""
    return TypeError(f"{method} expects (key, {second}) pairs, got {type(item).__name__}: {item!r}")


def _not_a_buffer(key: str, value: object) -> TypeError:
    """The error for a value that is not a Buffer, naming its key."""
    return TypeError(
        f"the value for key {key!r} must be a Buffer instance, got {type(value).__name__}; "
        "wrap bytes with Buffer.from_bytes"
    )


def validate_range_options(
    max_concurrency: int, max_gap_bytes: float, max_coalesced_bytes: float
) -> int:
    """Check the knobs of ``get_ranges`` before any fetch, naming the one at fault.

    zarr-python 3.4.2 accepts any gap and size (its rule is applied as written, see
    :func:`coalesce_ranges`), so they are only checked to be numbers. A concurrency below 1
    is refused: zarr-python raises for a negative one and waits forever for 0.

    Parameters
    ----------
    max_concurrency : int
        The most fetches in flight; an int >= 1.
    max_gap_bytes, max_coalesced_bytes : int or float
        The coalescing budgets; any number.

    Returns
    -------
    int
        ``max_concurrency`` as an int.

    Raises
    ------
    TypeError
        If a knob has the wrong type, naming it.
    ValueError
        If ``max_concurrency`` is below 1.
    """
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, Integral):
        raise TypeError(f"max_concurrency must be an int, got {max_concurrency!r}")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
    for name, value in (
        ("max_gap_bytes", max_gap_bytes),
        ("max_coalesced_bytes", max_coalesced_bytes),
    ):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"{name} must be a number of bytes, got {value!r}")
    return int(max_concurrency)


def coalesce_ranges(
    byte_ranges: Sequence[ByteRequest | None], *, max_gap: float, max_size: float
) -> list[list[int]]:
    """Group the indices of ``byte_ranges`` into fetches.

    Only :class:`RangeByteRequest` can be merged, since an offset or suffix request needs the
    value's length to place. Ranges are sorted by start, ranges with equal starts keeping
    their input order; a range joins the current group when the gap from the group's end is
    at most ``max_gap`` and the merged span stays within ``max_size``. Every other request
    is a group of its own.

    The rule and the order are zarr-python 3.4.2's, so the groups (and the order of the
    indices in each) are the fetches zarr-python plans, applied as written to any budget:
    ``max_gap=0`` merges only touching or overlapping ranges, a negative gap only ranges
    that overlap by more than it, and a ``max_size`` of 0 or less leaves every non-empty
    range alone.

    Parameters
    ----------
    byte_ranges : sequence of ByteRequest or None
        The requests.
    max_gap : int
        The largest gap in bytes bridged by a merge (bytes read and thrown away);
        ``get_ranges``'s ``max_gap_bytes``.
    max_size : int
        The largest merged span in bytes; a single range larger than this is fetched alone.
        ``get_ranges``'s ``max_coalesced_bytes``.

    Returns
    -------
    list of list of int
        Groups of input indices; each index appears in exactly one group.

    See Also
    --------
    validate_range_options : the checks ``get_ranges`` makes of its knobs first.
    """
    groups: list[list[int]] = []
    mergeable: list[tuple[int, int, int]] = []
    add = mergeable.append
    for index, request in enumerate(byte_ranges):
        if isinstance(request, RangeByteRequest):
            add((request.start, request.end, index))
        else:
            groups.append([index])
    # By start alone (a stable sort): ties broken by end would change which ranges merge
    # under a size budget, and the plan would no longer be zarr-python's.
    mergeable.sort(key=itemgetter(0))
    # Plain comparisons rather than max(): this loop runs once per range of a shard read.
    current: list[int] = []
    group_start = group_end = 0
    for start, end, index in mergeable:
        if current and start - group_end <= max_gap:
            merged_end = end if end > group_end else group_end
            if merged_end - group_start <= max_size:
                current.append(index)
                group_end = merged_end
                continue
        if current:
            groups.append(current)
        current = [index]
        group_start, group_end = start, end
    if current:
        groups.append(current)
    return groups


class Store(ABC):  # noqa: PLW1641 - equal by content and mutable, so unhashable like a dict
    """Abstract base class for stores: a mapping of string keys to bytes, accessed async.

    The same contract as zarr-python 3's ``zarr.abc.store.Store``, with the stricter rules
    documented in the README of ``zstore-core``: keys are checked by
    :func:`~zstore.core.validate_key`, directory-style prefixes by
    :func:`~zstore.core.normalize_prefix`, byte ranges by
    :func:`~zstore.core.normalize_byte_range`, and every write path of a read-only store
    raises ``ValueError(READ_ONLY_MESSAGE)``.

    Parameters
    ----------
    read_only : bool
        Whether writes are refused (a NumPy bool, 0 or 1 is taken as a bool).

    Raises
    ------
    TypeError
        If ``read_only`` is not a bool.
    """

    _read_only: bool
    _is_open: bool

    def __init__(self, *, read_only: bool = False) -> None:
        self._is_open = False
        if read_only is not True and read_only is not False:
            # zarr-python keeps any object, so read_only="false" made a read-only store and
            # read_only=None a writable one, and `store.read_only` was not a bool. A NumPy
            # bool and the ints 0 and 1 (flags from argparse or C) are unambiguous.
            if not (
                isinstance(read_only, np.bool_) or (type(read_only) is int and read_only in (0, 1))
            ):
                raise TypeError(
                    f"read_only must be a bool, got {type(read_only).__name__}: {read_only!r}"
                )
            read_only = bool(read_only)
        self._read_only = read_only

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(cls, *args: Any, **kwargs: Any) -> Self:
        """Create and open the store.

        Parameters
        ----------
        *args, **kwargs
            Passed to the store's constructor.

        Returns
        -------
        Store
            The opened store.
        """
        store = cls(*args, **kwargs)
        await store._open()
        return store

    async def _open(self) -> None:
        """Open the store.

        Raises
        ------
        ValueError
            If the store is already open ("store is already open").
        """
        if self._is_open:
            raise ValueError("store is already open")
        self._is_open = True

    async def _ensure_open(self) -> None:
        """Open the store if it is not already open."""
        if not self._is_open:
            await self._open()

    def close(self) -> None:
        """Close the store; a later read or write opens it again."""
        self._is_open = False

    def __enter__(self) -> Self:
        """Enter a context manager that closes the store on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the store."""
        self.close()

    async def __aenter__(self) -> Self:
        """Open the store (if needed) and enter a context that closes it on exit."""
        await self._ensure_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the store."""
        self.close()

    # ------------------------------------------------------------------ read-only

    @property
    def read_only(self) -> bool:
        """Whether the store refuses writes. Fixed at construction; see ``with_read_only``."""
        return self._read_only

    def with_read_only(self, read_only: bool = False) -> Store:
        """Return a new store over the same data with the given ``read_only`` setting.

        The new store is not opened, and this store is not closed.

        Parameters
        ----------
        read_only : bool
            Whether the new store refuses writes.

        Returns
        -------
        Store
            A new store of the same type.

        Raises
        ------
        NotImplementedError
            If the store type does not support it.
        """
        raise NotImplementedError(
            f"with_read_only is not implemented for the {type(self)} store type."
        )

    def _check_writable(self) -> None:
        """Raise ``ValueError(READ_ONLY_MESSAGE)`` if the store is read-only."""
        if self._read_only:
            raise ValueError(READ_ONLY_MESSAGE)

    # ------------------------------------------------------------------ capabilities

    @property
    @abstractmethod
    def supports_writes(self) -> bool:
        """Does the store support writes?"""
        ...

    @property
    @abstractmethod
    def supports_deletes(self) -> bool:
        """Does the store support deletes?"""
        ...

    @property
    @abstractmethod
    def supports_listing(self) -> bool:
        """Does the store support listing?"""
        ...

    @property
    def supports_partial_writes(self) -> Literal[False]:
        """Does the store support partial writes? Zarr no longer uses them: always False."""
        return False

    @property
    def supports_consolidated_metadata(self) -> bool:
        """Does the store support consolidated metadata? True unless a store opts out."""
        return True

    @abstractmethod
    def __eq__(self, value: object) -> bool:
        """Equality comparison."""
        ...

    # ------------------------------------------------------------------ reads

    @abstractmethod
    async def get(
        self,
        key: str,
        prototype: BufferPrototype,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """Retrieve the value of ``key``, or a byte range of it.

        Parameters
        ----------
        key : str
            A key valid under :func:`~zstore.core.validate_key`.
        prototype : BufferPrototype
            The returned value is an instance of ``prototype.buffer``.
        byte_range : ByteRequest, optional
            The bytes to read, interpreted by :func:`~zstore.core.normalize_byte_range`
            (ranges past the end are clipped; None reads the whole value).

        Returns
        -------
        Buffer or None
            The bytes, or None if the key does not exist.

        Raises
        ------
        ValueError
            If the key is invalid.
        """
        ...

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        """Retrieve possibly partial values for many ``(key, byte_range)`` pairs.

        The default calls :meth:`get` with bounded concurrency.

        Parameters
        ----------
        prototype : BufferPrototype
            The prototype of the returned buffers.
        key_ranges : Iterable of (str, ByteRequest or None)
            Pairs of key and range; a key may occur many times with different ranges.

        Returns
        -------
        list of Buffer or None
            In the order of ``key_ranges``; None where a key is missing.
        """

        async def one(pair: tuple[str, ByteRequest | None]) -> Buffer | None:
            try:
                key, byte_range = pair
            except (TypeError, ValueError):
                raise _not_a_pair("get_partial_values", "byte_range", pair) from None
            return await self.get(key, prototype, byte_range)

        return await concurrent_map(key_ranges, one)

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        """Retrieve many values, yielding ``(key, Buffer or None)`` pairs.

        Callers must not rely on the order. The default fetches with bounded concurrency
        and yields in request order.
        """
        work = list(requests)

        async def one(request: tuple[str, BufferPrototype, ByteRequest | None]) -> Buffer | None:
            return await self.get(request[0], request[1], request[2])

        values = await concurrent_map(work, one)
        for request, value in zip(work, values, strict=True):
            yield request[0], value

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
        """Read many byte ranges of one value, merging nearby ranges into fewer fetches.

        The signature and semantics of zarr-python's ``Store.get_ranges``. Range requests
        are grouped by :func:`coalesce_ranges` (gap at most ``max_gap_bytes``, merged span at
        most ``max_coalesced_bytes``); each group is one :meth:`get` with a
        :class:`~zstore.core.RangeByteRequest`, at most ``max_concurrency`` in flight, sliced
        back into per-request buffers. Offset and suffix requests (and None) are fetched on
        their own. Stores with a better primitive (``pread``, multi-range HTTP) override this.

        Parameters
        ----------
        key : str
            The key to read.
        byte_ranges : sequence of ByteRequest or None
            The requests; None means the whole value.
        prototype : BufferPrototype
            The prototype of the returned buffers.
        max_concurrency : int
            The most merged fetches in flight at once.
        max_gap_bytes : int
            Ranges at most this many bytes apart may be merged into one fetch.
        max_coalesced_bytes : int
            The largest merged fetch in bytes.

        Yields
        ------
        sequence of tuple of (int, Buffer)
            One batch per underlying fetch: ``(index into byte_ranges, bytes)`` for every
            request that fetch served. Batches arrive in completion order; every index
            appears exactly once over all batches.

        Raises
        ------
        BaseExceptionGroup
            As in zarr-python, failures surface as an exception group (handle them with
            ``except*``): a FileNotFoundError naming the key if it does not exist, or what
            :meth:`get` raised (a TypeError for a request of the wrong type). Fetches still
            in flight are cancelled.
        ValueError, TypeError
            Raised as themselves, before any fetch: an invalid key, or a bad knob (see
            :func:`validate_range_options`). As in zarr-python, an empty ``byte_ranges``
            yields nothing without looking at the key's value or the knobs.
        """
        validate_key(key)
        requests = list(byte_ranges)
        if not requests:
            return
        max_concurrency = validate_range_options(
            max_concurrency, max_gap_bytes, max_coalesced_bytes
        )
        groups = coalesce_ranges(requests, max_gap=max_gap_bytes, max_size=max_coalesced_bytes)

        async def fetch(group: list[int]) -> list[tuple[int, Buffer | None]]:
            fetched = await self.get(key, prototype, _group_request(requests, group))
            return _split_group(key, requests, group, fetched)

        try:
            # aclosing: when the consumer stops early (aclose, break, cancellation), the
            # fetches still in flight are cancelled and awaited before this generator
            # finishes. A bare `async for` leaves the inner generator to the garbage
            # collector, whose finalizer closes it some loop iterations later, so the
            # fetches kept running (and holding the store) after aclose() returned.
            async with aclosing(concurrent_as_completed(groups, fetch, max_concurrency)) as batches:
                async for batch in batches:
                    yield batch
        except Exception as error:
            raise ExceptionGroup(f"get_ranges of {key!r} failed", [error]) from None

    def get_ranges_sync(
        self,
        key: str,
        byte_ranges: Sequence[ByteRequest | None],
        *,
        prototype: BufferPrototype,
        max_gap_bytes: int = DEFAULT_MAX_GAP,
        max_coalesced_bytes: int = DEFAULT_MAX_SIZE,
    ) -> Sequence[tuple[int, Buffer | None]]:
        """Blocking :meth:`get_ranges`, for stores with ``get_sync`` (zarr-python 3.4.2).

        The same groups as :meth:`get_ranges`, each one ``get_sync``, in order, on the
        calling thread: for callers already off the event loop.

        Parameters
        ----------
        key : str
            The key to read.
        byte_ranges : sequence of ByteRequest or None
            The requests; None means the whole value.
        prototype : BufferPrototype
            The prototype of the returned buffers.
        max_gap_bytes : int
            Ranges at most this many bytes apart may be merged into one fetch.
        max_coalesced_bytes : int
            The largest merged fetch in bytes.

        Returns
        -------
        sequence of tuple of (int, Buffer)
            ``(index into byte_ranges, bytes)`` for every request, each index once.

        Raises
        ------
        TypeError
            If the store has no ``get_sync`` (see :class:`~zstore.core.SupportsGetSync`).
        BaseExceptionGroup
            As :meth:`get_ranges`: a FileNotFoundError naming the key if it does not exist,
            or what ``get_sync`` raised. Unlike zarr-python, which goes on fetching the other
            groups of a missing key, the first failure ends the call.
        ValueError, TypeError
            Raised as themselves, before any fetch: an invalid key or a bad knob.
        """
        if not isinstance(self, SupportsGetSync):
            raise TypeError(f"{type(self).__name__} does not support synchronous reads")
        validate_key(key)
        requests = list(byte_ranges)
        if not requests:
            return []
        validate_range_options(1, max_gap_bytes, max_coalesced_bytes)
        results: list[tuple[int, Buffer | None]] = []
        try:
            for group in coalesce_ranges(
                requests, max_gap=max_gap_bytes, max_size=max_coalesced_bytes
            ):
                fetched = self.get_sync(
                    key, prototype=prototype, byte_range=_group_request(requests, group)
                )
                results += _split_group(key, requests, group, fetched)
        except Exception as error:
            raise ExceptionGroup(f"get_ranges of {key!r} failed", [error]) from None
        return results

    @abstractmethod
    async def exists(self, key: str) -> bool:
        """Check whether ``key`` exists.

        Parameters
        ----------
        key : str
            The key.

        Returns
        -------
        bool
        """
        ...

    async def getsize(self, key: str) -> int:
        """Return the size in bytes of the value of ``key``.

        The default reads the whole value; stores that know sizes override it.

        Parameters
        ----------
        key : str
            The key.

        Returns
        -------
        int
            The size in bytes.

        Raises
        ------
        FileNotFoundError
            If the key does not exist (the error's ``filename`` is the key).
        """
        from zbuffer.core import default_buffer_prototype

        validate_key(key)
        value = await self.get(key, default_buffer_prototype())
        if value is None:
            raise _missing_key(key)
        return len(value)

    async def getsize_prefix(self, prefix: str) -> int:
        """Return the total size in bytes of every value under the directory ``prefix``.

        Parameters
        ----------
        prefix : str
            A directory (see :func:`~zstore.core.normalize_prefix`); ``""`` is the whole
            store. ``"foo"`` counts ``foo/...`` but never ``foo-bar/...``.

        Returns
        -------
        int
            The sum of the sizes; 0 for an empty directory.
        """
        directory = normalize_prefix(prefix)
        keys = [key async for key in self.list_prefix(directory)]
        return sum(await concurrent_map(keys, self.getsize))

    # ------------------------------------------------------------------ writes

    @abstractmethod
    async def set(self, key: str, value: Buffer) -> None:
        """Store ``value`` at ``key``, replacing any existing value.

        Parameters
        ----------
        key : str
            A key valid under :func:`~zstore.core.validate_key`.
        value : Buffer
            The bytes.

        Raises
        ------
        ValueError
            If the store is read-only or the key is invalid.
        """
        ...

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        """Store ``value`` at ``key`` only if ``key`` does not exist.

        Notes
        -----
        The default (``exists`` then ``set``) is not atomic: two writers can both see the
        key missing. Stores override it with an atomic primitive where they have one.

        Parameters
        ----------
        key : str
            The key.
        value : Buffer
            The bytes to store if the key is missing.
        """
        self._check_writable()
        if not await self.exists(key):
            await self.set(key, value)

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        """Store many ``(key, value)`` pairs with bounded concurrency.

        Read-only, items that are not pairs, invalid keys and values that are not Buffers
        are checked before anything is written, so a bad batch writes nothing.

        Raises
        ------
        ValueError
            If the store is read-only or a key is invalid.
        TypeError
            If an item is not a ``(key, value)`` pair or a value is not a Buffer.
        """
        from zbuffer.core import Buffer

        self._check_writable()
        pairs = list(values)
        for pair in pairs:
            try:
                key, value = pair
            except (TypeError, ValueError):
                raise _not_a_pair("_set_many", "value", pair) from None
            validate_key(key)
            if not isinstance(value, Buffer):
                raise _not_a_buffer(key, value)

        async def one(pair: tuple[str, Buffer]) -> None:
            await self.set(pair[0], pair[1])

        await concurrent_map(pairs, one)

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is a no-op.

        Parameters
        ----------
        key : str
            The key.

        Raises
        ------
        ValueError
            If the store is read-only or the key is invalid.
        """
        ...

    async def delete_dir(self, prefix: str) -> None:
        """Remove every key under the directory ``prefix``.

        Parameters
        ----------
        prefix : str
            A directory (see :func:`~zstore.core.normalize_prefix`); ``""`` removes
            everything. ``"foo"`` removes ``foo/...`` but never ``foo-bar/...`` nor the key
            ``foo`` itself.

        Raises
        ------
        ValueError
            If the store is read-only or the prefix is invalid.
        """
        if not self.supports_deletes or not self.supports_listing:
            raise NotImplementedError(f"{type(self).__name__} does not support delete_dir")
        self._check_writable()
        directory = normalize_prefix(prefix)
        keys = [key async for key in self.list_prefix(directory)]
        await concurrent_map(keys, self.delete)

    async def clear(self) -> None:
        """Remove every key from the store.

        Raises
        ------
        ValueError
            If the store is read-only.
        """
        if not self.supports_deletes or not self.supports_listing:
            raise NotImplementedError(f"{type(self).__name__} does not support clear")
        self._check_writable()
        await self.delete_dir("")

    # ------------------------------------------------------------------ listing

    async def is_empty(self, prefix: str) -> bool:
        """Whether no key lies under the directory ``prefix``.

        Parameters
        ----------
        prefix : str
            A directory (see :func:`~zstore.core.normalize_prefix`); ``""`` is the whole
            store.

        Returns
        -------
        bool
        """
        if not self.supports_listing:
            raise NotImplementedError(f"{type(self).__name__} does not support listing")
        directory = normalize_prefix(prefix)
        keys = self.list_prefix(directory)
        try:
            async for _ in keys:
                return False
        finally:
            # Close the listing generator now rather than when it is garbage collected.
            aclose = getattr(keys, "aclose", None)
            if aclose is not None:
                await aclose()
        return True

    @abstractmethod
    def list(self) -> AsyncIterator[str]:
        """Retrieve every key in the store.

        Returns
        -------
        AsyncIterator of str
        """
        ...

    @abstractmethod
    def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        """Retrieve every key that starts with ``prefix`` (a plain string match, as zarr).

        Parameters
        ----------
        prefix : str
            Any string; ``""`` lists everything. Keys are returned relative to the root.

        Returns
        -------
        AsyncIterator of str
        """
        ...

    @abstractmethod
    def list_dir(self, prefix: str) -> AsyncIterator[str]:
        """Retrieve the names directly under the directory ``prefix``.

        Each name is a key or a sub-directory relative to ``prefix``, without a ``/``,
        listed once.

        Parameters
        ----------
        prefix : str
            A directory (see :func:`~zstore.core.normalize_prefix`).

        Returns
        -------
        AsyncIterator of str
        """
        ...
