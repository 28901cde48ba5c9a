"""Bad input: a clear error naming the argument and the value, nothing changed before it.

Where zarr-python 3.4.2 raises for the same input, the error has zarr's exception type, so
code moved from ``zarr.core.buffer`` that catches it still does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from zbuffer import core
from zbuffer.cpu import Buffer, NDBuffer

# --- NDBuffer.create: fill values that do not fit -----------------------------------------


@pytest.mark.parametrize(
    ("dtype", "fill_value"),
    [
        ("u1", 300),
        ("u1", np.int64(300)),  # NumPy wraps it: 44
        ("u1", np.int8(-1)),  # NumPy wraps it: 255
        ("u1", 256.0),  # NumPy casts it: 0
        ("i1", np.float64(1e10)),
        ("i8", np.float64(2.0**63)),
        ("u8", -1),
        ("i4", float("inf")),
    ],
    ids=repr,
)
def test_a_fill_value_outside_an_integer_dtype_is_an_overflow_error(
    dtype: str, fill_value: Any
) -> None:
    with pytest.raises(
        OverflowError, match=rf"fill_value .* is out of bounds for {np.dtype(dtype)}"
    ):
        NDBuffer.create(shape=(2,), dtype=dtype, fill_value=fill_value)


@pytest.mark.parametrize("fill_value", [float("nan"), np.float32("nan")], ids=repr)
def test_a_nan_fill_value_for_an_integer_dtype_is_a_value_error(fill_value: Any) -> None:
    with pytest.raises(ValueError, match="is NaN, which the integer dtype int32 cannot hold"):
        NDBuffer.create(shape=(2,), dtype="i4", fill_value=fill_value)


@pytest.mark.parametrize(
    ("dtype", "fill_value", "expected"),
    [
        ("u1", 255, 255),
        ("u1", np.uint64(255), 255),
        ("u1", 255.9, 255),  # truncated toward zero, as NumPy does
        ("u1", -0.5, 0),
        ("u1", True, 1),
        ("i8", -(2**63), -(2**63)),
        ("u8", 2**64 - 1, 2**64 - 1),
        ("u8", np.uint64(2**64 - 1), 2**64 - 1),
    ],
    ids=repr,
)
def test_a_fill_value_inside_an_integer_dtype_is_taken(
    dtype: str, fill_value: Any, expected: int
) -> None:
    array = NDBuffer.create(shape=(2,), dtype=dtype, fill_value=fill_value).as_numpy_array()
    assert array.tolist() == [expected, expected]


# --- NDBuffer.create / empty: shapes -------------------------------------------------------


def test_a_negative_shape_is_named() -> None:
    # NumPy (and zarr-python): "negative dimensions are not allowed".
    with pytest.raises(ValueError, match=r"NDBuffer.create: shape \(3, -1\) has a negative dim"):
        NDBuffer.create(shape=(3, -1), dtype="u1")
    with pytest.raises(ValueError, match=r"NDBuffer.empty: shape \(3, -1\) has a negative dim"):
        NDBuffer.empty((3, -1), "u1")


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (5, r"shape must be an iterable of ints, got int: 5"),
        ((2.0,), r"shape \(2.0,\) holds 2.0, which is not an int"),
        (("2",), r"shape \('2',\) holds '2', which is not an int"),
    ],
    ids=repr,
)
def test_a_shape_of_the_wrong_type_is_named(shape: Any, message: str) -> None:
    # NumPy (and zarr-python): "'int' object is not iterable", "'float' object cannot be
    # interpreted as an integer".
    with pytest.raises(TypeError, match=rf"NDBuffer.create: {message}"):
        NDBuffer.create(shape=shape, dtype="u1")


def test_a_bad_fill_value_with_a_good_shape_keeps_numpys_error() -> None:
    with pytest.raises(ValueError, match="invalid literal for int"):
        NDBuffer.create(shape=(2,), dtype="u1", fill_value="x")


# --- Buffer.__setitem__ ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [b"xy", "xy"], ids=repr)
def test_assigning_bytes_to_a_buffer_slice_says_what_to_assign(value: Any) -> None:
    # NumPy (and zarr-python): "invalid literal for int() with base 10: b'xy'".
    target = Buffer.from_bytes(bytearray(b"0123"))
    with pytest.raises(
        ValueError, match=rf"cannot assign a {type(value).__name__} to a Buffer slice"
    ):
        target[0:2] = value
    assert target.to_bytes() == b"0123"
    target[0:2] = Buffer.from_bytes(b"xy")
    assert target.to_bytes() == b"xy23"


# --- the registry ---------------------------------------------------------------------------


class NamedLater(Buffer):
    pass


@pytest.mark.parametrize("qualname", [5, b"name", ("a",)], ids=repr)
def test_register_refuses_a_name_that_is_not_a_str(qualname: Any) -> None:
    # An int name was registered, and then every listing of the names, and so every
    # "not registered" error, raised "'<' not supported between 'int' and 'str'".
    with pytest.raises(TypeError, match=r"register_buffer: qualname must be a str, got"):
        core.register_buffer(NamedLater, qualname=qualname)
    with pytest.raises(TypeError, match=r"register_ndbuffer: qualname must be a str, got"):
        core.register_ndbuffer(NDBuffer, qualname=qualname)
    assert all(isinstance(name, str) for name in core.registered_buffers())
    with pytest.raises(ValueError, match="is not registered; registered Buffer classes"):
        core.get_buffer_class("no.such.Buffer")


@pytest.mark.parametrize("name", [5, ["zbuffer.cpu.Buffer"], Buffer], ids=repr)
def test_a_class_name_that_is_not_a_str_is_a_type_error(name: Any) -> None:
    # A list raised "unhashable type: 'list'"; an int or a class "is not registered".
    with pytest.raises(TypeError, match=r"Buffer class name must be a str or None, got"):
        core.get_buffer_class(name)
    with pytest.raises(TypeError, match=r"NDBuffer class name must be a str or None, got"):
        core.get_ndbuffer_class(name)


def test_a_class_given_as_a_name_gets_a_hint() -> None:
    with pytest.raises(TypeError, match=r"got the class zbuffer\.cpu\._buffer\.Buffer; register"):
        core.get_buffer_class(Buffer)  # type: ignore[arg-type]


class LaterPluginBuffer(Buffer):
    pass


def test_an_entry_point_with_an_empty_name_is_reported_and_the_others_still_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Registering under the entry point's own name ran outside the error handling: the
    # first lookup raised "cannot register ... under an empty name", naming no entry
    # point, and the plugins after it were never loaded.
    from importlib.metadata import EntryPoint

    from zbuffer.core import _registry

    declared = [
        EntryPoint("", f"{__name__}:NamedLater", "zbuffer.buffer"),
        EntryPoint("laterplugin", f"{__name__}:LaterPluginBuffer", "zbuffer.buffer"),
    ]
    monkeypatch.setattr(
        _registry, "entry_points", lambda *, group: declared if group == "zbuffer.buffer" else []
    )
    monkeypatch.setattr(_registry._buffer_registry, "_entry_points_loaded", False)
    monkeypatch.setattr(_registry._buffer_registry, "_failures", [])
    monkeypatch.setenv("ZBUFFER_BUFFER", "laterplugin")
    monkeypatch.setattr(_registry, "_default_prototypes", {})
    assert core.default_buffer_prototype().buffer is LaterPluginBuffer
    with pytest.raises(ValueError, match=r"failed to load:  \(ValueError: cannot register"):
        core.get_buffer_class("still.missing")
