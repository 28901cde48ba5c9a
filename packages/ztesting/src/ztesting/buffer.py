"""Test buffers: a Buffer subclass a store must hand back when asked for it.

A store that ignores ``prototype`` and returns its own buffer class passes every test run
with the default prototype. Running the same suite with :data:`test_buffer_prototype`
(``TestBuffer`` / ``NDBufferUsingTestNDArrayLike``) catches it, and
:class:`StoreExpectingTestBuffer` checks the other direction: that callers hand the store
the prototype they were given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from zbuffer import cpu
from zbuffer.core import BufferPrototype, default_buffer_prototype
from zstore.core import DEFAULT_MAX_GAP, DEFAULT_MAX_SIZE, MemoryStore

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Sequence
    from typing import Self

    import numpy.typing as npt

    from zbuffer.core import Buffer, NDArrayLike
    from zstore.core import ByteRequest

__all__ = [
    "NDBufferUsingTestNDArrayLike",
    "StoreExpectingTestBuffer",
    "TestBuffer",
    "TestNDArrayLike",
    "test_buffer_prototype",
]


class TestNDArrayLike(np.ndarray):  # type: ignore[type-arg, unused-ignore]
    """An ndarray subclass standing in for a foreign ndarray-like type."""

    __test__ = False  # not a pytest test class despite its name


class TestBuffer(cpu.Buffer):
    """A Buffer subclass that stores must return when a prototype asks for it."""

    __test__ = False


class NDBufferUsingTestNDArrayLike(cpu.NDBuffer):
    """An NDBuffer whose arrays are :class:`TestNDArrayLike` instances."""

    __test__ = False

    @classmethod
    def create(
        cls,
        *,
        shape: Iterable[int],
        dtype: npt.DTypeLike,
        order: Literal["C", "F"] = "C",
        fill_value: Any | None = None,
    ) -> Self:
        """Create a buffer backed by a new :class:`TestNDArrayLike`."""
        ret = cls(
            cast("NDArrayLike", TestNDArrayLike(shape=tuple(shape), dtype=dtype, order=order))
        )
        if fill_value is not None:
            ret.fill(fill_value)
        return ret

    @classmethod
    def empty(
        cls,
        shape: tuple[int, ...],
        dtype: npt.DTypeLike,
        order: Literal["C", "F"] = "C",
    ) -> Self:
        """Create an uninitialised buffer backed by a :class:`TestNDArrayLike`."""
        return cls(
            cast("NDArrayLike", TestNDArrayLike(shape=tuple(shape), dtype=dtype, order=order))
        )


test_buffer_prototype = BufferPrototype(buffer=TestBuffer, nd_buffer=NDBufferUsingTestNDArrayLike)
"""The prototype that asks stores for :class:`TestBuffer` values."""


def _is_metadata(key: str) -> bool:
    # Metadata documents are read with the default prototype by zarr itself, so the check
    # exempts them, as zarr-python's StoreExpectingTestBuffer does.
    return "json" in key


class StoreExpectingTestBuffer(MemoryStore):
    """A MemoryStore that insists on :class:`TestBuffer` for every non-metadata key.

    Keys containing ``"json"`` are treated as metadata and exempt. The blocking methods
    (``get_sync``, ``set_sync``) insist as the async ones do, so the rule holds whichever
    path a caller takes.
    """

    @staticmethod
    def _check_value(key: str, value: Buffer) -> None:
        if not _is_metadata(key) and not isinstance(value, TestBuffer):
            raise TypeError(
                f"StoreExpectingTestBuffer.set({key!r}) got a {type(value).__name__}; "
                "expected a TestBuffer"
            )

    @staticmethod
    def _check_prototype(key: str, prototype: BufferPrototype | None) -> BufferPrototype:
        if prototype is None:
            prototype = default_buffer_prototype()
        if not _is_metadata(key) and prototype.buffer is not TestBuffer:
            raise TypeError(
                f"StoreExpectingTestBuffer.get({key!r}) was asked for "
                f"{prototype.buffer.__name__}; expected the TestBuffer prototype"
            )
        return prototype

    @staticmethod
    def _check_result(key: str, prototype: BufferPrototype, ret: Buffer | None) -> Buffer | None:
        if ret is not None and not isinstance(ret, prototype.buffer):
            raise TypeError(
                f"MemoryStore.get({key!r}) returned a {type(ret).__name__}, "
                f"not the requested {prototype.buffer.__name__}"
            )
        return ret

    async def set(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_value(key, value)
        await super().set(key, value)

    def set_sync(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_value(key, value)
        super().set_sync(key, value)

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        # docstring inherited
        # MemoryStore._set_many writes without calling set: check here too, or a batch of
        # wrong buffers got in (zarr-python's, built on set, refuses them).
        values = list(values)
        for key, value in values:
            self._check_value(key, value)
        await super()._set_many(values)

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        # docstring inherited
        prototype = self._check_prototype(key, prototype)
        ret = await super().get(key, prototype=prototype, byte_range=byte_range)
        return self._check_result(key, prototype, ret)

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        # docstring inherited
        # As in zarr-python: no prototype is no demand (SyncStoreTests reads that way).
        if prototype is None:
            return super().get_sync(key, byte_range=byte_range)
        prototype = self._check_prototype(key, prototype)
        ret = super().get_sync(key, prototype=prototype, byte_range=byte_range)
        return self._check_result(key, prototype, ret)

    # MemoryStore serves get_ranges and get_ranges_sync from its dict, without calling get
    # or get_sync, so the prototype check is made here too: without it a caller reading a
    # shard's ranges with the wrong prototype passed (zarr-python's store, whose
    # get_ranges_sync calls get_sync, refuses it).

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
        # docstring inherited
        prototype = self._check_prototype(key, prototype)
        async for batch in super().get_ranges(
            key,
            byte_ranges,
            prototype=prototype,
            max_concurrency=max_concurrency,
            max_gap_bytes=max_gap_bytes,
            max_coalesced_bytes=max_coalesced_bytes,
        ):
            yield [(i, self._check_result(key, prototype, value)) for i, value in batch]

    def get_ranges_sync(
        self,
        key: str,
        byte_ranges: Sequence[ByteRequest | None],
        *,
        prototype: BufferPrototype,
        max_gap_bytes: int = DEFAULT_MAX_GAP,
        max_coalesced_bytes: int = DEFAULT_MAX_SIZE,
    ) -> Sequence[tuple[int, Buffer | None]]:
        # docstring inherited
        prototype = self._check_prototype(key, prototype)
        tagged = super().get_ranges_sync(
            key,
            byte_ranges,
            prototype=prototype,
            max_gap_bytes=max_gap_bytes,
            max_coalesced_bytes=max_coalesced_bytes,
        )
        return [(i, self._check_result(key, prototype, value)) for i, value in tagged]
