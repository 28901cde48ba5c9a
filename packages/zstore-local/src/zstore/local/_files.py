"""The blocking file-system work behind LocalStore, one plain function per operation.

Everything here is synchronous and runs on the store's worker threads (or in the caller's
thread for the ``*_sync`` methods), never on the event-loop thread. Functions take the
store's absolute ``root`` and ``real_root`` (``root`` with every symlink resolved) as
strings, and keys that were already checked by :func:`check_key`, so the hot paths do no
``pathlib`` work and build each path with one string concatenation.

Rules kept here, once:

- **Confinement.** A key maps to ``root/key``. Keys are validated by zstore.core, so no
  spelling reaches outside the root; a symbolic link inside the root is followed only when
  its target resolves inside the root (checked on the opened file descriptor, so there is
  no window between the check and the use). Anything else raises ValueError naming the key.
- **Atomic writes.** A value is written to a temporary file in the key's directory, named
  ``\\zstore-tmp-<24 hex digits>``, and renamed over ``root/key``; a reader sees the old
  value or the new one, never a torn one. Temporary names start with a backslash, which no
  key may contain, so they are never listed and can never collide with a key.
- **No empty directories.** Deleting a key removes the directories it leaves empty, so
  listings agree with a MemoryStore after the same operations.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
import sys
from typing import TYPE_CHECKING

import numpy as np

from zstore.core import normalize_byte_range, shared_executor, validate_key

if TYPE_CHECKING:
    from collections.abc import Callable

    from zstore.core import ByteRequest

__all__ = [
    "TMP_PREFIX",
    "check_key",
    "check_root_path",
    "delete_dir",
    "delete_file",
    "exists",
    "getsize",
    "getsize_dir",
    "has_keys",
    "list_dir",
    "list_keys",
    "move_root",
    "open_for_read",
    "open_root_fd",
    "prepare_root",
    "read_fd",
    "read_file",
    "write_file",
]

TMP_PREFIX = "\\zstore-tmp-" if os.sep == "/" else ".zstore-tmp-"
"""Names of temporary files start with this.

On POSIX it starts with a backslash, which is legal in a file name but never in a key
(zstore.core's validator refuses backslashes), so no key can ever name, or be hidden as, a
temporary file: nothing is reserved. On Windows, where a backslash cannot be in a name,
keys with a segment starting ``.zstore-tmp-`` are refused instead (see :func:`check_key`).
"""

_RESERVED = "\\" not in TMP_PREFIX
_TMP_IN_KEY = "/" + TMP_PREFIX

# O_NONBLOCK: opening a FIFO someone left in the root must not hang a worker thread. It has
# no effect on regular files. O_CLOEXEC: a subprocess started meanwhile must not inherit fds.
_O_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_O_TMP = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)

# On Linux the kernel names the file behind a descriptor: one readlink, no path walk, and no
# race with a symlink swapped in after the open. Elsewhere fall back to realpath.
_PROC_FD = "/proc/self/fd/" if os.path.isdir("/proc/self/fd") else None

# A key's directory can vanish between mkdir and use when a concurrent delete prunes it;
# writers retry this many times before giving up (each retry recreates the directory).
_WRITE_ATTEMPTS = 8

# One pread is capped by the OS (about 2 GiB on Linux); read larger values in pieces.
_MAX_READ = 1 << 30

# From this size on a value is read into a NumPy array (see read_fd): NumPy madvises huge
# pages for allocations of 4 MiB and more.
_BIG_READ = 4 << 20
_preadv = getattr(os, "preadv", None)


def _load_openat2() -> Callable[[int, str, int], int] | None:
    """``openat2(dirfd, path, {flags, resolve=RESOLVE_BENEATH})`` through ctypes, or None.

    RESOLVE_BENEATH makes the kernel refuse, during the one path walk of the open itself,
    any resolution that leaves the directory (``..``, absolute or escaping symlinks): the
    confinement check then costs nothing extra. Linux >= 5.6 only; elsewhere (or under a
    seccomp filter that refuses it) the store uses open + a check of the opened file.
    """
    if not sys.platform.startswith("linux"):  # pragma: no cover
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):  # pragma: no cover
        return None

    class OpenHow(ctypes.Structure):
        _fields_ = (
            ("flags", ctypes.c_uint64),
            ("mode", ctypes.c_uint64),
            ("resolve", ctypes.c_uint64),
        )

    # argtypes let ctypes convert plain ints and bytes itself, and one struct per flag set is
    # built once: a read then costs one foreign call, no per-call ctypes objects.
    syscall.restype = ctypes.c_long
    syscall.argtypes = (
        ctypes.c_long,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
    )
    sys_openat2 = 437  # the same number on every Linux architecture (unified table)
    resolve_beneath = 0x08
    how_size = ctypes.sizeof(OpenHow)
    hows: dict[int, tuple[OpenHow, int]] = {}
    get_errno = ctypes.get_errno
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()

    def openat2(dirfd: int, path: str, flags: int) -> int:
        entry = hows.get(flags)
        if entry is None:
            how = OpenHow(flags, 0, resolve_beneath)
            entry = hows[flags] = (how, ctypes.addressof(how))  # the struct stays alive
        fd: int = syscall(sys_openat2, dirfd, path.encode(encoding, errors), entry[1], how_size)
        if fd < 0:
            err = get_errno()
            raise OSError(err, os.strerror(err), path)
        return fd

    # Probe once: ENOSYS (old kernel) or EPERM (seccomp) means "not available".
    try:
        os.close(openat2(-100, ".", _O_DIR))  # AT_FDCWD
    except OSError:  # pragma: no cover
        return None
    return openat2


_openat2 = _load_openat2()


def open_root_fd(root: str) -> int:
    """A descriptor of the root directory for the openat2 fast path (-1 if unused)."""
    if _openat2 is None:
        return -1  # pragma: no cover
    return os.open(root, _O_DIR)


def is_root_fd_of(fd: int, root: str) -> bool:
    """Whether the descriptor ``fd`` is still the directory the path ``root`` names."""
    try:
        held = os.fstat(fd)
        current = os.stat(root)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino)


def _root_fd_stale(root_fd: int, root: str) -> bool:
    """Whether a lookup that found nothing beneath ``root_fd`` must look again by path.

    Another program may remove the root (and make a new one at the same path) while a
    store is open; lookups beneath the old descriptor then find nothing, although the path
    names a directory full of keys. Asked only after such a miss: an ``fstat`` and a
    ``stat`` of the root's path (nothing on hits).

    A wrong "yes" only costs a lookup by path, which finds the right answer; a wrong "no"
    would report a key missing that is there. So "no" is answered only on proof: the path
    still names the directory behind the descriptor (a lookup by path would find nothing
    either), or that directory lives on elsewhere, holding entries (moved away: the store
    keeps using it until ``close()``, as documented; a removed directory is always empty,
    since rmdir refuses others and nothing can be made in it afterwards). A link count of
    0 proves removal, but the converse fails: overlayfs reports 1 or 2 links for a removed
    directory (measured on Linux 6.18), so the count alone would answer "no" there.
    """
    try:
        held = os.fstat(root_fd)
        if held.st_nlink == 0:
            return True
        current = os.stat(root)
    except OSError:
        return True  # no directory at the path either (or the descriptor is stale: ESTALE)
    if (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
        return False
    try:
        # A descriptor of its own: scanning root_fd (or a dup of it) would move the file
        # offset it shares with other threads' probes.
        fd = os.open(".", _O_DIR, dir_fd=root_fd)
    except OSError:
        return True
    try:
        with os.scandir(fd) as it:
            return next(it, None) is None
    except OSError:
        return True
    finally:
        os.close(fd)


def check_key(key: str) -> str:
    """Validate ``key`` with zstore.core's rule (plus, on Windows only, one reservation).

    Parameters
    ----------
    key : str
        The key.

    Returns
    -------
    str
        The key itself.

    Raises
    ------
    ValueError
        If the key is invalid (on Windows: or a segment starts with ``.zstore-tmp-``).
    """
    validate_key(key)
    if _RESERVED and (key.startswith(TMP_PREFIX) or _TMP_IN_KEY in key):  # pragma: no cover
        raise ValueError(
            f"key {key!r} has a segment starting with {TMP_PREFIX!r}, which LocalStore "
            "reserves for its temporary files; choose another name"
        )
    return key


def _escape_error(key: str, real: str, real_root: str) -> ValueError:
    return ValueError(
        f"key {key!r} resolves to {real!r} through a symbolic link, outside the store root "
        f"{real_root!r}; LocalStore only follows links that stay inside the root"
    )


# ---------------------------------------------------------------------------- limits
#
# The operating system refuses a name longer than NAME_MAX bytes (255 on most file
# systems) and a path of PATH_MAX bytes or more (4096 on Linux, counting the final NUL)
# with ENAMETOOLONG, and a name it cannot encode (a lone surrogate such as '\ud800') with
# UnicodeEncodeError. Neither is checked on every call: the helpers below only run once the
# OS has refused, to turn its error (which names a temporary file, or nothing) into one that
# names the key and the limit.

_SHOWN_KEY_CHARS = 512


def _shown(text: str) -> str:
    """``repr(text)``, shortened for the very long keys these errors are about."""
    if len(text) <= _SHOWN_KEY_CHARS:
        return repr(text)
    return f"{text[:200]!r}...{text[-40:]!r} ({len(text)} characters)"


def _limits(path: str) -> tuple[int, int]:
    """NAME_MAX and PATH_MAX for the file system holding ``path`` (or its nearest existing
    parent), with Linux's values where the OS does not say."""
    probe = path
    while True:
        try:
            return os.pathconf(probe, "PC_NAME_MAX"), os.pathconf(probe, "PC_PATH_MAX")
        except (OSError, ValueError):
            parent = os.path.dirname(probe)
            if parent == probe:
                return 255, 4096
            probe = parent


def _size(text: str) -> int:
    """The length of ``text`` in bytes as a file name."""
    try:
        return len(os.fsencode(text))
    except UnicodeEncodeError:
        return len(text.encode(sys.getfilesystemencoding(), "surrogatepass"))


def _too_long(path: str) -> str:
    """Say which limit ``path`` exceeds: a name over NAME_MAX, or the path's length."""
    name_max, path_max = _limits(path)
    encoding = sys.getfilesystemencoding()
    for part in path.split("/"):
        size = _size(part)
        if size > name_max:
            return (
                f"its segment {_shown(part)} is {size} bytes in {encoding}, where the file "
                f"system allows at most {name_max} bytes per name (NAME_MAX); use a shorter name"
            )
    size = _size(path)
    return (
        f"its path {_shown(path)} is {size} bytes, where the operating system "
        f"allows at most {path_max - 1} (PATH_MAX {path_max}, counting the final NUL); use "
        "a shorter key, or a root with a shorter path"
    )


def _name_too_long(doing: str, root: str, key: str) -> OSError:
    """The ENAMETOOLONG error for ``key``: an OSError (so ``except OSError`` still catches
    it) naming the key and the limit, where the OS names a temporary file or a bare path."""
    return OSError(
        errno.ENAMETOOLONG,
        f"{doing} {_shown(key)}: {_too_long(root + '/' + key)}",
        root + "/" + key,
    )


def _cannot_exist(root: str, key: str) -> bool:
    """Whether no file can have the name ``key`` in the store: a segment longer than
    NAME_MAX, the key itself PATH_MAX bytes or more (no single system call takes it, not
    even relative to the root), or a character the file system encoding cannot hold.

    Reads treat such keys as missing. A key that is short enough but whose path from ``/``
    is too long can exist (a store moved to a deeper root) and is never reported missing.
    """
    try:
        encoded = os.fsencode(key)
    except UnicodeEncodeError:
        return True
    name_max, path_max = _limits(root)
    return len(encoded) >= path_max or any(len(part) > name_max for part in encoded.split(b"/"))


def check_root_path(path: str, what: str) -> None:
    """Refuse a root path no file system can hold, naming it (``what``: "'root'", ...).

    Without this, a NUL failed later as "embedded null byte" and a lone surrogate as a
    UnicodeEncodeError, neither naming the root.
    """
    if "\0" in path:
        raise ValueError(f"{what} {path!r} holds a NUL character, which no path can hold")
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        raise ValueError(
            f"{what} {path!r} holds a character that the file system encoding "
            f"({sys.getfilesystemencoding()}) cannot store (a lone surrogate?)"
        ) from None


def _make_path(path: str, made: list[str]) -> None:
    """``os.makedirs(path, exist_ok=True)`` that records in ``made`` each directory it
    creates (outermost first), so that a caller that fails afterwards (a path too long
    for the OS, say, refused a few levels down) can remove them with
    :func:`_remove_made` instead of leaving empty directories behind."""
    head, tail = os.path.split(path)
    if not tail:
        head, tail = os.path.split(head)
    if head and tail and not os.path.exists(head):
        _make_path(head, made)
    try:
        os.mkdir(path)
    except OSError:
        if not os.path.isdir(path):
            raise
    else:
        made.append(path)


def _remove_made(made: list[str]) -> None:
    """Remove the directories :func:`_make_path` made, innermost first, while empty."""
    for path in reversed(made):
        try:
            os.rmdir(path)
        except OSError:
            return


def _unencodable(root: str, key: str) -> ValueError:
    encoding = sys.getfilesystemencoding()
    return ValueError(
        f"cannot write key {_shown(key)}: it holds a character that the file system "
        f"encoding ({encoding}) cannot store in a file name (a lone surrogate?); keys of a "
        "LocalStore must be encodable file names"
    )


def _inside(real: str, real_root: str) -> bool:
    return real.startswith(real_root) and (
        len(real) == len(real_root) or real[len(real_root)] == "/" or real_root == "/"
    )


def _fd_real_path(fd: int, path: str) -> str:
    """The real path of the open file ``fd`` (opened as ``path``)."""
    if _PROC_FD is not None:
        try:
            return os.readlink(_PROC_FD + str(fd))
        except OSError:  # pragma: no cover - /proc unmounted after import
            pass
    return os.path.realpath(path)  # pragma: no cover - not Linux


def _check_fd_inside(fd: int, path: str, real_root: str, key: str) -> None:
    """Raise if the open file ``fd`` (opened as ``path``) lies outside ``real_root``."""
    real = _fd_real_path(fd, path)
    if not _inside(real, real_root):
        raise _escape_error(key, real, real_root)


def _open_dir(root: str, real_root: str, directory: str, root_fd: int = -1) -> int | None:
    """Open the directory ``directory`` (``""`` or ``"a/b/"``) of the store, confined.

    None if it is missing, not a directory, or resolves outside the root through a link:
    such a link's contents are no keys of this store, so listings see nothing there and
    ``delete_dir`` deletes nothing there.
    """
    # The root itself is opened by its path: "." beneath the descriptor would open a root
    # removed since the store opened it, rather than the directory now at the path.
    if _openat2 is not None and root_fd >= 0 and directory:
        rel = directory[:-1]
        try:
            return _openat2(root_fd, rel, _O_DIR)
        except UnicodeEncodeError:
            return None  # no file name holds it: no keys under it
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR) and not _root_fd_stale(root_fd, root):
                return None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise PermissionError(exc.errno, exc.strerror, root + "/" + rel) from None
            # EXDEV, ELOOP, ...: a link the kernel will not follow beneath the root; or a
            # miss beneath a removed root; or a name too long (decided below): look the
            # directory up by path.
    path = root + "/" + directory[:-1] if directory else root
    try:
        fd = os.open(path, _O_DIR)
    except (FileNotFoundError, NotADirectoryError, UnicodeEncodeError):
        return None
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        if _cannot_exist(root, directory[:-1]):
            return None  # a name no file system here can hold: no keys under it
        # The directory may exist (a store moved under a deeper root) but cannot be
        # reached by its path: saying "nothing there" could be wrong, so say why.
        raise _name_too_long("cannot open the directory of prefix", root, directory) from None
    return _kept_if(fd, lambda fd: _inside(_fd_real_path(fd, path), real_root))


# ---------------------------------------------------------------------------- the root


def prepare_root(root: str, create: bool) -> str:
    """Check (and with ``create``, make) the store root; return its real path.

    Raises
    ------
    FileNotFoundError
        If the root is missing and ``create`` is false (modes ``r`` and ``r+``, and
        read-only stores, never create it); the error names the root.
    NotADirectoryError
        If the root exists and is not a directory.
    PermissionError
        If the root cannot be created or read; raised as itself, never as "missing".
    """
    if create:
        made: list[str] = []
        try:
            _make_path(root, made)
        except (FileExistsError, FileNotFoundError):
            # A file in the way, or a dangling link on the way (FileNotFoundError below
            # it): reported by the stat below.
            _remove_made(made)
        except NotADirectoryError:
            _remove_made(made)
            raise NotADirectoryError(
                errno.ENOTDIR, "a parent of the store root is a file, not a directory", root
            ) from None
        except OSError as exc:
            # ENAMETOOLONG some levels down: os.makedirs left the levels above it behind.
            _remove_made(made)
            if exc.errno == errno.ENAMETOOLONG:
                raise _root_too_long(root) from None
            raise
    try:
        st = os.stat(root)
    except FileNotFoundError:
        link = _dangling_link_on(root)
        if link is not None:
            # makedirs cannot make a root through such a link, and "does not exist (stores
            # opened read-only ... never create it)" misled writable stores about why.
            raise FileNotFoundError(
                errno.ENOENT,
                f"store root is behind a dangling symbolic link {link!r} (its target "
                f"{os.readlink(link)!r} does not exist); remove the link or create its target",
                root,
            ) from None
        raise FileNotFoundError(
            errno.ENOENT,
            "store root does not exist (stores opened read-only or with mode 'r' or 'r+' "
            "never create it)",
            root,
        ) from None
    except NotADirectoryError:
        raise NotADirectoryError(
            errno.ENOTDIR, "a parent of the store root is a file, not a directory", root
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise _root_too_long(root) from None
        raise
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "store root is not a directory", root)
    # os.scandir fails early with PermissionError on an unreadable root, as itself.
    with os.scandir(root):
        pass
    return os.path.realpath(root)


def _dangling_link_on(path: str) -> str | None:
    """The first of ``path`` and its parents that is a symbolic link to nothing, or None."""
    while True:
        if os.path.islink(path) and not os.path.exists(path):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def _root_too_long(root: str) -> OSError:
    return OSError(
        errno.ENAMETOOLONG, f"cannot use the store root {_shown(root)}: {_too_long(root)}", root
    )


def move_root(src: str, dest: str) -> None:
    """Move the store's directory to ``dest``, which must not exist yet.

    Nothing is left behind when the move fails: the parents of ``dest`` made for it are
    removed again.

    Raises
    ------
    ValueError
        If ``dest`` is inside the store's directory.
    FileExistsError
        If ``dest`` exists.
    NotADirectoryError
        If a parent of ``dest`` is a file.
    OSError
        With errno ENAMETOOLONG if ``dest`` is too long for the file system (the error
        says which limit).
    """
    if _inside(os.path.realpath(dest), os.path.realpath(src)):
        # shutil.move refuses too, but only after the parents of dest were made in the
        # store (left behind, empty), and with an error that names no store.
        raise ValueError(
            f"cannot move the store root {src!r} to {dest!r}, which is inside it; choose a "
            "destination outside the store"
        )
    if os.path.lexists(dest):
        raise FileExistsError(errno.EEXIST, "destination of the move already exists", dest)
    made: list[str] = []
    try:
        parent = os.path.dirname(dest)
        if parent:
            try:
                _make_path(parent, made)
            except (FileExistsError, NotADirectoryError):
                raise NotADirectoryError(
                    errno.ENOTDIR,
                    "cannot move the store there: a parent of the destination is a file, "
                    "not a directory",
                    dest,
                ) from None
        shutil.move(src, dest)
    except OSError as exc:
        _remove_made(made)
        if exc.errno == errno.ENAMETOOLONG:
            raise OSError(
                errno.ENAMETOOLONG,
                f"cannot move the store root {src!r} to {_shown(dest)}: {_too_long(dest)}",
                dest,
            ) from None
        raise


# ---------------------------------------------------------------------------- reads


def read_fd(fd: int, start: int, stop: int) -> bytes | memoryview:
    """Read ``[start, stop)`` of ``fd`` with positional reads (no seek, no whole-file read).

    Values of at least 4 MiB are read straight into a new NumPy array (returned as a
    memoryview over it, no copy): NumPy asks the kernel for transparent huge pages for
    allocations that big, so the fresh memory a big read lands in costs fewer page faults
    (4 MiB values read 10-20% faster here, in less CPU time). Smaller values are one
    ``pread`` into a new bytes object.
    """
    length = stop - start
    if length >= _BIG_READ and _preadv is not None:
        return _read_into_array(fd, start, length)
    if length <= _MAX_READ:
        data = os.pread(fd, length, start)
        if len(data) == length or not data:
            return data
    else:  # pragma: no cover - only without os.preadv
        data = b""
    # Short read (a file truncated by another program): keep reading.
    parts = [data]
    got = len(data)
    while got < length:
        piece = os.pread(fd, min(length - got, _MAX_READ), start + got)
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)


def _read_into_array(fd: int, start: int, length: int) -> memoryview:
    assert _preadv is not None
    view = np.empty(length, np.uint8).data
    got = 0
    while got < length:
        n = _preadv(fd, (view[got : got + min(length - got, _MAX_READ)],), start + got)
        if not n:
            return view[:got]  # the file is shorter than it was (truncated meanwhile)
        got += n
    return view


def _open_key(root: str, real_root: str, key: str, root_fd: int) -> int | None:
    """Open ``key`` read-only, confined to the root; None if it does not exist.

    With openat2 the kernel confines the one path walk of the open (RESOLVE_BENEATH). A
    link it will not follow beneath the root (EXDEV, ELOOP: e.g. an absolute link that may
    still land inside the root), or a miss beneath a root descriptor whose directory was
    removed, takes the slow path: a plain open, then a check of where the opened file
    really is.
    """
    if _openat2 is not None and root_fd >= 0:
        try:
            return _openat2(root_fd, key, _O_READ)
        except UnicodeEncodeError:
            return None  # no file name holds it, so no such key was ever written
        except OSError as exc:
            code = exc.errno
            if code in (errno.ENOENT, errno.ENOTDIR):
                if not _root_fd_stale(root_fd, root):
                    return None
                # The root was removed (and perhaps made again) under the store: look the
                # key up by path, as the store does for every other lookup.
            elif code in (errno.EACCES, errno.EPERM):
                raise PermissionError(code, exc.strerror, key) from None
            # EXDEV, ELOOP, EAGAIN, ENAMETOOLONG, ...: let the slow path decide
    path = root + "/" + key
    try:
        fd = os.open(path, _O_READ)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, UnicodeEncodeError):
        return None
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        if _cannot_exist(root, key):
            return None  # too long for any file name or path here: never written
        # Short enough to exist (under a root moved deeper, say), too long to reach by its
        # path: "missing" could be wrong, so say why it cannot be read.
        raise _name_too_long("cannot read key", root, key) from None
    try:
        _check_fd_inside(fd, path, real_root, key)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_for_read(root: str, real_root: str, key: str, root_fd: int = -1) -> tuple[int, int] | None:
    """Open ``key`` for reading: a descriptor of a regular file inside the root, and the
    file's size then; None if the key is missing or names a directory (not a key).
    """
    fd = _open_key(root, real_root, key, root_fd)
    if fd is None:
        return None
    try:
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if stat.S_ISREG(st.st_mode):
        return fd, st.st_size
    os.close(fd)
    return None


def _kept_if(fd: int, check: Callable[[int], bool]) -> int | None:
    """``fd`` if ``check(fd)`` holds, else None; the descriptor is closed unless returned."""
    try:
        if check(fd):
            return fd
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


def read_file(
    root: str, real_root: str, key: str, byte_range: ByteRequest | None, root_fd: int = -1
) -> bytes | memoryview | None:
    """Return the bytes of ``key`` (or the requested range), or None if it is missing.

    One (confined) ``open``, one ``fstat``, one ``pread`` and one ``close``; a range is served
    by a positional read of just those bytes. A directory is not a key: None.
    """
    fd = _open_key(root, real_root, key, root_fd)
    if fd is None:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        if byte_range is None:
            start, stop = 0, st.st_size
        else:
            start, stop = normalize_byte_range(byte_range, st.st_size)
        if start >= stop:
            return b""
        return read_fd(fd, start, stop)
    finally:
        os.close(fd)


def getsize(root: str, real_root: str, key: str, root_fd: int = -1) -> int:
    """Return the size of ``key`` in bytes.

    Raises
    ------
    FileNotFoundError
        If the key is missing (or names a directory); ``filename`` is the key.
    """
    fd = _open_key(root, real_root, key, root_fd)
    if fd is None:
        raise FileNotFoundError(errno.ENOENT, "no such key in the store", key)
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        raise FileNotFoundError(errno.ENOENT, "no such key in the store (a directory)", key)
    return st.st_size


def exists(root: str, real_root: str, key: str, root_fd: int = -1) -> bool:
    """Whether ``key`` names a file (a directory is not a key)."""
    try:
        getsize(root, real_root, key, root_fd)
    except FileNotFoundError:
        return False
    return True


# ---------------------------------------------------------------------------- writes


def _file_in_the_way(root: str, key: str) -> str | None:
    """Return the longest proper prefix of ``key`` that exists as a non-directory."""
    parts = key.split("/")
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        try:
            st = os.stat(root + "/" + prefix)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISDIR(st.st_mode):
            return prefix
    return None


def _not_a_directory(root: str, key: str) -> NotADirectoryError:
    blocker = _file_in_the_way(root, key) or key.rpartition("/")[0]
    return NotADirectoryError(
        errno.ENOTDIR,
        f"cannot write key {key!r}: {blocker!r} is a key (a file) in this store, so it "
        "cannot also be a directory; delete it first",
        root + "/" + key,
    )


def _open_parent(
    root: str, real_root: str, key: str, *, create: bool, root_fd: int = -1
) -> int | None:
    """Open the directory that holds ``key``; None if it is missing and not ``create``."""
    parent = key.rpartition("/")[0]
    if _openat2 is not None and root_fd >= 0:
        # The common case, an existing directory: one open confined by the kernel, no
        # check of the opened directory afterwards. Any failure (missing, a file in the
        # way, a link the kernel will not follow beneath the root, ...) takes the path
        # below, which creates, checks and raises the right error.
        with contextlib.suppress(OSError):
            return _openat2(root_fd, parent or ".", _O_DIR)
    dpath = root + "/" + parent if parent else root
    try:
        dfd = os.open(dpath, _O_DIR)
    except FileNotFoundError:
        if not create:
            return None
        if not parent:
            raise  # the root itself is gone: never made here (write_file says so)
        _make_dirs(root, real_root, key, parent)
        dfd = os.open(dpath, _O_DIR)
    except NotADirectoryError:
        if not create:
            return None
        raise _not_a_directory(root, key) from None
    except UnicodeEncodeError:
        if create:
            raise  # write_file says what is wrong with the key
        return None  # no file name holds it: the key is missing
    except OSError as exc:
        # A directory too long for any name or path here holds no key. One that may
        # exist but cannot be reached by its path (a deeper root) is an error, as is any
        # write (write_file names the key and the limit).
        if create or exc.errno != errno.ENAMETOOLONG:
            raise
        if _cannot_exist(root, parent):
            return None
        raise _name_too_long("cannot delete key", root, key) from None
    try:
        _check_fd_inside(dfd, dpath, real_root, key)
    except BaseException:
        os.close(dfd)
        raise
    return dfd


def _make_dirs(root: str, real_root: str, key: str, parent: str) -> None:
    """Create ``root/parent`` one level at a time, each checked to be inside the root
    before the next is made in it: a link leading outside is never created through
    (``os.makedirs`` would make the missing directories wherever the link points)."""
    parts = parent.split("/")
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        path = root + "/" + sub
        try:
            os.mkdir(path)
        except FileExistsError:
            pass
        except (FileNotFoundError, NotADirectoryError):
            # A level vanished (a concurrent delete pruned it: write_file retries) or a
            # file is in the way.
            if _file_in_the_way(root, key) is None:
                raise FileNotFoundError(errno.ENOENT, "directory vanished", path) from None
            raise _not_a_directory(root, key) from None
        fd = _open_dir(root, real_root, sub + "/")
        if fd is None:
            real = os.path.realpath(path)
            if os.path.isdir(path) and not _inside(real, real_root):
                raise _escape_error(key, real, real_root)
            if _file_in_the_way(root, key) is not None:
                raise _not_a_directory(root, key)
            if os.path.islink(path) and not os.path.exists(path):
                raise NotADirectoryError(
                    errno.ENOTDIR,
                    f"cannot write key {key!r}: {sub!r} is a dangling symbolic link; remove "
                    "it or point it at a directory inside the store",
                    path,
                )
            # Made (or found) a moment ago and gone now: a concurrent delete pruned it
            # (0.1.6 reported this as a file in the way). write_file retries.
            raise FileNotFoundError(errno.ENOENT, "directory vanished", path)
        os.close(fd)


def _is_a_directory(root: str, key: str) -> IsADirectoryError:
    return IsADirectoryError(
        errno.EISDIR,
        f"cannot write key {key!r}: it is a directory holding other keys in this store; "
        f"delete_dir({key!r}) first",
        root + "/" + key,
    )


def _is_link_to_directory(name: str, dfd: int) -> bool:
    """Whether ``name`` in ``dfd`` is a symbolic link to a directory (one ``lstat``, and a
    ``stat`` only for a link). Missing, dangling or a link loop: False (no keys behind it).
    """
    try:
        if not stat.S_ISLNK(os.lstat(name, dir_fd=dfd).st_mode):
            return False
        return stat.S_ISDIR(os.stat(name, dir_fd=dfd).st_mode)
    except (OSError, UnicodeEncodeError):
        return False


def _refuse_link_to_directory(root: str, key: str, name: str, dfd: int) -> None:
    """Raise IsADirectoryError if ``name`` in ``dfd`` is a symbolic link to a directory.

    Renaming over such a link replaces the link itself, so a write would silently take
    away every key under ``key/`` that the link made visible, where the same write over a
    real directory is refused. One ``lstat`` per write; the target is only looked at.
    """
    if not _is_link_to_directory(name, dfd):
        return  # missing, dangling or a link loop: no keys behind it, replaced as a key
    raise IsADirectoryError(
        errno.EISDIR,
        f"cannot write key {key!r}: it is a symbolic link to a directory, whose files are "
        f"keys under {key + '/'!r}; delete_dir({key!r}) first (it removes the link, never "
        "its target)",
        root + "/" + key,
    )


def _remove_if_empty(root: str, key: str, name: str, dfd: int) -> None:
    """Remove the directory ``name`` (in ``dfd``) standing where ``key`` goes, if empty.

    An empty directory holds no keys (listings do not show it: another program or a crash
    left it), so it must not block writing the key; one holding anything does.

    Raises
    ------
    IsADirectoryError
        If the directory is not empty; the error names the key.
    """
    try:
        os.rmdir(name, dir_fd=dfd)
    except FileNotFoundError:
        pass  # removed meanwhile: nothing in the way any more
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise _is_a_directory(root, key) from None
        raise


def _replace(root: str, key: str, tmp: str, name: str, dfd: int) -> None:
    """Rename the temporary file ``tmp`` over ``name``, both in the directory ``dfd``."""
    _refuse_link_to_directory(root, key, name, dfd)
    for attempt in range(2):
        try:
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            return
        except IsADirectoryError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        if attempt:
            break  # a directory was made there again between the rmdir and the rename
        _remove_if_empty(root, key, name, dfd)
    raise _is_a_directory(root, key)


def _link_new(root: str, key: str, tmp: str, name: str, dfd: int) -> bool:
    """Hard-link ``tmp`` to ``name`` unless ``name`` exists; False if a key is there.

    link() fails with EEXIST if the name exists, whoever created it: exactly one of many
    racing processes wins, and the winner's value appears whole.
    """
    for _ in range(3):
        try:
            os.link(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
            return True
        except FileExistsError:
            try:
                mode = os.lstat(name, dir_fd=dfd).st_mode
            except FileNotFoundError:
                continue  # removed meanwhile: try the link again
            if stat.S_ISLNK(mode):
                _refuse_link_to_directory(root, key, name, dfd)
            if not stat.S_ISDIR(mode):
                return False
            _remove_if_empty(root, key, name, dfd)
    # Only when other writers keep making a directory (or entries keep coming and going)
    # there faster than this can take the name.
    raise _is_a_directory(root, key)


def _write_all(fd: int, view: memoryview) -> None:
    written = 0
    total = len(view)
    while written < total:
        written += os.write(fd, view[written:])


def _write_once(  # noqa: PLR0917 - private, called from one place
    root: str,
    real_root: str,
    key: str,
    view: memoryview,
    exclusive: bool,
    fsync: bool,
    root_fd: int,
) -> bool:
    """One attempt at an atomic write; see :func:`write_file`."""
    dfd = _open_parent(root, real_root, key, create=True, root_fd=root_fd)
    assert dfd is not None
    name = key.rpartition("/")[2]
    tmp = TMP_PREFIX + secrets.token_hex(12)
    try:
        fd = os.open(tmp, _O_TMP, 0o666, dir_fd=dfd)
        try:
            try:
                _write_all(fd, view)
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if exclusive:
                try:
                    if not _link_new(root, key, tmp, name, dfd):
                        return False
                finally:
                    os.unlink(tmp, dir_fd=dfd)
            else:
                _replace(root, key, tmp, name, dfd)
            if fsync:
                os.fsync(dfd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
            raise
    finally:
        os.close(dfd)
    return True


def write_file(
    root: str,
    real_root: str,
    key: str,
    value: object,
    *,
    exclusive: bool = False,
    fsync: bool = False,
    root_fd: int = -1,
) -> bool:
    """Write ``value`` (anything with the buffer protocol) to ``key`` atomically.

    The bytes go to a temporary file in the key's directory that is then renamed over the
    key (``exclusive=False``) or hard-linked to it (``exclusive=True``, which fails if the
    key exists). With ``fsync`` the file and then its directory are flushed to stable
    storage before returning.

    Returns
    -------
    bool
        False only when ``exclusive`` and the key already existed (nothing was written).

    Raises
    ------
    IsADirectoryError
        If the key names a directory that is not empty, or a symbolic link to a directory
        (an empty directory is removed and the key written).
    NotADirectoryError
        If a prefix of the key is itself a key.
    FileNotFoundError
        If the store root no longer exists, or the key's directory was removed by
        concurrent deletes at every attempt; the error names the key.
    PermissionError
        If the directory cannot be written (as itself).

    ``root_fd``, a descriptor of the root (-1 if none), lets the key's directory be opened
    with one kernel-confined ``openat2``.
    """
    view = memoryview(value).cast("B")  # type: ignore[arg-type]
    for attempt in range(_WRITE_ATTEMPTS):
        try:
            return _write_once(root, real_root, key, view, exclusive, fsync, root_fd)
        except FileNotFoundError:
            # The directory (or our temporary file) was removed under us by a concurrent
            # delete/delete_dir pruning it: the delete happened first, so write again.
            # Unless the root itself went: then the error says so, naming the key.
            if root_fd >= 0 and _root_fd_stale(root_fd, root):
                root_fd = -1  # a new root at the same path is reached by path from now on
            if not os.path.isdir(root):
                raise FileNotFoundError(
                    errno.ENOENT,
                    f"cannot write key {key!r}: the store root {root!r} no longer exists "
                    "(removed while the store was open); close() the store to open it again",
                    root + "/" + key,
                ) from None
            if attempt == _WRITE_ATTEMPTS - 1:
                raise FileNotFoundError(
                    errno.ENOENT,
                    f"cannot write key {key!r}: its directory was removed by concurrent "
                    f"deletes {_WRITE_ATTEMPTS} times in a row",
                    root + "/" + key,
                ) from None
        except UnicodeEncodeError:
            _prune_after_failed_write(root, key)
            raise _unencodable(root, key) from None
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP) and exclusive:
                # A file system without hard links (FAT, some FUSE mounts): fall back to an
                # O_EXCL create. Still exactly one winner, but a reader can see the value
                # half written; the README says so.
                return _write_exclusive_no_link(root, real_root, key, view, fsync)
            # Whatever failed (a name too long, a full disk, a file size limit, ...), the
            # directories made for the key must not stay behind, empty.
            _prune_after_failed_write(root, key)
            if exc.errno == errno.ENAMETOOLONG:
                # The OS names the temporary file, or a directory on the way, and not the
                # limit.
                raise _name_too_long("cannot write key", root, key) from exc
            named = exc.filename
            if (
                isinstance(exc, PermissionError)
                or named is None
                or str(named).startswith(TMP_PREFIX)
            ):
                # The OS names the temporary file ('\\zstore-tmp-...', relative to the key's
                # directory), a directory on the way, or nothing at all (ENOSPC, EFBIG,
                # EIO from a write): name the key (the cause keeps the rest). OSError()
                # picks the subclass for the errno, as the OS's own error had.
                raise OSError(
                    exc.errno, f"cannot write key {key!r}: {exc.strerror}", root + "/" + key
                ) from exc
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _write_exclusive_no_link(
    root: str, real_root: str, key: str, view: memoryview, fsync: bool
) -> bool:  # pragma: no cover - needs a file system without hard links
    dfd = _open_parent(root, real_root, key, create=True)
    assert dfd is not None
    try:
        name = key.rpartition("/")[2]
        try:
            fd = os.open(name, _O_TMP, 0o666, dir_fd=dfd)
        except FileExistsError:
            return False
        try:
            _write_all(fd, view)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        return True
    finally:
        os.close(dfd)


def _prune(root: str, directory: str) -> None:
    """Remove ``root/directory`` and its ancestors while they are empty (never the root)."""
    while directory:
        try:
            os.rmdir(root + "/" + directory)
        except OSError:
            # ENOTEMPTY (the usual stop), ENOENT (already gone), EACCES, a symlink: stop.
            return
        directory = directory.rpartition("/")[0]


def _prune_after_failed_write(root: str, key: str) -> None:
    """Remove the directories a failed write of ``key`` made, while they are empty.

    Unlike :func:`_prune`, a level that is missing (never made) or too long to reach by
    its path (never made by path either) does not stop the climb; a level holding anything
    does. An empty directory that was there before holds no key, so removing it is what a
    delete would do too.
    """
    directory = key.rpartition("/")[0]
    while directory:
        try:
            os.rmdir(root + "/" + directory)
        except (FileNotFoundError, UnicodeEncodeError):
            pass
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                return  # ENOTEMPTY (the usual stop), EACCES, a symlink, ...
        directory = directory.rpartition("/")[0]


def delete_file(root: str, real_root: str, key: str, fsync: bool = False) -> None:
    """Remove ``key``; a missing key is a no-op. Emptied directories are removed too.

    A key that names a directory is also a no-op: a directory is not a key (use delete_dir).
    """
    dfd = _open_parent(root, real_root, key, create=False)
    if dfd is None:
        return
    try:
        name = key.rpartition("/")[2]
        if _is_link_to_directory(name, dfd):
            # A link to a directory is a directory to this store (no key: reads find none,
            # writes are refused), so deleting it is a no-op like deleting a directory.
            # Unlinking it took away every key under 'key/' (0.1.7 before this fix).
            return
        try:
            os.unlink(name, dir_fd=dfd)
        except (FileNotFoundError, IsADirectoryError, UnicodeEncodeError):
            return  # UnicodeEncodeError: no file name holds the key, so it is missing
        except PermissionError as exc:
            # Linux reports EISDIR for a directory, but POSIX allows EPERM: tell them apart.
            try:
                if stat.S_ISDIR(os.lstat(name, dir_fd=dfd).st_mode):
                    return
            except FileNotFoundError:
                return
            # The OS names only the last segment (relative to dfd): name the key instead.
            raise PermissionError(
                exc.errno, f"cannot delete key {key!r}: {exc.strerror}", root + "/" + key
            ) from exc
        except OSError as exc:
            # A name longer than NAME_MAX: no such file, so the key is missing. (The
            # directory was opened, so the path itself is not what is too long.)
            if exc.errno == errno.ENAMETOOLONG:
                return
            raise
        if fsync:
            os.fsync(dfd)
    finally:
        os.close(dfd)
    _prune(root, key.rpartition("/")[0])


# ---------------------------------------------------------------------------- listing


def _symlink_target(path: str, real_root: str) -> tuple[str, bool] | None:
    """For a symlink inside the root: ``(real target, is_dir)`` if it stays inside, else None."""
    real = os.path.realpath(path)
    if not _inside(real, real_root):
        return None
    try:
        st = os.stat(real)
    except OSError:
        return None  # dangling
    if stat.S_ISDIR(st.st_mode):
        return real, True
    if stat.S_ISREG(st.st_mode):
        return real, False
    return None


def _walk(
    root: str,
    real_root: str,
    start: str,
    visit: Callable[[str, os.DirEntry[str], bool], bool],
    *,
    first_filter: str = "",
    real_start: str | None = None,
) -> None:
    """Depth-first walk of the files under the directory ``start`` (``""`` or ``"a/b/"``).

    Calls ``visit(key, entry, followed)`` for every file that is a key (temporary files,
    special files and links leading outside the root are skipped); the walk stops as soon
    as ``visit`` returns True. Directories reached through a symlink are walked, but never
    when the link points back to a directory on the current walk path, or to one of their
    parents (a cycle, even through several links: ``x/l -> ../y`` and ``y/m -> ../x``).
    ``first_filter`` keeps only top-level names starting with it (for list_prefix).
    ``real_start``: the real path of ``start``, when the caller already knows it is a
    directory inside the root.
    """
    base = real_base = real_root
    if real_start is not None:
        base = root + "/" + start[:-1] if start else root
        real_base = real_start
    elif start:
        # The start may lie behind links: walk from its real path, and not at all if that
        # is outside the root (links leading out hold no keys).
        fd = _open_dir(root, real_root, start)
        if fd is None:
            return
        try:
            base = real_base = _fd_real_path(fd, root + "/" + start[:-1])
        finally:
            os.close(fd)
    # Each entry carries, besides its own real path, the real paths of the directories on
    # its walk path in which a link was followed (``outer``). A directory's real path
    # extends its parent's until a link is followed, so a link target that is one of these,
    # or a parent of one, is a directory on the walk path or above it: following it again
    # would loop. Strings only, no system call, and the tuple grows only at links.
    stack: list[tuple[str, str, str, str, tuple[str, ...]]] = [
        (base, start, real_base, first_filter, ())
    ]
    while stack:
        path, rel, real, name_filter, outer = stack.pop()
        try:
            it = os.scandir(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                # A directory deeper than PATH_MAX from '/' (a store moved under a deeper
                # root): skipping it would hide keys, so say why it cannot be listed.
                raise _name_too_long("cannot list the keys under", root, rel) from None
            raise
        with it:
            for entry in it:
                name = entry.name
                if name.startswith(TMP_PREFIX) or (
                    name_filter and not name.startswith(name_filter)
                ):
                    continue
                if entry.is_file(follow_symlinks=False):
                    if visit(rel + name, entry, False):
                        return
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, rel + name + "/", real + "/" + name, "", outer))
                elif entry.is_symlink():
                    target = _symlink_target(entry.path, real_root)
                    if target is None:
                        continue
                    target_real, is_dir = target
                    if not is_dir:
                        if visit(rel + name, entry, True):
                            return
                    elif not _inside(real, target_real) and not any(
                        _inside(seen, target_real) for seen in outer
                    ):
                        stack.append(
                            (entry.path, rel + name + "/", target_real, "", (*outer, real))
                        )


def list_keys(root: str, real_root: str, prefix: str) -> list[str]:
    """Every key that starts with ``prefix`` (a plain string prefix, as zarr)."""
    if prefix:
        directory, _, rest = prefix.rpartition("/")
        if prefix.startswith("/"):
            return []  # keys never start with '/'
        if directory:
            try:
                check_key(directory)
            except ValueError:
                return []  # no valid key can start with a malformed directory part
            directory += "/"
    else:
        directory, rest = "", ""
    keys: list[str] = []

    def visit(key: str, entry: os.DirEntry[str], followed: bool) -> bool:
        keys.append(key)
        return False

    _walk(root, real_root, directory, visit, first_filter=rest)
    if rest or not prefix:
        return keys
    # A prefix like "/" or "a/" whose directory part is the whole prefix: the walk already
    # matched exactly; this keeps odd spellings ("/") from matching everything.
    return [key for key in keys if key.startswith(prefix)]


def has_keys(root: str, real_root: str, directory: str, *, real_start: str | None = None) -> bool:
    """Whether any key lies under ``directory`` (``""`` or ``"a/b/"``); stops at the first.

    ``real_start``: the directory's real path, if the caller knows it (see ``_walk``).
    """
    found = False

    def visit(key: str, entry: os.DirEntry[str], followed: bool) -> bool:
        nonlocal found
        found = True
        return True

    _walk(root, real_root, directory, visit, real_start=real_start)
    return found


def getsize_dir(root: str, real_root: str, directory: str) -> int:
    """Total size of the keys under ``directory``, from one ``scandir`` walk."""
    total = 0

    def visit(key: str, entry: os.DirEntry[str], followed: bool) -> bool:
        nonlocal total
        with contextlib.suppress(FileNotFoundError):  # deleted while we walked
            total += entry.stat(follow_symlinks=followed).st_size
        return False

    _walk(root, real_root, directory, visit)
    return total


def list_dir(root: str, real_root: str, directory: str, root_fd: int = -1) -> list[str]:
    """Names directly under ``directory`` that are keys or hold keys (no empty dirs)."""
    fd = _open_dir(root, real_root, directory, root_fd)
    if fd is None:
        return []
    path = root + "/" + directory[:-1] if directory else root
    try:
        # Scanning a descriptor, entries carry no joined path: about 20% cheaper.
        with os.scandir(fd) as it:
            entries = list(it)
        # The common case is a directory of chunk files: one comprehension (the file type
        # comes from the directory entry, no stat), then the rare cases separately.
        names = [entry.name for entry in entries if entry.is_file(follow_symlinks=False)]
        if TMP_PREFIX in "\x00".join(names):  # one substring search instead of a loop
            names = [name for name in names if not name.startswith(TMP_PREFIX)]
        if len(names) == len(entries):
            return names
        # The directory may lie behind links: its subdirectories' walks start from its
        # real path, so that their cycle checks compare real paths.
        real = _fd_real_path(fd, path)
    finally:
        os.close(fd)
    for entry in entries:
        name = entry.name
        if entry.is_file(follow_symlinks=False) or name.startswith(TMP_PREFIX):
            continue
        if entry.is_dir(follow_symlinks=False):
            # Our deletes never leave empty directories, but other programs (and crashed
            # writers' temporary files) can: list only directories that hold a key.
            if has_keys(root, real_root, directory + name + "/", real_start=real + "/" + name):
                names.append(name)
        elif entry.is_symlink():
            target = _symlink_target(path + "/" + name, real_root)
            if target is not None and (
                not target[1]
                or has_keys(root, real_root, directory + name + "/", real_start=target[0])
            ):
                names.append(name)
    return names


# A directory with at least this many files is emptied by two threads (see _unlink_all).
_PARALLEL_UNLINK = 64

_O_TREE = _O_DIR | getattr(os, "O_NOFOLLOW", 0)


def _unlink_all(dir_fd: int, names: list[str]) -> None:
    """Unlink ``names`` in the directory ``dir_fd``, with a second pool thread's help.

    Both threads take names from one shared iterator. On Linux, much of an unlink (freeing
    the inode and its blocks) happens after the directory's lock is released, so two
    threads overlap (measured here: 5,000 files 1.4x faster than ``shutil.rmtree``). The
    helper is only a bonus: if no pool thread is free, this thread unlinks everything and
    the queued helper is cancelled, so nothing ever waits for a thread that cannot run.
    """
    it = iter(names)

    def drain() -> None:
        for name in it:
            try:
                os.unlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                pass  # removed meanwhile by someone else
            except (IsADirectoryError, PermissionError):
                # A directory made meanwhile (Linux says EISDIR, POSIX allows EPERM).
                try:
                    if not stat.S_ISDIR(os.lstat(name, dir_fd=dir_fd).st_mode):
                        raise
                except FileNotFoundError:
                    continue
                _remove_tree_at(dir_fd, name)

    helper = None
    if len(names) >= _PARALLEL_UNLINK:
        helper = shared_executor().submit(drain)
    try:
        drain()
    finally:
        if helper is not None and not helper.cancel():
            helper.result()


def _remove_tree_at(parent_fd: int, name: str) -> None:
    """Remove the directory ``name`` (in the directory ``parent_fd``) and everything in it.

    Symbolic links are removed, never followed: the directory is opened with O_NOFOLLOW and
    everything inside is addressed relative to its descriptor, as ``shutil.rmtree`` does.

    Everything a directory held when it was scanned is removed. What appears after the scan
    stays: a concurrent ``set`` below it (its new key, or its temporary file) keeps the
    directory holding it; a concurrent ``set`` of the directory's own name (once a delete
    emptied it, an empty directory no longer blocks its key) puts a file in its place.
    Those writes happened after this delete, and a delete must not fail because of them. A
    directory that vanished meanwhile (a concurrent delete pruned it) is skipped.
    """
    try:
        fd = os.open(name, _O_TREE, dir_fd=parent_fd)
    except (FileNotFoundError, NotADirectoryError):
        # Gone, or no longer a directory: a key written in its place after the scan (or a
        # link another program made there, which O_NOFOLLOW refuses and which is left).
        return
    try:
        _empty_dir(fd)
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=parent_fd)
    except FileNotFoundError:
        pass
    except OSError as exc:
        # ENOTEMPTY (POSIX also allows EEXIST): written to after the scan. ENOTDIR: once
        # emptied, the directory was replaced by a key written after the scan. See above.
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            raise


def _empty_dir(fd: int) -> None:
    """Remove everything the directory ``fd`` holds when scanned (see ``_remove_tree_at``)."""
    with os.scandir(fd) as it:
        entries = list(it)
    files = []
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _remove_tree_at(fd, entry.name)
        else:
            files.append(entry.name)
    _unlink_all(fd, files)


def delete_dir(root: str, real_root: str, directory: str) -> None:
    """Remove everything under ``directory`` (``""`` is the whole store, keeping the root).

    Stale temporary files from crashed writers go too. The key ``directory[:-1]`` itself, if
    it is a file, is not under the directory and stays. Emptied ancestors are removed.

    Every key under the directory when the call starts is removed; a key written under it
    concurrently may survive (with the directories holding it), and never makes this fail.
    """
    if not directory:
        # The root itself stays; what it holds goes as in any other directory.
        try:
            fd = os.open(root, _O_DIR)
        except FileNotFoundError:
            return
        try:
            _empty_dir(fd)
        finally:
            os.close(fd)
        return
    parent, _, name = directory[:-1].rpartition("/")
    # Everything below happens relative to the parent's descriptor, opened confined to the
    # root: a link on the way that leads outside makes this a no-op (its contents are no
    # keys), and nothing outside the root is ever removed.
    pfd = _open_dir(root, real_root, parent + "/" if parent else "")
    if pfd is None:
        return
    try:
        try:
            st = os.lstat(name, dir_fd=pfd)
        except (FileNotFoundError, UnicodeEncodeError):
            return
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                return  # a name longer than NAME_MAX: nothing there to delete
            raise
        if stat.S_ISLNK(st.st_mode):
            # A link to a directory: the keys under the prefix are gone once the link is;
            # the target (possibly outside the root) is never touched.
            try:
                if not stat.S_ISDIR(os.stat(name, dir_fd=pfd).st_mode):
                    return  # a link to a file is a key, and not under 'key/'
            except FileNotFoundError:
                return  # dangling
            os.unlink(name, dir_fd=pfd)
        elif stat.S_ISDIR(st.st_mode):
            with contextlib.suppress(FileNotFoundError):
                _remove_tree_at(pfd, name)
        else:
            return  # the key 'foo' is not under 'foo/'
    finally:
        os.close(pfd)
    _prune(root, parent)
