"""NDBuffer.all_equal: zarr's answers (checked against an oracle), on every layout and dtype."""

from __future__ import annotations

import tracemalloc
import warnings
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zbuffer.cpu import NDBuffer


def oracle(data: np.ndarray[Any, Any], other: Any, equal_nan: bool) -> bool:
    """zarr-python's documented all_equal, written plainly over whole arrays.

    None never matches; a float zero is compared bit for bit after conversion to the data's
    dtype (so -0.0 != 0.0); otherwise np.array_equal over broadcast arrays, with equal_nan
    only for numeric dtypes.
    """
    if other is None:
        return False
    numeric = data.dtype.kind not in "USTOV"
    other_array = np.asarray(other)
    python_int = other_array.ndim == 0 and type(other_array[()]) is int  # beyond 64 bits
    if data.dtype.kind in "iu" and (other_array.dtype.kind in "iu" or python_int):
        # Integers compare exactly: NumPy 2 does so for int64 with uint64, NumPy 1.26
        # rounds them in float64; and zarr raises TypeError for Python ints beyond 64 bits
        # (isnan of an object array), which zbuffer calls unequal like any out of range.
        return exact_integers_equal(data, other_array)
    # zarr raises "truth value ... ambiguous" for an array-valued float `other`; zbuffer
    # applies the bitwise rule to scalars only and compares arrays by value.
    if numeric and other_array.dtype.kind == "f" and other_array.ndim == 0 and other == 0.0:
        left, right = np.broadcast_arrays(data, np.asarray(other, dtype=data.dtype))
        raw = f"V{data.dtype.itemsize}"
        return bool(np.array_equal(left.view(raw), right.view(raw)))
    left, right = np.broadcast_arrays(data, other)
    return bool(np.array_equal(left, right, equal_nan=equal_nan and numeric))


def exact_integers_equal(data: np.ndarray[Any, Any], other: Any) -> bool:
    """The exact answer for integers, compared as Python ints."""
    left, right = np.broadcast_arrays(data, np.asarray(other))
    return all(int(x) == int(y) for x, y in zip(left.flat, right.flat, strict=True))


def check(data: np.ndarray[Any, Any], other: Any, equal_nan: bool = True) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # value casts in the oracle may warn; not under test
        expected = oracle(data, other, equal_nan)
    got = NDBuffer.from_numpy_array(data).all_equal(other, equal_nan=equal_nan)
    assert got is expected, (
        f"all_equal({other!r}, equal_nan={equal_nan}) on {data.dtype} {data.shape}: "
        f"got {got}, zarr gives {expected}"
    )
    return got


# --- the rules, one case each -------------------------------------------------------------


def test_none_never_matches() -> None:
    assert not NDBuffer.create(shape=(2,), dtype="O").all_equal(None)
    assert not NDBuffer.create(shape=(2,), dtype="f8").all_equal(None)


def test_float_zero_is_compared_bit_for_bit() -> None:
    zeros = np.zeros(10)
    negative = np.full(10, -0.0)
    assert check(zeros, 0.0)
    assert not check(zeros, -0.0)
    assert check(negative, -0.0)
    assert not check(negative, 0.0)
    assert check(negative, np.float32(-0.0))


def test_int_zero_matches_both_float_zeros() -> None:
    assert check(np.full(10, -0.0), 0)
    assert check(np.zeros(10), 0)


def test_nan_matches_nan_only_with_equal_nan() -> None:
    nans = np.full((3, 3), np.nan)
    assert check(nans, np.nan)
    assert not check(nans, np.nan, equal_nan=False)
    assert not check(np.array([np.nan, 1.0]), np.nan)
    assert not check(np.ones(3), np.nan)
    assert check(np.full(4, np.nan, dtype="f4"), np.float64("nan"))
    assert check(np.full(4, complex(np.nan, 1.0)), np.nan)
    # A complex NaN is a NaN too: float data of NaNs equals it, as in zarr.
    assert check(np.full(4, np.nan), complex(np.nan, 0.0))
    assert check(np.full(4, np.nan, dtype="f4"), complex(0.0, np.nan))
    assert not check(np.full(4, np.nan), complex(np.nan, 0.0), equal_nan=False)


def test_nat_matches_nat_only_with_equal_nan() -> None:
    nat = np.full(5, np.datetime64("NaT", "s"), dtype="M8[s]")
    assert check(nat, np.datetime64("NaT", "s"))
    assert not check(nat, np.datetime64("NaT", "s"), equal_nan=False)
    assert check(np.full(5, 3, dtype="m8[s]"), np.timedelta64(3, "s"))
    assert check(np.full(5, 3000, dtype="m8[ms]"), np.timedelta64(3, "s"))


def test_nat_data_against_a_float_nan_follows_zarr() -> None:
    # NumPy's isnan is true of NaT, so zarr's array_equal(equal_nan=True) calls all-NaT
    # data equal to a float NaN; and a number against times answers as NumPy does.
    nat = np.full(5, np.datetime64("NaT", "s"), dtype="M8[s]")
    assert check(nat, np.nan)
    assert check(nat, np.float32("nan"))
    assert not check(nat, np.nan, equal_nan=False)
    assert check(np.full(3, np.timedelta64("NaT", "ms")), np.nan)
    assert not check(np.ones(3), np.datetime64(1, "s"))
    assert check(np.ones(3, dtype="i8"), np.timedelta64(1, "s"))


def test_value_not_representable_in_the_dtype_matches_nothing() -> None:
    assert not check(np.full(4, -24, dtype="i1"), 1000)
    assert not check(np.full(4, 0.1, dtype="f4"), 0.1)
    assert check(np.full(4, 0.5, dtype="f4"), 0.5)
    assert not check(np.full(4, 1, dtype="i4"), 1.5)
    assert check(np.full(4, 1, dtype="i4"), 1.0)
    assert check(np.full(4, 2**62 + 1, dtype="i8"), 2**62 + 1)
    assert check(np.full(4, 1.0), 1 + 0j)
    # Against a float, int64 is compared in float64, as zarr's promotion does: 2**53 + 1
    # rounds to 2**53 there. Only integer against integer is exact.
    assert check(np.full(4, 2**53 + 1, dtype="i8"), float(2**53))
    assert check(np.full(4, 2**53 + 1, dtype="u8"), np.float64(2**53))
    assert check(np.full(4, 2**63 - 1, dtype=">i8"), float(2**63))
    assert not check(np.full(4, 2**53 + 1, dtype="i8"), 2**53)
    assert not check(np.full(4, 1.0), 1 + 1j)


def test_non_native_byte_order() -> None:
    data = np.full((4, 4), 2.5, dtype=">f8")
    assert check(data, 2.5)
    assert not check(data, 2.0)
    assert check(np.full(7, -3, dtype=">i2"), -3)


@pytest.mark.parametrize(
    ("data", "other"),
    [
        (np.full(6, "ab", dtype="U3"), "ab"),
        (np.full(6, b"ab", dtype="S3"), b"ab"),
        (np.full(6, "x", dtype="O"), "x"),
        (np.full(6, 1.5, dtype="O"), 1.5),
        (np.zeros(6, dtype="i4,f4"), np.zeros((), dtype="i4,f4")),
        (np.zeros(6, dtype="V4"), np.zeros((), dtype="V4")),
    ],
    ids=["unicode", "bytes", "object-str", "object-float", "structured", "void"],
)
def test_non_numeric_dtypes(data: np.ndarray[Any, Any], other: Any) -> None:
    assert check(data, other)
    changed = data.copy()
    changed[-1] = np.ones((), dtype=data.dtype) if data.dtype.kind == "V" else changed[0] * 2
    assert not check(changed, other)


def test_object_nan_is_never_equal() -> None:
    assert not check(np.full(3, np.nan, dtype="O"), np.nan)


def test_array_valued_other_broadcasts() -> None:
    data = np.tile(np.arange(3.0), (4, 1))
    assert check(data, np.arange(3.0))
    assert not check(data, np.arange(1.0, 4.0))
    with pytest.raises(ValueError, match="broadcast"):
        NDBuffer.from_numpy_array(data).all_equal(np.arange(4.0))


def test_zero_dim_and_empty_buffers() -> None:
    assert check(np.array(1.5), 1.5)
    assert not check(np.array(1.5), 2.5)
    assert check(np.zeros((0, 3)), 1.0)
    assert not check(np.array(-0.0), 0.0), "0-d data keeps the bitwise float-zero rule"
    assert check(np.array(-0.0), -0.0)
    assert check(np.array(-0.0), 0)
    assert check(np.zeros(0), np.nan, equal_nan=False)


@pytest.mark.parametrize("position", [0, 4095, 4096, 100_000, 299_999])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_one_differing_element_anywhere_is_found(position: int, layout: str) -> None:
    # Large enough to cross the first and the largest block of the blocked walk.
    base = np.full((600, 1000), 7.25, order="F" if layout == "F" else "C")
    data = {"C": base[:300], "F": base[:, :500], "strided": base[:, ::2]}[layout]
    assert data.size == 300_000
    assert data.flags.c_contiguous == (layout == "C")
    assert data.flags.f_contiguous == (layout == "F")
    assert check(data, 7.25)
    index = np.unravel_index(position, data.shape)
    data[index] = 7.5
    assert not check(data, 7.25)
    data[index] = -0.0
    assert not check(data, 7.25)


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_buffers_of_many_largest_blocks(layout: str) -> None:
    # 2**20 elements: past the doubling blocks (2**12 ... 2**17, 258,048 elements in all),
    # the walk must keep to blocks of 2**17 elements, the size of its scratch array.
    size = 1 << 20
    base = np.full((2048, 1024), 2.5, order="F" if layout == "F" else "C")
    data = {"C": base[:1024], "F": base[:, :512], "strided": base[:, ::2]}[layout]
    assert data.size == size
    assert check(data, 2.5)
    assert not check(data, 3.5)
    data[np.unravel_index(size - 1, data.shape)] = 0.0
    assert not check(data, 2.5)


@pytest.mark.parametrize("layout", ["C", "F"])
def test_contiguous_data_is_compared_without_full_size_temporaries(layout: str) -> None:
    # The README's promise, measured: NumPy reports its allocations to tracemalloc. A
    # uniform 8 MiB array, compared in blocks, needs a scratch array of 128 KiB at most,
    # where a copy of the data (a flat view that is not a view) or a full-size boolean
    # array would be 8 MiB or 1 MiB.
    data = np.full((1024, 1024), 1.5, order=layout)
    tracemalloc.start()
    try:
        assert NDBuffer.from_numpy_array(data).all_equal(1.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 512 * 1024, f"all_equal allocated {peak} bytes at its peak"


def test_uniform_large_buffers_of_many_dtypes() -> None:
    for dtype, value in [("f8", 0.0), ("f4", -0.0), ("i2", 5), ("u8", 2**64 - 1), ("c16", 0.0)]:
        data = np.full((512, 700), value, dtype=dtype)
        assert check(data, value)
        data[-1, -1] = 1
        assert not check(data, value)


def test_complex_zero_checks_both_parts_bitwise() -> None:
    data = np.zeros(10, dtype="c16")
    assert check(data, 0.0)
    data[3] = complex(0.0, -0.0)
    assert not check(data, 0.0)
    assert check(data, 0)


# --- integers: exact, never through NumPy's float64 common type of int64 and uint64 --------

_INT_DTYPES = [np.dtype(f"{kind}1") for kind in "iu"] + [
    np.dtype(f"{order}{kind}{size}") for kind in "iu" for size in (2, 4, 8) for order in "<>"
]
# Every edge of every integer width, 2**53 (where float64 stops being exact) and neighbours.
_ANCHORS = sorted(
    {0, 2**53, -(2**53), 2**62}
    | {sign * 2**bits for bits in (7, 8, 15, 16, 31, 32, 63, 64) for sign in (1, -1)}
)
# Those a NumPy integer holds (Python ints beyond have a test of their own).
_INT_VALUES = sorted(
    value
    for value in {anchor + delta for anchor in _ANCHORS for delta in (-1, 0, 1)}
    if -(2**63) <= value < 2**64
)


def _in_range(value: int, dtype: np.dtype[Any]) -> bool:
    info = np.iinfo(dtype)
    return int(info.min) <= value <= int(info.max)


def _typed(value: int) -> list[Any]:
    """``value`` as a Python int and as every NumPy integer scalar that holds it exactly."""
    typed = [np.dtype(code).type(value) for code in "bBhHiIqQ" if _in_range(value, np.dtype(code))]
    return [value, *typed]


def test_integers_near_2_to_the_53_63_and_64_are_told_apart() -> None:
    assert not check(np.full(4, 2**63, dtype="u8"), 2**63 - 1)
    assert not check(np.full(4, 2**63 - 1, dtype="i8"), 2**63)
    assert not check(np.full(4, 2**63 - 1, dtype="i8"), np.uint64(2**63))
    assert not check(np.full(4, 2**62 + 1, dtype="i8"), np.uint64(2**62))
    assert check(np.full(4, 2**62 + 1, dtype="i8"), np.uint64(2**62 + 1))
    assert not check(np.full(4, 2**53, dtype="u8"), 2**53 + 1)
    assert not check(np.full(4, 2**64 - 1, dtype="u8"), np.int64(-1))
    assert not check(np.full(4, 2**64 - 1, dtype=">u8"), -1)


@pytest.mark.parametrize("dtype", _INT_DTYPES, ids=str)
def test_integers_match_the_exact_answer_for_every_edge_value(dtype: np.dtype[Any]) -> None:
    # Exhaustive over edge values: each fill of `dtype` against each value, as a Python
    # int and as every NumPy integer scalar that holds it (2**63 - 1 as int64, uint64...).
    for fill in filter(lambda v: _in_range(v, dtype), _INT_VALUES):
        buf = NDBuffer.from_numpy_array(np.full((2, 3), fill, dtype=dtype))
        for value in _INT_VALUES:
            for other in _typed(value):
                got = buf.all_equal(other)
                assert got is (fill == value), f"{dtype} of {fill} vs {other!r}: got {got}"


@pytest.mark.parametrize("dtype", _INT_DTYPES, ids=str)
def test_integers_find_one_element_off_by_one(dtype: np.dtype[Any]) -> None:
    for fill in filter(lambda v: _in_range(v, dtype), _INT_VALUES):
        for odd in (fill - 1, fill + 1):
            if not _in_range(odd, dtype):
                continue
            data = np.full((3, 5), fill, dtype=dtype)
            data[2, 4] = odd
            for other in _typed(fill):
                assert not check(data, other), f"{dtype} {fill} with one {odd} vs {other!r}"


@pytest.mark.parametrize(
    ("data", "other", "twin"),
    [
        (np.full((2, 3), 2**63 - 1, dtype="i8"), np.full(3, 2**63, dtype="u8"), 2**63 - 1),
        (np.full((2, 3), 2**63, dtype=">u8"), np.full(3, 2**63 - 1, dtype="i8"), 2**63),
        (np.full((2, 3), 2**64 - 1, dtype="u8"), np.full(3, -1, dtype="i1"), 2**64 - 1),
        (np.array(2**63 - 1, dtype="i8"), 2**63, np.uint64(2**63 - 1)),
        (np.array(2**53, dtype="u8"), np.int64(2**53 + 1), np.int64(2**53)),
        (np.array(-1, dtype="i8"), 2**64 - 1, -1),
        (np.zeros((2, 3), dtype="i8"), np.full(3, 1, dtype="u8"), np.zeros(3, dtype="u8")),
        (np.zeros((2, 3), dtype="u2"), np.full(3, -1, dtype="i1"), np.zeros(3, dtype="i1")),
    ],
    ids=[
        "i8-vs-u8-array",
        "u8-vs-i8-array",
        "u8-vs-negative-i1",
        "0-d-i8",
        "0-d-u8",
        "0-d-neg",
        "zeros-i8-vs-u8-array",
        "zeros-u2-vs-i1-array",
    ],
)
def test_integer_arrays_and_zero_dim_data_compare_exactly(
    data: np.ndarray[Any, Any], other: Any, twin: Any
) -> None:
    # The generic, unblocked path: an array-valued `other`, or 0-d data.
    assert not check(data, other)
    assert check(data, twin)


def test_integers_beyond_64_bits_equal_nothing() -> None:
    # zarr raises TypeError here (NumPy makes them object arrays, then asks isnan).
    assert not NDBuffer.from_numpy_array(np.full(3, 2**64 - 1, dtype="u8")).all_equal(2**64)
    assert not NDBuffer.from_numpy_array(np.array(-(2**63), dtype="i8")).all_equal(-(2**63) - 1)
    assert NDBuffer.from_numpy_array(np.zeros(0, dtype="i1")).all_equal(2**70)


_NEAR_EDGES = st.sampled_from(_ANCHORS).flatmap(lambda a: st.integers(a - 3, a + 3))


@st.composite
def integer_case(draw: st.DrawFn) -> tuple[np.ndarray[Any, Any], Any, int]:
    """Integer data near an edge, maybe one element off, and a value near an edge.

    The value comes as a Python int, a NumPy integer scalar of any type that holds it, or
    an array of those that broadcasts against the data. Also returns it as a Python int.
    """
    dtype = draw(st.sampled_from(_INT_DTYPES))
    info = np.iinfo(dtype)
    fill = min(max(draw(_NEAR_EDGES), int(info.min)), int(info.max))
    data = np.full(
        draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)), fill, dtype=dtype
    )
    if data.size and draw(st.booleans()):
        data.flat[draw(st.integers(0, data.size - 1))] = fill - 1 if fill > info.min else fill + 1
    value = draw(_NEAR_EDGES)
    other: Any = value
    codes = [code for code in "bBhHiIqQ" if _in_range(value, np.dtype(code))]
    if codes and draw(st.booleans()):
        other = np.dtype(draw(st.sampled_from(codes))).type(value)
        if draw(st.booleans()):
            other = np.full(data.shape[-1:], other)
    return data, other, value


@given(integer_case())
def test_integers_match_python_ints(case: tuple[np.ndarray[Any, Any], Any, int]) -> None:
    data, other, value = case
    expected = all(int(x) == value for x in data.flat)
    got = NDBuffer.from_numpy_array(data).all_equal(other)
    assert got is expected, f"{data.dtype} {data.shape} vs {other!r}: got {got}"


# --- hypothesis: the oracle's answer for arbitrary data and scalars ------------------------

_NUMERIC = st.one_of(
    hnp.boolean_dtypes(),
    hnp.integer_dtypes(endianness="?"),
    hnp.unsigned_integer_dtypes(endianness="?"),
    hnp.floating_dtypes(endianness="?"),
    hnp.complex_number_dtypes(endianness="?"),
)

_SCALARS = st.one_of(
    st.sampled_from([0, 0.0, -0.0, 1, 1.0, -1, np.nan, np.inf, 0.5, 1000, 2**63, True]),
    st.floats(width=32),
    st.floats(),
    st.integers(-(2**63), 2**64 - 1),
    st.complex_numbers(allow_nan=True),
)


@st.composite
def uniformish(draw: st.DrawFn) -> tuple[np.ndarray[Any, Any], Any]:
    """A mostly uniform array, and a scalar that equals its fill often enough to matter."""
    dtype = draw(_NUMERIC)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=6))
    fill = draw(hnp.from_dtype(dtype))
    data = np.full(shape, fill, dtype=dtype)
    if data.size and draw(st.booleans()):
        flat_index = draw(st.integers(0, data.size - 1))
        data[np.unravel_index(flat_index, shape)] = draw(hnp.from_dtype(dtype))
    layout = draw(st.sampled_from(["C", "F", "strided"]))
    if layout == "F":
        data = np.asfortranarray(data)
    elif layout == "strided" and data.ndim:
        data = data[..., ::2]
    if draw(st.booleans()):
        other: Any = fill
    else:
        other = draw(_SCALARS)
        if draw(st.booleans()):
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")  # lossy casts make unusual scalars: wanted
                other = np.asarray(other).astype(draw(_NUMERIC))[()]
    return data, other


@given(uniformish(), st.booleans())
def test_matches_zarr_on_numeric_data(
    case: tuple[np.ndarray[Any, Any], Any], equal_nan: bool
) -> None:
    data, other = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = oracle(data, other, equal_nan)
        except (OverflowError, ValueError, TypeError) as error:
            with pytest.raises(type(error)):
                NDBuffer.from_numpy_array(data).all_equal(other, equal_nan)
            return
    assert NDBuffer.from_numpy_array(data).all_equal(other, equal_nan) is expected


@given(
    st.sampled_from(["U1", "U3", "S1", "S3", "O"]),
    hnp.array_shapes(max_dims=2, max_side=5),
    st.sampled_from(["a", "ab", ""]),
    st.sampled_from(["a", b"a", "ab", "", 0]),
    st.booleans(),
)
def test_matches_zarr_on_strings(
    dtype: str, shape: tuple[int, ...], fill: str, other: Any, change_one: bool
) -> None:
    value: Any = fill.encode() if dtype.startswith("S") else fill
    data = np.full(shape, value, dtype=dtype)
    if change_one:
        data[(0,) * len(shape)] = value * 2 or "z"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = oracle(data, other, True)
    assert NDBuffer.from_numpy_array(data).all_equal(other) is expected
