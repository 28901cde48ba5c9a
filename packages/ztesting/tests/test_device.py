"""The simulated device buffer refuses implicit host conversion, as CuPy does, and moves
memory only by the Buffer API's explicit copies; MemoryStore passes SyncStoreTests with it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from zbuffer import cpu
from zstore.core import MemoryStore, RangeByteRequest
from ztesting.device import (
    IMPLICIT_CONVERSION_MESSAGE,
    SimulatedDeviceArray,
    SimulatedDeviceBuffer,
    simulated_device_prototype,
)
from ztesting.sync_store import SyncStoreTests


def test_implicit_host_conversions_are_refused() -> None:
    array = SimulatedDeviceBuffer.from_bytes(b"abc").as_array_like()
    with pytest.raises(TypeError, match=IMPLICIT_CONVERSION_MESSAGE):
        np.asarray(array)
    with pytest.raises(TypeError):
        memoryview(array)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=IMPLICIT_CONVERSION_MESSAGE):
        array[0:1] = [1]
    assert not hasattr(array, "flags")
    assert not hasattr(array, "base")


def test_explicit_copies_move_memory_and_nothing_else_shares_it() -> None:
    host = bytearray(b"0123456789")
    buf = SimulatedDeviceBuffer.from_bytes(host)
    host[0:1] = b"X"  # from_bytes copied host memory in
    assert buf.to_bytes() == b"0123456789"
    out = buf.as_numpy_array()
    out[:] = 0  # as_numpy_array copied device memory out
    assert buf.to_bytes() == b"0123456789"
    assert bytes(buf.as_buffer_like()) == b"0123456789"


def test_slices_are_views_and_copies_are_not() -> None:
    buf = SimulatedDeviceBuffer.from_bytes(b"0123456789")
    part = buf[2:5]
    copy = SimulatedDeviceBuffer(buf.as_array_like().copy())
    buf[2:3] = np.frombuffer(b"Z", dtype="B")
    assert part.to_bytes() == b"Z34"
    assert copy.to_bytes() == b"0123456789"


def test_from_buffer_copies_host_memory_only() -> None:
    host = cpu.Buffer.from_bytes(bytearray(b"abc"))
    on_device = SimulatedDeviceBuffer.from_buffer(host)
    host[0:1] = np.frombuffer(b"Z", dtype="B")
    assert on_device.to_bytes() == b"abc"
    again = SimulatedDeviceBuffer.from_buffer(on_device)
    assert again.as_array_like() is on_device.as_array_like()
    assert cpu.Buffer.from_buffer(on_device).to_bytes() == b"abc"


def test_combine_stays_on_the_device_and_refuses_host_buffers() -> None:
    a, b = SimulatedDeviceBuffer.from_bytes(b"ab"), SimulatedDeviceBuffer.from_bytes(b"cd")
    combined = a.combine([b])
    assert isinstance(combined, SimulatedDeviceBuffer)
    assert combined.to_bytes() == b"abcd"
    with pytest.raises(TypeError, match="cannot combine a device buffer with Buffer"):
        a.combine([cpu.Buffer.from_bytes(b"x")])


def test_only_device_arrays_of_bytes_are_held() -> None:
    with pytest.raises(TypeError, match="holds a SimulatedDeviceArray, got ndarray"):
        SimulatedDeviceBuffer(np.zeros(3, dtype="B"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1-dim bytes"):
        SimulatedDeviceArray(np.zeros(3, dtype="f8"))
    assert len(SimulatedDeviceBuffer.create_zero_length()) == 0


async def test_a_store_hands_back_device_buffers_when_asked() -> None:
    store = MemoryStore()
    await store.set("k", cpu.Buffer.from_bytes(b"0123"))
    got = await store.get("k", simulated_device_prototype, RangeByteRequest(1, 3))
    assert isinstance(got, SimulatedDeviceBuffer)
    assert got.to_bytes() == b"12"


class TestMemoryStoreWithDeviceBuffers(SyncStoreTests[MemoryStore, SimulatedDeviceBuffer]):
    store_cls = MemoryStore
    buffer_cls = SimulatedDeviceBuffer

    async def set(self, store: MemoryStore, key: str, value: Any) -> None:
        store._store_dict[key] = value

    async def get(self, store: MemoryStore, key: str) -> Any:
        return store._store_dict[key]

    @pytest.fixture
    def store_kwargs(self) -> dict[str, Any]:
        return {"store_dict": None}
