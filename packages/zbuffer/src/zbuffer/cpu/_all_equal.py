"""``all_equal`` for NumPy arrays: zarr's semantics, without zarr's full-size temporaries.

zarr-python compares a chunk against its fill value with ``np.array_equal`` over
broadcast arrays. With ``equal_nan`` that builds several full-size boolean arrays (NaN masks
of both sides, the comparison, their combination) and reads the chunk several times. This
module gives the same answers with one pass over the data in cache-sized blocks:

- the scalar is converted once to the data's own dtype when that is exact, so the
  comparison runs in the data's dtype with no per-element cast; a scalar no element could
  equal (``1000`` for int8, ``0.1`` for float32) is answered without reading the data;
- integers and non-zero floats are compared as unsigned integers of the same width, which
  is the same test for them and also skips byte swapping of non-native byte orders;
- an integer scalar against integer data is compared exactly, never in NumPy's common
  type of int64 and uint64 (float64, which rounds values from 2**53 on together), and one
  outside the data's range (2**63 for int64, -1 for uint64) is answered without reading;
- a NaN (NaT) scalar means "every element is NaN (NaT)" with ``equal_nan``, else "no";
- each block's comparison writes into one small reusable boolean array, and the walk stops
  at the first block that differs.

Anything else (strings, bytes, structured and object dtypes, array-valued ``other``,
datetimes against numbers) goes, block by block, through the generic reference
``zbuffer.core._buffer.array_all_equal`` that mirrors zarr.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from zbuffer.core._buffer import array_all_equal, integer_as_dtype, is_integer_scalar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import numpy.typing as npt

    # Compares one block, using the boolean scratch array of the same shape.
    BlockTest = Callable[[npt.NDArray[Any], npt.NDArray[np.bool_]], bool]

__all__ = ["numpy_all_equal"]

_NUMERIC_KINDS = frozenset("biufcmM")
_UINT_OF_SIZE: dict[int, np.dtype[Any]] = {
    1: np.dtype("u1"),
    2: np.dtype("u2"),
    4: np.dtype("u4"),
    8: np.dtype("u8"),
}
# Elements in the first block: a chunk that is not uniform usually differs early, and a
# small first block finds that for the price of a few microseconds.
_FIRST_BLOCK = 1 << 12
# Largest block: its boolean scratch (128 KiB) and the data it covers stay in cache, while
# the Python overhead per block (a few microseconds) stays small against the work.
_MAX_BLOCK = 1 << 17


def numpy_all_equal(data: npt.NDArray[Any], other: Any, equal_nan: bool) -> bool:
    """Whether every element of ``data`` equals ``other`` (zarr's ``all_equal`` semantics).

    Parameters
    ----------
    data
        The array to test.
    other
        A scalar, or an array broadcastable to ``data``. ``None`` never compares equal.
    equal_nan
        Whether a NaN (NaT) ``other`` equals NaN (NaT) elements. Ignored for string, bytes,
        void and object dtypes.

    Returns
    -------
    bool
    """
    if other is None:
        return False
    other_array = np.asarray(other)
    if other_array.ndim != 0 or data.ndim == 0 or data.size == 0:
        # Nothing to walk, or `other` must broadcast against all of `data`.
        return array_all_equal(data, other, equal_nan)
    test = _scalar_test(data.dtype, other_array, equal_nan)
    if isinstance(test, bool):
        return test
    if test is None:

        def test(block: npt.NDArray[Any], scratch: npt.NDArray[np.bool_]) -> bool:
            return array_all_equal(block, other, equal_nan)

    return all(test(block, scratch) for block, scratch in _blocks(data))


def _scalar_test(
    dtype: np.dtype[Any], other: npt.NDArray[Any], equal_nan: bool
) -> BlockTest | bool | None:
    """The per-block test of elements of ``dtype`` against the 0-d array ``other``.

    Returns a bool when the answer for non-empty data is known without reading it, and
    None when only the generic reference applies.
    """
    kind, other_kind = dtype.kind, other.dtype.kind
    if kind in "iu" and is_integer_scalar(other):
        # Exactly, never in NumPy's common type of int64 and uint64 (float64).
        target = integer_as_dtype(int(other), dtype)
        if target is None:
            return False
        return _bitwise_test(dtype, target) or _equal_test(target)
    if kind not in _NUMERIC_KINDS or other_kind not in _NUMERIC_KINDS:
        return None
    if (kind in "mM") != (other_kind in "mM"):
        return None  # numbers against datetimes: leave zarr's behaviour to the reference
    if other_kind == "f" and other == 0.0:
        # zarr compares a float zero bit for bit, so that -0.0 and 0.0 differ, after
        # converting it to the data's dtype.
        return _bitwise_test(dtype, np.asarray(other, dtype=dtype))
    if other_kind in "fc" and np.isnan(other):
        if kind in "fc":
            return _isnan_test if equal_nan else False
        return None if kind in "mM" else False
    if other_kind in "mM" and np.isnat(other):
        if kind == other_kind:
            return _isnat_test if equal_nan else False
        return None
    if kind in "mM":
        return None  # unit conversions: rare, and subtle enough for the reference
    return _value_test(dtype, other)


def _value_test(dtype: np.dtype[Any], other: npt.NDArray[Any]) -> BlockTest | bool:
    """Compare numbers with ``==`` in the dtype zarr's broadcast comparison promotes to."""
    promoted = np.result_type(dtype, other.dtype)
    target = other.astype(promoted)
    if _exact_widening(dtype, promoted):
        # Every element converts to `promoted` exactly and distinctly, so comparing in
        # `dtype` against the scalar's exact value in `dtype` gives the same answer, and a
        # scalar with no exact value in `dtype` equals no element.
        source = target
        if dtype.kind != "c" and promoted.kind == "c":
            # Real data against a complex scalar: only a zero imaginary part can match.
            if target.imag != 0:
                return False
            source = target.real
        with np.errstate(all="ignore"):
            narrowed = source.astype(dtype)
        if narrowed.astype(promoted) != target:
            return False
        if dtype.kind in "iu" or (dtype.kind == "f" and dtype.itemsize in _UINT_OF_SIZE):
            # NaN and float-typed zeros were handled by the caller, so equal values mean
            # equal bits, except that an int zero must match float data's -0.0 as well.
            bitwise = (
                None if dtype.kind == "f" and narrowed == 0 else _bitwise_test(dtype, narrowed)
            )
            if bitwise is not None:
                return bitwise
        return _equal_test(narrowed)
    return _cast_equal_test(promoted, target)


def _exact_widening(source: np.dtype[Any], target: np.dtype[Any]) -> bool:
    """Whether every value of ``source`` converts exactly and distinctly to ``target``."""
    if source == target:
        return True
    if target.itemsize < source.itemsize:
        return False
    pair = source.kind + target.kind
    if pair in ("ii", "uu", "ff", "cc", "fc"):
        return True
    if pair == "ui":
        return target.itemsize > source.itemsize
    if pair in {"bi", "bu"}:
        return True
    # Integers into floats are exact while the integer fits the mantissa.
    mantissa = {2: 11, 4: 24, 8: 53}.get(target.itemsize if pair[1] == "f" else 0)
    if pair in ("if", "uf") and mantissa is not None:
        return source.itemsize * 8 <= mantissa
    return False


def _bitwise_test(dtype: np.dtype[Any], target: npt.NDArray[Any]) -> BlockTest | None:
    uint = _UINT_OF_SIZE.get(dtype.itemsize)
    if uint is None:
        if dtype.kind == "c":
            # complex128: compare the real and imaginary parts as two float64 fields.
            real = _bitwise_test(target.real.dtype, target.real)
            imag = _bitwise_test(target.imag.dtype, target.imag)
            if real is None or imag is None:
                return None

            def complex_test(block: npt.NDArray[Any], scratch: npt.NDArray[np.bool_]) -> bool:
                return real(block.real, scratch) and imag(block.imag, scratch)

            return complex_test
        return None  # longdouble and friends: the reference's void comparison
    bits = target.view(uint)

    def bitwise_test(block: npt.NDArray[Any], scratch: npt.NDArray[np.bool_]) -> bool:
        np.equal(block.view(uint), bits, out=scratch)
        return bool(scratch.all())

    return bitwise_test


def _equal_test(target: npt.NDArray[Any]) -> BlockTest:
    def equal_test(block: npt.NDArray[Any], scratch: npt.NDArray[np.bool_]) -> bool:
        np.equal(block, target, out=scratch)
        return bool(scratch.all())

    return equal_test


def _cast_equal_test(promoted: np.dtype[Any], target: npt.NDArray[Any]) -> BlockTest:
    def cast_equal_test(block: npt.NDArray[Any], scratch: npt.NDArray[np.bool_]) -> bool:
        np.equal(block.astype(promoted), target, out=scratch)
        return bool(scratch.all())

    return cast_equal_test


def _isnan_test(block: npt.NDArray[Any], scratch: npt.NDArray[np.bool_]) -> bool:
    np.isnan(block, out=scratch)
    return bool(scratch.all())


def _isnat_test(block: npt.NDArray[Any], scratch: npt.NDArray[np.bool_]) -> bool:
    np.isnat(block, out=scratch)
    return bool(scratch.all())


def _blocks(data: npt.NDArray[Any]) -> Iterator[tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]]:
    """Yield views covering ``data`` with a boolean scratch array of the same shape.

    Blocks start small and double up to ``_MAX_BLOCK`` elements. Contiguous data is walked
    as one flat view; strided data (a chunk cut from a larger array) along its first axis,
    because slicing that axis is a view whatever the layout.
    """
    if data.flags.c_contiguous or data.flags.f_contiguous:
        flat = data.reshape(-1) if data.flags.c_contiguous else data.T.reshape(-1)
        scratch = np.empty(min(flat.size, _MAX_BLOCK), dtype=np.bool_)
        start, step = 0, _FIRST_BLOCK
        while start < flat.size:
            block = flat[start : start + step]
            yield block, scratch[: block.size]
            start += block.size
            step = min(step * 2, _MAX_BLOCK)
        return
    leading = data.shape[0]
    row = data.size // leading
    rows_max = max(1, _MAX_BLOCK // row)
    scratch_rows = np.empty((min(rows_max, leading), *data.shape[1:]), dtype=np.bool_)
    start, rows = 0, max(1, _FIRST_BLOCK // row)
    while start < leading:
        block = data[start : start + rows]
        yield block, scratch_rows[: block.shape[0]]
        start += block.shape[0]
        rows = min(rows * 2, rows_max)
