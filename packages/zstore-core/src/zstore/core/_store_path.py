"""StorePath: a store plus a path inside it, as zarr-python's ``zarr.storage.StorePath``."""

from __future__ import annotations

import json
import os
import reprlib
from pathlib import PurePath
from typing import TYPE_CHECKING, Final, Literal

from zstore.core._keys import validate_key
from zstore.core._protocols import SupportsDeleteSync, SupportsGetSync, SupportsSetSync
from zstore.core._store import Store

if TYPE_CHECKING:
    from typing import Any, Self

    from zbuffer.core import Buffer, BufferPrototype
    from zstore.core._byte_request import ByteRequest

__all__ = ["ANY_ACCESS_MODE", "AccessModeLiteral", "StorePath", "normalize_path"]


class _NotAStoreError(TypeError, AttributeError):
    """A ``store`` argument that is not a Store.

    A TypeError, as the wrong type of argument; also the AttributeError zarr-python 3.4.2
    raises there, so code that catches it still does.
    """


AccessModeLiteral = Literal["r", "r+", "a", "w", "w-"]
ANY_ACCESS_MODE: Final = ("r", "r+", "a", "w", "w-")


def normalize_path(path: str | bytes | os.PathLike[str] | None) -> str:
    """Return ``path`` as a store path: no leading or trailing ``/``, checked by the key rules.

    ``""`` (or None) is the root. A ``pathlib`` path is read with ``/`` separators
    (``as_posix``), so ``Path("a/b")`` is ``"a/b"`` on Windows too, and ``Path("")``, which
    pathlib spells ``"."``, is the root; any other ``os.PathLike`` is read by ``os.fspath``.
    Bytes are decoded as ASCII, as zarr-python does. Leading and trailing slashes are dropped
    as zarr-python does; anything else a key may not contain (``//``, ``.`` or ``..``
    segments, backslash, NUL) is a ValueError naming the path.

    Parameters
    ----------
    path : str, bytes, os.PathLike or None
        The path within a store.

    Returns
    -------
    str

    Raises
    ------
    TypeError
        If ``path`` is of another type.
    ValueError
        If ``path`` breaks a key rule, or is bytes that are not ASCII.
    """
    if path is None:
        return ""
    text: str | bytes
    if isinstance(path, PurePath):
        text = path.as_posix()
        if text == ".":
            # pathlib's only spelling of the empty path; "." in a str stays an error.
            text = ""
    elif isinstance(path, os.PathLike):
        text = os.fspath(path)
    else:
        text = path
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"path {path!r} is not a valid store path: not ASCII") from None
    if not isinstance(text, str):
        # zarr-python's message, so code matching it keeps working.
        raise TypeError(
            f'Object {path} has an invalid type for "path": {type(path).__name__} '
            "(expected str, bytes or os.PathLike)"
        )
    stripped = text.strip("/")
    if stripped == "":
        return ""
    try:
        return validate_key(stripped)
    except ValueError as error:
        raise ValueError(f"path {path!r} is not a valid store path: {error}") from None


def _join(*parts: str) -> str:
    return "/".join(part for part in parts if part)


class StorePath:
    """Path-like interface for a Store: a store and a path (key or directory) inside it.

    Parameters
    ----------
    store : Store
        The store.
    path : str, bytes or os.PathLike
        The path within the store, read by :func:`normalize_path` (so ``pathlib`` paths are
        accepted): leading and trailing ``/`` are dropped and the rest must obey the key
        rules (see :func:`~zstore.core.validate_key`).
    """

    store: Store
    path: str

    def __init__(self, store: Store, path: str | bytes | os.PathLike[str] = "") -> None:
        self.store = store
        self.path = normalize_path(path)

    @property
    def read_only(self) -> bool:
        """Whether the underlying store is read-only."""
        return self.store.read_only

    @classmethod
    async def _create_open_instance(
        cls, store: Store, path: str | bytes | os.PathLike[str]
    ) -> Self:
        await store._ensure_open()
        return cls(store, path)

    @classmethod
    async def open(
        cls,
        store: Store,
        path: str | bytes | os.PathLike[str],
        mode: AccessModeLiteral | None = None,
    ) -> Self:
        """Open a StorePath in ``mode``.

        - None: open the store, change nothing.
        - ``"r"``: read-only; on a writable store, a read-only view via ``with_read_only``.
        - ``"r+"``, ``"a"``: read/write; nothing changes.
        - ``"w"``: read/write; every key under ``path`` is deleted first.
        - ``"w-"``: read/write; FileExistsError if ``path`` already holds keys.

        Parameters
        ----------
        store : Store
            The store.
        path : str, bytes or os.PathLike
            The path within the store, as in the constructor.
        mode : {"r", "r+", "a", "w", "w-"}, optional
            The access mode.

        Returns
        -------
        StorePath

        Raises
        ------
        TypeError
            If ``store`` is not a Store (the error is also an AttributeError, which
            zarr-python raises there).
        ValueError
            If ``mode`` is unknown, or is not ``"r"`` while the store is read-only.
        FileExistsError
            If ``mode`` is ``"w-"`` and ``path`` already contains data.
        """
        if not isinstance(store, Store):
            # zarr-python fails on the first attribute it reads ('dict' object has no
            # attribute 'read_only'); a dict, path or URL is make_store_path's to convert.
            raise _NotAStoreError(
                f"StorePath.open expects a Store, got {type(store).__name__}: "
                f"{reprlib.repr(store)}; use make_store_path to open a dict, path or URL"
            )
        if mode is None:
            return await cls._create_open_instance(store, path)
        if mode not in ANY_ACCESS_MODE:
            raise ValueError(f"Invalid mode: {mode}, expected one of {ANY_ACCESS_MODE}")
        if store.read_only:
            if mode != "r":
                raise ValueError(
                    f"Store is read-only but mode is {mode!r}. Create a writable store or "
                    "use 'r' mode."
                )
            self = await cls._create_open_instance(store, path)
        elif mode == "r":
            try:
                read_only_store = store.with_read_only(True)
            except NotImplementedError as error:
                raise ValueError(
                    "Store is not read-only but mode is 'r'. Unable to create a read-only "
                    "copy of the store. Please use a read-only store or a storage class "
                    "that implements .with_read_only()."
                ) from error
            self = await cls._create_open_instance(read_only_store, path)
        else:
            self = await cls._create_open_instance(store, path)

        if mode == "w-" and not await self.is_empty():
            # zarr-python's text names the path as given; bytes and pathlib paths by ours.
            shown = path if isinstance(path, str) else self.path
            raise FileExistsError(
                f"Cannot create '{shown}' with mode 'w-' because it already contains data. "
                "Use mode 'w' to overwrite or 'a' to append."
            )
        if mode == "w":
            await self.delete_dir()
        return self

    async def get(
        self,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """Read the value at this path.

        Parameters
        ----------
        prototype : BufferPrototype, optional
            The prototype of the returned buffer; the default prototype if None.
        byte_range : ByteRequest, optional
            The bytes to read.

        Returns
        -------
        Buffer or None
            The bytes, or None if the key does not exist.
        """
        if prototype is None:
            from zbuffer.core import default_buffer_prototype

            prototype = default_buffer_prototype()
        return await self.store.get(self.path, prototype=prototype, byte_range=byte_range)

    async def get_json(self, *, byte_range: ByteRequest | None = None) -> Any:
        """Read and parse the JSON document at this path.

        Parameters
        ----------
        byte_range : ByteRequest, optional
            Read only this part of the value (which may then not be valid JSON).

        Returns
        -------
        object or None
            The parsed value, or None if the key does not exist.

        Raises
        ------
        json.JSONDecodeError
            If the bytes are not JSON (a ValueError).
        """
        value = await self.get(byte_range=byte_range)
        return None if value is None else json.loads(value.to_bytes())

    def get_sync(
        self,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """Blocking :meth:`get` (same parameters and result), for a store with ``get_sync``.

        Raises
        ------
        TypeError
            If the store has no ``get_sync``.
        """
        if not isinstance(self.store, SupportsGetSync):
            raise TypeError(f"Store {type(self.store).__name__} does not support synchronous get.")
        # A store's get_sync takes None for its default prototype (SupportsGetSync).
        return self.store.get_sync(self.path, prototype=prototype, byte_range=byte_range)

    def set_sync(self, value: Buffer) -> None:
        """Blocking :meth:`set`, for a store with ``set_sync``.

        Parameters
        ----------
        value : Buffer
            The bytes.

        Raises
        ------
        TypeError
            If the store has no ``set_sync``.
        """
        if not isinstance(self.store, SupportsSetSync):
            raise TypeError(f"Store {type(self.store).__name__} does not support synchronous set.")
        self.store.set_sync(self.path, value)

    def delete_sync(self) -> None:
        """Blocking :meth:`delete`, for a store with ``delete_sync``.

        Raises
        ------
        TypeError
            If the store has no ``delete_sync``.
        """
        if not isinstance(self.store, SupportsDeleteSync):
            raise TypeError(
                f"Store {type(self.store).__name__} does not support synchronous delete."
            )
        self.store.delete_sync(self.path)

    async def set(self, value: Buffer, byte_range: ByteRequest | None = None) -> None:
        """Write ``value`` at this path.

        Parameters
        ----------
        value : Buffer
            The bytes.
        byte_range : ByteRequest, optional
            Must be None: stores do not support partial writes.

        Raises
        ------
        NotImplementedError
            If ``byte_range`` is given.
        """
        if byte_range is not None:
            raise NotImplementedError("Store.set does not have partial writes yet")
        await self.store.set(self.path, value)

    async def delete(self) -> None:
        """Delete the key at this path (a no-op if it is missing)."""
        await self.store.delete(self.path)

    async def delete_dir(self) -> None:
        """Delete every key under this path, as a directory."""
        await self.store.delete_dir(self.path)

    async def set_if_not_exists(self, default: Buffer) -> None:
        """Write ``default`` at this path unless a value is already there.

        Parameters
        ----------
        default : Buffer
            The bytes to write if the key is missing.
        """
        await self.store.set_if_not_exists(self.path, default)

    async def exists(self) -> bool:
        """Whether a value exists at this path."""
        return await self.store.exists(self.path)

    async def is_empty(self) -> bool:
        """Whether no key lies under this path, as a directory."""
        return await self.store.is_empty(self.path)

    def __truediv__(self, other: str | bytes | os.PathLike[str]) -> StorePath:
        """Join ``other`` to this path: ``StorePath(store, "a") / "b"`` is ``a/b``.

        Raises
        ------
        TypeError
            If ``other`` is None or not a str, bytes or os.PathLike.
        ValueError
            If ``other`` breaks a key rule (see :func:`normalize_path`).
        """
        if other is None:
            # normalize_path reads None as the root, so `path / None` was this very path: a
            # name that was None by mistake wrote over the parent's key. zarr-python raises.
            raise TypeError(
                f"cannot join None to the StorePath {str(self)!r}; expected str, bytes or "
                "os.PathLike"
            )
        return self.__class__(self.store, _join(self.path, normalize_path(other)))

    def __str__(self) -> str:
        return _join(str(self.store), self.path)

    def __repr__(self) -> str:
        return f"StorePath({self.store.__class__.__name__}, '{self}')"

    def __eq__(self, other: object) -> bool:
        """Two StorePaths are equal if their stores and paths are equal."""
        if not isinstance(other, StorePath):
            return NotImplemented
        return self.store == other.store and self.path == other.path

    __hash__ = None  # type: ignore[assignment]
