"""ZipStore: the Store contract over one zip file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import weakref
import zipfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from zbuffer.core import Buffer
from zbuffer.cpu import Buffer as CpuBuffer
from zstore.core import (
    READ_ONLY_MESSAGE,
    BatchResult,
    CallBatcher,
    Listing,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    SuffixByteRequest,
    ThreadDispatcher,
    concurrent_map,
    normalize_byte_range,
    normalize_prefix,
    validate_key,
)
from zstore.zip._archive import (
    MAX_NAME_BYTES,
    BytesLike,
    Entry,
    ZipArchive,
    check_compression,
    check_member_name,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Sequence
    from types import TracebackType

    from zbuffer.core import BufferPrototype
    from zstore.core import ByteRequest

__all__ = ["ZipStore", "ZipStoreAccessModeLiteral"]

ZipStoreAccessModeLiteral = Literal["r", "w", "a", "x"]

# The largest range get() copies on the event-loop thread when it is in the page cache:
# a 256 KiB copy takes some tens of microseconds, about one thread hop.
_LOOP_READ_MAX = 256 * 1024
# get_partial_values hands this many reads to a worker thread at a time.
_READS_PER_JOB = 64
_BYTE_REQUESTS = (RangeByteRequest, OffsetByteRequest, SuffixByteRequest)


_ReadCall = tuple[object, "ZipStore", ZipArchive, Entry, str, "ByteRequest | None", type[Buffer]]


def _readable(
    store: ZipStore, archive: ZipArchive, entry: Entry, key: str
) -> tuple[ZipArchive, Entry | None]:
    """``archive`` with its reads begun, and ``entry``; or, if the archive was closed after
    the read was queued, the store's archive now, with its reads begun, and the key's entry
    in it (None if it has none there).

    ``clear()`` and ``move()`` close the archive the read was queued with and open another;
    after a ``close()``, the store reopens on its next use, this read included.
    """
    try:
        archive.begin_reads()
    except ValueError:
        current = store._archive_sync()  # waits for a move or close under way
        current.begin_reads()
        return current, current.entries.get(key)
    return archive, entry


def _read_job(calls: list[_ReadCall]) -> BatchResult:
    """The get() calls of one job, on a worker thread (see CallBatcher).

    The buffers are made here too, so that the event loop only hands out results. The
    calls of one job nearly always share one archive, whose descriptors are held open
    once for the whole job. A range of a stored member whose data offset is known (the
    common case) is read right here with one ``pread``; everything else, and anything
    unexpected, goes through :meth:`ZipArchive.read_entry`, which checks and explains.
    """
    values: list[Buffer | None] = []
    errors: dict[int, BaseException] = {}
    held: ZipArchive | None = None
    pread = os.pread
    try:
        for i, (_, store, queued, queued_entry, key, byte_range, buffer_cls) in enumerate(calls):
            try:
                entry: Entry | None = queued_entry
                if queued is not held:
                    if held is not None:
                        held.end_reads()
                        held = None
                    held, entry = _readable(store, queued, queued_entry, key)
                archive = held
                if entry is None:  # gone from the archive that replaced the queued one
                    values.append(None)
                    continue
                offset = entry.stored_at
                if offset >= 0 and byte_range is not None:
                    start, stop = normalize_byte_range(byte_range, entry.size)
                    if stop - start != entry.size:  # a whole read checks the CRC: not here
                        try:
                            data = pread(entry.fd, stop - start, offset + start)
                        except OSError:
                            data = b""  # read_entry below reads again and reports it
                        if len(data) == stop - start:
                            values.append(buffer_cls.from_bytes(data))
                            continue
                values.append(buffer_cls.from_bytes(archive.read_entry(entry, byte_range)))
            except BaseException as exc:  # delivered to that call's caller
                values.append(None)
                errors[i] = exc
    finally:
        if held is not None:
            held.end_reads()
    return values, errors


def _checked_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, refusing a NUL, which every file system call would refuse with
    a bare "embedded null byte" that names no path."""
    if "\0" in os.fspath(path):
        raise ValueError(
            f"the zip archive's path {os.fspath(path)!r} contains a NUL character, which "
            "no file name can hold"
        )
    return Path(path)


def _report_failed_close(closing: asyncio.Future[None]) -> None:
    """Pass a failed close that nobody awaits any more to the loop's exception handler."""
    if not closing.cancelled() and (error := closing.exception()) is not None:
        closing.get_loop().call_exception_handler(
            {"message": "ZipStore: closing on leaving `async with` failed", "exception": error}
        )


def _write_job(
    calls: list[tuple[asyncio.Future[None], ZipStore, str, BytesLike]],
) -> BatchResult:
    """The set() calls of one job, in call order, on the writer thread (see CallBatcher).

    Each writes to the store's archive as it is when the call runs, opening it if need be:
    ``clear()`` and ``move()`` run on this thread too, and may have replaced the archive
    since the call was queued. A call whose caller was cancelled before it ran is not run,
    as the dispatcher does not run a cancelled call: the caller may be reusing its buffer.
    """
    errors: dict[int, BaseException] = {}
    for i, (future, store, key, data) in enumerate(calls):
        if future.cancelled():
            continue
        try:
            store._archive_sync().write(key, data)
        except BaseException as exc:  # delivered to that call's caller
            errors[i] = exc
    return [None] * len(calls), errors


# Every store of this process, so that a forked child can forget their archives (below).
# Keyed by id: a store is unhashable.
_stores: weakref.WeakValueDictionary[int, ZipStore] = weakref.WeakValueDictionary()


def _forget_archives_after_fork() -> None:
    # The inherited archives were let go of (see zstore.zip._archive): each store reopens
    # its file on first use in the child, as a store of another process would. Its lock is
    # made anew, as a thread of the parent may have held it when the process forked.
    for store in list(_stores.values()):
        store._open_lock = threading.RLock()
        store._archive = None
        store._is_open = False


os.register_at_fork(after_in_child=_forget_archives_after_fork)


class ZipStore(Store):  # noqa: PLW1641 - mutable, equal by path: unhashable like Store
    """A store in one zip file, with the API of zarr-python's ``zarr.storage.ZipStore``.

    Unlike zarr-python's, an overwritten key reads back its latest value and the archive
    holds it once; keys can be deleted; byte ranges are read without unpacking the member;
    all file I/O runs on worker threads; and an archive that was whole before a write stays
    whole if the writing process dies (writes go to a temporary file that replaces the
    archive on :meth:`close`).

    Parameters
    ----------
    path : str or os.PathLike
        The archive file. File objects are not supported: the store needs a path to
        replace the archive atomically and to reopen it in another process.
    mode : {'r', 'w', 'a', 'x'}
        What the first open does to the file: 'r' opens an existing archive, 'w' replaces
        any file with an empty archive, 'a' opens an existing archive or creates an empty
        one, 'x' creates an empty archive and refuses an existing file. 'w' and 'x' apply
        to the first open only; after that the store reopens with 'a'.
    read_only : bool, optional
        Whether writes are refused; defaults to ``mode == 'r'``.
    compression : int
        The method for members written by this store: ``zipfile.ZIP_STORED`` (default),
        ``ZIP_DEFLATED``, ``ZIP_BZIP2`` or ``ZIP_LZMA``. Members with any of these or
        Deflate64 are read.
    allowZip64 : bool
        Whether ZIP64 extensions may be written (needed past 4 GiB or 65,535 members).

    Attributes
    ----------
    path : Path
    compression : int
    allowZip64 : bool

    Notes
    -----
    Writes and deletes are published by :meth:`close` (also on leaving a ``with`` block),
    atomically: until then other readers of the file see the archive as it was. When
    anything was overwritten or deleted, close copies the live members into a fresh
    archive without recompressing them. If another writer replaced the file after this
    store opened it, close refuses to overwrite it and raises.
    """

    supports_writes: bool = True
    supports_deletes: bool = True
    supports_listing: bool = True

    path: Path
    compression: int
    allowZip64: bool

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mode: ZipStoreAccessModeLiteral = "r",
        read_only: bool | None = None,
        compression: int = zipfile.ZIP_STORED,
        allowZip64: bool = True,
    ) -> None:
        if mode not in ("r", "w", "a", "x"):
            raise ValueError(f"mode must be 'r', 'w', 'a' or 'x', got {mode!r}")
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"ZipStore needs a path (str or os.PathLike), got {type(path).__name__}; "
                "file objects are not supported"
            )
        check_compression(compression)
        if read_only is None:
            read_only = mode == "r"
        super().__init__(read_only=read_only)
        self.path = _checked_path(path)
        self.compression = compression
        self.allowZip64 = allowZip64
        self._mode: ZipStoreAccessModeLiteral = mode
        self._archive: ZipArchive | None = None
        # Held while the archive is opened, closed (published) or moved: a reopen on another
        # thread then waits for the file to be where and what it will be. Reentrant, for
        # move(), which closes and reopens under it.
        self._open_lock = threading.RLock()
        self._dispatcher = ThreadDispatcher()
        # Writes serialize on the archive's lock anyway: one worker avoids threads that
        # only wait for each other (and for the GIL).
        self._writes = ThreadDispatcher(max_workers=1)
        # get() and set() calls of one event-loop tick go to workers in shared jobs.
        self._read_calls = CallBatcher(self._dispatcher, _read_job)
        self._write_calls = CallBatcher(self._writes, _write_job)
        _stores[id(self)] = self

    # ------------------------------------------------------------------ opening

    def _archive_sync(self) -> ZipArchive:
        """The open archive, opening it on first use (blocking: call on a worker thread)."""
        archive = self._archive
        if archive is not None:
            return archive
        with self._open_lock:
            if self._archive is None:
                self._archive = ZipArchive(
                    self.path,
                    self._mode,
                    compression=self.compression,
                    allowZip64=self.allowZip64,
                    validate_name=validate_key,
                )
                # 'w' and 'x' describe the first open; reopening must keep what was written.
                if self._mode in ("w", "x"):
                    self._mode = "a"
                self._is_open = True
            return self._archive

    async def _get_archive(self) -> ZipArchive:
        archive = self._archive
        if archive is None:
            archive = await self._dispatcher.run(self._archive_sync)
        return archive

    async def _open(self) -> None:
        # docstring inherited
        if self._is_open:
            raise ValueError("store is already open")
        await self._dispatcher.run(self._archive_sync)

    async def _ensure_open(self) -> None:
        # docstring inherited
        await self._get_archive()

    def close(self) -> None:
        """Publish pending writes and deletes to the archive, then close it.

        Writes and deletes already called (``set()`` calls made on this thread's event
        loop, and every call handed to the writer thread) are done first, and published
        with the rest. The archive is replaced atomically; if this raises, the file on disk
        is as it was before (the unpublished changes are dropped). Using the store again
        reopens the archive.

        Raises
        ------
        zipfile.BadZipFile
            If another writer replaced or changed the archive since this store opened it.
        """
        self._finish_queued_writes()
        self._close_now()

    def _finish_queued_writes(self) -> None:
        """Wait until the writes queued so far are done (blocking; never on the writer).

        Without this, a ``set()`` queued before ``close()`` ran after it: it reopened the
        archive and wrote to a new temporary file, which nothing published.
        """
        with contextlib.suppress(RuntimeError):  # no event loop runs on this thread
            self._write_calls.flush(asyncio.get_running_loop())
        done = threading.Event()
        try:
            self._writes.post(done.set)
        except RuntimeError:  # the interpreter is exiting: no worker starts any more
            return
        done.wait()

    def _close_now(self) -> None:
        """:meth:`close` without waiting for queued writes: for the writer thread itself."""
        with self._open_lock:
            archive, self._archive = self._archive, None
            self._is_open = False
            if archive is not None:
                archive.close()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the store, on the writer thread: publishing may copy the whole archive,
        which must not hold up the event loop.

        A cancellation (a timeout, say) while the close waits or runs does not stop it: the
        store still closes and publishes, and a failure to is reported to the event loop's
        exception handler, since the cancelled caller cannot receive it.
        """
        self._write_calls.flush()
        closing = asyncio.ensure_future(self._writes.run(self._close_now))
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            closing.add_done_callback(_report_failed_close)
            raise

    # ------------------------------------------------------------------ identity

    def __str__(self) -> str:
        return f"zip://{self.path}"

    def __repr__(self) -> str:
        return f"ZipStore('{self}')"

    def __eq__(self, other: object) -> bool:
        # docstring inherited
        return isinstance(other, type(self)) and os.path.abspath(self.path) == os.path.abspath(
            other.path
        )

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the store's settings; a writable store publishes pending writes first.

        Pickling a writable store with unpublished writes or deletes publishes them (as
        :meth:`close` does; the store reopens on next use), so the copy, in this process or
        another, sees everything written so far. The copy opens the archive in mode 'a'
        ('r' if read-only). Writing from the copy and the original at once is not
        supported: each publishes on close, and a close that finds the archive changed by
        the other raises instead of overwriting it, so no data is lost silently.
        """
        if not self.read_only:
            self._finish_queued_writes()  # a set() queued before the pickle is in the copy
        archive = self._archive
        if archive is not None and archive.modified:
            self._close_now()
        return {
            "path": self.path,
            # A store not opened yet still has its first-open mode: 'w' or 'x' in a copy
            # would truncate, or refuse, what the original writes meanwhile.
            "mode": self._mode if self._mode in ("r", "a") else "a",
            "read_only": self.read_only,
            "compression": self.compression,
            "allowZip64": self.allowZip64,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["path"],
            mode=state["mode"],
            read_only=state["read_only"],
            compression=state["compression"],
            allowZip64=state["allowZip64"],
        )

    def with_read_only(self, read_only: bool = False) -> ZipStore:
        # docstring inherited
        return type(self)(
            self.path,
            mode="r" if read_only else "a",
            read_only=read_only,
            compression=self.compression,
            allowZip64=self.allowZip64,
        )

    # ------------------------------------------------------------------ reads

    async def get(
        self,
        key: str,
        prototype: BufferPrototype,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        # docstring inherited
        if byte_range is not None and not isinstance(byte_range, _BYTE_REQUESTS):
            normalize_byte_range(byte_range, 0)  # raises the contract's TypeError
        archive = self._archive
        # The member is looked up here, in the in-memory index: a missing key costs no
        # thread hop, and the worker goes straight to the data. The read sees the key as
        # it is now (a set() still queued has not happened yet for it); the bytes of a
        # member overwritten meanwhile stay in the file until it is closed.
        entry = None if archive is None else archive.entries.get(key)
        if entry is None:
            # Keys in the index passed validate_key when they got there: only a miss
            # (or a store not open yet) needs the check.
            validate_key(key)
            archive = archive or await self._get_archive()
            entry = archive.entries.get(key)
            if entry is None:
                return None
        if byte_range is not None and entry.stored and archive is not None:
            # A part of a stored member already in the page cache is copied right here:
            # a non-blocking read (see read_cached) costs far less than a thread hop.
            start, stop = normalize_byte_range(byte_range, entry.size)
            if 0 < stop - start <= _LOOP_READ_MAX and stop - start != entry.size:
                data = archive.read_cached(entry, start, stop)
                if data is not None:
                    wanted = prototype.buffer
                    # NumPy's own Buffer takes the array as it is; any other buffer class
                    # makes itself from the bytes.
                    return CpuBuffer(data) if wanted is CpuBuffer else wanted.from_bytes(data.data)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Buffer] = loop.create_future()
        call = (future, self, archive, entry, key, byte_range, prototype.buffer)
        self._read_calls.put(loop, call)
        return await future

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        # docstring inherited
        pairs = list(key_ranges)
        for key, byte_range in pairs:
            validate_key(key)
            normalize_byte_range(byte_range, 0)
        if not pairs:
            return []
        await self._get_archive()

        def read_batch(batch: list[tuple[str, ByteRequest | None]]) -> list[BytesLike | None]:
            # The archive as it is when the batch runs: clear() or move() may have
            # replaced the one open when the call was made.
            archive = self._archive_sync()
            entries = archive.entries
            archive.begin_reads()
            try:
                return [
                    None if (entry := entries.get(key)) is None else archive.read_entry(entry, r)
                    for key, r in batch
                ]
            finally:
                archive.end_reads()

        async def one(batch: list[tuple[str, ByteRequest | None]]) -> list[BytesLike | None]:
            return await self._dispatcher.run(partial(read_batch, batch))

        batches = [pairs[i : i + _READS_PER_JOB] for i in range(0, len(pairs), _READS_PER_JOB)]
        out: list[Buffer | None] = []
        for values in await concurrent_map(batches, one):
            out.extend(None if v is None else prototype.buffer.from_bytes(v) for v in values)
        return out

    async def exists(self, key: str) -> bool:
        # docstring inherited
        validate_key(key)
        return key in (self._archive or await self._get_archive())

    async def getsize(self, key: str) -> int:
        # docstring inherited
        # From the in-memory central directory: no I/O, so no thread hop once open.
        archive = self._archive
        entry = None if archive is None else archive.entries.get(key)
        if entry is not None:
            return entry.size
        # Keys in the index passed validate_key when they got there: only a miss (or a
        # store not open yet) needs the check.
        validate_key(key)
        size = (await self._get_archive()).size(key)
        if size is None:
            raise FileNotFoundError(2, f"no key {key!r} in {self.path}", key)
        return size

    async def getsize_prefix(self, prefix: str) -> int:
        # docstring inherited
        directory = normalize_prefix(prefix)
        return (await self._get_archive()).size_under(directory)

    # ------------------------------------------------------------------ writes

    def _check_writable(self, key: str | None = None) -> None:
        """Raise ValueError if the store is read-only, naming the archive and the key.

        The contract's message comes first, unchanged (callers match it); the file and the
        key follow, as every error of this store names them.
        """
        if self._read_only:
            where = str(self.path) if key is None else f"{self.path}, key {key!r}"
            raise ValueError(f"{READ_ONLY_MESSAGE} ({where})")

    def _check_value(self, value: object) -> Buffer:
        if not isinstance(value, Buffer):
            raise TypeError(
                f"ZipStore.set(): `value` must be a Buffer instance. Got an instance of "
                f"{type(value)} instead."
            )
        return value

    async def set(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_writable(key)
        validate_key(key)
        # Only a key that is not ASCII, or is long, can fail to be a member name: two
        # checks that cost next to nothing spare the others an encoding.
        if not key.isascii() or len(key) > MAX_NAME_BYTES:
            check_member_name(key, self.path)
        data = self._check_value(value).as_buffer_like()
        await self._write_calls.submit(self, key, data)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_writable(key)
        validate_key(key)
        check_member_name(key, self.path)
        data = self._check_value(value).as_buffer_like()
        # Atomic: the check and the write happen under the archive's lock.
        self._write_calls.flush()  # earlier set() calls first
        # The archive is taken on the writer thread, as set() takes it: a clear() or move()
        # queued before this call closes the one open now (which then refused the write).
        await self._writes.run(lambda: self._archive_sync().write(key, data, only_if_missing=True))

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        # docstring inherited
        self._check_writable()
        pairs = [(validate_key(k), self._check_value(v).as_buffer_like()) for k, v in values]
        # Every key is checked before the first is written: a bad one writes none.
        for key, _ in pairs:
            if not key.isascii() or len(key) > MAX_NAME_BYTES:
                check_member_name(key, self.path)
        if not pairs:
            return

        def write_all() -> None:
            # The archive as it is on the writer thread (see set_if_not_exists).
            archive = self._archive_sync()
            for key, data in pairs:
                archive.write(key, data)

        self._write_calls.flush()  # earlier set() calls first
        await self._writes.run(write_all)

    async def delete(self, key: str) -> None:
        # docstring inherited
        self._check_writable(key)
        validate_key(key)
        # Checked on the writer thread, after earlier set() calls that may still be queued
        # (a check here could miss them and let the key survive its delete), in the archive
        # as it is there (see set_if_not_exists).
        self._write_calls.flush()
        await self._writes.run(lambda: self._archive_sync().delete([key]))

    async def delete_dir(self, prefix: str) -> None:
        # docstring inherited
        self._check_writable()
        directory = normalize_prefix(prefix)
        self._write_calls.flush()  # earlier set() calls first
        # The archive as it is on the writer thread (see set_if_not_exists).
        await self._writes.run(lambda: self._archive_sync().delete_under(directory))

    async def clear(self) -> None:
        """Remove every key: the archive is replaced by an empty one at once.

        Raises
        ------
        ValueError
            If the store is read-only.
        """
        self._check_writable()

        def replace_with_empty() -> None:
            if self._mode == "x":
                # Not opened yet: opened first, as any other first use would, so that an
                # existing file is refused rather than replaced. (Other modes replace the
                # file as it is, even one that is not a zip archive.)
                self._archive_sync()
            with self._open_lock:
                old, self._archive = self._archive, None
                if old is not None:
                    old.discard()
                self._archive = ZipArchive(
                    self.path,
                    "w",
                    compression=self.compression,
                    allowZip64=self.allowZip64,
                    validate_name=validate_key,
                )
                self._mode = "a"
                self._is_open = True

        # On the writer thread, after earlier set() calls: they happen before the clear,
        # not against an archive it closed.
        self._write_calls.flush()
        await self._writes.run(replace_with_empty)

    async def move(self, path: str | os.PathLike[str]) -> None:
        """Publish pending changes, then move the archive to ``path``.

        Parameters
        ----------
        path : str or os.PathLike
            The new location; missing parent directories are created. Nothing may be
            there yet (the archive's own path is accepted, and moves nothing).

        Raises
        ------
        FileExistsError
            If ``path`` names a file (other than the archive) or a directory: the file
            would be replaced, and its data lost; the archive would go into the directory
            while the store pointed at the directory. LocalStore refuses both too.
        ValueError
            If the store is read-only: moving the archive changes the file system, and
            LocalStore refuses it too.
        """
        self._check_writable()
        target = _checked_path(path)

        def move_archive() -> None:
            try:
                itself = os.path.samefile(target, self.path)
            except OSError:  # either is missing (or a dangling link): not the same file
                itself = False
            if not itself and os.path.lexists(target):
                kind = "a directory" if os.path.isdir(target) else "a file"
                raise FileExistsError(
                    f"cannot move the zip archive {self.path} to {target}: {kind} is there "
                    "already; move() never replaces a file nor moves into a directory"
                )
            # One hold of the open lock from the close to the reopen: a read on another
            # thread that finds the store closed waits, and reopens at the new place.
            with self._open_lock:
                self._archive_sync()  # mode 'x' must claim the file before it is moved
                self._close_now()  # on the writer thread: the writes before are done
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(self.path, target)
                self.path = target
                self._archive_sync()

        self._write_calls.flush()  # earlier set() calls first, on the writer thread
        await self._writes.run(move_archive)

    # ------------------------------------------------------------------ listing

    async def is_empty(self, prefix: str) -> bool:
        # docstring inherited
        directory = normalize_prefix(prefix)
        return not (await self._get_archive()).children(directory)

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
        return (await self._get_archive()).key_list()

    async def _keys_with_prefix(self, prefix: str) -> Sequence[str]:
        # A plain string match, so normalize_prefix does not apply; the type still must.
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}: {prefix!r}")
        return (await self._get_archive()).keys_with_prefix(prefix)

    async def _children(self, prefix: str) -> Sequence[str]:
        directory = normalize_prefix(prefix)
        return (await self._get_archive()).children(directory)
