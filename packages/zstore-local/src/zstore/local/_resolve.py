"""The ``zstore.stores`` entry point: which store-likes are local directories."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from zstore.local._store import LocalStore

if TYPE_CHECKING:
    from zstore.local._store import AccessModeLiteral

__all__ = ["resolve"]


def _local_path(store_like: object) -> str | None:
    """The local path ``store_like`` names, or None if it is not a local path."""
    if isinstance(store_like, os.PathLike):
        path = os.fspath(store_like)
        return path if isinstance(path, str) else None
    if not isinstance(store_like, str) or store_like == "":
        return None
    if "://" in store_like:
        parts = urlsplit(store_like)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            return None
        return unquote(parts.path) or "/"
    if "::" in store_like:
        return None  # an fsspec chained URL ("zip::s3://...")
    return store_like


def resolve(
    store_like: object,
    *,
    mode: AccessModeLiteral | None = None,
    read_only: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> LocalStore | None:
    """Claim ``store_like`` if it names a local directory; return an unopened LocalStore.

    Registered as the ``local`` entry point of the ``zstore.stores`` group. Claims strings and
    ``os.PathLike`` objects that are plain paths or ``file://`` URLs, except paths ending in
    ``.zip`` (left to zstore-zip) and anything with ``storage_options`` (only fsspec uses
    those). The store keeps ``mode``'s rule: with ``'r'`` or ``'r+'`` opening it never
    creates the root.

    Parameters
    ----------
    store_like : object
        What the user passed.
    mode : {'r', 'r+', 'a', 'w', 'w-'}, optional
        The access mode.
    read_only : bool
        Whether the store is read-only.
    storage_options : dict, optional
        fsspec options; a local path does not use them, so none may be given.

    Returns
    -------
    LocalStore or None
        The store, not yet opened; None when ``store_like`` is not a local directory.
    """
    if storage_options:
        return None
    path = _local_path(store_like)
    if path is None or path.lower().rstrip("/").endswith(".zip"):
        return None
    store = LocalStore(path, read_only=read_only)
    store._create_root = mode not in ("r", "r+") if mode is not None else not read_only
    return store
