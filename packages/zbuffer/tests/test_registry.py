"""The buffer-class registry: names, the environment variables, entry points, errors."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from zbuffer import core, cpu
from zbuffer.core import _registry

_counter = itertools.count()


def unique(name: str) -> str:
    return f"tests.{name}{next(_counter)}"


class MyBuffer(cpu.Buffer):
    pass


class MyNDBuffer(cpu.NDBuffer):
    pass


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZBUFFER_BUFFER", raising=False)
    monkeypatch.delenv("ZBUFFER_NDBUFFER", raising=False)


def test_defaults_are_the_cpu_classes() -> None:
    assert core.get_buffer_class() is cpu.Buffer
    assert core.get_ndbuffer_class() is cpu.NDBuffer
    assert core.get_buffer_class("zbuffer.cpu.Buffer") is cpu.Buffer
    assert core.get_ndbuffer_class("zbuffer.cpu.NDBuffer") is cpu.NDBuffer
    assert core.default_buffer_prototype() == cpu.buffer_prototype


def test_register_under_a_qualified_name_by_default() -> None:
    core.register_buffer(MyBuffer)
    core.register_ndbuffer(MyNDBuffer)
    assert core.get_buffer_class(f"{__name__}.MyBuffer") is MyBuffer
    assert core.get_ndbuffer_class(f"{__name__}.MyNDBuffer") is MyNDBuffer
    assert f"{__name__}.MyBuffer" in core.registered_buffers()
    assert f"{__name__}.MyNDBuffer" in core.registered_ndbuffers()


def test_register_under_an_explicit_name() -> None:
    name = unique("buffer")
    core.register_buffer(MyBuffer, qualname=name)
    assert core.get_buffer_class(name) is MyBuffer


def test_environment_variables_pick_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer_name, ndbuffer_name = unique("buffer"), unique("ndbuffer")
    core.register_buffer(MyBuffer, buffer_name)
    core.register_ndbuffer(MyNDBuffer, ndbuffer_name)
    monkeypatch.setenv("ZBUFFER_BUFFER", buffer_name)
    monkeypatch.setenv("ZBUFFER_NDBUFFER", ndbuffer_name)
    assert core.get_buffer_class() is MyBuffer
    assert core.get_ndbuffer_class() is MyNDBuffer
    assert core.default_buffer_prototype() == core.BufferPrototype(MyBuffer, MyNDBuffer)
    # The argument wins over the environment.
    assert core.get_buffer_class("zbuffer.cpu.Buffer") is cpu.Buffer


def test_the_default_prototype_follows_the_environment_and_new_registrations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = unique("buffer")
    core.register_buffer(MyBuffer, name)
    before = core.default_buffer_prototype()
    assert core.default_buffer_prototype() is before, "the prototype is rebuilt on every call"
    monkeypatch.setenv("ZBUFFER_BUFFER", name)
    assert core.default_buffer_prototype().buffer is MyBuffer

    class Replacement(cpu.Buffer):
        pass

    core.register_buffer(Replacement, name)  # the same name now means another class
    assert core.default_buffer_prototype().buffer is Replacement
    monkeypatch.delenv("ZBUFFER_BUFFER")
    assert core.default_buffer_prototype() == before


def test_empty_environment_variable_means_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZBUFFER_BUFFER", "")
    assert core.get_buffer_class() is cpu.Buffer


def test_unknown_name_lists_the_registered_ones() -> None:
    expected = (
        r"Buffer class 'no.such.Buffer' \(from argument\) is not registered; "
        r"registered Buffer classes: \[.*'zbuffer.cpu.Buffer'"
    )
    with pytest.raises(ValueError, match=expected):
        core.get_buffer_class("no.such.Buffer")
    with pytest.raises(ValueError, match=r"'zbuffer.cpu.NDBuffer'"):
        core.get_ndbuffer_class("no.such.NDBuffer")


def test_unknown_name_from_the_environment_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZBUFFER_NDBUFFER", "typo.NDBuffer")
    with pytest.raises(
        ValueError, match=r"'typo.NDBuffer' \(from environment variable ZBUFFER_NDBUFFER\)"
    ):
        core.default_buffer_prototype()


@pytest.mark.parametrize("bad", [cpu.NDBuffer, int, "zbuffer.cpu.Buffer", None])
def test_register_buffer_refuses_non_buffer_classes(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"register_buffer expects a subclass of zbuffer.core"):
        core.register_buffer(bad)


@pytest.mark.parametrize("bad", [cpu.Buffer, object])
def test_register_ndbuffer_refuses_non_ndbuffer_classes(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"register_ndbuffer expects a subclass"):
        core.register_ndbuffer(bad)


def test_register_refuses_an_empty_name() -> None:
    with pytest.raises(ValueError, match="empty name"):
        core.register_buffer(MyBuffer, qualname="")


class EntryPointBuffer(cpu.Buffer):
    pass


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entry points as an installed distribution would declare them."""
    declared = {
        "zbuffer.buffer": [
            EntryPoint("epbuffer", f"{__name__}:EntryPointBuffer", "zbuffer.buffer"),
            EntryPoint("broken", "no_such_module_zbuffer:Buffer", "zbuffer.buffer"),
            # Loads, but is no Buffer class: register's TypeError must be reported too.
            EntryPoint("notabuffer", "builtins:int", "zbuffer.buffer"),
        ],
        "zbuffer.ndbuffer": [],
    }

    def entry_points(*, group: str) -> list[EntryPoint]:
        return declared.get(group, [])

    monkeypatch.setattr(_registry, "entry_points", entry_points)
    # The registry loads entry points once per process; let this test load them again.
    monkeypatch.setattr(_registry._buffer_registry, "_entry_points_loaded", False)
    monkeypatch.setattr(_registry._buffer_registry, "_failures", [])


@pytest.mark.usefixtures("fake_entry_points")
def test_entry_points_are_loaded_when_a_name_is_missing() -> None:
    assert core.get_buffer_class("epbuffer") is EntryPointBuffer
    assert core.get_buffer_class(f"{__name__}.EntryPointBuffer") is EntryPointBuffer


@pytest.mark.usefixtures("fake_entry_points")
def test_a_broken_entry_point_is_reported_not_raised() -> None:
    with pytest.raises(ValueError, match=r"entry points that failed to load: broken \(Module"):
        core.get_buffer_class("still.missing")
    assert core.get_buffer_class("epbuffer") is EntryPointBuffer


@pytest.mark.usefixtures("fake_entry_points")
def test_an_entry_point_that_is_not_a_buffer_class_is_reported_once() -> None:
    for _ in range(3):
        with pytest.raises(ValueError, match="entry points that failed to load") as info:
            core.get_buffer_class("still.missing")
        message = str(info.value)
        assert "notabuffer (TypeError: register_buffer expects a subclass" in message
        # Entry points are loaded once: a second miss must not load (and report) again.
        assert message.count("notabuffer (") == 1
        assert message.count("broken (") == 1


class SlowBuffer(cpu.Buffer):
    pass


class SlowEntryPoint:
    """An entry point whose import takes until the test lets it finish."""

    name = "slowbuffer"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def load(self) -> type[SlowBuffer]:
        self.entered.set()
        assert self.release.wait(30), "the test never released the entry point"
        return SlowBuffer


def test_a_lookup_during_the_first_entry_point_load_waits_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two threads miss the same name: the second must wait for the first's loading of
    # the entry points, not find them marked loaded, the name still absent, and raise.
    slow = SlowEntryPoint()
    monkeypatch.setattr(
        _registry, "entry_points", lambda *, group: [slow] if group == "zbuffer.buffer" else []
    )
    monkeypatch.setattr(_registry._buffer_registry, "_entry_points_loaded", False)
    monkeypatch.setattr(_registry._buffer_registry, "_failures", [])
    results: dict[str, Any] = {}

    def look_up(who: str) -> None:
        try:
            results[who] = core.get_buffer_class("slowbuffer")
        except Exception as error:
            results[who] = error

    first = threading.Thread(target=look_up, args=("first",))
    second = threading.Thread(target=look_up, args=("second",))
    first.start()
    try:
        assert slow.entered.wait(30)
        second.start()
        second.join(timeout=0.5)  # time to reach the lookup (and, before the fix, fail)
    finally:
        slow.release.set()
        first.join(30)
        if second.ident is not None:
            second.join(30)
    assert results == {"first": SlowBuffer, "second": SlowBuffer}


def test_registered_names_include_the_cpu_classes_before_any_lookup() -> None:
    # A fresh interpreter, where nothing has imported zbuffer.cpu yet.
    code = (
        "import zbuffer.core as c; "
        "print('zbuffer.cpu.Buffer' in c.registered_buffers(), "
        "'zbuffer.cpu.NDBuffer' in c.registered_ndbuffers())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert result.stdout.split() == [b"True", b"True"]
