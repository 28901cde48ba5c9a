"""NumPy-backed Buffer and NDBuffer (host memory), as ``zarr.core.buffer.cpu``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from zbuffer.core import _buffer as core
from zbuffer.core._registry import register_buffer, register_ndbuffer
from zbuffer.cpu._all_equal import numpy_all_equal

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Self

    from zbuffer.core import BytesLike

__all__ = ["Buffer", "NDBuffer", "buffer_prototype", "numpy_buffer_prototype"]

_BYTE = np.dtype("B")
# Fill values that are scalars for certain, so `create` need not ask np.ndim (~2 us).
_SCALAR_TYPES = (int, float, complex, str, bytes, np.generic)
# Fill values `create` checks against the range of an integer dtype.
_REAL_SCALAR_TYPES = (int, float, np.integer, np.floating)


class _NotContiguousError(ValueError, BufferError):
    """Non-contiguous memory given to ``from_bytes``.

    A ValueError, as documented; also a BufferError, which is what zarr-python's
    ``np.frombuffer`` raises there, so code that catches zarr's error still catches it.
    """


class Buffer(core.Buffer):
    """A flat contiguous block of host memory, backed by a 1-dim uint8 NumPy array.

    Parameters
    ----------
    array_like
        Array-like object that must be 1-dim, contiguous, and of byte dtype (uint8).

    Raises
    ------
    TypeError
        If ``array_like`` is not an array.
    ValueError
        If ``array_like`` is not 1-dim, not uint8 or not contiguous.

    Notes
    -----
    This buffer is untyped, so all indexing and sizes are in bytes.

    It implements the Python buffer protocol (PEP 688, ``__buffer__``), so on Python 3.12
    and later ``memoryview(buf)``, ``bytes(buf)``, ``file.write(buf)`` and every C function
    that takes a bytes-like object see its memory without a copy. Python 3.11 ignores
    ``__buffer__`` defined in Python; there, use ``buf.as_buffer_like()``, which is the
    portable zero-copy spelling on every version (``bytes(buf)`` also works on 3.11,
    through ``__bytes__``).
    """

    @classmethod
    def create_zero_length(cls) -> Self:
        # docstring inherited
        return cls(np.empty(0, dtype="B"))

    @classmethod
    def from_buffer(cls, buffer: core.Buffer) -> Self:
        """Create a buffer of the content of ``buffer``, a view when it is in host memory.

        Parameters
        ----------
        buffer
            Buffer object of any class.

        Returns
        -------
        Self
            A buffer sharing memory with ``buffer`` when that is host memory, else a copy
            in host memory.
        """
        return cls.from_array_like(buffer.as_numpy_array())

    @classmethod
    def from_bytes(cls, bytes_like: BytesLike) -> Self:
        """Create a buffer viewing the memory of a bytes-like object (no copy).

        Parameters
        ----------
        bytes_like
            Any object with the buffer protocol whose memory is contiguous: ``bytes``,
            ``bytearray``, ``memoryview``, ``mmap``, a contiguous NumPy array...

        Returns
        -------
        Self
            A buffer over the same memory: read-only for ``bytes``, writable (and shared)
            for ``bytearray``.

        Raises
        ------
        TypeError
            If ``bytes_like`` does not support the buffer protocol (``str``, ``int``...).
        ValueError
            If its memory is not contiguous (also a BufferError, as zarr-python raises).
        """
        if type(bytes_like) is bytes or type(bytes_like) is bytearray:
            # The common case, always contiguous: skip the memoryview checks.
            # dtype by position: as a keyword it costs numpy a third of this call.
            return cls(np.frombuffer(bytes_like, _BYTE))
        if type(bytes_like) is memoryview:
            owner: object = bytes_like.obj
            if (
                type(owner) is np.ndarray
                and bytes_like.nbytes == owner.nbytes
                and bytes_like.c_contiguous
                and owner.flags.c_contiguous
                and not (bytes_like.readonly and owner.flags.writeable)
            ):
                # A view of a whole array (a store that read into np.empty): view the
                # array itself. Over the memoryview, each buffer would keep two more
                # objects alive that the garbage collector tracks, which costs several
                # microseconds per buffer when thousands are held at once.
                return cls(np.frombuffer(owner, _BYTE))
        try:
            view = memoryview(bytes_like)
        except TypeError:
            raise TypeError(
                "from_bytes expects a bytes-like object (bytes, bytearray, memoryview or "
                f"another object with the buffer protocol), got {type(bytes_like).__name__}"
            ) from None
        if not view.c_contiguous:
            raise _NotContiguousError(
                "from_bytes expects contiguous memory, got a non-contiguous "
                f"{type(bytes_like).__name__}; copy it first (e.g. bytes(...))"
            )
        return cls.from_array_like(np.frombuffer(view, _BYTE))

    def as_numpy_array(self) -> npt.NDArray[Any]:
        """Return the buffer as a 1-dim uint8 NumPy array, without copying.

        Returns
        -------
        numpy.ndarray
            The underlying array (a NumPy subclass is kept as is).
        """
        return np.asanyarray(self._data)

    def as_buffer_like(self) -> BytesLike:
        """Return a memoryview of this buffer's memory (no copy).

        Returns
        -------
        memoryview
            A 1-dim memoryview of format ``"B"``, writable if the buffer is.
        """
        return self.as_numpy_array().data

    def __buffer__(self, flags: int, /) -> memoryview:
        # PEP 688: lets memoryview(), bytes(), file.write() and C code read this buffer's
        # memory directly (Python 3.12+). CPython checks `flags` (e.g. a writable request
        # on read-only memory) against the memoryview returned here.
        return self.as_numpy_array().data

    def __bytes__(self) -> bytes:
        # Makes bytes(buf) work on Python 3.11 too, where __buffer__ is not consulted.
        return self.to_bytes()

    def to_bytes(self) -> bytes:
        """Return the buffer as ``bytes``.

        Returns
        -------
        bytes
            A copy of the buffer's bytes; or, for a buffer that views a whole ``bytes``
            object (``from_bytes(b)``), that object itself, since nothing can change it.

        Warnings
        --------
        Copies data, except in the case above: use it for small buffers such as metadata.
        If possible, use ``.as_numpy_array()``, ``.as_array_like()`` or
        ``.as_buffer_like()`` instead.
        """
        array = self.as_numpy_array()
        owner: object = array.base
        # NumPy sets base to the bytes object only for an array made directly over it; a
        # slice's base is the array it was sliced from. All of it means offset 0.
        if type(owner) is bytes and len(owner) == array.nbytes:
            return owner
        return bytes(array)

    def combine(self, others: Iterable[core.Buffer]) -> Self:
        """Concatenate this buffer and ``others`` into a new buffer with one allocation.

        Parameters
        ----------
        others
            Buffers of any class; device buffers are copied to host memory.

        Returns
        -------
        Self
            A new buffer holding the bytes of this buffer followed by those of ``others``.
            Its memory is shared with none of the inputs.

        Raises
        ------
        TypeError
            If an item of ``others`` is not a Buffer; nothing is allocated then.
        """
        arrays: list[Any] = [self._data]
        append = arrays.append
        for other in others:
            if isinstance(other, Buffer):
                # Host memory already: np.concatenate reads it as is.
                append(other._data)
            elif isinstance(other, core.Buffer):
                append(other.as_numpy_array())
            else:
                raise TypeError(
                    f"combine expects Buffer objects, got {type(other).__name__} at "
                    f"position {len(arrays) - 1} of others"
                )
        # One np.concatenate allocates the result once, whatever the number of buffers;
        # folding `+` over n buffers would copy O(n) times.
        return self.__class__(np.concatenate(arrays))


class NDBuffer(core.NDBuffer):
    """An n-dimensional block of host memory, backed by a NumPy array.

    Parameters
    ----------
    array
        ndarray-like object that is convertible to a regular NumPy array.
    """

    @classmethod
    def create(
        cls,
        *,
        shape: Iterable[int],
        dtype: npt.DTypeLike,
        order: Literal["C", "F"] = "C",
        fill_value: Any | None = None,
    ) -> Self:
        # docstring inherited
        parsed = np.dtype(dtype)
        try:
            shape = tuple(shape)
            if parsed.kind in "mM":
                # Allocation can drop a generic time unit's scale and byte order
                # (np.zeros(1, ">M8[2generic]").dtype is "<M8"); a view restores both, and
                # must come before assignment so values are encoded in the requested byte
                # order.
                data = np.zeros(shape, dtype=parsed, order=order).view(parsed)
                if fill_value is not None and not _is_int_zero(fill_value):
                    data[...] = fill_value
                return cls(data)
            if fill_value is None or _is_int_zero(fill_value):
                return cls(np.zeros(shape, dtype=parsed, order=order))
            if parsed.kind in "iu" and isinstance(fill_value, _REAL_SCALAR_TYPES):
                _check_integer_fill(fill_value, parsed)
            if parsed.hasobject or (
                not isinstance(fill_value, _SCALAR_TYPES) and np.ndim(fill_value) != 0
            ):
                # Object elements are references, which the all-zero shortcut below cannot
                # judge; an array fill value broadcasts over the new array, as in zarr.
                return cls(np.full(shape, fill_value, dtype=parsed, order=order))
            # Convert the fill value once, exactly as np.full would. A value whose bytes are
            # all zero (0.0, False, "") then gets np.zeros, which the OS provides pre-zeroed.
            element = np.full((), fill_value, dtype=parsed)
            if not any(element.tobytes()):
                return cls(np.zeros(shape, dtype=parsed, order=order))
            data = np.empty(shape, dtype=parsed, order=order)
            np.copyto(data, element)
            return cls(data)
        except (TypeError, ValueError) as error:
            # In the error path only: NumPy's messages ("negative dimensions are not
            # allowed", "'int' object is not iterable") name neither the argument nor it.
            problem = _shape_problem(shape)
            if problem is not None:
                raise type(error)(f"NDBuffer.create: {problem}") from None
            raise

    @classmethod
    def empty(
        cls, shape: tuple[int, ...], dtype: npt.DTypeLike, order: Literal["C", "F"] = "C"
    ) -> Self:
        # docstring inherited
        try:
            data = np.empty(shape, dtype=dtype, order=order)
        except (TypeError, ValueError) as error:
            problem = _shape_problem(shape)  # see `create`
            if problem is not None:
                raise type(error)(f"NDBuffer.empty: {problem}") from None
            raise
        if data.dtype.kind in "mM":
            data = data.view(dtype)  # see `create`
        return cls(data)

    @classmethod
    def from_numpy_array(cls, array_like: npt.ArrayLike) -> Self:
        """Create a buffer of anything NumPy can turn into an array; arrays are not copied.

        Parameters
        ----------
        array_like
            An array (kept as is, subclasses included) or an object NumPy converts.

        Returns
        -------
        Self
        """
        return cls.from_ndarray_like(np.asanyarray(array_like))

    def as_numpy_array(self) -> npt.NDArray[Any]:
        """Return the buffer as a NumPy array, without copying.

        Returns
        -------
        numpy.ndarray
            The underlying array.
        """
        return np.asanyarray(self._data)

    def astype(self, dtype: npt.DTypeLike, order: Literal["K", "A", "C", "F"] = "K") -> Self:
        # docstring inherited
        target: np.dtype[Any] = np.dtype(dtype)
        source: np.dtype[Any] = self.dtype
        if (
            source.kind in "mM"
            and target.kind == source.kind
            and np.datetime_data(source)[0] == "generic"
            and np.datetime_data(source) == np.datetime_data(target)
        ):
            # NumPy's astype between generic time dtypes ignores the target and keeps the
            # source byte order: convert the underlying int64 counts instead.
            counts = self.as_numpy_array().view(source.byteorder + "i8")
            return self.__class__(counts.astype(target.byteorder + "i8", order=order).view(target))
        return super().astype(dtype, order=order)

    def __getitem__(self, key: Any) -> Self:
        # As zarr: a tuple key gets a trailing Ellipsis, so that selecting one element
        # gives a 0-d view instead of a scalar that np.asanyarray would copy (slow for
        # long fixed-width strings). Any other key is NumPy's as is: a field name or a
        # list of them selects fields, and a lone integer on 1-dim data gives a copy.
        if isinstance(key, tuple) and not any(k is Ellipsis for k in key):
            key = (*key, Ellipsis)
        return self.__class__(np.asanyarray(self._data.__getitem__(key)))

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(value, core.NDBuffer):
            value = value.as_numpy_array()
        self._data.__setitem__(key, value)

    def all_equal(self, other: Any, equal_nan: bool = True) -> bool:
        # docstring inherited
        # Same answers as zarr's all_equal, computed in one pass over cache-sized blocks
        # with no full-size temporary, stopping at the first block that differs.
        return numpy_all_equal(self.as_numpy_array(), other, equal_nan)


def _shape_problem(shape: Any) -> str | None:
    """What is wrong with ``shape`` as the shape of a new array, or None if nothing."""
    if not isinstance(shape, tuple):
        return f"shape must be an iterable of ints, got {type(shape).__name__}: {shape!r}"
    for n in shape:
        if isinstance(n, bool | np.bool_) or not isinstance(n, int | np.integer):
            return f"shape {shape!r} holds {n!r}, which is not an int"
        if n < 0:
            return f"shape {shape!r} has a negative dimension ({n})"
    return None


def _check_integer_fill(
    value: float | np.integer[Any] | np.floating[Any], dtype: np.dtype[Any]
) -> None:
    """Raise unless the real number ``value`` converts to an element of the integer ``dtype``.

    NumPy wraps a NumPy integer (``np.int64(300)`` fills uint8 with 44) and casts an
    out-of-range float to whatever the hardware gives, silently; only a Python int is
    refused, and on NumPy 1.26 not even that. A float inside the range is truncated, as
    NumPy does.
    """
    bits = dtype.itemsize * 8
    low, high = (
        (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if dtype.kind == "i" else (0, (1 << bits) - 1)
    )
    if isinstance(value, int | np.integer):
        if low <= int(value) <= high:
            return
    else:
        number = float(value)
        if math.isnan(number):
            raise ValueError(
                f"fill_value {value!r} is NaN, which the integer dtype {dtype} cannot hold"
            )
        if low - 1 < number < high + 1:  # truncated toward zero, it lands inside
            return
    raise OverflowError(f"fill_value {value!r} is out of bounds for {dtype} ({low} to {high})")


def _is_int_zero(value: Any) -> bool:
    # Like zarr: a Python int 0 (not 0.0, which may be -0.0 after conversion) means zeros.
    return isinstance(value, int) and value == 0


#: The prototype of the NumPy-backed classes.
buffer_prototype = core.BufferPrototype(buffer=Buffer, nd_buffer=NDBuffer)


def numpy_buffer_prototype() -> core.BufferPrototype:
    """Return the BufferPrototype of the NumPy-backed classes.

    Returns
    -------
    BufferPrototype
        ``BufferPrototype(buffer=zbuffer.cpu.Buffer, nd_buffer=zbuffer.cpu.NDBuffer)``.
    """
    return core.BufferPrototype(buffer=Buffer, nd_buffer=NDBuffer)


register_buffer(Buffer, qualname="zbuffer.cpu.Buffer")
register_ndbuffer(NDBuffer, qualname="zbuffer.cpu.NDBuffer")
