"""Byte-range requests, and the one function that turns a request into slice bounds."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

__all__ = [
    "ByteRequest",
    "OffsetByteRequest",
    "RangeByteRequest",
    "SuffixByteRequest",
    "normalize_byte_range",
]


def _non_negative_int(value: object, what: str) -> int:
    """Coerce ``value`` to a non-negative int, naming ``what`` in the error.

    ``operator.index`` accepts Python and NumPy integers but refuses floats, so ``1.5``
    never silently becomes byte 1. It also accepts bools, which are refused here: a
    ``True`` where an offset was meant is a bug upstream, not byte 1.
    """
    if type(value) is int:
        number = value  # the common case, with no call (type() is False for a bool)
    else:
        try:
            if isinstance(value, bool | np.bool_):
                raise TypeError
            number = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"{what} must be an integer, got {type(value).__name__}: {value!r}"
            ) from None
    if number < 0:
        raise ValueError(f"{what} must be >= 0, got {number}")
    return number


@dataclass(frozen=True, slots=True)
class RangeByteRequest:
    """Request a specific byte range, ``start`` inclusive and ``end`` exclusive.

    Parameters
    ----------
    start : int
        The first byte to read, counted from 0.
    end : int
        One past the last byte to read. A range that ends past the end of the value returns
        what there is; a range that starts past the end returns zero bytes.

    Raises
    ------
    ValueError
        If ``start`` or ``end`` is negative, or ``end < start``.
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        start = _non_negative_int(self.start, "RangeByteRequest.start")
        end = _non_negative_int(self.end, "RangeByteRequest.end")
        if end < start:
            raise ValueError(
                f"RangeByteRequest end ({end}) is before its start ({start}); "
                "ranges are [start, end) with end >= start"
            )
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)


@dataclass(frozen=True, slots=True)
class OffsetByteRequest:
    """Request all bytes from ``offset`` to the end, as HTTP's ``bytes={offset}-``.

    Parameters
    ----------
    offset : int
        The first byte to read; an offset past the end returns zero bytes.
    """

    offset: int

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "offset", _non_negative_int(self.offset, "OffsetByteRequest.offset")
        )


@dataclass(frozen=True, slots=True)
class SuffixByteRequest:
    """Request the last ``suffix`` bytes, as HTTP's ``bytes=-{suffix}``.

    Parameters
    ----------
    suffix : int
        How many bytes to read from the end; a suffix longer than the value returns all of it.
    """

    suffix: int

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "suffix", _non_negative_int(self.suffix, "SuffixByteRequest.suffix")
        )


ByteRequest: TypeAlias = RangeByteRequest | OffsetByteRequest | SuffixByteRequest


class _UnexpectedByteRangeError(TypeError, ValueError):
    """A byte range that is not a ByteRequest (or None), such as zarr 2's ``(start, end)``.

    A TypeError, as this package has always raised; also the ValueError zarr-python 3.4.2
    raises there, so code moved from ``zarr.storage`` that catches it still does.
    """


def normalize_byte_range(byte_range: ByteRequest | None, size: int) -> tuple[int, int]:
    """Map a byte request on a value of ``size`` bytes to slice bounds ``(start, stop)``.

    Every store calls this one function, so every store returns the same bytes for the
    same request. The result always satisfies ``0 <= start <= stop <= size``: ranges past the
    end are clipped, never wrapped around as negative Python indices would be.

    Parameters
    ----------
    byte_range : ByteRequest or None
        The request; ``None`` means the whole value.
    size : int
        The length of the value in bytes.

    Returns
    -------
    tuple of int
        ``(start, stop)`` such that ``value[start:stop]`` is the requested bytes.

    Raises
    ------
    TypeError
        If ``byte_range`` is not a ByteRequest or None ("Unexpected byte_range, got ...").
        The error is also a ValueError, which zarr-python 3.4.2 raises there.
    """
    if type(byte_range) is RangeByteRequest:
        # The common request first, and without min(): every range read passes here, and
        # the builtin calls cost twice what the comparisons do.
        start, stop = byte_range.start, byte_range.end
        return (start if start < size else size), (stop if stop < size else size)
    if byte_range is None:
        return 0, size
    if isinstance(byte_range, RangeByteRequest):
        return min(byte_range.start, size), min(byte_range.end, size)
    if isinstance(byte_range, OffsetByteRequest):
        return min(byte_range.offset, size), size
    if isinstance(byte_range, SuffixByteRequest):
        return max(0, size - byte_range.suffix), size
    raise _UnexpectedByteRangeError(
        f"Unexpected byte_range, got {byte_range!r} ({type(byte_range).__name__}); expected "
        "RangeByteRequest, OffsetByteRequest, SuffixByteRequest or None"
    )
