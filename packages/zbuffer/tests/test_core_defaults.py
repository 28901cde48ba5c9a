"""The default methods of zbuffer.core.Buffer / NDBuffer, through minimal subclasses.

A device-memory package implements only the abstract methods and inherits the rest; these
classes stand in for it, keeping their array private so every conversion is explicit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pytest

from zbuffer import core, cpu

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Self

    import numpy.typing as npt


class MinimalBuffer(core.Buffer):
    """Implements only what core.Buffer leaves abstract; as_numpy_array copies."""

    @classmethod
    def create_zero_length(cls) -> Self:
        return cls(np.empty(0, dtype="B"))

    @classmethod
    def from_buffer(cls, buffer: core.Buffer) -> Self:
        return cls(buffer.as_numpy_array().copy())

    @classmethod
    def from_bytes(cls, bytes_like: core.BytesLike) -> Self:
        return cls(np.frombuffer(bytes_like, dtype="B").copy())

    def as_numpy_array(self) -> npt.NDArray[Any]:
        return np.array(self._data, copy=True)

    def combine(self, others: Iterable[core.Buffer]) -> Self:
        parts = [self.as_numpy_array(), *(o.as_numpy_array() for o in others)]
        return self.__class__(np.concatenate(parts))


class MinimalNDBuffer(core.NDBuffer):
    """Implements only what core.NDBuffer leaves abstract."""

    @classmethod
    def create(
        cls,
        *,
        shape: Iterable[int],
        dtype: npt.DTypeLike,
        order: Literal["C", "F"] = "C",
        fill_value: Any | None = None,
    ) -> Self:
        data = np.zeros(tuple(shape), dtype=dtype, order=order)
        if fill_value is not None:
            data.fill(fill_value)
        return cls(data)

    @classmethod
    def from_numpy_array(cls, array_like: npt.ArrayLike) -> Self:
        return cls(np.asarray(array_like))

    def as_numpy_array(self) -> npt.NDArray[Any]:
        return np.asarray(self._data)

    def __getitem__(self, key: Any) -> Self:
        return self.__class__(np.asarray(self._data[key]))

    def __setitem__(self, key: Any, value: Any) -> None:
        self._data[key] = value


def test_inherited_buffer_methods() -> None:
    buf = MinimalBuffer.from_bytes(b"abcdef")
    assert buf.to_bytes() == b"abcdef"
    assert bytes(buf.as_buffer_like()) == b"abcdef"
    assert len(buf) == 6
    assert buf[1:3].to_bytes() == b"bc"
    assert (buf + MinimalBuffer.from_bytes(b"g")).to_bytes() == b"abcdefg"
    assert buf == MinimalBuffer.from_bytes(b"abcdef")
    assert buf == cpu.Buffer.from_bytes(b"abcdef"), "equality is by content across classes"
    assert buf != MinimalBuffer.from_bytes(b"abcdeX")
    assert MinimalBuffer.from_array_like(np.zeros(2, dtype="B")).to_bytes() == b"\0\0"
    buf[0:2] = cpu.Buffer.from_bytes(b"XY")
    assert buf.to_bytes() == b"XYcdef"
    with pytest.raises(ValueError, match="slice must be contiguous"):
        buf[::2]


def test_cpu_buffer_converts_from_and_combines_with_other_classes() -> None:
    other = MinimalBuffer.from_bytes(b"device")
    assert cpu.Buffer.from_buffer(other).to_bytes() == b"device"
    combined = cpu.Buffer.from_bytes(b"host+").combine([other, cpu.Buffer.from_bytes(b"!")])
    assert type(combined) is cpu.Buffer
    assert combined.to_bytes() == b"host+device!"


class DeviceArray:
    """A 1-dim byte array in simulated device memory: like CuPy's, it refuses to be
    converted to a NumPy array implicitly, so only an explicit copy reaches the host."""

    def __init__(self, host: npt.NDArray[Any]) -> None:
        self._host = host

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._host.dtype

    @property
    def ndim(self) -> int:
        return self._host.ndim

    @property
    def size(self) -> int:
        return self._host.size

    def __getitem__(self, key: slice) -> Self:
        return self.__class__(self._host[key])

    def __setitem__(self, key: slice, value: Any) -> None:
        self._host[key] = value

    def copy(self) -> Self:
        return self.__class__(self._host.copy())

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("Implicit conversion to a NumPy array is not allowed")

    def get(self) -> npt.NDArray[Any]:
        """The explicit copy to host memory."""
        return self._host.copy()


class DeviceBuffer(MinimalBuffer):
    """A Buffer over a DeviceArray: as_numpy_array is the only way to host memory."""

    @classmethod
    def from_bytes(cls, bytes_like: core.BytesLike) -> Self:
        return cls(DeviceArray(np.frombuffer(bytes_like, dtype="B").copy()))  # type: ignore[arg-type]

    def as_numpy_array(self) -> npt.NDArray[Any]:
        device: DeviceArray = self._data  # type: ignore[assignment]
        return device.get()


def test_cpu_buffer_takes_device_buffers_through_as_numpy_array() -> None:
    # A cpu.Buffer meets buffers of other memory types in combine, from_buffer and
    # __setitem__; each must go through as_numpy_array, never hand the device array to
    # NumPy (which CuPy refuses).
    device = DeviceBuffer.from_bytes(b"device")
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(device.as_array_like())
    combined = cpu.Buffer.from_bytes(b"host+").combine([device, cpu.Buffer.from_bytes(b"!")])
    assert type(combined) is cpu.Buffer
    assert combined.to_bytes() == b"host+device!"
    assert (cpu.Buffer.from_bytes(b"<") + device).to_bytes() == b"<device"
    assert cpu.Buffer.from_buffer(device).to_bytes() == b"device"
    target = cpu.Buffer.from_bytes(bytearray(b"........"))
    target[1:7] = device
    assert target.to_bytes() == b".device."


def test_inherited_ndbuffer_methods() -> None:
    buf = MinimalNDBuffer.from_numpy_array(np.arange(6.0).reshape(1, 2, 3))
    assert buf.shape == (1, 2, 3)
    assert buf.dtype == np.dtype("f8")
    assert len(buf) == 1
    assert buf.squeeze((0,)).shape == (2, 3)
    assert buf.reshape(-1).shape == (6,)
    assert buf.transpose(None).shape == (3, 2, 1)
    assert buf.astype("i4").dtype == np.dtype("i4")
    assert buf.copy().as_numpy_array().tolist() == buf.as_numpy_array().tolist()
    assert buf[0, 1, 2].as_scalar() == 5.0
    assert buf.byteorder in ("little", "big")
    assert repr(buf).startswith("<MinimalNDBuffer shape=(1, 2, 3) dtype=float64")
    empty = MinimalNDBuffer.empty((2, 2), "i2")
    assert empty.shape == (2, 2)
    assert empty.dtype == np.dtype("i2")
    buf.fill(-0.0)
    assert buf.all_equal(-0.0)
    assert not buf.all_equal(0.0)
    assert buf.all_equal(0)
    assert not buf.all_equal(None)


def test_generic_all_equal_nan_and_strings() -> None:
    nans = MinimalNDBuffer.create(shape=(3,), dtype="f4", fill_value=np.nan)
    assert nans.all_equal(np.nan)
    assert not nans.all_equal(np.nan, equal_nan=False)
    text = MinimalNDBuffer.from_numpy_array(np.array(["a", "a"]))
    assert text.all_equal("a")
    assert not text.all_equal("b")
