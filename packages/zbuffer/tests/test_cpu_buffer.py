"""zbuffer.cpu.Buffer: every method, the zero-copy paths, the buffer protocol, bad input."""

from __future__ import annotations

import hashlib
import io
import sys
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zbuffer.cpu import Buffer

if TYPE_CHECKING:
    from pathlib import Path

    import numpy.typing as npt

    from zbuffer import core


def arr(buf: core.Buffer) -> npt.NDArray[Any]:
    return buf.as_numpy_array()


# --- construction -------------------------------------------------------------------------


def test_from_bytes_views_bytes_without_copy() -> None:
    data = b"hello world"
    buf = Buffer.from_bytes(data)
    assert buf.to_bytes() == data
    assert len(buf) == len(data)
    # np.frombuffer over the bytes object: the array's memory is the bytes object's.
    assert arr(buf).base is not None
    assert not arr(buf).flags.writeable, "a Buffer over immutable bytes must be read-only"


def test_from_bytes_shares_memory_with_bytearray() -> None:
    source = bytearray(b"abcdef")
    buf = Buffer.from_bytes(source)
    assert np.shares_memory(arr(buf), np.frombuffer(source, dtype="B"))
    source[0] = ord("z")
    assert buf.to_bytes() == b"zbcdef", "from_bytes of a bytearray is a view, not a copy"


@pytest.mark.parametrize(
    "bytes_like",
    [memoryview(b"xyz"), bytearray(b"xyz"), np.frombuffer(b"xyz", dtype="B"), b"xyz"],
    ids=["memoryview", "bytearray", "ndarray", "bytes"],
)
def test_from_bytes_accepts_every_bytes_like(bytes_like: Any) -> None:
    assert Buffer.from_bytes(bytes_like).to_bytes() == b"xyz"


def test_from_bytes_of_a_multibyte_array_reinterprets_its_bytes() -> None:
    source = np.arange(3, dtype="<u2")
    buf = Buffer.from_bytes(source)  # type: ignore[arg-type]
    assert buf.to_bytes() == source.tobytes()
    assert np.shares_memory(arr(buf), source)


def test_from_bytes_of_a_view_of_a_whole_array_views_the_array() -> None:
    # What a store that reads into np.empty hands over: the buffer must share the array's
    # memory and not keep the memoryview (an object the garbage collector tracks) alive.
    source = np.arange(6, dtype="<u2")
    buf = Buffer.from_bytes(memoryview(source))
    assert arr(buf).base is source
    assert np.shares_memory(arr(buf), source)
    assert buf.to_bytes() == source.tobytes()
    source[0] = 7
    assert buf.to_bytes()[:2] == b"\x07\x00", "a view, not a copy"
    assert arr(buf).flags.writeable


@pytest.mark.parametrize(
    "make_view",
    [
        lambda a: memoryview(a)[1:4],
        lambda a: memoryview(a).toreadonly(),
        lambda a: memoryview(a.reshape(2, 3)[:, :2].copy()),
    ],
    ids=["part", "read-only view", "other array"],
)
def test_from_bytes_of_other_array_views_keeps_their_meaning(make_view: Any) -> None:
    source = np.arange(6, dtype="B")
    view = make_view(source)
    buf = Buffer.from_bytes(view)
    assert buf.to_bytes() == bytes(view)
    assert arr(buf).flags.writeable == (not view.readonly), "writability follows the view"


@pytest.mark.parametrize(
    "make_view",
    [
        lambda a: memoryview(a)[::-1],
        lambda a: memoryview(a.reshape(2, 3).T),
    ],
    ids=["reversed", "transposed"],
)
def test_from_bytes_of_a_non_contiguous_view_of_a_whole_array_is_refused(make_view: Any) -> None:
    # It covers every byte of its array, but in another order: viewing the array itself
    # would hand back the bytes in the array's order, not the view's.
    source = np.arange(6, dtype="B")
    view = make_view(source)
    assert view.nbytes == source.nbytes
    with pytest.raises(ValueError, match="from_bytes expects contiguous memory"):
        Buffer.from_bytes(view)
    with pytest.raises(BufferError, match="from_bytes expects contiguous memory"):
        Buffer.from_bytes(view)  # the type zarr-python's np.frombuffer raises


def test_from_bytes_of_a_released_view_says_so() -> None:
    view = memoryview(np.arange(4, dtype="B"))
    view.release()
    with pytest.raises(ValueError, match="released"):
        Buffer.from_bytes(view)


def test_from_array_like_keeps_the_array() -> None:
    source = np.arange(10, dtype="B")
    buf = Buffer.from_array_like(source)
    assert buf.as_array_like() is source
    assert np.shares_memory(arr(buf), source)


def test_constructor_keeps_numpy_subclasses() -> None:
    class Sub(np.ndarray):
        pass

    source = np.arange(4, dtype="B").view(Sub)
    buf = Buffer(source)  # type: ignore[arg-type]
    assert type(buf.as_numpy_array()) is Sub


def test_from_buffer_is_a_view_on_host_memory() -> None:
    first = Buffer.from_bytes(bytearray(b"12345"))
    second = Buffer.from_buffer(first)
    assert type(second) is Buffer
    assert second.to_bytes() == b"12345"
    assert np.shares_memory(arr(first), arr(second))


def test_from_buffer_converts_another_buffer_class() -> None:
    class OtherBuffer(Buffer):
        pass

    other = OtherBuffer.from_bytes(b"abc")
    converted = Buffer.from_buffer(other)
    assert type(converted) is Buffer
    assert converted == other


def test_create_zero_length() -> None:
    buf = Buffer.create_zero_length()
    assert len(buf) == 0
    assert buf.to_bytes() == b""
    assert arr(buf).dtype == np.dtype("B")
    assert arr(buf).shape == (0,)


# --- conversions --------------------------------------------------------------------------


def test_as_array_like_and_as_numpy_array_never_copy() -> None:
    source = np.arange(8, dtype="B")
    buf = Buffer(source)
    assert buf.as_array_like() is source
    assert np.shares_memory(buf.as_numpy_array(), source)


def test_as_buffer_like_is_a_zero_copy_memoryview() -> None:
    source = np.arange(8, dtype="B")
    buf = Buffer(source)
    view = buf.as_buffer_like()
    assert isinstance(view, memoryview)
    assert view.format == "B"
    assert view.nbytes == 8
    assert np.shares_memory(np.asarray(view), source)
    view[0] = 99
    assert source[0] == 99, "as_buffer_like must view the buffer's memory"


def test_to_bytes_copies() -> None:
    source = bytearray(b"abc")
    buf = Buffer.from_bytes(source)
    snapshot = buf.to_bytes()
    source[0] = ord("x")
    assert snapshot == b"abc"
    assert isinstance(snapshot, bytes)


def test_to_bytes_of_a_whole_bytes_object_is_that_object() -> None:
    data = b"immutable, so no copy is needed"
    assert Buffer.from_bytes(data).to_bytes() is data
    assert bytes(Buffer.from_bytes(data)) is data


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        # Part of a bytes object, with its base the bytes object itself: NumPy's count.
        (lambda data: Buffer(np.frombuffer(data, "B", count=4)), b"0123"),
        (lambda data: Buffer(np.frombuffer(data, "B", offset=6)), b"6789"),
        (lambda data: Buffer.from_bytes(data)[2:5], b"234"),
        (lambda data: Buffer.from_bytes(memoryview(data)[1:3]), b"12"),
        (lambda data: Buffer(np.frombuffer(data, "B").copy()), b"0123456789"),
    ],
    ids=["count", "offset", "slice", "memoryview slice", "copy"],
)
def test_to_bytes_of_part_of_a_bytes_object_is_a_copy_of_that_part(
    make: Any, expected: bytes
) -> None:
    data = b"0123456789"
    got = make(data).to_bytes()
    assert got == expected
    assert type(got) is bytes
    assert got is not data


def test_len_counts_bytes() -> None:
    assert len(Buffer.from_bytes(b"")) == 0
    assert len(Buffer.from_bytes(b"\x00" * 1000)) == 1000


def test_repr_names_class_and_length() -> None:
    assert repr(Buffer.from_bytes(b"abc")) == "<Buffer 3 bytes>"


# --- the Python buffer protocol -----------------------------------------------------------


def test_bytes_of_a_buffer_works_on_every_python() -> None:
    # bytes() uses __bytes__ on 3.11 and the buffer protocol on 3.12+; both give the data.
    assert bytes(Buffer.from_bytes(b"payload")) == b"payload"


if sys.version_info >= (3, 12):

    def test_memoryview_of_a_buffer_shares_its_memory() -> None:
        source = np.arange(16, dtype="B")
        buf = Buffer(source)
        view = memoryview(buf)
        assert view.nbytes == 16
        assert np.shares_memory(np.asarray(view), source)
        view[3] = 200
        assert source[3] == 200

    def test_file_write_and_hashlib_take_a_buffer_directly(tmp_path: Path) -> None:
        buf = Buffer.from_bytes(b"some chunk bytes")
        path = tmp_path / "out.bin"
        with path.open("wb") as f:
            written = f.write(buf)
        assert written == len(buf)
        assert path.read_bytes() == b"some chunk bytes"
        assert hashlib.sha256(buf).digest() == hashlib.sha256(b"some chunk bytes").digest()

    def test_numpy_reads_a_buffer_through_the_protocol() -> None:
        source = np.arange(5, dtype="B")
        assert np.shares_memory(np.frombuffer(Buffer(source), dtype="B"), source)

    def test_writable_request_on_read_only_memory_is_refused() -> None:
        buf = Buffer.from_bytes(b"read only")
        with pytest.raises((BufferError, TypeError)):
            io.BytesIO(b"123456789").readinto(buf)
        assert buf.to_bytes() == b"read only"

    def test_readinto_fills_a_writable_buffer_in_place() -> None:
        buf = Buffer.from_bytes(bytearray(5))
        assert io.BytesIO(b"abcde").readinto(buf) == 5
        assert buf.to_bytes() == b"abcde"

else:

    def test_memoryview_of_a_buffer_needs_as_buffer_like_on_311() -> None:
        # Python 3.11 ignores __buffer__ defined in Python (PEP 688 is 3.12+): the
        # documented portable path is as_buffer_like().
        buf = Buffer.from_bytes(b"abc")
        with pytest.raises(TypeError):
            memoryview(buf)
        assert bytes(buf.as_buffer_like()) == b"abc"


def test_as_buffer_like_works_with_file_write(tmp_path: Path) -> None:
    buf = Buffer.from_bytes(b"portable")
    path = tmp_path / "x.bin"
    with path.open("wb") as f:
        f.write(buf.as_buffer_like())
    assert path.read_bytes() == b"portable"


# --- slicing ------------------------------------------------------------------------------


def test_getitem_slice_is_a_view() -> None:
    source = np.arange(10, dtype="B")
    buf = Buffer(source)
    part = buf[2:5]
    assert type(part) is Buffer
    assert part.to_bytes() == bytes([2, 3, 4])
    assert np.shares_memory(arr(part), source)
    assert buf[2:5:1].to_bytes() == bytes([2, 3, 4])
    assert buf[-3:].to_bytes() == bytes([7, 8, 9])
    assert len(buf[5:2]) == 0


def test_setitem_writes_in_place() -> None:
    buf = Buffer.from_bytes(bytearray(b"aaaaaa"))
    buf[1:3] = np.frombuffer(b"bc", dtype="B")
    assert buf.to_bytes() == b"abcaaa"
    buf[3:6] = Buffer.from_bytes(b"xyz")
    assert buf.to_bytes() == b"abcxyz"
    buf[0:1] = 0x41
    assert buf.to_bytes() == b"Abcxyz"


@pytest.mark.parametrize("step", [2, -1, 0])
def test_getitem_with_a_step_is_refused(step: int) -> None:
    buf = Buffer.from_bytes(b"abcdef")
    with pytest.raises(ValueError, match=r"slice must be contiguous: got step"):
        buf[::step]


def test_setitem_with_a_step_is_refused_and_changes_nothing() -> None:
    buf = Buffer.from_bytes(bytearray(b"abcdef"))
    with pytest.raises(ValueError, match="slice must be contiguous"):
        buf[::2] = np.zeros(3, dtype="B")
    assert buf.to_bytes() == b"abcdef"


@pytest.mark.parametrize("key", [0, (slice(0, 1),), [0, 1]], ids=["int", "tuple", "list"])
def test_non_slice_keys_are_refused(key: Any) -> None:
    buf = Buffer.from_bytes(bytearray(b"abc"))
    with pytest.raises(TypeError, match="expected slice, got"):
        buf[key]
    with pytest.raises(TypeError, match="expected slice, got"):
        buf[key] = 0
    assert buf.to_bytes() == b"abc"


# --- combine, +, == -----------------------------------------------------------------------


def test_combine_concatenates_many_buffers_into_a_new_one() -> None:
    parts = [Buffer.from_bytes(bytes([i]) * (i + 1)) for i in range(5)]
    combined = parts[0].combine(parts[1:])
    assert combined.to_bytes() == b"".join(p.to_bytes() for p in parts)
    for part in parts:
        assert not np.shares_memory(arr(combined), arr(part))


def test_combine_accepts_a_generator_and_other_buffer_classes() -> None:
    class OtherBuffer(Buffer):
        pass

    head = Buffer.from_bytes(b"a")
    combined = head.combine(OtherBuffer.from_bytes(c.encode()) for c in "bcd")
    assert type(combined) is Buffer
    assert combined.to_bytes() == b"abcd"


def test_combine_of_nothing_is_a_copy() -> None:
    buf = Buffer.from_bytes(bytearray(b"abc"))
    combined = buf.combine([])
    assert combined == buf
    assert not np.shares_memory(arr(combined), arr(buf))


def test_combine_makes_one_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = np.concatenate

    def counting(arrays: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(arrays))
        return real(arrays, *args, **kwargs)

    monkeypatch.setattr(np, "concatenate", counting)
    parts = [Buffer.from_bytes(b"xy") for _ in range(1000)]
    combined = parts[0].combine(parts[1:])
    assert calls == [1000], "combine must concatenate all buffers in one call"
    assert len(combined) == 2000


def test_combine_refuses_non_buffers_before_allocating() -> None:
    buf = Buffer.from_bytes(b"abc")
    with pytest.raises(TypeError, match=r"combine expects Buffer objects, got bytes at position 1"):
        buf.combine([Buffer.from_bytes(b"d"), b"e"])  # type: ignore[list-item]
    assert buf.to_bytes() == b"abc"


def test_add_concatenates_two_buffers() -> None:
    left = Buffer.from_bytes(b"ab")
    right = Buffer.from_bytes(b"cd")
    total = left + right
    assert total.to_bytes() == b"abcd"
    assert left.to_bytes() == b"ab"
    assert right.to_bytes() == b"cd"
    assert (Buffer.create_zero_length() + right).to_bytes() == b"cd"


def test_add_of_a_non_buffer_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="unsupported operand"):
        Buffer.from_bytes(b"a") + b"b"  # type: ignore[operator]


def test_folding_add_stays_correct() -> None:
    total = Buffer.create_zero_length()
    for i in range(50):
        total = total + Buffer.from_bytes(bytes([i]))
    assert total.to_bytes() == bytes(range(50))


def test_eq_compares_content() -> None:
    assert Buffer.from_bytes(b"abc") == Buffer.from_bytes(bytearray(b"abc"))
    assert Buffer.from_bytes(b"abc") != Buffer.from_bytes(b"abd")
    assert Buffer.from_bytes(b"abc") != Buffer.from_bytes(b"ab")
    assert Buffer.create_zero_length() == Buffer.from_bytes(b"")
    assert Buffer.from_bytes(b"abc") != b"abc"


def test_buffers_are_not_hashable() -> None:
    with pytest.raises(TypeError, match="unhashable"):
        hash(Buffer.from_bytes(b"abc"))


# --- bad input to the constructor and from_bytes -------------------------------------------


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 3), dtype="B"), r"only 1-dim allowed, got an array with ndim=2"),
        (np.zeros((), dtype="B"), r"only 1-dim allowed, got an array with ndim=0"),
        (np.zeros(4, dtype="i1"), r"only byte dtype allowed \(uint8\), got dtype int8"),
        (np.zeros(4, dtype="f8"), r"only byte dtype allowed \(uint8\), got dtype float64"),
        (np.arange(10, dtype="B")[::2], r"only contiguous arrays allowed, got a strided view"),
        (np.arange(10, dtype="B")[::-1], r"only contiguous arrays allowed"),
    ],
    ids=["2d", "0d", "int8", "float64", "step2", "reversed"],
)
def test_constructor_refuses_bad_arrays_without_touching_them(array: Any, message: str) -> None:
    before = array.copy()
    with pytest.raises(ValueError, match=message):
        Buffer(array)
    with pytest.raises(ValueError, match=message):
        Buffer.from_array_like(array)
    np.testing.assert_array_equal(array, before)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(10, dtype="B")[::4][:1],  # one byte, stride 4
        np.arange(10, dtype="B")[::-1][:1],  # one byte, stride -1
        np.arange(10, dtype="B")[::3][:0],  # no bytes, stride 3
    ],
    ids=["one-byte-stride-4", "one-byte-reversed", "empty-stride-3"],
)
def test_constructor_accepts_contiguous_arrays_with_unusual_strides(array: Any) -> None:
    # NumPy calls these contiguous although their strides are not (1,): the constructor's
    # quick test misses them and the full check must accept them.
    assert array.flags.c_contiguous
    assert array.strides != (1,)
    assert Buffer(array).to_bytes() == array.tobytes()


def test_constructor_refuses_non_arrays() -> None:
    with pytest.raises(TypeError, match=r"array-like object with ndim and dtype, got bytes"):
        Buffer(b"abc")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["text", 12, 1.5, None, [1, 2], object()])
def test_from_bytes_refuses_non_bytes_like(value: Any) -> None:
    with pytest.raises(TypeError, match=r"from_bytes expects a bytes-like object .* got "):
        Buffer.from_bytes(value)


def test_from_bytes_refuses_non_contiguous_memory() -> None:
    source = np.arange(10, dtype="B")
    with pytest.raises(ValueError, match="from_bytes expects contiguous memory"):
        Buffer.from_bytes(memoryview(source)[::2])
    with pytest.raises(BufferError, match="from_bytes expects contiguous memory"):
        Buffer.from_bytes(memoryview(source)[::2])  # zarr-python raises a BufferError
    np.testing.assert_array_equal(source, np.arange(10, dtype="B"))


# --- hypothesis round-trips ---------------------------------------------------------------


@given(st.binary(max_size=300))
def test_bytes_round_trip(data: bytes) -> None:
    buf = Buffer.from_bytes(data)
    assert buf.to_bytes() == data
    assert bytes(buf) == data
    assert bytes(buf.as_buffer_like()) == data
    assert len(buf) == len(data)
    assert Buffer.from_buffer(buf).to_bytes() == data


@given(st.lists(st.binary(max_size=40), max_size=20))
def test_combine_round_trip(parts: list[bytes]) -> None:
    buffers = [Buffer.from_bytes(p) for p in parts]
    head = Buffer.create_zero_length()
    assert head.combine(buffers).to_bytes() == b"".join(parts)


@given(st.binary(max_size=100), st.integers(-120, 120), st.integers(-120, 120))
def test_slices_match_bytes_slices(data: bytes, start: int, stop: int) -> None:
    buf = Buffer.from_bytes(data)
    assert buf[start:stop].to_bytes() == data[start:stop]
