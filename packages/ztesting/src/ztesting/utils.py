"""Assertions and markers shared by store and buffer tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import pytest

from zbuffer.core import Buffer

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["assert_bytes_equal", "gpu_mark", "gpu_test", "has_cupy", "skip_if_no_gpu"]

T = TypeVar("T")

BytesLike = bytes | bytearray | memoryview


def _as_bytes(value: Buffer | BytesLike | None) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, Buffer):
        return value.to_bytes()
    return bytes(value)


def assert_bytes_equal(
    b1: Buffer | BytesLike | None, b2: Buffer | BytesLike | None, msg: str = ""
) -> None:
    """Assert that two buffers or bytes-like objects hold the same bytes.

    ``None`` equals only ``None``, so a store that returns ``None`` for an empty value
    fails here instead of passing as "no bytes".

    Parameters
    ----------
    b1, b2 : Buffer, bytes-like or None
        The values to compare.
    msg : str, optional
        Context added to the failure message.

    Warnings
    --------
    Always copies data to host memory; use only in tests.
    """
    left, right = _as_bytes(b1), _as_bytes(b2)
    if left != right:
        context = f"{msg}: " if msg else ""
        raise AssertionError(f"{context}bytes differ: {_show(left)} != {_show(right)}")


def _show(value: bytes | None, limit: int = 64) -> str:
    if value is None:
        return "None"
    text = repr(value[:limit])
    return text + (f"... ({len(value)} bytes)" if len(value) > limit else "")


def has_cupy() -> bool:
    """Return True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    try:
        return bool(cupy.cuda.runtime.getDeviceCount() > 0)
    except Exception:  # CUDARuntimeError when no driver or device
        return False


gpu_mark = pytest.mark.gpu
"""Marker for tests that need a CUDA device (registered by the ztesting plugin)."""

skip_if_no_gpu = pytest.mark.skipif(
    not has_cupy(), reason="needs CuPy and a CUDA device; none found on this machine"
)
"""Skip a test, with a reason, when CuPy or a CUDA device is missing."""


def gpu_test(func: T) -> T:
    """Mark ``func`` as a GPU test and skip it (with a reason) when no GPU is present."""
    marked: Callable[..., object] = gpu_mark(skip_if_no_gpu(func))
    return marked  # type: ignore[return-value]
