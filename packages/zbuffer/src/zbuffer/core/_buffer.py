"""The buffer contract: array protocols, the Buffer and NDBuffer ABCs and BufferPrototype.

Names, signatures and semantics follow ``zarr.abc.buffer`` / ``zarr.core.buffer.core`` of
zarr-python 3, so code written against zarr's classes runs against these after changing its
imports. Where this module is stricter (contiguity of a Buffer, validation of ``squeeze``
axes) the error names the problem and nothing has been changed when it is raised.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    NamedTuple,
    NoReturn,
    Protocol,
    SupportsIndex,
    TypeAlias,
    cast,
    runtime_checkable,
)

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Self

__all__ = [
    "ArrayLike",
    "Buffer",
    "BufferPrototype",
    "BytesLike",
    "Endian",
    "NDArrayLike",
    "NDArrayLikeOrScalar",
    "NDBuffer",
    "ScalarType",
]

#: The byte order of an NDBuffer, spelled as zarr's ``bytes`` codec spells it.
Endian: TypeAlias = Literal["little", "big"]

#: Objects that expose their memory through the Python buffer protocol.
BytesLike: TypeAlias = bytes | bytearray | memoryview

#: What ``NDBuffer.as_scalar`` returns.
ScalarType: TypeAlias = int | float | complex | bytes | str | bool | np.generic

# Kinds whose elements are not numbers: numpy cannot test them for NaN, and zarr compares
# them without ``equal_nan``.
_NON_NUMERIC_KINDS = frozenset("USTOV")


@runtime_checkable
class ArrayLike(Protocol):
    """Protocol for the array-like type that underlies a Buffer."""

    @property
    def dtype(self) -> np.dtype[Any]: ...

    @property
    def ndim(self) -> int: ...

    @property
    def size(self) -> int: ...

    def __getitem__(self, key: slice) -> Self: ...

    def __setitem__(self, key: slice, value: Any) -> None: ...

    def copy(self) -> Self: ...


@runtime_checkable
class NDArrayLike(Protocol):  # noqa: PLW1641 (ndarray-likes are unhashable)
    """Protocol for the nd-array-like type that underlies an NDBuffer."""

    @property
    def dtype(self) -> np.dtype[Any]: ...

    @property
    def ndim(self) -> int: ...

    @property
    def size(self) -> int: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, key: slice) -> Self: ...

    def __setitem__(self, key: slice, value: Any) -> None: ...

    def __array__(self) -> npt.NDArray[Any]: ...

    def reshape(
        self, shape: tuple[int, ...], /, *, order: Literal["A", "C", "F"] = ...
    ) -> NDArrayLike: ...

    def view(self, dtype: npt.DTypeLike) -> Self: ...

    def astype(
        self,
        dtype: npt.DTypeLike,
        order: Literal["K", "A", "C", "F"] = ...,
        *,
        copy: bool = ...,
    ) -> Self: ...

    def fill(self, value: Any) -> None: ...

    def copy(self) -> Self: ...

    def transpose(self, axes: SupportsIndex | Sequence[SupportsIndex] | None) -> Self: ...

    def ravel(self, order: Literal["K", "A", "C", "F"] = ...) -> Self: ...

    def all(self) -> np.bool_: ...

    def __eq__(self, other: object) -> Self:  # type: ignore[override]
        """Element-wise equality, as NumPy defines it (hence the ignored override)."""


NDArrayLikeOrScalar: TypeAlias = ScalarType | NDArrayLike


def check_item_key_is_1d_contiguous(key: Any) -> None:
    """Raise unless ``key`` is a slice with step 1 (or no step).

    A Buffer is a contiguous run of bytes, and a slice of it must be one too so that it
    can stay a view: a step would need a copy, which ``__getitem__`` never makes silently.
    """
    if not isinstance(key, slice):
        raise TypeError(
            f"Item key has incorrect type (expected slice, got {type(key).__name__}); "
            "a Buffer is indexed by contiguous slices of bytes only"
        )
    if not (key.step is None or key.step == 1):
        raise ValueError(
            f"slice must be contiguous: got step {key.step!r}, only a step of 1 (or none) "
            "keeps a Buffer slice a contiguous view"
        )


_BYTE = np.dtype("B")


def _abstract_classmethod(base: str, method: str) -> NoReturn:
    """Raise for an abstract classmethod called on the abstract class (or through super).

    Python refuses to instantiate an abstract class but lets its classmethods be called;
    zarr raises NotImplementedError there, rather than return None as a bare body would.
    """
    raise NotImplementedError(
        f"Cannot call abstract method on the abstract class '{base}': {method} is "
        f"implemented by its subclasses, such as zbuffer.cpu.{base}"
    )


def _check_buffer_array(array_like: Any) -> None:
    """Raise unless ``array_like`` is a 1-dim, contiguous array of unsigned bytes.

    ``Buffer.__init__`` settles the common NumPy case before calling this.
    """
    if not (hasattr(array_like, "ndim") and hasattr(array_like, "dtype")):
        raise TypeError(
            f"array_like must be an array-like object with ndim and dtype, got "
            f"{type(array_like).__name__}; use Buffer.from_bytes for bytes-like objects"
        )
    if array_like.ndim != 1:
        raise ValueError(
            f"array_like: only 1-dim allowed, got an array with ndim={array_like.ndim}; "
            "flatten it first"
        )
    if array_like.dtype != _BYTE:
        raise ValueError(
            f"array_like: only byte dtype allowed (uint8), got dtype {array_like.dtype}; "
            "use .view('B') on a contiguous array to reinterpret its bytes"
        )
    flags = getattr(array_like, "flags", None)
    if flags is not None and not flags.c_contiguous:
        raise ValueError(
            "array_like: only contiguous arrays allowed, got a strided view; copy it "
            "first (e.g. numpy.ascontiguousarray)"
        )


class Buffer(ABC):
    """A flat contiguous memory block.

    A Buffer is backed by an array-like object that owns or views the memory, which can be
    host memory, device memory or something else, as long as it can be copied to a NumPy
    array in host memory.

    Parameters
    ----------
    array_like
        Array-like object that must be 1-dim, contiguous, and of byte dtype (uint8).

    Raises
    ------
    TypeError
        If ``array_like`` has no ``ndim`` or ``dtype``.
    ValueError
        If ``array_like`` is not 1-dim, not of dtype uint8 or not contiguous.

    Notes
    -----
    This buffer is untyped, so all indexing and sizes are in bytes.
    """

    def __init__(self, array_like: ArrayLike) -> None:
        # The common NumPy case inline: every Buffer a store makes passes here. Strides of
        # (1,) on bytes mean 1-dim and contiguous, in one attribute read instead of two
        # (ndim, flags); a contiguous array of at most one byte may have other strides,
        # and the full check accepts it.
        array: Any = array_like  # ArrayLike does not admit that it may be an ndarray
        if not (type(array) is np.ndarray and array.dtype is _BYTE and array.strides == (1,)):
            _check_buffer_array(array_like)
        self._data = array_like

    @classmethod
    @abstractmethod
    def create_zero_length(cls) -> Self:
        """Create an empty buffer with length zero.

        Returns
        -------
        Self
            New empty 0-length buffer.
        """
        _abstract_classmethod("Buffer", "create_zero_length")

    @classmethod
    def from_array_like(cls, array_like: ArrayLike) -> Self:
        """Create a new buffer of an array-like object, without copying it.

        Parameters
        ----------
        array_like
            Array-like object that must be 1-dim, contiguous, and of byte dtype.

        Returns
        -------
        Self
            New buffer representing ``array_like``.
        """
        return cls(array_like)

    @classmethod
    @abstractmethod
    def from_buffer(cls, buffer: Buffer) -> Self:
        """Create a new buffer of an existing Buffer.

        This is how a store makes sure it returns an instance of the class its
        BufferPrototype asks for. It copies only if the data has to move between memory
        types, such as from host to device memory.

        Parameters
        ----------
        buffer
            Buffer object.

        Returns
        -------
        Self
            A new buffer representing the content of the input buffer.
        """
        _abstract_classmethod("Buffer", "from_buffer")

    @classmethod
    @abstractmethod
    def from_bytes(cls, bytes_like: BytesLike) -> Self:
        """Create a new buffer of a bytes-like object (host memory).

        Parameters
        ----------
        bytes_like
            Bytes-like object.

        Returns
        -------
        Self
            New buffer representing ``bytes_like``.
        """
        _abstract_classmethod("Buffer", "from_bytes")

    def as_array_like(self) -> ArrayLike:
        """Return the underlying array (host or device memory) of this buffer.

        This never copies data.

        Returns
        -------
        ArrayLike
            The underlying 1-dim array such as a NumPy or CuPy array.
        """
        return self._data

    @abstractmethod
    def as_numpy_array(self) -> npt.NDArray[Any]:
        """Return the buffer as a NumPy array (host memory).

        Returns
        -------
        numpy.ndarray
            NumPy array of this buffer (might be a data copy).

        Notes
        -----
        Might have to copy data, consider using ``.as_array_like()`` instead.
        """

    def as_buffer_like(self) -> BytesLike:
        """Return the buffer as an object that implements the Python buffer protocol.

        Returns
        -------
        memoryview
            A memoryview of the bytes of this buffer.

        Notes
        -----
        Copies only when ``as_numpy_array`` has to (device memory); on the CPU it is a
        view. This is the portable way to hand a Buffer to ``file.write``,
        ``hashlib``, ``zlib`` and friends on every supported Python.
        """
        return self.as_numpy_array().data

    def to_bytes(self) -> bytes:
        """Return the buffer as ``bytes`` (host memory).

        Returns
        -------
        bytes
            ``bytes`` of this buffer (always a data copy).

        Warnings
        --------
        Always copies data: use it for small buffers such as metadata. If possible, use
        ``.as_numpy_array()``, ``.as_array_like()`` or ``.as_buffer_like()`` instead.
        """
        return bytes(self.as_numpy_array())

    def __getitem__(self, key: slice) -> Self:
        check_item_key_is_1d_contiguous(key)
        return self.__class__(self._data.__getitem__(key))

    def __setitem__(self, key: slice, value: Any) -> None:
        check_item_key_is_1d_contiguous(key)
        if isinstance(value, Buffer):
            value = value.as_numpy_array()
        try:
            self._data.__setitem__(key, value)
        except (TypeError, ValueError) as error:
            if isinstance(value, bytes | str):
                # NumPy reads b"xy" as one integer literal (a bytearray or memoryview as
                # bytes): "invalid literal for int() with base 10: b'xy'" did not say so.
                raise type(error)(
                    f"cannot assign a {type(value).__name__} to a Buffer slice, which reads "
                    "it as one number; assign Buffer.from_bytes(...) or a uint8 array"
                ) from error
            raise

    def __len__(self) -> int:
        return self._data.size

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self)} bytes>"

    @abstractmethod
    def combine(self, others: Iterable[Buffer]) -> Self:
        """Concatenate this buffer and ``others`` into a new buffer.

        Parameters
        ----------
        others
            Buffers to append, in order.

        Returns
        -------
        Self
            A new buffer; neither this buffer nor ``others`` are changed.
        """

    def __add__(self, other: Buffer) -> Self:
        """Concatenate two buffers into a new one."""
        if not isinstance(other, Buffer):
            return NotImplemented
        return self.combine([other])

    def __eq__(self, other: object) -> bool:
        # A subclass can override this with a faster comparison for its memory type.
        if not isinstance(other, Buffer):
            return False
        if len(self) != len(other):
            return False
        return bool(np.array_equal(self.as_numpy_array(), other.as_numpy_array()))

    # Buffers are mutable, so they must not be hashable despite defining __eq__.
    __hash__ = None  # type: ignore[assignment]


class NDBuffer(ABC):
    """An n-dimensional memory block.

    An NDBuffer is backed by an ndarray-like object whose memory can be host memory, device
    memory or something else, as long as it can be converted to a NumPy array.

    Parameters
    ----------
    array
        ndarray-like object that is convertible to a regular NumPy array.

    Notes
    -----
    Buffer is the special case of NDBuffer with ndim=1, stride=1 and dtype uint8; the two
    classes stay separate so that the type system tells a contiguous Buffer from a
    possibly strided NDBuffer.
    """

    def __init__(self, array: NDArrayLike) -> None:
        self._data = array

    @classmethod
    @abstractmethod
    def create(
        cls,
        *,
        shape: Iterable[int],
        dtype: npt.DTypeLike,
        order: Literal["C", "F"] = "C",
        fill_value: Any | None = None,
    ) -> Self:
        """Create a new buffer and its underlying ndarray-like object.

        Parameters
        ----------
        shape
            The shape of the buffer and its underlying ndarray-like object.
        dtype
            The datatype of the buffer and its underlying ndarray-like object.
        order
            Row-major (``"C"``) or column-major (``"F"``) memory layout.
        fill_value
            If not None, fill the new buffer with this value: a scalar, or an array that
            broadcasts to ``shape`` (as ``numpy.full`` takes it); otherwise it is filled
            with zeros.

        Returns
        -------
        Self
            New buffer representing a new ndarray-like object.
        """
        _abstract_classmethod("NDBuffer", "create")

    @classmethod
    def empty(
        cls, shape: tuple[int, ...], dtype: npt.DTypeLike, order: Literal["C", "F"] = "C"
    ) -> Self:
        """Create a buffer with the given shape, dtype, and order, and undefined content.

        This can be faster than ``NDBuffer.create`` because the memory is not initialised.

        Parameters
        ----------
        shape
            The shape of the buffer and its underlying ndarray-like object.
        dtype
            The datatype of the buffer and its underlying ndarray-like object.
        order
            Row-major (``"C"``) or column-major (``"F"``) memory layout.

        Returns
        -------
        Self
            New buffer representing a new ndarray-like object with undefined data.

        See Also
        --------
        NDBuffer.create : Create a new buffer with some initial fill value.
        """
        return cls.create(shape=shape, dtype=dtype, order=order)

    @classmethod
    def from_ndarray_like(cls, ndarray_like: NDArrayLike) -> Self:
        """Create a new buffer of an ndarray-like object, without copying it.

        Parameters
        ----------
        ndarray_like
            ndarray-like object.

        Returns
        -------
        Self
            New buffer representing ``ndarray_like``.
        """
        return cls(ndarray_like)

    @classmethod
    @abstractmethod
    def from_numpy_array(cls, array_like: npt.ArrayLike) -> Self:
        """Create a new buffer of a NumPy array-like object.

        Parameters
        ----------
        array_like
            Object that can be coerced into a NumPy array.

        Returns
        -------
        Self
            New buffer representing ``array_like``.
        """
        _abstract_classmethod("NDBuffer", "from_numpy_array")

    def as_ndarray_like(self) -> NDArrayLike:
        """Return the underlying array (host or device memory) of this buffer.

        This never copies data.

        Returns
        -------
        NDArrayLike
            The underlying array such as a NumPy or CuPy array.
        """
        return self._data

    @abstractmethod
    def as_numpy_array(self) -> npt.NDArray[Any]:
        """Return the buffer as a NumPy array (host memory).

        Returns
        -------
        numpy.ndarray
            NumPy array of this buffer (might be a data copy).

        Warnings
        --------
        Might have to copy data, consider using ``.as_ndarray_like()`` instead.
        """

    def as_scalar(self) -> ScalarType:
        """Return the only element of this buffer as a scalar value.

        Returns
        -------
        ScalarType
            The element, as a NumPy scalar.

        Raises
        ------
        ValueError
            If the buffer does not hold exactly one element.
        """
        if self._data.size != 1:
            raise ValueError(
                f"Buffer does not contain a single scalar value: it has {self._data.size} "
                f"elements (shape {self.shape})"
            )
        return cast("ScalarType", self.as_numpy_array()[()])

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the underlying array."""
        return self._data.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the underlying array."""
        return self._data.shape

    @property
    def byteorder(self) -> Endian:
        """The byte order of the elements; the machine's for dtypes without one."""
        if self.dtype.byteorder == "<":
            return "little"
        if self.dtype.byteorder == ">":
            return "big"
        return sys.byteorder

    def reshape(self, newshape: tuple[int, ...] | Literal[-1]) -> Self:
        """Return a buffer of the same data with a new shape (a view where possible).

        Parameters
        ----------
        newshape
            The new shape, or ``-1`` to flatten.

        Returns
        -------
        Self
            The reshaped buffer.
        """
        shape = (newshape,) if newshape == -1 else newshape
        return self.__class__(self._data.reshape(shape))

    def squeeze(self, axis: tuple[int, ...]) -> Self:
        """Remove the given axes, each of which must have length 1.

        Parameters
        ----------
        axis
            The axes to remove; negative axes count from the end.

        Returns
        -------
        Self
            A buffer viewing the same data without those axes.

        Raises
        ------
        ValueError
            If an axis is out of range or does not have length 1.

        Notes
        -----
        zarr-python keeps every axis whose index is not in ``axis``, so it ignores negative
        and out-of-range axes: ``squeeze((-1,))`` of shape ``(1, 3, 1)`` gives ``(1, 3, 1)``
        there and ``(1, 3)`` here. Silently keeping an axis the caller asked to remove
        would hand on the wrong shape, so this method reads axes as NumPy does.
        """
        shape = self.shape
        ndim = len(shape)
        drop: set[int] = set()
        for a in axis:
            if not -ndim <= a < ndim:
                raise ValueError(f"squeeze: axis {a} is out of range for shape {shape}")
            normal = a % ndim
            if shape[normal] != 1:
                raise ValueError(
                    f"squeeze: axis {a} has length {shape[normal]}, only axes of length 1 "
                    f"can be removed (shape {shape})"
                )
            drop.add(normal)
        newshape = tuple(n for i, n in enumerate(shape) if i not in drop)
        return self.__class__(self._data.reshape(newshape))

    def astype(self, dtype: npt.DTypeLike, order: Literal["K", "A", "C", "F"] = "K") -> Self:
        """Return a copy of the buffer cast to ``dtype``.

        Parameters
        ----------
        dtype
            The target dtype.
        order
            Memory layout of the result, as in ``numpy.ndarray.astype``.

        Returns
        -------
        Self
            A new buffer.
        """
        return self.__class__(self._data.astype(dtype=dtype, order=order))

    @abstractmethod
    def __getitem__(self, key: Any) -> Self: ...

    @abstractmethod
    def __setitem__(self, key: Any, value: Any) -> None: ...

    def __len__(self) -> int:
        return self._data.__len__()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} shape={self.shape} dtype={self.dtype} {self._data!r}>"

    def all_equal(self, other: Any, equal_nan: bool = True) -> bool:
        """Whether every element of this buffer equals ``other``.

        Parameters
        ----------
        other
            A scalar or an array that broadcasts against this buffer. ``None`` never
            compares equal.
        equal_nan
            Whether NaN (and NaT) elements compare equal to a NaN ``other``. Ignored for
            string, bytes, void and object dtypes, as in zarr.

        Returns
        -------
        bool

        Notes
        -----
        A float ``other`` equal to zero is compared bit for bit, so ``0.0`` and ``-0.0``
        differ, as in zarr. This generic version works on any array library that
        implements NumPy's array-function protocol; the CPU class overrides it with a
        faster NumPy path.
        """
        if other is None:
            return False
        return array_all_equal(self._data, other, equal_nan)

    def fill(self, value: Any) -> None:
        """Set every element of this buffer to ``value``, in place."""
        self._data.fill(value)

    def copy(self) -> Self:
        """Return a buffer over a copy of the data."""
        return self.__class__(self._data.copy())

    def transpose(self, axes: SupportsIndex | Sequence[SupportsIndex] | None) -> Self:
        """Return a buffer viewing the data with its axes permuted.

        Parameters
        ----------
        axes
            The permutation, or None to reverse the axes.
        """
        return self.__class__(self._data.transpose(axes))


_BITWISE_DTYPE = {1: "u1", 2: "u2", 4: "u4", 8: "u8"}


def array_all_equal(data: Any, other: Any, equal_nan: bool) -> bool:
    """Whether every element of ``data`` equals ``other``: zarr's semantics, generically.

    This is the reference the fast CPU path is tested against. It goes through
    ``numpy`` functions only, which dispatch to other array libraries.
    """
    kind = data.dtype.kind
    numeric = kind not in _NON_NUMERIC_KINDS
    other_array = np.asarray(other)
    if numeric and other_array.dtype.kind == "f" and other_array.ndim == 0 and other == 0.0:
        # Compare bit patterns so that -0.0 and 0.0 differ.
        left, right = np.broadcast_arrays(data, np.asarray(other, dtype=data.dtype))
        bits = _BITWISE_DTYPE.get(left.dtype.itemsize, f"V{left.dtype.itemsize}")
        return bool(np.array_equal(left.view(bits), right.view(bits)))
    if kind in "iu" and other_array.ndim == 0 and is_integer_scalar(other_array):
        target = integer_as_dtype(int(other_array), data.dtype)
        if target is None:
            return bool(data.size == 0)  # no element can equal it
        left, right = np.broadcast_arrays(data, target)
        return bool(np.array_equal(left, right))
    if {kind, other_array.dtype.kind} == {"i", "u"}:
        return _mixed_integers_all_equal(data, other_array)
    left, right = np.broadcast_arrays(data, other)
    return bool(np.array_equal(left, right, equal_nan=equal_nan if numeric else False))


def is_integer_scalar(other: npt.NDArray[Any]) -> bool:
    """Whether the 0-d array ``other`` holds an integer (not a bool).

    Python ints beyond 64 bits come as object arrays; they are integers all the same.
    """
    kind = other.dtype.kind
    return kind in "iu" or (kind == "O" and type(other.item()) is int)


def integer_as_dtype(value: int, dtype: np.dtype[Any]) -> npt.NDArray[Any] | None:
    """``value`` as a 0-d array of the integer ``dtype``, or None if it is out of range.

    Integer data is compared with an integer in the data's own dtype. NumPy's common type
    of int64 and uint64 is float64, which rounds values from 2**53 on together (2**63 - 1
    would equal 2**63); a value outside the dtype's range equals no element at all.
    """
    bits = dtype.itemsize * 8
    if dtype.kind == "i":
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        low, high = 0, (1 << bits) - 1
    if not low <= value <= high:
        return None
    return np.asarray(value, dtype=dtype)


def _mixed_integers_all_equal(data: Any, other: Any) -> bool:
    """Whether signed and unsigned integers are all equal, compared exactly.

    NumPy's common type of int64 and uint64 is float64, which rounds values from 2**53 on
    together, and not every supported NumPy version compares the pair in integers. A
    negative value equals no unsigned one, and the others convert to uint64 exactly.
    """
    left, right = np.broadcast_arrays(data, other)
    signed, unsigned = (left, right) if left.dtype.kind == "i" else (right, left)
    if not bool(np.all(signed >= 0)):
        return False
    return bool(np.array_equal(signed.astype(np.uint64), unsigned.astype(np.uint64)))


class BufferPrototype(NamedTuple):
    """Prototype of the Buffer and NDBuffer classes to create.

    It is picklable, since it holds only importable classes.

    Attributes
    ----------
    buffer
        The Buffer class to use when a new Buffer is needed.
    nd_buffer
        The NDBuffer class to use when a new NDBuffer is needed.
    """

    buffer: type[Buffer]
    nd_buffer: type[NDBuffer]
