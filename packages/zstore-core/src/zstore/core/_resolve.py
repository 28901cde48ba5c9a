"""Turning a "store-like" (None, dict, Store, StorePath, path or URL) into a Store.

Strings and paths are resolved by the store packages that are installed: each registers an
entry point in the group ``zstore.stores`` whose value is a callable

    resolve(store_like, *, mode, read_only, storage_options) -> Store | None

returning None for anything it does not serve. zstore-core itself knows no file or network
store, so when nothing claims a string the error says which distribution would.
"""

from __future__ import annotations

import inspect
import os
import re
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import urlsplit

from zstore.core._memory import MemoryStore
from zstore.core._store import Store
from zstore.core._store_path import ANY_ACCESS_MODE, StorePath, normalize_path

if TYPE_CHECKING:
    from collections.abc import Awaitable, Collection

    from zbuffer.core import Buffer
    from zstore.core._store_path import AccessModeLiteral

__all__ = ["ENTRY_POINT_GROUP", "StoreLike", "make_store", "make_store_path", "store_resolvers"]

ENTRY_POINT_GROUP = "zstore.stores"
"""The entry-point group store packages register their ``resolve`` callable in."""

StoreLike = Store | StorePath | str | os.PathLike[str] | dict[str, "Buffer"]

# A URL scheme of two or more characters, so a Windows drive ("C://x") is not one, then
# "://", or "::" in an fsspec chained URL ("simplecache::s3://bucket/x"), whose first
# protocol is the scheme, as zarr-python's parse_store_url reads it.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+)(://|::)")

_STORAGE_OPTIONS_UNUSED = (
    "'storage_options' was provided but unused. "
    "'storage_options' is only used when the store is passed as an FSSpec URI string."
)


class StoreResolver(Protocol):
    """The signature of a ``zstore.stores`` entry point."""

    def __call__(
        self,
        store_like: str | os.PathLike[str],
        *,
        mode: AccessModeLiteral | None,
        read_only: bool,
        storage_options: dict[str, Any] | None,
    ) -> Store | Awaitable[Store | None] | None: ...


def store_resolvers() -> list[tuple[str, StoreResolver]]:
    """Return the installed resolvers as ``(entry point name, callable)``, in trial order.

    Names are tried in alphabetical order, except that ``local`` goes last: it serves any
    local path, so more specific resolvers (``zip`` claims ``*.zip``) must see a path first.
    This is the one place that reads entry points, so tests can patch it.
    """
    found = sorted(
        entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name == "local", ep.name)
    )
    resolvers: list[tuple[str, StoreResolver]] = []
    for entry_point in found:
        try:
            resolver = entry_point.load()
        except Exception as error:
            raise ImportError(
                f"the {ENTRY_POINT_GROUP!r} entry point {entry_point.name!r} "
                f"({entry_point.value}) failed to load: {error}"
            ) from error
        resolvers.append((entry_point.name, resolver))
    return resolvers


class _FsspecURL(NamedTuple):
    scheme: str  # the first protocol of a chained URL
    chained: bool


def _fsspec_url(text: str) -> _FsspecURL | None:
    """Read ``text`` as a URL only an fsspec store can serve; None if it is not one.

    ``file://`` URLs are local paths. A chained URL (``simplecache::s3://...``) is always
    fsspec's, whatever its first protocol: the ``::`` syntax is fsspec's own, and no local
    or zip store reads it. ``memory://`` counts: without zstore-fsspec nothing serves it.
    """
    match = _SCHEME.match(text)
    if match is None:
        return None
    url = _FsspecURL(match.group(1).lower(), chained=match.group(2) == "::")
    if url.scheme == "file" and not url.chained:
        return None
    return url


def _unclaimed_error(
    store_like: str | os.PathLike[str], installed: Collection[str]
) -> ImportError | ValueError:
    """The error for a string no installed store package claims.

    An ImportError naming the distribution to install, when it is not installed; a
    ValueError when it is (its resolver is among ``installed``, the entry point names that
    were tried) and refused the string, saying so, and why where that can be told.
    """
    text = os.fspath(store_like)
    hint = ""
    # URLs before the .zip rule: "zip::s3://bucket/a.zip" is remote, not a local archive.
    url = _fsspec_url(text)
    if url is not None:
        name = "fsspec"
        what = f"an fsspec chained URL ({url.scheme}::...)"
        if not url.chained:
            what = f"a {url.scheme}:// URL"
    elif text.lower().rstrip("/").endswith(".zip"):
        name, what = "zip", "a .zip path"
    else:
        name, what = "local", "a local path"
        if text == "":
            hint = " (an empty string names no directory: use '.' for the current one)"
        elif _SCHEME.match(text) is not None:
            host = urlsplit(text).netloc
            if host not in ("", "localhost"):
                hint = (
                    f" (a file:// URL whose host is {host!r}: write file:///absolute/path, "
                    "with three slashes, or a plain path)"
                )
    dist = f"zstore-{name}"
    if name in installed:
        return ValueError(
            f"no installed store package accepted {text!r}: {what} is served by {dist}, "
            f"which is installed but did not claim it{hint}"
        )
    return ImportError(
        f"no installed store package handles {text!r}: {what} is served by the {dist} "
        f"distribution; install it with `pip install {dist}`"
    )


def _uses_storage_options(store_like: object) -> bool:
    """Whether storage_options can mean anything for ``store_like``: an fsspec URL string.

    As in zarr-python, ``memory://`` takes none (it names an in-process store), while every
    chained URL does (its options are keyed by protocol: ``{"s3": {"anon": True}}``).
    """
    if not isinstance(store_like, str):
        return False
    url = _fsspec_url(store_like)
    return url is not None and (url.chained or url.scheme != "memory")


async def make_store(
    store_like: StoreLike | None,
    *,
    mode: AccessModeLiteral | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Store:
    """Convert a store-like object into an open Store.

    - ``Store``: returned as is; ``StorePath``: its store.
    - ``dict``: a MemoryStore over that dict (the dict is the store); ``None``: a new
      MemoryStore.
    - ``str`` or ``os.PathLike``: the first installed ``zstore.stores`` resolver that claims
      it (zstore-local for local paths, zstore-zip for ``*.zip``, zstore-fsspec for URLs).

    Parameters
    ----------
    store_like : StoreLike or None
        What to convert.
    mode : {"r", "r+", "a", "w", "w-"}, optional
        ``"r"`` makes new stores read-only; passed to resolvers.
    storage_options : dict, optional
        Options for remote (URL) stores; an error for anything else, as in zarr-python.

    Returns
    -------
    Store

    Raises
    ------
    ValueError
        If ``mode`` is unknown.
    TypeError
        If ``store_like`` has an unsupported type, or ``storage_options`` would be unused.
    ImportError
        If no installed store package handles a string or path; the message names the
        distribution to install.
    ValueError
        If the distribution that serves such a string or path is installed and refused it.
    """
    if storage_options is not None and not _uses_storage_options(store_like):
        raise TypeError(_STORAGE_OPTIONS_UNUSED)
    if mode is not None and mode not in ANY_ACCESS_MODE:
        raise ValueError(f"Invalid mode: {mode}, expected one of {ANY_ACCESS_MODE}")
    read_only = mode == "r"

    if isinstance(store_like, StorePath):
        return store_like.store
    if isinstance(store_like, Store):
        return store_like
    if isinstance(store_like, dict):
        return await MemoryStore.open(store_dict=store_like, read_only=read_only)
    if store_like is None:
        return await MemoryStore.open(read_only=read_only)
    if isinstance(store_like, str | os.PathLike):
        installed: list[str] = []
        for name, resolve in store_resolvers():
            installed.append(name)
            result = resolve(
                store_like, mode=mode, read_only=read_only, storage_options=storage_options
            )
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                await result._ensure_open()
                return result
        raise _unclaimed_error(store_like, installed)
    raise TypeError(f"Unsupported type for store_like: '{type(store_like).__name__}'")


async def make_store_path(
    store_like: StoreLike | None,
    *,
    path: str | bytes | os.PathLike[str] | None = "",
    mode: AccessModeLiteral | None = None,
    storage_options: dict[str, Any] | None = None,
) -> StorePath:
    """Convert a store-like object into a StorePath opened in ``mode``.

    Parameters
    ----------
    store_like : StoreLike or None
        What to convert; see :func:`make_store`. A StorePath is joined with ``path``.
    path : str, bytes or os.PathLike, optional
        The path within the store, read as :class:`StorePath` reads it (``pathlib`` paths
        are accepted, as in zarr-python).
    mode : {"r", "r+", "a", "w", "w-"}, optional
        The access mode, as in :meth:`StorePath.open`.
    storage_options : dict, optional
        Options for remote (URL) stores.

    Returns
    -------
    StorePath

    Raises
    ------
    TypeError, ValueError, ImportError, FileExistsError
        As :func:`make_store` and :meth:`StorePath.open`.
    """
    normalized = normalize_path(path)
    if isinstance(store_like, StorePath):
        if storage_options:
            raise TypeError(_STORAGE_OPTIONS_UNUSED)
        if mode is not None and mode not in ANY_ACCESS_MODE:
            # The mode is not applied to a StorePath (as in zarr-python), but a misspelt one
            # is still an error, as it is for every other store-like.
            raise ValueError(f"Invalid mode: {mode}, expected one of {ANY_ACCESS_MODE}")
        return store_like / normalized
    store = await make_store(store_like, mode=mode, storage_options=storage_options)
    return await StorePath.open(store, path=normalized, mode=mode)
