"""The structural protocols of ``zarr.abc.store``: byte getters and setters (what a codec
pipeline reads and writes through, e.g. a :class:`~zstore.core.StorePath`), and the
synchronous store surface (``get_sync``, ``set_sync``, ``delete_sync``) that stores doing
cheap blocking I/O offer to callers already off the event loop.

Same names, signatures and ``runtime_checkable`` behaviour as zarr-python 3.4.2, so code
that tests ``isinstance(store, SupportsGetSync)`` keeps working after changing its import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from zbuffer.core import Buffer, BufferPrototype
    from zstore.core._byte_request import ByteRequest

__all__ = [
    "ByteGetter",
    "ByteSetter",
    "SupportsDeleteSync",
    "SupportsGetSync",
    "SupportsSetSync",
    "SupportsSyncStore",
    "SyncByteGetter",
    "SyncByteSetter",
    "set_or_delete",
    "store_supports_sync_io",
]


@runtime_checkable
class ByteGetter(Protocol):
    """Something that reads one value: a :class:`~zstore.core.StorePath`, say."""

    async def get(
        self, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None: ...


@runtime_checkable
class ByteSetter(Protocol):
    """Something that reads, writes and deletes one value."""

    async def get(
        self, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None: ...

    async def set(self, value: Buffer) -> None: ...

    async def delete(self) -> None: ...

    async def set_if_not_exists(self, default: Buffer) -> None: ...


@runtime_checkable
class SyncByteGetter(Protocol):
    """A :class:`ByteGetter` that can also read without an event loop.

    A :class:`~zstore.core.StorePath` matches this structurally, but its ``get_sync``
    works only when its store supports synchronous I/O: check the store with
    :func:`store_supports_sync_io` instead.
    """

    def get_sync(
        self, prototype: BufferPrototype | None = None, byte_range: ByteRequest | None = None
    ) -> Buffer | None: ...


@runtime_checkable
class SyncByteSetter(SyncByteGetter, Protocol):
    """A :class:`ByteSetter` that can also write without an event loop."""

    def set_sync(self, value: Buffer) -> None: ...

    def delete_sync(self) -> None: ...


@runtime_checkable
class SupportsGetSync(Protocol):
    """A store with a blocking ``get``.

    The synchronous surface is all or nothing (see :class:`SupportsSyncStore`): callers
    mix synchronous reads, writes and deletes within one operation.
    """

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None: ...


@runtime_checkable
class SupportsSetSync(Protocol):
    """A store with a blocking ``set``."""

    def set_sync(self, key: str, value: Buffer) -> None: ...


@runtime_checkable
class SupportsDeleteSync(Protocol):
    """A store with a blocking ``delete``."""

    def delete_sync(self, key: str) -> None: ...


@runtime_checkable
class SupportsSyncStore(SupportsGetSync, SupportsSetSync, SupportsDeleteSync, Protocol):
    """The whole synchronous store surface: ``get_sync``, ``set_sync`` and ``delete_sync``."""


def store_supports_sync_io(store: object) -> bool:
    """Whether ``store`` can serve the whole synchronous surface now.

    Having the three methods is not always enough: a wrapper store has them, but they work
    only if the store it wraps has them too. Such a store says so with a
    ``_supports_sync_io`` attribute (absent means capable), as in zarr-python, whose
    private ``_store_supports_sync_io`` this is.

    Parameters
    ----------
    store : object
        The store to ask about.

    Returns
    -------
    bool
        True if ``get_sync``, ``set_sync`` and ``delete_sync`` may be called.
    """
    return isinstance(store, SupportsSyncStore) and bool(getattr(store, "_supports_sync_io", True))


async def set_or_delete(byte_setter: ByteSetter, value: Buffer | None) -> None:
    """Write ``value`` through ``byte_setter``, or delete its value if ``value`` is None.

    Parameters
    ----------
    byte_setter : ByteSetter
        Where to write.
    value : Buffer or None
        The bytes, or None to delete.
    """
    if value is None:
        await byte_setter.delete()
    else:
        await byte_setter.set(value)
