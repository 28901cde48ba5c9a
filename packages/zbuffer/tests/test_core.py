"""zbuffer.core: protocols, abstract classes, BufferPrototype, Endian."""

from __future__ import annotations

import pickle
import subprocess
import sys
import typing
from typing import Any

import numpy as np
import pytest

from zbuffer import core, cpu


def test_numpy_arrays_satisfy_the_protocols() -> None:
    array = np.zeros(3, dtype="B")
    assert isinstance(array, core.ArrayLike)
    assert isinstance(array, core.NDArrayLike)
    assert not isinstance(b"abc", core.ArrayLike)


def test_abstract_classes_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError, match="abstract"):
        core.Buffer(np.zeros(1, dtype="B"))  # type: ignore[abstract]
    with pytest.raises(TypeError, match="abstract"):
        core.NDBuffer(np.zeros(1))  # type: ignore[abstract]


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (core.Buffer.create_zero_length, "Buffer"),
        (lambda: core.Buffer.from_buffer(cpu.Buffer.from_bytes(b"x")), "Buffer"),
        (lambda: core.Buffer.from_bytes(b"x"), "Buffer"),
        (lambda: core.NDBuffer.create(shape=(1,), dtype="f8"), "NDBuffer"),
        (lambda: core.NDBuffer.from_numpy_array(np.zeros(1)), "NDBuffer"),
    ],
    ids=["create_zero_length", "from_buffer", "from_bytes", "create", "from_numpy_array"],
)
def test_abstract_classmethods_raise_not_implemented(call: Any, name: str) -> None:
    # Python lets classmethods of an abstract class be called; zarr's raise, not return None.
    with pytest.raises(
        NotImplementedError, match=f"Cannot call abstract method on the abstract class '{name}'"
    ):
        call()


def test_cpu_classes_subclass_the_core_classes() -> None:
    assert issubclass(cpu.Buffer, core.Buffer)
    assert issubclass(cpu.NDBuffer, core.NDBuffer)


def test_buffer_prototype_is_a_named_tuple() -> None:
    prototype = core.BufferPrototype(buffer=cpu.Buffer, nd_buffer=cpu.NDBuffer)
    assert prototype.buffer is cpu.Buffer
    assert prototype.nd_buffer is cpu.NDBuffer
    assert tuple(prototype) == (cpu.Buffer, cpu.NDBuffer)
    assert prototype == cpu.buffer_prototype == cpu.numpy_buffer_prototype()
    assert core.BufferPrototype._fields == ("buffer", "nd_buffer")


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_buffer_prototype_pickles(protocol: int) -> None:
    restored = pickle.loads(pickle.dumps(cpu.buffer_prototype, protocol=protocol))
    assert restored == cpu.buffer_prototype
    assert restored.buffer is cpu.Buffer
    assert restored.nd_buffer is cpu.NDBuffer


def test_buffer_prototype_unpickles_in_a_fresh_process() -> None:
    payload = pickle.dumps(core.default_buffer_prototype())
    code = (
        "import pickle, sys; p = pickle.loads(sys.stdin.buffer.read()); "
        "print(p.buffer.__name__, p.nd_buffer.__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input=payload, capture_output=True, check=True
    )
    assert result.stdout.split() == [b"Buffer", b"NDBuffer"]


def test_endian_is_the_literal_of_byte_orders() -> None:
    assert typing.get_args(core.Endian) == ("little", "big")


def test_core_imports_without_cpu_and_lazily_loads_it() -> None:
    # A fresh interpreter: importing zbuffer.core must not import zbuffer.cpu (no cycle),
    # and the first lookup must register the cpu classes.
    code = (
        "import sys, zbuffer.core as c; assert 'zbuffer.cpu' not in sys.modules; "
        "print(c.get_buffer_class().__name__, 'zbuffer.cpu' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert result.stdout.split() == [b"Buffer", b"True"]


def test_cpu_imports_first_without_a_cycle() -> None:
    code = "import zbuffer.cpu, zbuffer.core as c; print(c.default_buffer_prototype().buffer)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert b"Buffer" in result.stdout


def test_no_namespace_init_is_shipped() -> None:
    import zbuffer

    assert getattr(zbuffer, "__file__", None) is None, "zbuffer must stay a PEP 420 namespace"


def test_version() -> None:
    assert core.__version__.count(".") == 2
