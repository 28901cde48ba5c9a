"""Every edge of the one byte-range normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zstore.core import (
    OffsetByteRequest,
    RangeByteRequest,
    SuffixByteRequest,
    normalize_byte_range,
)


@pytest.mark.parametrize(
    ("request_", "size", "expected"),
    [
        (None, 0, (0, 0)),
        (None, 10, (0, 10)),
        (RangeByteRequest(0, 0), 10, (0, 0)),
        (RangeByteRequest(3, 3), 10, (3, 3)),
        (RangeByteRequest(2, 5), 10, (2, 5)),
        (RangeByteRequest(0, 10), 10, (0, 10)),
        (RangeByteRequest(5, 100), 10, (5, 10)),
        (RangeByteRequest(10, 20), 10, (10, 10)),
        (RangeByteRequest(50, 60), 10, (10, 10)),
        (RangeByteRequest(0, 5), 0, (0, 0)),
        (OffsetByteRequest(0), 10, (0, 10)),
        (OffsetByteRequest(4), 10, (4, 10)),
        (OffsetByteRequest(10), 10, (10, 10)),
        (OffsetByteRequest(11), 10, (10, 10)),
        (OffsetByteRequest(3), 0, (0, 0)),
        (SuffixByteRequest(0), 10, (10, 10)),
        (SuffixByteRequest(3), 10, (7, 10)),
        (SuffixByteRequest(10), 10, (0, 10)),
        (SuffixByteRequest(11), 10, (0, 10)),
        (SuffixByteRequest(5), 0, (0, 0)),
    ],
)
def test_normalize_byte_range_edges(
    request_: RangeByteRequest | OffsetByteRequest | SuffixByteRequest | None,
    size: int,
    expected: tuple[int, int],
) -> None:
    assert normalize_byte_range(request_, size) == expected


def test_a_subclass_of_range_byte_request_is_clipped_like_the_class() -> None:
    # The exact class takes a fast path; a subclass takes the general one: same bounds.
    class Tagged(RangeByteRequest):
        pass

    for start, end, size in [(2, 5, 10), (5, 100, 10), (50, 60, 10), (0, 5, 0)]:
        expected = normalize_byte_range(RangeByteRequest(start, end), size)
        assert normalize_byte_range(Tagged(start, end), size) == expected


def test_reversed_range_is_a_value_error_naming_both_ends() -> None:
    with pytest.raises(ValueError, match=r"end \(2\) is before its start \(5\)"):
        RangeByteRequest(5, 2)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RangeByteRequest(-1, 5),
        lambda: RangeByteRequest(0, -1),
        lambda: OffsetByteRequest(-1),
        lambda: SuffixByteRequest(-3),
    ],
)
def test_negative_values_are_value_errors(make: object) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        make()  # type: ignore[operator]


def test_floats_are_refused_and_numpy_ints_accepted() -> None:
    with pytest.raises(TypeError, match="must be an integer"):
        RangeByteRequest(1.5, 3)  # type: ignore[arg-type]
    request = RangeByteRequest(np.int64(1), np.uint8(3))  # type: ignore[arg-type]
    assert request == RangeByteRequest(1, 3)
    assert type(request.start) is int


@pytest.mark.parametrize("bad", [(1, 2), slice(1, 2), "0-5", 3])
def test_unknown_request_type_raises_unexpected_byte_range(bad: object) -> None:
    with pytest.raises(TypeError, match="Unexpected byte_range, got"):
        normalize_byte_range(bad, 10)  # type: ignore[arg-type]


def test_requests_are_frozen() -> None:
    request = RangeByteRequest(1, 2)
    with pytest.raises(AttributeError):
        request.start = 5  # type: ignore[misc]


@given(
    data=st.binary(max_size=64),
    kind=st.sampled_from(["range", "offset", "suffix", "none"]),
    a=st.integers(0, 100),
    b=st.integers(0, 100),
)
def test_bounds_always_match_python_slicing_of_the_same_request(
    data: bytes, kind: str, a: int, b: int
) -> None:
    request: RangeByteRequest | OffsetByteRequest | SuffixByteRequest | None
    if kind == "range":
        lo, hi = min(a, b), max(a, b)
        request, expected = RangeByteRequest(lo, hi), data[lo:hi]
    elif kind == "offset":
        request, expected = OffsetByteRequest(a), data[a:]
    elif kind == "suffix":
        request, expected = SuffixByteRequest(a), data[len(data) - min(a, len(data)) :]
    else:
        request, expected = None, data
    start, stop = normalize_byte_range(request, len(data))
    assert 0 <= start <= stop <= len(data)
    assert data[start:stop] == expected
