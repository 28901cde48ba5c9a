"""The zip layer of ZipStore: a thread-safe, synchronous archive with a key index.

Nothing here knows about asyncio or buffers; :mod:`zstore.zip._store` runs these methods
on worker threads. The design, in one paragraph:

* The **index** (key -> :class:`Entry`) comes from the central directory, so sizes,
  listings and existence checks never touch member data. When a name occurs more than once
  (zarr-python's ZipStore appends a duplicate on every overwrite) the last one wins, as in
  ``zipfile``.
* **Reads** use ``os.pread`` on one read-only descriptor per file. ``pread`` carries its own
  offset, so any number of threads read at once with no lock and no shared file position.
  A stored member's range is one ``pread`` at the member's data offset (taken from its
  local header, read once and cached); a compressed member is decompressed by
  ``zipfile.ZipExtFile`` over a ``pread``-backed reader, only up to the end of the range.
* **Writes** never modify the archive in place. The first write or delete copies the
  archive to a temporary file next to it (a kernel-side copy on Linux) and appends there;
  ``close()`` writes the central directory, flushes it to disk and ``os.replace``-s the
  temporary file over the archive. A process that dies mid-write leaves the original
  archive untouched (plus a stray ``.<name>.*.zstore-tmp`` file). When anything was
  overwritten or deleted, ``close()`` instead copies the live members, raw and without
  recompressing, into a fresh file, so the archive holds each key once.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import lzma
import os
import secrets
import shutil
import stat
import struct
import threading
import time
import weakref
import zipfile
import zlib
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

import numpy as np
import zipfile_deflate64  # type: ignore[import-untyped]  # noqa: F401 - teaches zipfile Deflate64

from zstore.core import normalize_byte_range

try:
    import fcntl
except ImportError:  # not on Windows: publishing is then unguarded against other writers
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import numpy.typing as npt

    from zstore.core import ByteRequest

BytesLike = bytes | bytearray | memoryview
__all__ = ["ArchiveError", "Entry", "ZipArchive", "check_member_name"]

Mode = Literal["r", "w", "a", "x"]

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
# The only fields a reader needs from a local header: its signature, its flags (for the
# encoding of its name), and the lengths of the name and extra field that come between it
# and the data. Unpacking four fields instead of eleven is half the cost, on a path every
# first read of a member takes.
_LOCAL_LAYOUT = struct.Struct("<4s2xH18xHH")
_UTF8_NAME_FLAG = 0x800
_LOCAL_SIGNATURE = b"PK\x03\x04"
_O_BINARY = getattr(os, "O_BINARY", 0)
_DATA_DESCRIPTOR_FLAG = 0x08
_DESCRIPTOR_SIGNATURE = b"PK\x07\x08"
_ENCRYPTED_FLAG = 0x01
_COPY_CHUNK = 1 << 22
# An empty archive: just the end-of-central-directory record.
_EMPTY_ZIP = b"PK\x05\x06" + b"\x00" * 18
_TEMP_SUFFIX = ".zstore-tmp"
# The longest file name most file systems take (NAME_MAX), in bytes: a temporary file's
# name must fit too, though it is longer than the archive's.
_NAME_MAX = 255
# A member name is at most this many bytes: its length is a 2-byte field of the headers.
MAX_NAME_BYTES = 0xFFFF
# The dates a member's header can hold (its year is 7 bits from 1980), as zipfile's
# ``strict_timestamps=False`` clamps them.
_FIRST_STAMP = (1980, 1, 1, 0, 0, 0)
_LAST_STAMP = (2107, 12, 31, 23, 59, 59)
# Members below this size are written without a ZIP64 local header by zipfile too (it
# reserves ZIP64 space when size * 1.05 could pass the limit); larger ones go through
# ``writestr``.
_DIRECT_LIMIT = int(zipfile.ZIP64_LIMIT / 1.05)
_HAVE_PWRITEV = hasattr(os, "pwritev")
# Bytes read past the local header the central directory predicts, for a longer local
# extra field (``zip`` writes a longer timestamp field there, for one).
_HEADER_SLACK = 64
# Compressed bytes read for a deflated member at first, then twice as many each time up to
# the maximum: a 64 KiB member is read at once, a huge one in bounded pieces.
_INFLATE_FIRST_READ = 64 * 1024
_INFLATE_MAX_READ = 4 * 1024 * 1024


class ArchiveError(zipfile.BadZipFile):
    """An archive, or one member of it, cannot be read as the central directory says.

    A subclass of :class:`zipfile.BadZipFile`, so code written for ``zipfile`` catches it.
    The message names the archive file and, where one is at fault, the member.
    """


def check_member_name(key: str, path: Path) -> None:
    """Raise ValueError unless ``key`` can be the name of a member of a zip archive.

    A valid key (``zstore.core.validate_key``) is not always a valid member name: the
    format stores a name as UTF-8 (or cp437) bytes, at most 65,535 of them. zipfile finds
    out only as it writes the member's header, with a bare ``UnicodeEncodeError`` or
    ``struct.error`` that names neither the key nor the archive.

    Parameters
    ----------
    key : str
        A key that passed ``validate_key``.
    path : Path
        The archive, for the message.

    Raises
    ------
    ValueError
        If ``key`` has a surrogate code point (no UTF-8 or cp437 encoding has one), or is
        longer than 65,535 bytes in UTF-8. The message names the key, the archive and why.
    """
    if key.isascii():
        size = len(key)
    else:
        try:
            size = len(key.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"key {key!r} cannot be a member name in the zip archive {path}: its "
                f"character {key[exc.start]!r} at position {exc.start} is a surrogate, which "
                "has no UTF-8 (or cp437) encoding, and zip member names are stored encoded"
            ) from exc
    if size > MAX_NAME_BYTES:
        raise ValueError(
            f"key {key[:40]!r}... is {size} bytes long in UTF-8: too long to be a member "
            f"name in the zip archive {path}, which holds at most {MAX_NAME_BYTES} bytes"
        )


# preadv2's flag for "from the page cache or not at all" (Linux 4.14+); None elsewhere.
_RWF_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None) if hasattr(os, "preadv") else None
# What a file system that cannot honour RWF_NOWAIT answers.
_NOWAIT_UNSUPPORTED = frozenset({errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS})


class Entry:
    """One live member: its ZipInfo and the descriptor of the file that holds its bytes."""

    __slots__ = ("data_offset", "fd", "info", "past_end", "size", "stored", "stored_at")

    def __init__(self, info: zipfile.ZipInfo, fd: int, data_offset: int = -1) -> None:
        self.info = info
        self.fd = fd
        self.size: int = info.file_size
        # Whether the member's bytes are its value as they are: stored (uncompressed),
        # not encrypted, and its two sizes agree. A range of such a member is one pread.
        self.stored = (
            info.compress_type == zipfile.ZIP_STORED
            and info.compress_size == info.file_size
            and not info.flag_bits & _ENCRYPTED_FLAG
        )
        # Filled in from the local header on first read; the local header's extra field
        # may differ from the central directory's, so it cannot be computed up front.
        self.data_offset = data_offset
        # The data offset again, once known, if the member is stored; else -1.
        self.stored_at = data_offset if self.stored else -1
        # Whether the central directory declares more data than the file holds after the
        # member's header (set by ZipArchive._load): such a member is never read.
        self.past_end = False


class _TemporaryZipFile(zipfile.ZipFile):
    """The writer of the temporary archive, which only :class:`ZipArchive` closes.

    zipfile's finalizer would write a central directory into the file it holds. When a
    store is collected in a reference cycle, the collector may run it after that file was
    closed, and it raises into the void ("Exception ignored in ZipFile.__del__"); the
    archive's own finalizer publishes or drops the writes instead.
    """

    def __del__(self) -> None:
        pass


class _PReader:
    """A read-only, seekable file over ``[start, start + size)`` of ``fd``, using pread.

    ``zipfile.ZipExtFile`` reads compressed data through this. Each reader has its own
    position, so concurrent readers never disturb one another.
    """

    def __init__(self, fd: int, start: int, size: int) -> None:
        self._fd = fd
        self._start = start
        self._size = size
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        remaining = self._size - self._pos
        if n is None or n < 0 or n > remaining:
            n = remaining
        if n <= 0:
            return b""
        data = os.pread(self._fd, n, self._start + self._pos)
        self._pos += len(data)
        return data

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self._pos = pos
        elif whence == os.SEEK_CUR:
            self._pos += pos
        else:
            self._pos = self._size + pos
        return self._pos


def _data_descriptor(info: zipfile.ZipInfo) -> bytes:
    """The data descriptor that follows a member's data when its local header has no sizes.

    The ZIP64 form only when a size needs it: zipfile's local header for such a member
    has no ZIP64 extra field, and readers take the short form then.
    """
    if info.compress_size > zipfile.ZIP64_LIMIT or info.file_size > zipfile.ZIP64_LIMIT:
        return struct.pack(
            "<4sLQQ", _DESCRIPTOR_SIGNATURE, info.CRC, info.compress_size, info.file_size
        )
    return struct.pack(
        "<4sLLL", _DESCRIPTOR_SIGNATURE, info.CRC, info.compress_size, info.file_size
    )


def _strip_zip64_extra(extra: bytes) -> bytes:
    """Drop the ZIP64 extra field (id 1); ``ZipInfo.FileHeader`` writes a fresh one."""
    out = bytearray()
    i = 0
    while i + 4 <= len(extra):
        field_id, length = struct.unpack_from("<HH", extra, i)
        if field_id != 1:
            out += extra[i : i + 4 + length]
        i += 4 + length
    return bytes(out)


def _pwrite_all(fd: int, parts: tuple[bytes, memoryview], offset: int) -> None:
    """Write ``parts`` back to back at ``offset``, retrying short writes."""
    total = sum(len(p) for p in parts)
    done = os.pwritev(fd, parts, offset) if _HAVE_PWRITEV else 0
    if done == total:
        return
    # A short write (rare) or no pwritev: write what is left, one piece at a time.
    for part in parts:
        view = memoryview(part)
        if done >= len(view):
            done -= len(view)
            offset += len(view)
            continue
        view, offset, done = view[done:], offset + done, 0
        while view:
            n = os.pwrite(fd, view, offset)
            if n <= 0:
                raise OSError(f"pwrite wrote {n} bytes")
            view, offset = view[n:], offset + n


def _create_temp(target: Path, mode: int | None) -> tuple[int, Path]:
    """A new empty file next to ``target``, for ``os.replace`` to put in its place.

    It is created as any new file is (0o666 less the umask, as zipfile's own would be),
    then given ``mode``, the permissions of the archive it will replace, if there is one.
    ``tempfile.mkstemp`` makes files 0o600, which would become the archive's.

    The name is ``.<archive name>.<random>.zstore-tmp``, the archive's name cut short
    where the whole would pass the file system's limit: an archive whose name is nearly
    that long must still be writable.
    """
    stem = target.name
    room = _NAME_MAX - len(f"..{secrets.token_hex(6)}{_TEMP_SUFFIX}")
    while len(os.fsencode(stem)) > room:
        stem = stem[: max(0, min(len(stem) - 1, room))]
    while True:
        path = target.with_name(f".{stem}.{secrets.token_hex(6)}{_TEMP_SUFFIX}")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        except FileExistsError:
            continue  # another temporary file took the name: draw another
        except OSError as exc:
            # The error names the temporary file, which the caller never named.
            exc.add_note(
                f"ZipStore writes {target} through a new file next to it, renamed over the "
                "archive on close; its directory must allow creating files."
            )
            raise
        break
    if mode is not None:
        try:
            os.chmod(fd, mode)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
    return fd, path


def _refuse_unless_regular(path: Path, st: os.stat_result) -> None:
    """Raise ArchiveError unless ``st`` is a regular file's: a device, a pipe or a
    directory is never read as an archive, nor replaced by one."""
    if not stat.S_ISREG(st.st_mode):
        raise ArchiveError(
            f"{path} is not a regular file (a directory, device or pipe), so it is neither "
            "read as a zip archive nor replaced by one"
        )


def _starts_empty(path: Path) -> bool:
    """Whether mode 'a' starts a new archive at ``path``: nothing is there, or an empty
    regular file. (Anything else is opened, and refused if it is not an archive: a device
    or a pipe must never be replaced.)"""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return True
    return stat.S_ISREG(st.st_mode) and st.st_size == 0


def _permissions(path: Path) -> int | None:
    """The permission bits of the file at ``path``, or None if there is none."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def _exclusive(fd: int, *, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the open file ``fd``, waiting for it if ``wait``.

    Where there is no ``flock``, or the file system refuses it, this holds nothing: the
    caller's own checks are then all there is, as they were before this lock.

    Raises
    ------
    ArchiveError
        If not ``wait`` and another holder has the lock.
    """
    locked = False
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            locked = True
        except BlockingIOError:
            raise ArchiveError("another writer is publishing this archive") from None
        except OSError:
            pass
    try:
        yield
    finally:
        if locked:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable; a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _header_guess(info: zipfile.ZipInfo) -> int:
    """How many bytes from a member's local header are enough to reach its data, likely."""
    name = info.orig_filename
    # An ASCII name is as long in bytes as in characters, in UTF-8 and cp437 alike.
    name_size = len(name) if name.isascii() else len(name.encode("utf-8", "replace"))
    return _LOCAL_HEADER.size + name_size + len(info.extra) + _HEADER_SLACK


def _local_layout(info: zipfile.ZipInfo, head: BytesLike) -> tuple[int, int, bool]:
    """Where the name ends and the data starts, from the first bytes of a local header,
    and whether the header says its name is UTF-8.

    Raises ArchiveError for a header cut short by the end of the file, or no local header
    signature where the central directory points.
    """
    if len(head) < _LOCAL_HEADER.size:
        raise ArchiveError("the archive ends inside this member's header (truncated file)")
    signature, flags, name_size, extra_size = _LOCAL_LAYOUT.unpack_from(head)
    if signature != _LOCAL_SIGNATURE:
        raise ArchiveError(f"no local file header at offset {info.header_offset} (corrupt archive)")
    name_end: int = _LOCAL_HEADER.size + name_size
    return name_end, name_end + extra_size, bool(flags & _UTF8_NAME_FLAG)


def _accept_local_header(
    entry: Entry, raw_name: bytes | bytearray, data_start: int, utf8_name: bool
) -> None:
    """Check the local header's name against the central directory, then record where the
    member's data starts (``data_start`` bytes after its header's offset).

    ``utf8_name`` is the local header's own UTF-8 flag.
    """
    info = entry.info
    expected = info.orig_filename
    # An ASCII name is its own bytes in UTF-8 and in cp437 (whose lower half is ASCII), and
    # no other bytes decode to it in either: comparing bytes says the same as decoding,
    # which for cp437 costs more than the rest of the check.
    if not (expected.isascii() and raw_name == expected.encode("ascii")):
        # UTF-8 if either header's flag says so, else cp437. The local header's own flag
        # counts: zipfile sets the flag only as it writes the headers, so the ZipInfo of a
        # member this store wrote (not yet read back from a central directory) lacks it.
        utf8 = utf8_name or info.flag_bits & _UTF8_NAME_FLAG
        encoding = "utf-8" if utf8 else "cp437"
        name = bytes(raw_name).decode(encoding, "replace")
        if name != expected:
            raise ArchiveError(
                f"the local header names {name!r}, the central directory "
                f"{expected!r} (corrupt archive)"
            )
    offset = info.header_offset + data_start
    # stored_at last: a reader on another thread that sees it set finds data_offset set too.
    entry.data_offset = offset
    if entry.stored:
        entry.stored_at = offset


# Every archive this process opened, so that a forked child can let go of them (below).
_open_archives: weakref.WeakSet[ZipArchive] = weakref.WeakSet()


def _let_go_after_fork() -> None:
    # A forked child shares its parent's open file descriptions: the temporary file the
    # parent writes to, and its file position. A child that wrote there would overwrite
    # the parent's members, and one that published it (close() or the collector) would
    # rename the parent's file, which the parent then goes on writing into: the archive
    # on disk gets corrupted. The child lets go of every inherited archive instead.
    for archive in list(_open_archives):
        archive._let_go_in_child()


os.register_at_fork(after_in_child=_let_go_after_fork)


class ZipArchive:
    """A zip file as a mutable mapping of keys to bytes, safe to use from many threads.

    Parameters
    ----------
    path : Path
        The archive file.
    mode : {'r', 'w', 'a', 'x'}
        'r' opens an existing archive; 'w' replaces any file with an empty archive; 'x'
        creates an empty archive and refuses an existing file; 'a' opens an existing
        archive or starts an empty one.
    compression : int
        The ``zipfile`` compression method for members written from now on.
    allowZip64 : bool
        Whether ZIP64 extensions may be written (archives over 4 GiB or 65,535 members).
    validate_name : callable
        Called with every member name of the archive; raises ValueError for a name that is
        not a valid key.

    Raises
    ------
    FileNotFoundError
        Mode 'r' and the file does not exist.
    FileExistsError
        Mode 'x' and the file exists.
    ArchiveError
        The file is not a zip archive, is truncated, or has a member whose name is not a
        valid key.
    """

    def __init__(
        self,
        path: Path,
        mode: Mode,
        *,
        compression: int,
        allowZip64: bool,
        validate_name: Callable[[str], object],
    ) -> None:
        self.path = path
        # The file itself: an archive reached through a symbolic link is replaced where it
        # is (temporary files go next to it), and the link stays a link.
        self._target = Path(os.path.realpath(path))
        self.compression = compression
        self.allowZip64 = allowZip64
        self._validate_name = validate_name
        # Held by writes (and close) for their whole file I/O, which can take long: the
        # first write copies the archive, close may compact it.
        self._lock = threading.RLock()
        # Held only while the index below changes, or is copied for a listing. Listings run
        # on the event-loop thread, so they must never wait for a write's I/O.
        self._index_lock = threading.Lock()
        # The index, key -> live member. Public so that the store can answer existence and
        # size questions with one dict lookup; only this class changes it (under both
        # locks).
        self.entries: dict[str, Entry] = {}
        # Directory index for list_dir/is_empty: "a/b/" -> {child name: number of keys}.
        self._children: dict[str, dict[str, int]] = {}
        self._base_fd = -1
        self._temp_path: Path | None = None
        self._temp_file: zipfile.ZipFile | None = None
        self._temp_fd = -1
        # Members in the file being written that are not live (overwritten, deleted or
        # duplicate names from the original): if any, close() compacts.
        self._dead = 0
        self._raw: IO[bytes] | None = None  # the temporary file, buffered
        self._closed = False
        # Read jobs hold the descriptors open (begin_reads/end_reads): a close() while
        # reads run leaves closing them to the last reader, so that no pread can reach a
        # descriptor number that the process has meanwhile reused for another file.
        self._fd_lock = threading.Lock()
        self._readers = 0
        self._fds_open = True
        self._doomed_fds: list[int] = []
        # Whether the file system may serve read_cached (cleared on its first refusal).
        self._nowait = _RWF_NOWAIT is not None
        self._stamp_second = -1
        self._stamp = (1980, 1, 1, 0, 0, 0)
        self._comment = b""  # the archive comment, which compaction keeps

        check_compression(compression)
        if mode == "w":
            self._publish_empty()
        elif mode == "x":
            self._create_exclusive()
        elif mode == "a" and _starts_empty(self._target):
            # A missing file, or an empty one (as NamedTemporaryFile leaves): zipfile's
            # 'a' starts a new archive in both.
            self._publish_empty()
        elif mode not in ("r", "a"):
            raise ValueError(f"mode must be 'r', 'w', 'a' or 'x', got {mode!r}")
        self._load()
        # What the archive looked like when we opened it; close() refuses to replace a file
        # that another writer has replaced or changed since (see _publish).
        st = os.fstat(self._base_fd)
        self._identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        self._permissions = stat.S_IMODE(st.st_mode)
        # Flush to disk before replacing only when the file held members before we
        # opened it: a process that dies never needs it (the rename is atomic), but after
        # a power loss a rename may reach the disk before the data, and only then would
        # data that existed before be lost. An archive this store started empty ('w',
        # 'x', a new 'a') had nothing to lose, so it skips the flush.
        self._durable = bool(self.entries) or self._dead > 0
        _open_archives.add(self)

    # ------------------------------------------------------------------ opening

    def _publish_empty(self) -> None:
        """Atomically put an empty archive at ``path`` (mode 'w', or 'a' on a new file).

        A file that was there keeps its permissions, as zipfile's 'w' (which truncates
        it) keeps them.
        """
        target = self._target
        with contextlib.suppress(FileNotFoundError):
            _refuse_unless_regular(self.path, os.stat(target))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = _create_temp(target, _permissions(target))
        try:
            try:
                os.write(fd, _EMPTY_ZIP)
            finally:
                os.close(fd)
            with self._turn_on_existing(target):
                os.replace(name, target)
        except BaseException:
            name.unlink(missing_ok=True)
            raise

    @staticmethod
    @contextlib.contextmanager
    def _turn_on_existing(target: Path) -> Iterator[None]:
        """Take the writers' turn (see :meth:`_publish`) on the file at ``target``, if any.

        Replacing an archive while another writer publishes it would be undone by that
        writer's replace a moment later, silently: wait until it is done.
        """
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | _O_BINARY)
        except OSError:  # nothing there (or nothing readable): no one to take turns with
            yield
            return
        try:
            with _exclusive(fd):
                yield
        finally:
            os.close(fd)

    def _create_exclusive(self) -> None:
        """Create an empty archive at ``path``, refusing an existing file (mode 'x')."""
        self._target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self._target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise FileExistsError(
                f"{self.path} already exists; mode 'x' only creates a new archive "
                "(use mode 'a' to add to it or 'w' to replace it)"
            ) from None
        try:
            os.write(fd, _EMPTY_ZIP)
        finally:
            os.close(fd)

    def _load(self) -> None:
        """Open the archive read-only and index its central directory."""
        try:
            # Non-blocking only for the open: a named pipe would otherwise wait for a
            # writer forever. It is refused just below.
            self._base_fd = os.open(self._target, os.O_RDONLY | os.O_NONBLOCK | _O_BINARY)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no zip archive at {self.path}; mode 'r' opens an existing archive "
                "(use 'w', 'a' or 'x' to create one)"
            ) from None
        try:
            st = os.fstat(self._base_fd)
            _refuse_unless_regular(self.path, st)
            os.set_blocking(self._base_fd, True)
            with os.fdopen(os.dup(self._base_fd), "rb") as f:
                try:
                    with zipfile.ZipFile(f, "r") as zf:
                        infos = zf.infolist()
                        self._comment = zf.comment
                except zipfile.BadZipFile as exc:
                    raise ArchiveError(f"{self.path} is not a readable zip archive: {exc}") from exc
                except UnicodeDecodeError as exc:
                    # zipfile decodes a name flagged as UTF-8 without checking it is.
                    raise ArchiveError(
                        f"{self.path} is not a readable zip archive: the member name "
                        f"{exc.object!r} is flagged as UTF-8 but is not ({exc.reason} at "
                        f"byte {exc.start})"
                    ) from exc
                except NotImplementedError as exc:
                    # zipfile refuses the whole archive for one member's "version needed
                    # to extract" above what it knows ("zip file version 25.2").
                    raise ArchiveError(f"{self.path} is not a readable zip archive: {exc}") from exc
            for info in infos:
                name = info.filename
                # Not info.is_dir(): on Python 3.11 it raises IndexError for an empty name.
                if name.endswith("/"):
                    # Directory entries (written by `zip -r`) hold no data: not keys, and
                    # compaction does not copy them. One that holds data is no directory:
                    # it would be dropped, and its data lost, by the next compaction.
                    if info.file_size:
                        raise ArchiveError(
                            f"{self.path}: member {info.orig_filename!r} is a directory entry "
                            f"(its name ends in '/') that holds {info.file_size} bytes; it "
                            "cannot be a key, so the archive cannot be opened as a store"
                        )
                    continue
                try:
                    self._validate_name(name)
                    if info.orig_filename != name:
                        # zipfile cuts a name at its first NUL ("a\0/../x" reads as "a"):
                        # the name as stored must be a valid key too, or it would open as
                        # another key, and compaction would rename it (or drop it as a
                        # duplicate of that key).
                        self._validate_name(info.orig_filename)
                except ValueError as exc:
                    raise ArchiveError(
                        f"{self.path}: member {info.orig_filename!r} is not a valid key, so "
                        f"the archive cannot be opened as a store ({exc})"
                    ) from None
                if name in self.entries:
                    # Later entries win, as in zipfile; the earlier one is dead weight.
                    self._dead += 1
                    self._remove_from_tree(name)
                entry = Entry(info, self._base_fd)
                if info.header_offset + info.compress_size > st.st_size:
                    # A crafted or corrupt size (a 200-byte file whose member "holds" 4 TiB):
                    # every read would first allocate what it declares, and fail with a bare
                    # MemoryError naming nothing. No fast path for it; _read_slow refuses it.
                    entry.stored = False
                    entry.past_end = True
                self.entries[name] = entry
                self._add_to_tree(name)
        except BaseException:
            os.close(self._base_fd)
            self._base_fd = -1
            raise

    # ------------------------------------------------------------------ directory index

    def _add_to_tree(self, key: str) -> None:
        parts = key.split("/")
        directory = ""
        for part in parts:
            children = self._children.setdefault(directory, {})
            children[part] = children.get(part, 0) + 1
            directory = f"{directory}{part}/"

    def _remove_from_tree(self, key: str) -> None:
        parts = key.split("/")
        directory = ""
        for part in parts:
            children = self._children[directory]
            count = children[part] - 1
            if count:
                children[part] = count
            else:
                del children[part]
                if not children and directory:
                    del self._children[directory]
            directory = f"{directory}{part}/"

    # ------------------------------------------------------------------ queries

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def size(self, key: str) -> int | None:
        """The uncompressed size of ``key`` from the central directory, or None."""
        entry = self.entries.get(key)
        return None if entry is None else entry.size

    def key_list(self) -> list[str]:
        """A snapshot of every key, in archive order."""
        with self._index_lock:
            return list(self.entries)

    def keys_with_prefix(self, prefix: str) -> list[str]:
        """A snapshot of the keys that start with ``prefix`` (a plain string match)."""
        with self._index_lock:
            if not prefix:
                return list(self.entries)
            return [k for k in self.entries if k.startswith(prefix)]

    def children(self, directory: str) -> list[str]:
        """The names directly under ``directory`` (``""`` or ``"a/b/"``), each once."""
        with self._index_lock:
            return list(self._children.get(directory, ()))

    def size_under(self, directory: str) -> int:
        """The total uncompressed size of the keys under ``directory``."""
        with self._index_lock:
            entries = list(self.entries.items())
        return sum(e.info.file_size for k, e in entries if k.startswith(directory))

    # ------------------------------------------------------------------ reads

    def begin_reads(self) -> None:
        """Keep the descriptors open for :meth:`read_entry` calls until :meth:`end_reads`.

        Raises
        ------
        ValueError
            If the archive was closed (the read was queued before a close()).
        """
        with self._fd_lock:
            if not self._fds_open:
                raise ValueError(f"the archive {self.path} was closed before this read ran")
            self._readers += 1

    def end_reads(self) -> None:
        """End what :meth:`begin_reads` began; the last reader after a close closes the files."""
        with self._fd_lock:
            self._readers -= 1
            if self._readers or self._fds_open:
                return
            doomed, self._doomed_fds = self._doomed_fds, []
        for fd in doomed:
            with contextlib.suppress(OSError):
                os.close(fd)

    def read_cached(self, entry: Entry, start: int, stop: int) -> npt.NDArray[np.uint8] | None:
        """Bytes ``[start, stop)`` of a stored member if the page cache holds all of them.

        One ``preadv2`` with ``RWF_NOWAIT``: the kernel copies from the page cache or
        refuses at once, never waiting for the disk, so this may run on the event-loop
        thread without blocking it. A member read for the first time has its local header
        read and checked the same way first. None means "read it the usual way" (off the
        loop): the bytes are not all cached, the platform or file system cannot say, or the
        header is not as it should be.

        Parameters
        ----------
        entry : Entry
            A member from :attr:`entries`; None unless it is ``stored``.
        start, stop : int
            The normalised range within the member.
        """
        flags = _RWF_NOWAIT
        if flags is None or not self._nowait or not entry.stored:
            return None
        # Into a NumPy array, not a bytearray: a Buffer over a bytearray keeps a memoryview
        # and its export alive, two objects the garbage collector tracks, and with thousands
        # of results held at once (a gather) those collections cost more than the read.
        # NumPy's Buffer takes the array as it is.
        buffer = np.empty(stop - start, np.uint8)
        # The descriptor lock is held across the read, which never waits: close() cannot
        # close the descriptor under it, for one lock instead of begin_reads/end_reads.
        # acquire/release rather than `with`: half the interpreter work of the context
        # protocol (counted with callgrind), on a path taken by every cached range read.
        lock = self._fd_lock
        lock.acquire()
        try:
            if not self._fds_open:
                return None  # closed meanwhile: the usual path says so
            offset = entry.stored_at
            if offset < 0:
                # The first read of this member: its local header is in the page cache
                # too, as a rule, and a thread hop to read it would cost more than the
                # whole read. Checked as the worker checks it.
                offset = self._locate_cached(entry, flags)
                if offset < 0:
                    return None
            # The array itself, not a memoryview of it: one object fewer per read. NumPy's
            # stubs declare its buffer protocol only for Python 3.12 and later.
            got = os.preadv(entry.fd, (buffer,), offset + start, flags)  # type: ignore[arg-type, unused-ignore]
        except BlockingIOError:
            return None  # not (all) cached: the worker reads it, and so warms the cache
        except OSError as exc:
            if exc.errno in _NOWAIT_UNSUPPORTED:
                self._nowait = False  # this file system never will: stop asking
            return None  # anything else: the usual path reads again and reports it
        finally:
            lock.release()
        return buffer if got == stop - start else None

    def read(self, key: str, byte_range: ByteRequest | None = None) -> bytes | memoryview | None:
        """The value of ``key`` (or the part ``byte_range`` asks for), or None if missing.

        Parameters
        ----------
        key : str
            The key.
        byte_range : ByteRequest, optional
            The part to read, normalised with ``zstore.core.normalize_byte_range`` against
            the size of the member; None reads the whole value.

        Raises
        ------
        ArchiveError
            The member's data does not match the central directory (a different size,
            a bad CRC on a whole read, truncated or corrupt compressed data), or it is
            encrypted or uses an unsupported method. The message names file and member.
        ValueError
            If the archive is closed.
        """
        entry = self.entries.get(key)
        if entry is None:
            return None
        self.begin_reads()
        try:
            return self.read_entry(entry, byte_range)
        finally:
            self.end_reads()

    def read_entry(self, entry: Entry, byte_range: ByteRequest | None) -> bytes | memoryview:
        """The value of the member ``entry`` (from :attr:`entries`), or part of it.

        As :meth:`read`, for a caller that looked the key up already and holds
        :meth:`begin_reads`. The entry may have been overwritten or deleted since: its bytes
        stay where they were until the archive is closed.
        """
        size = entry.size
        start, stop = (0, size) if byte_range is None else normalize_byte_range(byte_range, size)
        try:
            offset = entry.stored_at
            if offset >= 0 and stop - start != size:
                # The common case of a range read: a stored member whose local header was
                # read before. One pread; a short one is reported by the path below.
                data = os.pread(entry.fd, stop - start, offset + start)
                if len(data) == stop - start:
                    return data
            return self._read_slow(entry, start, stop)
        except ArchiveError as exc:
            raise ArchiveError(f"{self.path}: member {entry.info.filename!r}: {exc}") from None
        except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError) as exc:
            raise ArchiveError(
                f"{self.path}: member {entry.info.filename!r} cannot be read: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        except (NotImplementedError, RuntimeError) as exc:
            raise ArchiveError(
                f"{self.path}: member {entry.info.filename!r} cannot be read: {exc}"
            ) from exc

    def _read_slow(self, entry: Entry, start: int, stop: int) -> bytes | memoryview:
        """Bytes ``[start, stop)`` of a member, checking its header (and CRC, if whole)."""
        info = entry.info
        if entry.past_end:
            raise ArchiveError(
                f"the member declares {info.compress_size} bytes of data, more than the archive "
                "holds after its header (truncated or corrupt archive)"
            )
        if info.flag_bits & _ENCRYPTED_FLAG:
            # Checked here, not where headers are read: compaction copies such a member
            # as it is, which needs no password.
            raise ArchiveError("the member is encrypted; encrypted archives are not supported")
        whole = start == 0 and stop == info.file_size
        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                raise ArchiveError(
                    f"stored member declares {info.file_size} bytes but holds {info.compress_size}"
                )
            # A first read from the start takes the header and the data in one pread.
            offset, head = self._locate(entry, stop if start == 0 else 0)
            data: bytes | memoryview
            if stop <= start:
                data = b""
            elif len(head) >= stop:
                data = head[start:stop]  # a view: no copy
            else:
                data = os.pread(entry.fd, stop - start, offset + start)
            if len(data) != stop - start:
                raise ArchiveError("the archive ends inside this member (truncated file)")
            if whole and zlib.crc32(data) != info.CRC:
                raise ArchiveError("bad CRC-32: the member's data is corrupt")
            return data
        if info.compress_type == zipfile.ZIP_DEFLATED:
            return self._inflate(entry, start, stop)
        offset = self._data_offset(entry)
        reader = _PReader(entry.fd, offset, info.compress_size)
        with zipfile.ZipExtFile(reader, "r", info) as member:
            if start:
                member.seek(start)
            # ZipExtFile stops at the declared size and checks the CRC when it gets
            # there, so a member that inflates to more (or less) than it declares
            # fails on a whole read instead of filling memory.
            data = member.read(stop - start)
        if len(data) != stop - start:
            raise ArchiveError(
                f"member declares {info.file_size} bytes but its data decompresses to fewer"
            )
        return data

    def _inflate(self, entry: Entry, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of a deflated member, inflating no further than ``stop``.

        The compressed data is read with ``pread`` in growing pieces and fed to one zlib
        stream, each piece in one call that releases the GIL, until ``stop`` bytes have
        come out; those before ``start`` are dropped as they come. ``zipfile.ZipExtFile``
        does the same in 4 KiB steps of Python, which on a 64 KiB member costs a fifth
        more time on one thread and scales worse across worker threads. A read to the end
        of the member checks, as zipfile does, that the data inflates to exactly its
        declared size and matches its CRC-32. Like zipfile, it accepts a stream whose
        compressed bytes end before its end-of-stream code, when all of them inflate to
        the declared size and CRC.
        """
        info = entry.info
        offset = self._data_offset(entry)
        to_end = stop == info.file_size
        # One byte past the declared size, when reading to the end: a member that inflates
        # to more than it declares is caught without inflating the rest of it.
        want = stop + 1 if to_end else stop
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        pieces: list[bytes] = []
        produced = 0  # bytes inflated so far
        consumed = 0  # compressed bytes read so far
        step = _INFLATE_FIRST_READ
        crc = 0
        while produced < want and not inflater.eof:
            data = inflater.unconsumed_tail
            if not data:
                if consumed >= info.compress_size:
                    break
                data = os.pread(
                    entry.fd, min(step, info.compress_size - consumed), offset + consumed
                )
                if not data:
                    raise ArchiveError("the archive ends inside this member (truncated file)")
                consumed += len(data)
                step = min(2 * step, _INFLATE_MAX_READ)
            out = inflater.decompress(data, want - produced)
            if to_end:
                crc = zlib.crc32(out, crc)
            if produced + len(out) > start:
                pieces.append(out[start - produced :] if produced < start else out)
            produced += len(out)
        if produced < stop:
            raise ArchiveError(
                f"member declares {info.file_size} bytes but its data decompresses to fewer"
            )
        if to_end:
            if produced > stop:
                raise ArchiveError(
                    f"member declares {info.file_size} bytes but its data inflates past them"
                )
            if crc != info.CRC:
                raise ArchiveError("bad CRC-32: the member's data is corrupt")
        return b"".join(pieces)

    def _data_offset(self, entry: Entry) -> int:
        """Where the member's data starts: after its local header, name and extra field."""
        return self._locate(entry, 0)[0]

    def _locate(self, entry: Entry, want: int) -> tuple[int, bytes | memoryview]:
        """The member's data offset, and the first bytes of its data if they were read.

        The offset is read from the local header once and cached. That first time, one
        ``pread`` takes the header, the name and, when ``want`` is set, the first ``want``
        bytes of data too: a first whole read of a stored member is one system call.
        The local extra field may be longer than the central directory's, so a little
        more is read than the central directory suggests; what is missing is read after.
        """
        if entry.data_offset >= 0:
            return entry.data_offset, b""
        info = entry.info
        buf = os.pread(entry.fd, _header_guess(info) + want, info.header_offset)
        name_end, data_start, utf8_name = _local_layout(info, buf)
        if len(buf) >= name_end:
            raw_name = buf[_LOCAL_HEADER.size : name_end]
        else:
            raw_name = os.pread(
                entry.fd, name_end - _LOCAL_HEADER.size, info.header_offset + _LOCAL_HEADER.size
            )
        _accept_local_header(entry, raw_name, data_start, utf8_name)
        head = memoryview(buf)[data_start:] if want and len(buf) > data_start else b""
        return entry.data_offset, head

    def _locate_cached(self, entry: Entry, flags: int) -> int:
        """The data offset of a stored member, from its local header, or -1.

        For :meth:`read_cached`, holding the descriptor lock: one ``preadv2`` of the header
        with its ``flags``, whose errors it lets through. A header that is wrong in any way,
        or whose name goes past what was read, gives -1: the usual path reads it again and
        says what is wrong, naming the file.
        """
        info = entry.info
        buf = bytearray(_header_guess(info))
        got = os.preadv(entry.fd, (buf,), info.header_offset, flags)
        del buf[got:]  # in place: cheaper than a memoryview and a slice of it
        try:
            name_end, data_start, utf8_name = _local_layout(info, buf)
            if got < name_end:
                return -1
            raw_name = buf[_LOCAL_HEADER.size : name_end]
            _accept_local_header(entry, raw_name, data_start, utf8_name)
        except ArchiveError:
            return -1
        return entry.stored_at

    # ------------------------------------------------------------------ writes

    def _writer(self) -> zipfile.ZipFile:
        """The temporary archive that takes writes, created by the first write or delete."""
        if self._closed:
            raise ValueError(f"the archive {self.path} is closed")
        if self._temp_file is not None:
            return self._temp_file
        # Made with the archive's permissions now: it becomes the archive on close().
        fd, temp = _create_temp(self._target, self._permissions)
        try:
            # Copy from the descriptor we index, not the path: if another writer replaced
            # the file meanwhile, our offsets still describe what we copy (and close()
            # will refuse to publish over the other writer's archive).
            with os.fdopen(os.dup(self._base_fd), "rb") as src, os.fdopen(os.dup(fd), "r+b") as dst:
                src.seek(0)
                # copyfileobj uses sendfile/copy_file_range on Linux: no copy in Python.
                shutil.copyfileobj(src, dst, _COPY_CHUNK)
            # Buffered, so zipfile's small header writes do not each cost a system call;
            # writestr ends with a seek, which flushes, and write() flushes again anyway.
            raw = open(fd, "r+b", closefd=False)  # noqa: SIM115 - owned by the ZipFile
            writer = _TemporaryZipFile(
                raw, "a", compression=self.compression, allowZip64=self.allowZip64
            )
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        self._temp_path, self._temp_fd, self._temp_file = temp, fd, writer
        self._raw = raw
        return writer

    def write(self, key: str, data: BytesLike, *, only_if_missing: bool = False) -> bool:
        """Store ``data`` at ``key``; returns False if ``only_if_missing`` and it exists.

        ``key`` must have passed :func:`check_member_name` (the store checks it before the
        call is queued). A failed write leaves the index, the other members and the
        archive on disk as they were.

        Raises
        ------
        zipfile.LargeZipFile
            If the write needs ZIP64 extensions and ``allowZip64`` is False; the message
            names the archive and the key.
        OSError
            If the temporary file cannot be written (a full disk); a note names the
            archive and the key.
        """
        with self._lock:
            if only_if_missing and key in self.entries:
                return False
            try:
                writer = self._writer()
                info = zipfile.ZipInfo(key, date_time=self._date_time())
                info.compress_type = self.compression
                info.external_attr = 0o644 << 16
                # We keep our own index; dropping the name from zipfile's keeps it from
                # warning about a duplicate, which compaction on close() removes anyway.
                writer.NameToInfo.pop(key, None)
                replaced = key in self.entries
                view = memoryview(data).cast("B")
                data_offset = -1
                if self.compression == zipfile.ZIP_STORED and len(view) < _DIRECT_LIMIT:
                    data_offset = self._write_stored(writer, info, view)
                else:
                    writer.writestr(info, view)
                    # Readers use pread on the descriptor: the bytes must have left our buffer.
                    writer.fp.flush()  # type: ignore[union-attr]
            except zipfile.LargeZipFile as exc:
                # zipfile says "Files count would require ZIP64 extensions", naming nothing.
                raise zipfile.LargeZipFile(
                    f"{self.path}: key {key!r} cannot be written: {exc} (the store was "
                    "opened with allowZip64=False)"
                ) from None
            except OSError as exc:
                exc.add_note(
                    f"while writing key {key!r} of {self.path} (to a temporary copy: the "
                    "archive itself is unchanged, and so are the keys written before)"
                )
                raise
            with self._index_lock:
                old = self.entries.get(key)
                self.entries[key] = Entry(info, self._temp_fd, data_offset)
                if old is None:
                    self._add_to_tree(key)
            if replaced:
                self._dead += 1
            return True

    def _date_time(self) -> tuple[int, int, int, int, int, int]:
        """The local time for a member's header; ``localtime`` is called once a second.

        A clock before 1980 or after 2107 (a machine without a real-time clock starts in
        1970) gives the nearest date a header holds, as zipfile's
        ``strict_timestamps=False`` does: zipfile would refuse every write ("ZIP does not
        support timestamps before 1980", or a ``struct.error`` after 2107).
        """
        now = int(time.time())
        if now != self._stamp_second:
            self._stamp_second = now
            t = time.localtime(now)
            stamp = (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
            self._stamp = min(max(stamp, _FIRST_STAMP), _LAST_STAMP)
        return self._stamp

    def _write_stored(
        self, writer: zipfile.ZipFile, info: zipfile.ZipInfo, view: memoryview
    ) -> int:
        """Append an uncompressed member with one ``pwritev``; returns its data offset.

        ``writestr`` makes about seven system calls per member (header, data, a seek back
        to rewrite the header with the CRC, seeks and flushes); with the CRC computed
        first, the header is right the first time and the caller's buffer goes to the
        kernel as it is, without a copy. The member is then registered with ``writer`` as
        ``writestr`` would, so its central directory entry is written on close. Only for
        members small enough to need no ZIP64 local header (see ``_DIRECT_LIMIT``).
        """
        size = len(view)
        info.file_size = info.compress_size = size
        info.CRC = zlib.crc32(view)
        info.flag_bits = 0  # sizes are in the header: no data descriptor
        info.header_offset = writer.start_dir
        # zipfile's own checks: closed archive, member count or offset needing ZIP64
        # when allowZip64 is False.
        writer._writecheck(info)  # type: ignore[attr-defined]
        header = info.FileHeader(False)
        _pwrite_all(self._temp_fd, (header, view), info.header_offset)
        writer._didModify = True  # type: ignore[attr-defined]
        writer.filelist.append(info)
        writer.NameToInfo[info.filename] = info
        # zipfile seeks to start_dir before every write of its own and before writing
        # the central directory, so its buffered file never writes over this member.
        writer.start_dir = info.header_offset + len(header) + size
        return info.header_offset + len(header)

    def delete(self, keys: list[str]) -> None:
        """Remove ``keys``; missing keys are ignored."""
        with self._lock:
            present = [k for k in keys if k in self.entries]
            if not present:
                return
            writer = self._writer()
            with self._index_lock:
                for key in present:
                    del self.entries[key]
                    self._remove_from_tree(key)
            for key in present:
                writer.NameToInfo.pop(key, None)
            self._dead += len(present)

    def delete_under(self, directory: str) -> None:
        """Remove every key that starts with ``directory`` (``""`` removes everything)."""
        with self._lock:
            self.delete([k for k in self.entries if k.startswith(directory)])

    @property
    def modified(self) -> bool:
        """Whether there are writes or deletes that ``close()`` has yet to publish."""
        return self._temp_file is not None

    # ------------------------------------------------------------------ closing

    def close(self, *, wait: bool = True) -> None:
        """Publish pending changes (atomically) and release the files.

        With ``wait=False``, a close that would have to wait for another writer publishing
        the same archive raises ArchiveError instead (and drops this one's changes).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._temp_file is not None:
                    self._publish(wait=wait)
            except Exception as exc:
                exc.add_note(
                    f"{self.path} was left as it was; this store's unpublished writes and "
                    "deletes were dropped."
                )
                raise
            finally:
                self._release()

    def _publish(self, *, wait: bool = True) -> None:
        """Put the archive this store wrote in place of the one it opened.

        Writers of the same archive take turns here: each holds an exclusive ``flock`` on
        the file it opened from its check that no one replaced that file until its own
        replacement is done. Without the turn, two writers could both pass the check, and
        the one that replaced second would silently drop the first one's data.
        """
        with _exclusive(self._base_fd, wait=wait):
            self._replace_unless_changed()

    def _replace_unless_changed(self) -> None:
        assert self._temp_file is not None
        assert self._temp_path is not None
        target = self._target
        try:
            st = os.stat(target)
            now = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            now = None
        if now != self._identity:
            # Another store (this process or another) published first. Replacing its file
            # would silently drop its writes; refuse, and leave it as it is.
            raise ArchiveError(
                f"{self.path} was changed by another writer after this store opened it; "
                "this store's unsaved writes and deletes were not published, so that the "
                "other writer's data is not lost. Reopen the archive and write again."
            )
        if self._dead:
            final = self._compact()
            self._temp_file.close()
            self._close_raw()
            self._temp_path.unlink(missing_ok=True)
        else:
            self._temp_file.close()
            self._close_raw()
            if self._durable:
                os.fsync(self._temp_fd)
            final = self._temp_path
        self._temp_file = None
        if not self._durable:
            # The archive on disk is the empty one this store created. Removing it first
            # makes the rename not replace a file, which spares the forced writeback that
            # ext4 (auto_da_alloc) and others start on a replacing rename: nothing that
            # existed before can be lost here. A crash between the two calls leaves no
            # archive, and the complete new one in the temporary file.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target)
        try:
            os.replace(final, target)
        except BaseException:
            final.unlink(missing_ok=True)  # no stray copy of the archive is left behind
            if not self._durable:
                # The empty archive removed above goes back, as the close error promises;
                # written in place, since it is a rename that just failed.
                with contextlib.suppress(OSError):
                    self._create_exclusive()
            raise
        self._temp_path = None
        if self._durable:
            _fsync_dir(target.parent)

    def _close_raw(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    def _compact(self) -> Path:
        """Copy every live member, raw, into a fresh archive; returns its path."""
        fd, path = _create_temp(self._target, self._permissions)
        try:
            with open(fd, "w+b") as raw:
                out = zipfile.ZipFile(raw, "w", allowZip64=self.allowZip64)
                out.comment = self._comment
                try:
                    for key, entry in self.entries.items():
                        try:
                            self._copy_raw(entry, raw, out)
                        except ArchiveError as exc:
                            raise ArchiveError(f"{self.path}: member {key!r}: {exc}") from None
                except BaseException:
                    # Keep zipfile from writing a central directory when it is collected.
                    out.fp = None
                    raise
                # Tell zipfile where its central directory goes; it writes it on close.
                out.start_dir = raw.tell()
                out._didModify = True  # type: ignore[attr-defined]
                out.close()
                raw.flush()
                if self._durable:
                    os.fsync(raw.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def _copy_raw(self, entry: Entry, raw: IO[bytes], out: zipfile.ZipFile) -> None:
        """Append ``entry`` to ``out`` byte for byte (no recompression)."""
        source = entry.info
        offset = self._data_offset(entry)
        info = copy.copy(source)
        # An encrypted member with a data descriptor keeps it: with that flag set, the
        # byte its password is checked against is the high byte of its time, not of its
        # CRC, so without it the right password would fail.
        descriptor = bool(
            source.flag_bits & _ENCRYPTED_FLAG and source.flag_bits & _DATA_DESCRIPTOR_FLAG
        )
        if not descriptor:
            # Sizes and CRC go in the local header, so no data descriptor follows the data.
            info.flag_bits &= ~_DATA_DESCRIPTOR_FLAG
        info.extra = _strip_zip64_extra(source.extra)
        info.header_offset = raw.tell()
        if not self.allowZip64 and (
            info.header_offset > zipfile.ZIP64_LIMIT or info.compress_size > zipfile.ZIP64_LIMIT
        ):
            raise zipfile.LargeZipFile("the archive would need ZIP64 extensions")
        # A data descriptor with 8-byte sizes is read as such only after a ZIP64 extra
        # field in the local header; zipfile adds that one only for sizes it writes there.
        big = max(info.compress_size, info.file_size) > zipfile.ZIP64_LIMIT
        raw.write(info.FileHeader(zip64=True if descriptor and big else None))
        left, position = info.compress_size, offset
        while left:
            chunk = os.pread(entry.fd, min(left, _COPY_CHUNK), position)
            if not chunk:
                raise ArchiveError("the archive ends inside this member (truncated file)")
            raw.write(chunk)
            left -= len(chunk)
            position += len(chunk)
        if descriptor:
            raw.write(_data_descriptor(info))
        out.filelist.append(info)
        out.NameToInfo[info.filename] = info

    def _release(self) -> None:
        """Close every descriptor and drop an unpublished temporary file."""
        if self._temp_file is not None:
            # close() failed before publishing: the original archive is untouched.
            with contextlib.suppress(Exception):
                self._temp_file.fp = None
            self._temp_file = None
        with contextlib.suppress(Exception):
            self._close_raw()
        fds = [fd for fd in (self._temp_fd, self._base_fd) if fd >= 0]
        self._temp_fd = self._base_fd = -1
        with self._fd_lock:
            self._fds_open = False
            if self._readers:
                # Reads still run on these descriptors: the last one closes them.
                self._doomed_fds += fds
                fds = []
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._temp_path is not None:
            self._temp_path.unlink(missing_ok=True)
            self._temp_path = None

    def discard(self) -> None:
        """Drop pending changes without publishing them, and release the files."""
        with self._lock:
            self._closed = True
            self._release()

    def _let_go_in_child(self) -> None:
        """In a child made by ``os.fork()``: close the inherited files, publishing nothing.

        The temporary file and its name stay the parent's, which publishes (or drops) them:
        nothing here writes to, seeks in, renames or removes them. The locks are made anew,
        as a thread of the parent may have held one when the process forked.
        """
        self._lock = threading.RLock()
        self._index_lock = threading.Lock()
        self._fd_lock = threading.Lock()
        self._closed = True
        self._fds_open = False
        self._readers = 0
        self._temp_path = None
        temp_file, self._temp_file = self._temp_file, None
        if temp_file is not None:
            temp_file.fp = None  # zipfile must not write a central directory there
        raw, self._raw = self._raw, None
        fds = {self._temp_fd, self._base_fd, *self._doomed_fds} - {-1}
        self._temp_fd = self._base_fd = -1
        self._doomed_fds = []
        if raw is not None:
            # Closing the buffered file may flush or seek, which would act on the file
            # position the child shares with its parent: point the descriptor at the null
            # device first.
            with contextlib.suppress(OSError):
                null = os.open(os.devnull, os.O_RDWR)
                os.dup2(null, raw.fileno())
                os.close(null)
            with contextlib.suppress(Exception):
                raw.close()
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __iter__(self) -> Iterator[str]:
        return iter(self.key_list())

    def __del__(self) -> None:
        # A store that is dropped without close() still publishes its writes, as
        # zarr-python's ZipStore does (zipfile writes its central directory when
        # collected); if that fails, the original archive is left as it was.
        if getattr(self, "_closed", True):
            return
        try:
            # Without waiting for another writer's turn: the collector may run this on
            # any thread, the one that holds that turn included, which would then wait on
            # itself forever.
            self.close(wait=False)
        except Exception:
            self.discard()


def check_compression(compression: int) -> None:
    """Refuse a compression method zipfile cannot write, before anything is written."""
    writable = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
    if compression not in writable:
        raise ValueError(
            f"compression must be one of zipfile.ZIP_STORED, ZIP_DEFLATED, ZIP_BZIP2 or "
            f"ZIP_LZMA, got {compression!r} (Deflate64 members can be read, not written)"
        )
