"""Device memory simulated on the CPU: a buffer that refuses implicit host conversion.

A store written and tested only with NumPy buffers can quietly rely on the buffer's array
*being* host memory: ``np.asarray(buffer.as_array_like())``, ``memoryview(...)``, reading
``flags`` or ``base``. All of those fail on a CuPy array, which only copies to the host when
asked (``.get()``, or the buffer's ``as_numpy_array``). :class:`SimulatedDeviceBuffer`
behaves as a CuPy-backed buffer does where a store can tell, so running a store's tests
with :data:`simulated_device_prototype` checks, on any machine, that it moves memory
between host and device only through the Buffer API: every CI run exercises the logic
that real GPU tests can check only where a CUDA device exists.

The memory is a NumPy array underneath (that is what makes it run anywhere); nothing but
the explicit copies below reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from zbuffer import cpu
from zbuffer.core import Buffer, BufferPrototype

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Self

    import numpy.typing as npt

    from zbuffer.core import ArrayLike, BytesLike

__all__ = ["SimulatedDeviceArray", "SimulatedDeviceBuffer", "simulated_device_prototype"]

IMPLICIT_CONVERSION_MESSAGE = "Implicit conversion to a NumPy array is not allowed"
"""What :class:`SimulatedDeviceArray` raises on an implicit host conversion (CuPy's
words)."""

_BYTE = np.dtype("B")


class SimulatedDeviceArray:
    """A 1-dim byte array in "device memory": slices are views, copies are explicit
    (``copy`` stays on the device, ``get`` copies to the host), and there is no ``flags``,
    ``base``, buffer protocol or ``__array__``, as on a CuPy array."""

    __slots__ = ("_memory",)

    def __init__(self, memory: npt.NDArray[Any]) -> None:
        if memory.ndim != 1 or memory.dtype != _BYTE:
            raise ValueError(
                f"device memory must be 1-dim bytes, got {memory.dtype} x {memory.ndim}"
            )
        self._memory = memory

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._memory.dtype

    @property
    def ndim(self) -> int:
        return 1

    @property
    def size(self) -> int:
        return int(self._memory.size)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: slice) -> Self:
        return type(self)(self._memory[key])

    def __setitem__(self, key: slice, value: Any) -> None:
        if isinstance(value, SimulatedDeviceArray):
            value = value._memory  # device to device
        elif not isinstance(value, np.ndarray | int):
            self._refuse()
        self._memory[key] = value

    def copy(self) -> Self:
        """A copy in device memory."""
        return type(self)(self._memory.copy())

    def get(self) -> npt.NDArray[Any]:
        """A copy in host memory: the explicit device-to-host transfer."""
        return self._memory.copy()

    def __array__(self, *args: object, **kwargs: object) -> NoReturn:
        self._refuse()

    def _refuse(self) -> NoReturn:
        raise TypeError(IMPLICIT_CONVERSION_MESSAGE)

    def __repr__(self) -> str:
        return f"<SimulatedDeviceArray {self.size} bytes>"


class SimulatedDeviceBuffer(Buffer):
    """A Buffer in simulated device memory: host memory comes in and goes out only by
    explicit copies (``from_bytes``, ``from_buffer`` of a host buffer, ``as_numpy_array``),
    as with zarr-python's CuPy-backed ``gpu.Buffer``."""

    def __init__(self, array_like: ArrayLike) -> None:
        if not isinstance(array_like, SimulatedDeviceArray):
            kind = type(array_like).__name__
            raise TypeError(f"SimulatedDeviceBuffer holds a SimulatedDeviceArray, got {kind}")
        super().__init__(array_like)

    @classmethod
    def create_zero_length(cls) -> Self:
        return cls(SimulatedDeviceArray(np.empty(0, dtype=_BYTE)))

    @classmethod
    def from_buffer(cls, buffer: Buffer) -> Self:
        array = buffer.as_array_like()
        if isinstance(array, SimulatedDeviceArray):
            return cls(array)  # already on the device: no copy
        return cls(SimulatedDeviceArray(buffer.as_numpy_array().copy()))  # host to device

    @classmethod
    def from_bytes(cls, bytes_like: BytesLike) -> Self:
        return cls(SimulatedDeviceArray(np.frombuffer(bytes_like, dtype=_BYTE).copy()))

    def as_numpy_array(self) -> npt.NDArray[Any]:
        device: SimulatedDeviceArray = self._data  # type: ignore[assignment]
        return device.get()

    def combine(self, others: Iterable[Buffer]) -> Self:
        pieces: list[Buffer] = [self, *others]
        device: list[npt.NDArray[Any]] = []
        for piece in pieces:
            array = piece.as_array_like()
            if not isinstance(array, SimulatedDeviceArray):
                raise TypeError(f"cannot combine a device buffer with {type(piece).__name__}")
            device.append(array._memory)  # device to device
        return type(self)(SimulatedDeviceArray(np.concatenate(device)))


simulated_device_prototype = BufferPrototype(buffer=SimulatedDeviceBuffer, nd_buffer=cpu.NDBuffer)
"""The prototype that asks stores for :class:`SimulatedDeviceBuffer` values (its NDBuffer is
NumPy's: stores never make one)."""
