"""LocalStore: zarr-python 3's LocalStore API over the file-system rules in ``_files``."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from zbuffer.core import Buffer, default_buffer_prototype
from zbuffer.cpu import Buffer as CpuBuffer
from zstore.core import (
    DEFAULT_MAX_GAP,
    DEFAULT_MAX_SIZE,
    Listing,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    SuffixByteRequest,
    coalesce_ranges,
    normalize_byte_range,
    normalize_prefix,
    validate_range_options,
)
from zstore.local import _files
from zstore.local._files import check_key
from zstore.local._pool import iter_chunked, pool_size, run_chunked, submit

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
    from typing import Self

    from zbuffer.core import BufferPrototype
    from zstore.core import ByteRequest

__all__ = ["AccessModeLiteral", "LocalStore"]

AccessModeLiteral = Literal["r", "r+", "a", "w", "w-"]

R = TypeVar("R")

_REQUEST_TYPES = (RangeByteRequest, OffsetByteRequest, SuffixByteRequest)


def _check_byte_range(byte_range: object) -> None:
    """Reject a malformed byte range before any I/O ("Unexpected byte_range, got ...")."""
    if byte_range is not None and not isinstance(byte_range, _REQUEST_TYPES):
        normalize_byte_range(byte_range, 0)  # type: ignore[arg-type]  # raises TypeError


def _prepare(root: str, create: bool, root_fd: int) -> tuple[str, int]:
    """Check the root (creating it if allowed); return its real path and a descriptor.

    ``root_fd`` (the descriptor of an earlier open, or -1) is returned again only while it
    is still the directory at ``root``: a root removed, moved away or replaced since then
    (by another program, say) gets a new descriptor, so ``close()`` and reuse always find
    the directory the path names now.
    """
    real_root = _files.prepare_root(root, create)
    if root_fd < 0 or not _files.is_root_fd_of(root_fd, root):
        root_fd = _files.open_root_fd(root)
    return real_root, root_fd


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _check_value(value: object) -> None:
    if not isinstance(value, Buffer):
        raise TypeError(
            "LocalStore.set(): `value` must be a Buffer instance. "
            f"Got an instance of {type(value)} instead."
        )


def _get_job(
    store: LocalStore, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None
) -> Buffer | None:
    """The pool job behind ``get``: open the store on first use, then read and wrap.

    Opening here rather than in a job of its own saves the first gather on a fresh store a
    second thread hand-off per call.
    """
    if not store._is_open:
        store._open_once()
    data = _files.read_file(store._root, store._real_root, key, byte_range, store._root_fd)
    if data is None:
        return None
    return prototype.buffer.from_bytes(data)


def _set_job(store: LocalStore, key: str, value: object, exclusive: bool) -> bool:
    """The pool job behind ``set`` and ``set_if_not_exists`` (opens on first use)."""
    if not store._is_open:
        store._open_once()
    return _files.write_file(
        store._root,
        store._real_root,
        key,
        value,
        exclusive=exclusive,
        fsync=store._fsync,
        root_fd=store._root_fd,
    )


def _move_job(store: LocalStore, dest: str) -> None:
    """The pool job behind ``move``: move the directory and point the store at it.

    Both happen here, in one job, so a ``move`` cancelled while its job runs (which cannot
    be stopped) still leaves the store pointing at its data: re-pointing after the await
    was skipped on cancellation, leaving the store at the old, now missing, root (empty
    listings; after ``close()`` a new empty root made there). Under the open lock, so a
    first-use open racing the move cannot make a new, empty directory at the old root.
    """
    with store._open_lock:
        _files.move_root(store._root, dest)
        # Jobs running meanwhile read the root path, real path and descriptor one at a time
        # (no lock), so they can see a mix of old and new. The descriptor stays (it is the
        # directory just moved, and the next open keeps it once it checks it is the one at
        # dest): with it every mix finds the keys. Resetting it to -1, as _set_root does,
        # sent such a job by path with the old real path: the key was missing (the old
        # path), or "outside the store root" (the new path checked against the old real
        # path).
        store._root = dest
        store._real_root = os.path.realpath(dest)
        store._is_open = False


def _in_root(store: LocalStore, func: Callable[..., R], *args: object) -> R:
    """The pool job behind most methods: open the store on first use (no separate job for
    that), then run ``func(root, real_root, *args)``."""
    if not store._is_open:
        store._open_once()
    return func(store._root, store._real_root, *args)


def _key_job(store: LocalStore, func: Callable[[str, str, str, int], R], key: str) -> R:
    """Like :func:`_in_root` for ``func(root, real_root, key, root_fd)``."""
    if not store._is_open:
        store._open_once()
    return func(store._root, store._real_root, key, store._root_fd)


def _read_buffer(  # noqa: PLR0917 - a pool job: arguments are positional
    root: str,
    real_root: str,
    key: str,
    prototype: BufferPrototype,
    byte_range: ByteRequest | None,
    root_fd: int = -1,
) -> Buffer | None:
    """Read in a worker thread and wrap there too, so the loop only resolves a future."""
    data = _files.read_file(root, real_root, key, byte_range, root_fd)
    if data is None:
        return None
    return prototype.buffer.from_bytes(data)


class _SharedOpen:
    """One descriptor of one value, shared by every job of one ``get_ranges`` call.

    All the jobs read through it, so every range comes from the same version of the value
    even when the value is replaced meanwhile (a write is an atomic rename, so each open
    sees one whole version, but two opens may see two). The first job to run opens it;
    it is closed once the call has ended and no job is reading. A job that starts after
    the call ended (its results would be thrown away) reads nothing, and jobs the
    dispatcher drops on cancellation never run: neither needs bookkeeping.
    """

    __slots__ = ("_ended", "_fd", "_lock", "_opened", "_opener", "_size", "_users")

    def __init__(self, root: str, real_root: str, key: str, root_fd: int) -> None:
        self._opener = (root, real_root, key, root_fd)
        self._lock = threading.Lock()
        self._opened = False
        self._fd: int | None = None
        self._size = 0
        self._users = 0
        self._ended = False

    def acquire(self) -> tuple[int, int] | None:
        """The descriptor and the value's size for a job about to read, opening on first
        use; None if the key is missing or the call has ended. Pair with :meth:`release`."""
        with self._lock:
            if self._ended:
                return None
            if not self._opened:
                opened = _files.open_for_read(*self._opener)
                if opened is not None:
                    self._fd, self._size = opened
                self._opened = True
            if self._fd is None:
                return None
            self._users += 1
            return self._fd, self._size

    def release(self) -> None:
        """A job is done with the descriptor."""
        with self._lock:
            self._users -= 1
            self._close_if_unused()

    def end(self) -> None:
        """The call is over: close now, or when the last job still reading is done."""
        with self._lock:
            self._ended = True
            self._close_if_unused()

    def _close_if_unused(self) -> None:
        if self._ended and self._users == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def _read_shared_groups(
    shared: _SharedOpen,
    prototype: BufferPrototype,
    byte_ranges: Sequence[ByteRequest | None],
    groups: Sequence[list[int]],
) -> list[list[tuple[int, Buffer | None]]] | None:
    """A pool job: serve some groups of ranges through the call's one descriptor, or None
    if the key is missing (or the call has ended)."""
    opened = shared.acquire()
    if opened is None:
        return None
    try:
        return _read_groups(*opened, prototype, byte_ranges, groups)
    finally:
        shared.release()


def _read_groups(
    fd: int,
    size: int,
    prototype: BufferPrototype,
    byte_ranges: Sequence[ByteRequest | None],
    groups: Sequence[list[int]],
) -> list[list[tuple[int, Buffer | None]]]:
    """Serve groups of ranges of the value open at ``fd`` (``size`` bytes): one pread each.

    Returns one batch of ``(index, buffer)`` per group. The members of a group are slices of
    the group's one buffer (views, no copy).
    """
    batches: list[list[tuple[int, Buffer | None]]] = []
    from_bytes = prototype.buffer.from_bytes
    read_fd = _files.read_fd
    for group in groups:
        if len(group) == 1:
            index = group[0]
            s, e = normalize_byte_range(byte_ranges[index], size)
            batches.append([(index, from_bytes(read_fd(fd, s, e) if e > s else b""))])
            continue
        # A group of several members holds only RangeByteRequests, sorted by start.
        members: list[RangeByteRequest] = [byte_ranges[i] for i in group]  # type: ignore[misc]
        start = min(members[0].start, size)
        stop = min(max(r.end for r in members), size)
        whole = from_bytes(read_fd(fd, start, stop) if stop > start else b"")
        if type(whole) is CpuBuffer:
            # The common host buffer: wrap NumPy slices directly, skipping the generic
            # __getitem__ checks (a third of the per-range cost for 10k small ranges).
            array = whole.as_numpy_array()
            batches.append(
                [
                    (i, CpuBuffer(array[min(r.start, size) - start : min(r.end, size) - start]))
                    for i, r in zip(group, members, strict=True)
                ]
            )
        else:
            batches.append(
                [
                    (i, whole[min(r.start, size) - start : min(r.end, size) - start])
                    for i, r in zip(group, members, strict=True)
                ]
            )
    return batches


# Every LocalStore, so that a forked child can replace their open locks (by a serial
# number: a LocalStore is unhashable, so it cannot go in a WeakSet).
_stores: weakref.WeakValueDictionary[int, LocalStore] = weakref.WeakValueDictionary()
_serial = itertools.count()


def _reset_after_fork() -> None:
    # A lock a worker thread held at the fork (opening a fresh store) stays held forever
    # in the child, which has no such thread: the child's first call on that store would
    # wait for it for ever. An open cut short by the fork left _is_open False, so the
    # child simply opens again.
    for store in list(_stores.values()):
        store._open_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


class LocalStore(Store):  # noqa: PLW1641 - equal by root, mutable (move): unhashable
    """Store for the local file system: each key is a plain file at ``root/key``.

    The API of zarr-python 3's ``zarr.storage.LocalStore`` with these guarantees: keys can
    never reach outside ``root`` (not even through symbolic links), every write is atomic
    (temporary file, then rename), temporary files are never listed, deletes leave no empty
    directories behind, and no file I/O runs on the event-loop thread (it runs, batched, on
    a small dedicated thread pool).

    Parameters
    ----------
    root : str or os.PathLike
        Directory to use as the root of the store. Made absolute at construction, so a
        pickled store finds the same directory from any working directory.
    read_only : bool
        Whether the store is read-only.
    fsync : bool
        Flush every written file and its directory to stable storage before a write
        returns (off by default: much slower, needed only to survive power loss).

    Attributes
    ----------
    supports_writes
    supports_deletes
    supports_partial_writes
    supports_listing
    root
    """

    supports_writes: bool = True
    supports_deletes: bool = True
    supports_listing: bool = True

    _root: str
    _real_root: str
    _fsync: bool

    def __init__(
        self, root: Path | str | os.PathLike[str], *, read_only: bool = False, fsync: bool = False
    ) -> None:
        super().__init__(read_only=read_only)
        if not isinstance(root, str | os.PathLike):
            raise TypeError(
                "'root' must be a string or Path instance. "
                f"Got an instance of {type(root)} instead."
            )
        path = os.fspath(root)
        if not isinstance(path, str):
            raise TypeError(f"'root' must be a text path, got {path!r}")
        if path == "":
            raise ValueError("'root' must not be empty; pass '.' for the current directory")
        _files.check_root_path(path, "'root'")
        self._set_root(path)
        self._fsync = bool(fsync)
        # Serialises first-use opens from worker threads: many calls on a fresh store (a
        # gather of gets) check the root once, and open one root descriptor.
        self._open_lock = threading.Lock()
        _stores[next(_serial)] = self
        # Whether opening may create the root: open(mode='r' or 'r+') and resolve() turn
        # it off for writable stores too.
        self._create_root = not read_only

    def _set_root(self, path: str) -> None:
        self._root = os.path.abspath(path)
        # Until opened we do not know the real path; abspath is right unless it has links.
        self._real_root = self._root
        # A descriptor of the root, for confined opens (openat2 RESOLVE_BENEATH); opened
        # with the store, and replaced by a reopen if the root was replaced meanwhile.
        # Descriptors are only closed when the store is garbage collected, so a read still
        # running in a worker never sees its descriptor reused for another file.
        self._root_fd = -1
        if not hasattr(self, "_fds"):
            self._fds: list[int] = []
            weakref.finalize(self, _close_all, self._fds)

    def _opened(self, prepared: tuple[str, int]) -> None:
        # Only called under _open_lock, so no other open races this one.
        self._real_root, fd = prepared
        if fd != self._root_fd:
            self._fds.append(fd)
            self._root_fd = fd
        self._is_open = True

    def _open_once(self) -> None:
        """Open (check the root) unless open; safe from any thread, the work is done once."""
        with self._open_lock:
            if not self._is_open:
                self._opened(_prepare(self._root, self._create_root, self._root_fd))

    @property
    def root(self) -> Path:
        """The root directory (absolute)."""
        return Path(self._root)

    @property
    def fsync(self) -> bool:
        """Whether writes are flushed to stable storage before they return."""
        return self._fsync

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls,
        root: Path | str | os.PathLike[str],
        *,
        read_only: bool = False,
        mode: AccessModeLiteral | None = None,
        fsync: bool = False,
    ) -> Self:
        """Create and open the store.

        Parameters
        ----------
        root : str or os.PathLike
            Directory to use as the root of the store.
        read_only : bool
            Whether the store is read-only.
        mode : {'r', 'r+', 'a', 'w', 'w-'}, optional
            Only decides whether the root directory may be created: ``'r'`` and ``'r+'``
            never create it, the others do. When None, a read-only store does not create
            it and a writable one does. The store's read-only state is ``read_only``.
        fsync : bool
            See :class:`LocalStore`.

        Returns
        -------
        LocalStore
            The opened store.

        Raises
        ------
        FileNotFoundError
            If the root does not exist and may not be created (the error names it).
        NotADirectoryError
            If the root is a file.
        PermissionError
            If the root cannot be created or read.
        """
        create = mode not in ("r", "r+") if mode is not None else not read_only
        store = cls(root, read_only=read_only, fsync=fsync)
        store._create_root = create
        await store._open()
        return store

    async def _open(self) -> None:
        # docstring inherited
        if self._is_open:
            raise ValueError("store is already open")
        await submit(self._open_once)

    async def _ensure_open(self) -> None:
        # docstring inherited
        if not self._is_open:
            # Many coroutines may get here before the first finishes (a gather on a fresh
            # store): the first job opens, the others find the store open (_open_once).
            # Going through _open would make all but the first fail with "store is
            # already open".
            await submit(self._open_once)

    def _ensure_open_sync(self) -> None:
        if not self._is_open:
            self._open_once()

    def close(self) -> None:
        """Close the store; the next call opens it again.

        Opening again checks the root again: if the directory at ``root`` was removed,
        moved away or replaced since the store opened it (by another program, say), the
        store works in the directory there now.

        Notes
        -----
        A root removed (and perhaps made again) while the store is open is noticed without
        ``close()``: a lookup that finds nothing beneath the removed directory looks again
        by path. A root moved away and replaced is not: until ``close()``, the store reads
        and writes keys in the directory it opened (listings walk the path, and see the
        new one).
        """
        super().close()

    def with_read_only(self, read_only: bool = False) -> Self:
        # docstring inherited
        return type(self)(self._root, read_only=read_only, fsync=self._fsync)

    def __getstate__(self) -> dict[str, Any]:
        # Only the configuration: a store unpickled in another process opens (and checks
        # its root) again on first use, under the same rule for creating it.
        return {
            "root": self._root,
            "read_only": self._read_only,
            "fsync": self._fsync,
            "create_root": self._create_root,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"], read_only=state["read_only"], fsync=state["fsync"])  # type: ignore[misc]
        # Pickles made by 0.1.6 and earlier lack the rule: theirs was "writable creates".
        self._create_root = state.get("create_root", not state["read_only"])

    def __str__(self) -> str:
        return f"file://{self.root.as_posix()}"

    def __repr__(self) -> str:
        return f"LocalStore('{self}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and self._root == other._root

    async def move(self, dest_root: Path | str | os.PathLike[str]) -> None:
        """Move the store's directory to ``dest_root`` and point the store there.

        Parameters
        ----------
        dest_root : str or os.PathLike
            The new root; it must not exist yet. Its parent is created if needed.

        Raises
        ------
        FileExistsError
            If ``dest_root`` exists.
        NotADirectoryError
            If a parent of ``dest_root`` is a file.
        OSError
            With errno ENAMETOOLONG if ``dest_root`` is too long for the file system.
        TypeError
            If ``dest_root`` is not a text path.
        ValueError
            If the store is read-only, or ``dest_root`` is inside the store.
        """
        self._check_writable()
        path = os.fspath(dest_root)
        if not isinstance(path, str):
            # A bytes root made every later call fail (str + bytes), after the move.
            raise TypeError(f"'dest_root' must be a text path, got {path!r}")
        _files.check_root_path(path, "'dest_root'")
        dest = os.path.abspath(path)
        await submit(_move_job, self, dest)

    # ------------------------------------------------------------------ reads

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        # docstring inherited
        if prototype is None:
            prototype = default_buffer_prototype()
        check_key(key)
        _check_byte_range(byte_range)
        return await submit(_get_job, self, key, prototype, byte_range)

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """Blocking :meth:`get`, for callers already off the event loop (zarr's sync path)."""
        if prototype is None:
            prototype = default_buffer_prototype()
        check_key(key)
        _check_byte_range(byte_range)
        self._ensure_open_sync()
        return _read_buffer(self._root, self._real_root, key, prototype, byte_range, self._root_fd)

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        # docstring inherited
        work = list(key_ranges)
        for key, byte_range in work:
            check_key(key)
            _check_byte_range(byte_range)
        if not work:
            return []
        if not self._is_open:
            await self._ensure_open()
        root, real_root, root_fd = self._root, self._real_root, self._root_fd

        def read_chunk(
            chunk: Sequence[tuple[str, ByteRequest | None]], _store: LocalStore = self
        ) -> list[Buffer | None]:
            # _store: held by the job, see _get_many.
            return [_read_buffer(root, real_root, k, prototype, r, root_fd) for k, r in chunk]

        return await run_chunked(read_chunk, work)

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        # docstring inherited
        work = list(requests)
        for key, _, byte_range in work:
            check_key(key)
            _check_byte_range(byte_range)
        if not work:
            return
        if not self._is_open:
            await self._ensure_open()
        root, real_root, root_fd = self._root, self._real_root, self._root_fd

        # _store: each chunk job holds the function, so the store (whose garbage collection
        # closes root_fd) lives until the last job that may use root_fd is done. Without
        # it, a call cancelled (or an iteration abandoned) while a chunk ran let the store
        # be collected: the chunk then worked beneath a closed descriptor number, which
        # the next open in the process reuses; a _set_many wrote its keys into that
        # other directory (another store's root, say).
        def read_chunk(
            chunk: Sequence[tuple[str, BufferPrototype, ByteRequest | None]],
            _store: LocalStore = self,
        ) -> list[tuple[str, Buffer | None]]:
            return [(k, _read_buffer(root, real_root, k, p, r, root_fd)) for k, p, r in chunk]

        async for part in iter_chunked(read_chunk, work):
            for pair in part:
                yield pair

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
        """Read many byte ranges of one value: one open per call, one pread per group.

        Same contract as :meth:`zstore.core.Store.get_ranges` (one batch per merged read;
        the knobs checked by :func:`zstore.core.validate_range_options`); the reads run in
        at most ``min(max_concurrency, pool threads)`` jobs, all through one descriptor, so
        every range comes from the same version of the value even if it is replaced during
        the call.
        """
        check_key(key)
        requests = list(byte_ranges)
        if not requests:
            return
        max_concurrency = validate_range_options(
            max_concurrency, max_gap_bytes, max_coalesced_bytes
        )
        try:
            for byte_range in requests:
                _check_byte_range(byte_range)
        except TypeError as error:
            # As zstore.core's get_ranges: a request of the wrong type fails its fetch.
            raise ExceptionGroup(f"get_ranges of {key!r} failed", [error]) from None

        def plan() -> list[list[int]]:
            if not self._is_open:
                self._open_once()
            return coalesce_ranges(requests, max_gap=max_gap_bytes, max_size=max_coalesced_bytes)

        # Open the store (on first use) and plan in one job (pure Python over every range,
        # kept off the loop), then read the groups in as many jobs as the pool has threads,
        # each a run of neighbouring groups through the call's one descriptor: one thread's
        # pread (no GIL) overlaps another's slicing.
        groups = await submit(plan)
        shared = _SharedOpen(self._root, self._real_root, key, self._root_fd)
        parts = max(1, min(pool_size(), max_concurrency, len(groups)))
        step = -(-len(groups) // parts)
        try:
            jobs = await asyncio.gather(
                *(
                    submit(_read_shared_groups, shared, prototype, requests, groups[i : i + step])
                    for i in range(0, len(groups), step)
                )
            )
            if any(job is None for job in jobs):
                raise FileNotFoundError(errno.ENOENT, "no such key in the store", key)
        except Exception as error:
            # zarr-python's contract: get_ranges failures surface as an exception group.
            raise ExceptionGroup(f"get_ranges of {key!r} failed", [error]) from None
        finally:
            shared.end()  # also on cancellation; a job still reading closes it after
        for job in jobs:
            assert job is not None
            for batch in job:
                yield batch

    def get_ranges_sync(
        self,
        key: str,
        byte_ranges: Sequence[ByteRequest | None],
        *,
        prototype: BufferPrototype,
        max_gap_bytes: int = DEFAULT_MAX_GAP,
        max_coalesced_bytes: int = DEFAULT_MAX_SIZE,
    ) -> Sequence[tuple[int, Buffer | None]]:
        """Blocking :meth:`get_ranges`: the same groups, read through one descriptor.

        Same contract as :meth:`zstore.core.Store.get_ranges_sync`. The inherited one
        opened the key again for every group, so a value replaced meanwhile (writes are
        atomic renames) gave some ranges of the old value and some of the new; one open
        pins one version of the file for the whole call. None as ``prototype`` is the
        default prototype, as for :meth:`get_sync`.
        """
        check_key(key)
        requests = list(byte_ranges)
        if not requests:
            return []
        validate_range_options(1, max_gap_bytes, max_coalesced_bytes)
        if prototype is None:
            prototype = default_buffer_prototype()
        try:
            for byte_range in requests:
                _check_byte_range(byte_range)
            self._ensure_open_sync()
            groups = coalesce_ranges(requests, max_gap=max_gap_bytes, max_size=max_coalesced_bytes)
            shared = _SharedOpen(self._root, self._real_root, key, self._root_fd)
            try:
                batches = _read_shared_groups(shared, prototype, requests, groups)
            finally:
                shared.end()
            if batches is None:
                raise FileNotFoundError(errno.ENOENT, "no such key in the store", key)
        except Exception as error:
            # As get_ranges (and zarr-python's get_ranges_sync for a missing key).
            raise ExceptionGroup(f"get_ranges of {key!r} failed", [error]) from None
        return [pair for batch in batches for pair in batch]

    async def exists(self, key: str) -> bool:
        # docstring inherited
        check_key(key)
        return await submit(_key_job, self, _files.exists, key)

    async def getsize(self, key: str) -> int:
        # docstring inherited
        check_key(key)
        return await submit(_key_job, self, _files.getsize, key)

    async def getsize_prefix(self, prefix: str) -> int:
        # docstring inherited
        directory = self._directory(prefix)
        return await submit(_in_root, self, _files.getsize_dir, directory)

    # ------------------------------------------------------------------ writes

    def _check_set(self, key: str, value: object) -> None:
        self._check_writable()
        check_key(key)
        _check_value(value)

    async def set(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_set(key, value)
        await submit(_set_job, self, key, value.as_buffer_like(), False)

    def set_sync(self, key: str, value: Buffer) -> None:
        """Blocking :meth:`set`, for callers already off the event loop (zarr's sync path)."""
        self._check_set(key, value)
        self._ensure_open_sync()
        _write(
            self._root,
            self._real_root,
            key,
            value.as_buffer_like(),
            fsync=self._fsync,
            root_fd=self._root_fd,
        )

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        """Store ``value`` at ``key`` unless the key exists; atomic across processes.

        The value is written to a temporary file that is then hard-linked to the key, which
        the operating system refuses if the key exists: of many racing writers (threads or
        processes) exactly one wins, and readers see its value whole.

        Parameters
        ----------
        key : str
            The key.
        value : Buffer
            The bytes to store if the key is missing.
        """
        self._check_set(key, value)
        await submit(_set_job, self, key, value.as_buffer_like(), True)

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        # docstring inherited
        self._check_writable()
        pairs = list(values)
        for key, value in pairs:
            check_key(key)
            _check_value(value)
        if not pairs:
            return
        if not self._is_open:
            await self._ensure_open()
        root, real_root, fsync, root_fd = self._root, self._real_root, self._fsync, self._root_fd
        work = [(key, value.as_buffer_like()) for key, value in pairs]

        def write_chunk(
            chunk: Sequence[tuple[str, object]], _store: LocalStore = self
        ) -> list[bool]:
            # _store: held by the job, see _get_many.
            return [_write(root, real_root, k, v, fsync=fsync, root_fd=root_fd) for k, v in chunk]

        await run_chunked(write_chunk, work)

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is a no-op.

        Directories the removal leaves empty are removed as well. Unlike zarr-python's
        LocalStore, a key that names a directory is not removed recursively: a directory is
        not a key (use :meth:`delete_dir`).

        Parameters
        ----------
        key : str
            The key.
        """
        self._check_writable()
        check_key(key)
        await submit(_in_root, self, _files.delete_file, key, self._fsync)

    def delete_sync(self, key: str) -> None:
        """Blocking :meth:`delete`, for callers already off the event loop."""
        self._check_writable()
        check_key(key)
        self._ensure_open_sync()
        _files.delete_file(self._root, self._real_root, key, fsync=self._fsync)

    async def delete_dir(self, prefix: str) -> None:
        # docstring inherited
        self._check_writable()
        directory = self._directory(prefix)
        await submit(_in_root, self, _files.delete_dir, directory)

    async def clear(self) -> None:
        # docstring inherited
        self._check_writable()
        await submit(_in_root, self, _files.delete_dir, "")

    # ------------------------------------------------------------------ listing

    @staticmethod
    def _directory(prefix: str) -> str:
        directory = normalize_prefix(prefix)
        if directory:
            check_key(directory[:-1])
        return directory

    async def is_empty(self, prefix: str) -> bool:
        # docstring inherited
        directory = self._directory(prefix)
        return not await submit(_in_root, self, _files.has_keys, directory)

    def list(self) -> AsyncIterator[str]:
        # docstring inherited
        return Listing(self._keys_with_prefix, "")

    def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        return Listing(self._keys_with_prefix, prefix)

    def list_dir(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        return Listing(self._children, prefix)

    async def _keys_with_prefix(self, prefix: str) -> Sequence[str]:
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}: {prefix!r}")
        return await submit(_in_root, self, _files.list_keys, prefix)

    async def _children(self, prefix: str) -> Sequence[str]:
        return await submit(_key_job, self, _files.list_dir, self._directory(prefix))


def _write(
    root: str, real_root: str, key: str, value: object, *, fsync: bool, root_fd: int
) -> bool:
    # fsync and root_fd are keyword-only: 0.1.6's set_sync passed them positionally in the
    # wrong slots, so it never flushed and opened keys beneath descriptor 0 or 1.
    return _files.write_file(root, real_root, key, value, fsync=fsync, root_fd=root_fd)
