"""zbuffer.cpu.NDBuffer: every method, zero-copy paths, bad input, round-trips."""

from __future__ import annotations

import sys
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zbuffer.cpu import NDBuffer

# --- creation -----------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["C", "F"])
def test_create_without_fill_value_is_zeros(order: Any) -> None:
    buf = NDBuffer.create(shape=(3, 4), dtype="f8", order=order)
    array = buf.as_numpy_array()
    assert array.shape == (3, 4)
    assert array.dtype == np.dtype("f8")
    assert not np.any(array)
    assert array.flags.c_contiguous if order == "C" else array.flags.f_contiguous


@pytest.mark.parametrize(
    ("dtype", "fill_value"),
    [
        ("f8", 1.5),
        ("f8", -0.0),
        ("f8", 0.0),
        ("f8", np.nan),
        ("i2", -7),
        ("u1", 0),
        ("?", True),
        ("?", False),
        ("c16", 1 - 2j),
        ("U4", "ab"),
        ("U4", ""),
        ("S3", b"xyz"),
        ("O", "anything"),
        ("M8[s]", np.datetime64(5, "s")),
        ("M8[s]", "NaT"),
        ("m8[ms]", 0),
        ("i4,f4", np.array((1, 2.0), dtype="i4,f4")),
        ("i4,f4", np.zeros((), dtype="i4,f4")),
        (">f8", 2.25),
    ],
)
@pytest.mark.parametrize("order", ["C", "F"])
def test_create_fills_like_numpy_full(dtype: str, fill_value: Any, order: Any) -> None:
    buf = NDBuffer.create(shape=(2, 3), dtype=dtype, order=order, fill_value=fill_value)
    expected = np.full((2, 3), fill_value, dtype=dtype, order=order)
    array = buf.as_numpy_array()
    assert array.dtype == expected.dtype
    assert array.shape == expected.shape
    if expected.dtype.hasobject:
        assert array.tolist() == expected.tolist()
    else:
        assert array.tobytes() == expected.tobytes(), "same bytes as np.full (so -0.0 stays)"


@pytest.mark.parametrize(
    ("shape", "dtype", "fill_value"),
    [
        ((2, 3), "f8", np.arange(3.0)),
        ((2, 3), "f8", np.zeros(3)),
        ((2, 3), "i2", [[1], [2]]),
        ((2, 3), "U3", ["a", "bc", ""]),
        ((2, 2), "i4,f4", (1, 2.0)),
        ((2, 3), "M8[s]", np.arange(3).astype("M8[s]")),
    ],
    ids=["f8-row", "f8-zeros", "i2-column", "U3-list", "structured-tuple", "datetime"],
)
def test_create_broadcasts_an_array_fill_value_like_numpy_full(
    shape: tuple[int, ...], dtype: str, fill_value: Any
) -> None:
    expected = np.full(shape, fill_value, dtype=dtype)
    array = NDBuffer.create(shape=shape, dtype=dtype, fill_value=fill_value).as_numpy_array()
    assert array.dtype == expected.dtype
    assert array.tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("dtype", "fill_value"),
    [
        ("f8", 1.5),  # one converted element, copied over the new array
        ("f8", 0.0),  # all-zero bytes: np.zeros
        ("f8", np.arange(3.0)),  # an array, broadcast by np.full
        ("O", "x"),  # object elements: np.full
        ("M8[s]", np.datetime64(5, "s")),  # time dtypes: zeros, then assignment
        ("M8[s]", None),
    ],
    ids=["scalar", "zero-bytes", "array", "object", "datetime", "datetime-zeros"],
)
@pytest.mark.parametrize("order", ["C", "F"])
def test_create_lays_out_memory_in_the_requested_order(
    dtype: str, fill_value: Any, order: Any
) -> None:
    # Every way create fills the new array must pass `order` on, as zarr's np.full does:
    # tobytes() reads in C order whatever the layout, so it cannot tell.
    array = NDBuffer.create(
        shape=(2, 3), dtype=dtype, order=order, fill_value=fill_value
    ).as_numpy_array()
    assert array.flags.c_contiguous == (order == "C")
    assert array.flags.f_contiguous == (order == "F")
    expected = np.full((2, 3), fill_value if fill_value is not None else 0, dtype=dtype)
    assert array.tolist() == expected.tolist()


def test_create_with_an_array_fill_value_that_does_not_broadcast_raises() -> None:
    with pytest.raises(ValueError, match="broadcast"):
        NDBuffer.create(shape=(2, 3), dtype="f8", fill_value=np.arange(2.0))


def test_create_with_negative_zero_keeps_the_sign() -> None:
    buf = NDBuffer.create(shape=(4,), dtype="f8", fill_value=-0.0)
    assert np.all(np.signbit(buf.as_numpy_array()))


@pytest.mark.parametrize("dtype", [">M8[2s]", ">m8[ms]", "<M8[D]"])
@pytest.mark.parametrize("fill_value", [None, 0, 3])
def test_create_keeps_time_units_and_byte_order(dtype: str, fill_value: Any) -> None:
    buf = NDBuffer.create(shape=(2,), dtype=dtype, fill_value=fill_value)
    assert buf.dtype == np.dtype(dtype)
    assert buf.as_numpy_array().astype("i8").tolist() == [fill_value or 0] * 2


def test_create_accepts_an_iterable_shape() -> None:
    assert NDBuffer.create(shape=iter([2, 2]), dtype="i4").shape == (2, 2)


@pytest.mark.parametrize("order", ["C", "F"])
def test_empty_has_shape_dtype_and_order(order: Any) -> None:
    buf = NDBuffer.empty(shape=(5, 2), dtype=">i4", order=order)
    array = buf.as_numpy_array()
    assert array.shape == (5, 2)
    assert array.dtype == np.dtype(">i4")
    assert array.flags.c_contiguous if order == "C" else array.flags.f_contiguous


def test_empty_keeps_big_endian_time_dtypes() -> None:
    assert NDBuffer.empty(shape=(2,), dtype=">M8[s]").dtype == np.dtype(">M8[s]")


@pytest.mark.filterwarnings("ignore:The 'generic' unit:DeprecationWarning")
@pytest.mark.parametrize("dtype", [">m8", ">M8"])
def test_empty_keeps_the_byte_order_of_generic_time_dtypes(dtype: str) -> None:
    # np.empty(2, ">m8") comes back native ("<m8" here): the view in `empty` restores it.
    assert NDBuffer.empty(shape=(2,), dtype=dtype).dtype == np.dtype(dtype)


# --- wrapping arrays ----------------------------------------------------------------------


def test_from_numpy_array_does_not_copy_arrays() -> None:
    source = np.arange(12.0).reshape(3, 4)
    buf = NDBuffer.from_numpy_array(source)
    assert buf.as_numpy_array() is source
    assert buf.as_ndarray_like() is source  # type: ignore[comparison-overlap]


def test_from_numpy_array_converts_lists() -> None:
    buf = NDBuffer.from_numpy_array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(buf.as_numpy_array(), [[1, 2], [3, 4]])


def test_from_ndarray_like_keeps_the_object() -> None:
    source = np.arange(3)
    assert NDBuffer.from_ndarray_like(source).as_ndarray_like() is source


# --- properties ---------------------------------------------------------------------------


def test_dtype_shape_len() -> None:
    buf = NDBuffer.from_numpy_array(np.zeros((4, 2), dtype="u2"))
    assert buf.dtype == np.dtype("u2")
    assert buf.shape == (4, 2)
    assert len(buf) == 4


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [("<i4", "little"), (">i4", "big"), ("u1", sys.byteorder), ("=f8", sys.byteorder)],
)
def test_byteorder(dtype: str, expected: str) -> None:
    assert NDBuffer.create(shape=(1,), dtype=dtype).byteorder == expected


def test_repr_shows_shape_dtype_and_data() -> None:
    text = repr(NDBuffer.from_numpy_array(np.array([1, 2], dtype="i2")))
    assert text.startswith("<NDBuffer shape=(2,) dtype=int16 ")
    assert "array([1, 2], dtype=int16)" in text


# --- scalars ------------------------------------------------------------------------------


def test_as_scalar_of_one_element() -> None:
    assert NDBuffer.from_numpy_array(np.array([[7]], dtype="i8")).as_scalar() == 7
    value = NDBuffer.from_numpy_array(np.array(2.5, dtype="f4")).as_scalar()
    assert value == 2.5
    assert isinstance(value, np.float32)


@pytest.mark.parametrize("shape", [(0,), (2,), (2, 3)])
def test_as_scalar_of_other_sizes_is_refused(shape: tuple[int, ...]) -> None:
    buf = NDBuffer.create(shape=shape, dtype="i4")
    size = int(np.prod(shape))
    with pytest.raises(
        ValueError, match=rf"Buffer does not contain a single scalar value: it has {size} elements"
    ):
        buf.as_scalar()


# --- views and copies ---------------------------------------------------------------------


def test_getitem_returns_views() -> None:
    source = np.arange(24).reshape(4, 6)
    buf = NDBuffer.from_numpy_array(source)
    part = buf[1:3, ::2]
    assert type(part) is NDBuffer
    np.testing.assert_array_equal(part.as_numpy_array(), source[1:3, ::2])
    assert np.shares_memory(part.as_numpy_array(), source)


def test_getitem_of_one_element_is_a_zero_dim_view() -> None:
    source = np.arange(6).reshape(2, 3)
    buf = NDBuffer.from_numpy_array(source)
    for key in [(1, 2), 1]:
        element = buf[key]
        assert np.shares_memory(element.as_numpy_array(), source)
    assert buf[1, 2].shape == ()
    assert buf[1, 2].as_scalar() == 5
    assert buf[1].shape == (3,)
    assert buf[..., 0].shape == (2,)


def test_getitem_of_one_integer_on_1d_data_is_a_copy_as_in_zarr() -> None:
    # zarr adds the Ellipsis that keeps an element a 0-d view to tuple keys only: a lone
    # integer gives NumPy's scalar, copied, so later writes to the source do not show.
    source = np.arange(3)
    buf = NDBuffer.from_numpy_array(source)
    item = buf[1]
    source[1] = 50
    assert item.shape == ()
    assert item.as_scalar() == 1, "buf[i] on 1-dim data is a copy in zarr"
    assert not np.shares_memory(item.as_numpy_array(), source)
    view = buf[(1,)]
    source[1] = 60
    assert view.as_scalar() == 60, "a tuple key gives a 0-d view"


def test_getitem_selects_fields_of_structured_data() -> None:
    source = np.zeros(3, dtype=[("x", "<i4"), ("y", "<f8")])
    source["x"] = [1, 2, 3]
    buf = NDBuffer.from_numpy_array(source)
    field = buf["x"]
    assert field.dtype == np.dtype("<i4")
    assert field.as_numpy_array().tolist() == [1, 2, 3]
    assert np.shares_memory(field.as_numpy_array(), source)
    both = buf[["x", "y"]]
    assert both.shape == (3,)
    assert both.dtype.names == ("x", "y")


def test_getitem_with_fancy_and_boolean_keys() -> None:
    source = np.arange(6)
    buf = NDBuffer.from_numpy_array(source)
    np.testing.assert_array_equal(buf[[0, 2]].as_numpy_array(), [0, 2])
    np.testing.assert_array_equal(buf[source > 3].as_numpy_array(), [4, 5])


def test_setitem_writes_arrays_scalars_and_ndbuffers() -> None:
    buf = NDBuffer.create(shape=(2, 3), dtype="i4")
    buf[0] = 1
    buf[1, 1:] = np.array([5, 6])
    buf[1, :1] = NDBuffer.from_numpy_array(np.array([9]))
    np.testing.assert_array_equal(buf.as_numpy_array(), [[1, 1, 1], [9, 5, 6]])


def test_copy_does_not_share_memory() -> None:
    source = np.arange(4)
    copied = NDBuffer.from_numpy_array(source).copy()
    assert not np.shares_memory(copied.as_numpy_array(), source)
    np.testing.assert_array_equal(copied.as_numpy_array(), source)


def test_reshape_is_a_view() -> None:
    source = np.arange(6)
    reshaped = NDBuffer.from_numpy_array(source).reshape((2, 3))
    assert reshaped.shape == (2, 3)
    assert np.shares_memory(reshaped.as_numpy_array(), source)
    assert reshaped.reshape(-1).shape == (6,)


def test_squeeze_removes_length_one_axes() -> None:
    source = np.arange(6).reshape(1, 2, 1, 3)
    buf = NDBuffer.from_numpy_array(source)
    assert buf.squeeze((0, 2)).shape == (2, 3)
    assert buf.squeeze((-2,)).shape == (1, 2, 3)
    assert buf.squeeze(()).shape == (1, 2, 1, 3)
    assert buf.squeeze((-4,)).shape == (2, 1, 3), "-ndim is the first axis, in range"
    assert np.shares_memory(buf.squeeze((0,)).as_numpy_array(), source)


@pytest.mark.parametrize(
    ("axis", "message"),
    [((1,), r"axis 1 has length 2"), ((4,), r"axis 4 is out of range"), ((-5,), r"out of range")],
)
def test_squeeze_refuses_bad_axes(axis: tuple[int, ...], message: str) -> None:
    buf = NDBuffer.from_numpy_array(np.zeros((1, 2, 1, 3)))
    with pytest.raises(ValueError, match=message):
        buf.squeeze(axis)


def test_transpose() -> None:
    source = np.arange(6).reshape(2, 3)
    buf = NDBuffer.from_numpy_array(source)
    assert buf.transpose(None).shape == (3, 2)
    assert buf.transpose((1, 0)).shape == (3, 2)
    assert np.shares_memory(buf.transpose(None).as_numpy_array(), source)
    np.testing.assert_array_equal(buf.transpose((1, 0)).as_numpy_array(), source.T)


def test_astype_converts_into_new_memory() -> None:
    source = np.arange(4, dtype="i4")
    converted = NDBuffer.from_numpy_array(source).astype("f8")
    assert converted.dtype == np.dtype("f8")
    np.testing.assert_array_equal(converted.as_numpy_array(), [0.0, 1.0, 2.0, 3.0])
    assert not np.shares_memory(converted.as_numpy_array(), source)


@pytest.mark.parametrize("order", ["C", "F"])
def test_astype_order(order: Any) -> None:
    converted = NDBuffer.create(shape=(2, 3), dtype="i4").astype("i8", order=order)
    array = converted.as_numpy_array()
    assert array.flags.c_contiguous if order == "C" else array.flags.f_contiguous


@pytest.mark.filterwarnings("ignore:The 'generic' unit:DeprecationWarning")
def test_astype_changes_the_byte_order_of_generic_time_dtypes() -> None:
    buf = NDBuffer.from_numpy_array(np.array([1, 2], dtype="<m8"))
    swapped = buf.astype(">m8")
    assert swapped.dtype == np.dtype(">m8")
    assert swapped.byteorder == "big"
    assert swapped.as_numpy_array().astype("i8").tolist() == [1, 2]


@pytest.mark.filterwarnings("ignore:The 'generic' unit:DeprecationWarning")
@pytest.mark.parametrize("order", ["C", "F"])
def test_astype_of_generic_time_dtypes_keeps_the_order(order: Any) -> None:
    source = np.arange(6, dtype="<i8").reshape(2, 3).view("<m8")
    swapped = NDBuffer.from_numpy_array(source).astype(">m8", order=order).as_numpy_array()
    assert swapped.dtype == np.dtype(">m8")
    assert swapped.flags.c_contiguous == (order == "C")
    assert swapped.flags.f_contiguous == (order == "F")
    assert swapped.astype("i8").tolist() == [[0, 1, 2], [3, 4, 5]]


def test_fill_sets_every_element() -> None:
    buf = NDBuffer.create(shape=(2, 2), dtype="f4")
    buf.fill(3.5)
    assert buf.all_equal(3.5)


# --- hypothesis round-trips ---------------------------------------------------------------

_DTYPES = st.one_of(
    hnp.boolean_dtypes(),
    hnp.integer_dtypes(endianness="="),
    hnp.integer_dtypes(endianness=">"),
    hnp.unsigned_integer_dtypes(endianness="<"),
    hnp.floating_dtypes(endianness="?"),
    hnp.complex_number_dtypes(endianness="?"),
    hnp.datetime64_dtypes(endianness="?"),
    hnp.timedelta64_dtypes(endianness="?"),
    hnp.unicode_string_dtypes(max_len=4),
    hnp.byte_string_dtypes(max_len=4),
)


@st.composite
def laid_out_arrays(draw: st.DrawFn) -> np.ndarray[Any, Any]:
    """Arrays of many dtypes in C order, F order, or as strided views."""
    array = draw(hnp.arrays(_DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
    layout = draw(st.sampled_from(["C", "F", "strided"]))
    if layout == "F":
        return np.asfortranarray(array)
    if layout == "strided" and array.ndim > 0:
        return array[..., ::2]
    return array


@given(laid_out_arrays())
def test_ndarray_round_trip_keeps_the_very_array(array: np.ndarray[Any, Any]) -> None:
    buf = NDBuffer.from_numpy_array(array)
    out = buf.as_numpy_array()
    assert out is array
    assert buf.shape == array.shape
    assert buf.dtype == array.dtype
    if array.ndim:
        assert len(buf) == len(array)


@given(laid_out_arrays())
def test_copy_and_astype_round_trip_values(array: np.ndarray[Any, Any]) -> None:
    buf = NDBuffer.from_numpy_array(array)
    np.testing.assert_array_equal(buf.copy().as_numpy_array(), array)
    same = buf.astype(array.dtype)
    assert same.dtype == array.dtype
    np.testing.assert_array_equal(same.as_numpy_array(), array)
    if array.size:
        assert np.shares_memory(buf[...].as_numpy_array(), array)


@given(laid_out_arrays())
def test_create_from_an_array_like_template(array: np.ndarray[Any, Any]) -> None:
    buf = NDBuffer.create(shape=array.shape, dtype=array.dtype)
    buf[...] = array
    np.testing.assert_array_equal(buf.as_numpy_array(), array)
    assert buf.dtype == array.dtype
