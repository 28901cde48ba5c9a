"""zstore.zip: a zarr-python compatible ZipStore that never serves stale data.

Overwrites and deletes work (the archive is compacted on close), byte ranges are read
without unpacking members, all zip I/O runs on worker threads, and writes reach the archive
by an atomic replace, so a crash never destroys an archive that was whole.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from zstore.zip.__about__ import __version__
from zstore.zip._archive import ArchiveError
from zstore.zip._store import ZipStore, ZipStoreAccessModeLiteral

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["ArchiveError", "ZipStore", "ZipStoreAccessModeLiteral", "__version__", "resolve"]

# zarr's access modes (zarr.core.common.AccessModeLiteral) -> ZipStore modes. 'r+' is
# read and write what exists: mode 'r' (which refuses a missing file), made writable below.
_MODES: dict[str, ZipStoreAccessModeLiteral] = {
    "r": "r",
    "r+": "r",
    "a": "a",
    "w": "w",
    "w-": "x",
    "x": "x",
}


def resolve(
    store_like: object,
    *,
    mode: str | None = None,
    read_only: bool | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> ZipStore | None:
    """Entry point of the ``zstore.stores`` group: a ZipStore for a path ending in ``.zip``.

    Parameters
    ----------
    store_like : object
        What the user passed. Claimed if it is a str or os.PathLike naming a local file
        whose name ends in ``.zip`` (any case); ``file://`` URLs are accepted.
    mode : str, optional
        A zarr access mode ('r', 'r+', 'a', 'w', 'w-') or a ZipStore mode ('x').
        Default: 'r' if ``read_only`` else 'a'.
    read_only : bool, optional
        Passed to the store; default from the mode.
    storage_options : mapping, optional
        Must be empty: local zip files take no storage options.

    Returns
    -------
    ZipStore or None
        None when ``store_like`` is not a local ``.zip`` path ("not mine").

    Raises
    ------
    ValueError
        For an unknown mode or non-empty ``storage_options``.
    """
    if not isinstance(store_like, (str, os.PathLike)):
        return None
    path = os.fspath(store_like)
    if not isinstance(path, str):
        return None
    if path.startswith("file://"):
        path = path[len("file://") :]
    elif "://" in path or "::" in path:
        return None  # a remote URL or an fsspec chain: another store's (fsspec's)
    if not path.lower().endswith(".zip"):
        return None
    if storage_options:
        raise ValueError(
            f"storage_options are not supported for a local zip archive ({path}), got "
            f"{sorted(storage_options)}"
        )
    if mode is None:
        zip_mode: ZipStoreAccessModeLiteral = "r" if read_only else "a"
    elif mode in _MODES:
        zip_mode = _MODES[mode]
    else:
        raise ValueError(f"mode must be one of {sorted(_MODES)}, got {mode!r}")
    if mode == "r+" and read_only is None:
        read_only = False
    return ZipStore(path, mode=zip_mode, read_only=read_only)
