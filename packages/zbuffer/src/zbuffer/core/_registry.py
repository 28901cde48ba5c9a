"""Registry of Buffer and NDBuffer classes, and the choice of the default ones.

A class is registered under a qualified name (``"zbuffer.cpu.Buffer"``). The default is
picked by name: the argument, else the ``ZBUFFER_BUFFER`` / ``ZBUFFER_NDBUFFER``
environment variable, else the NumPy-backed classes of ``zbuffer.cpu``.

``zbuffer.cpu`` imports this module, so this module never imports ``zbuffer.cpu`` at
import time: it does so on the first lookup, which is what registers the CPU classes.
Other packages register their classes when they are imported, or through the entry point
groups ``zbuffer.buffer`` / ``zbuffer.ndbuffer`` (an entry point's value is the class),
which are loaded the first time a name is not found.
"""

from __future__ import annotations

import importlib
import os
import threading
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from zbuffer.core._buffer import Buffer, BufferPrototype, NDBuffer

__all__ = [
    "BUFFER_ENV_VAR",
    "DEFAULT_BUFFER",
    "DEFAULT_NDBUFFER",
    "NDBUFFER_ENV_VAR",
    "default_buffer_prototype",
    "get_buffer_class",
    "get_ndbuffer_class",
    "register_buffer",
    "register_ndbuffer",
    "registered_buffers",
    "registered_ndbuffers",
]

BUFFER_ENV_VAR = "ZBUFFER_BUFFER"
NDBUFFER_ENV_VAR = "ZBUFFER_NDBUFFER"
DEFAULT_BUFFER = "zbuffer.cpu.Buffer"
DEFAULT_NDBUFFER = "zbuffer.cpu.NDBuffer"

T = TypeVar("T", Buffer, NDBuffer)


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class _Registry(Generic[T]):
    """Classes by qualified name, with lazily loaded built-ins and entry points."""

    def __init__(self, base: type[Any], what: str, env_var: str, group: str) -> None:
        self._base: type[Any] = base
        self._what = what
        self._env_var = env_var
        self._group = group
        self._classes: dict[str, type[T]] = {}
        self._entry_points_loaded = False
        self._failures: list[str] = []
        self._lock = threading.Lock()
        # Held for the whole loading of the entry points (see _load_entry_points).
        self._load_lock = threading.RLock()

    def register(self, cls: type[T], qualname: str | None) -> None:
        if not (isinstance(cls, type) and issubclass(cls, self._base)):
            raise TypeError(
                f"register_{self._what.lower()} expects a subclass of "
                f"{_qualified_name(self._base)}, got {cls!r}"
            )
        name = _qualified_name(cls) if qualname is None else qualname
        if type(name) is not str:
            # A name of another type was registered, and then broke every listing of the
            # names (sorted() of str and int) and so every lookup error.
            raise TypeError(
                f"register_{self._what.lower()}: qualname must be a str, got "
                f"{type(name).__name__}: {name!r}"
            )
        if not name:
            raise ValueError(f"cannot register {cls!r} under an empty name")
        with self._lock:
            self._classes[name] = cls
        _default_prototypes.clear()  # a name may now mean another class

    def names(self) -> list[str]:
        _load_builtins()
        with self._lock:
            return sorted(self._classes)

    def get(self, name: str | None) -> type[T]:
        if name is None:
            name = os.environ.get(self._env_var) or None
            source = f"environment variable {self._env_var}"
        else:
            source = "argument"
        if name is None:
            name = DEFAULT_BUFFER if self._base is Buffer else DEFAULT_NDBUFFER
            source = "default"
        try:
            found = self._classes.get(name)
        except TypeError:  # unhashable: certainly not a name, refused just below
            found = None
        if found is not None:
            return found
        if type(name) is not str:
            if isinstance(name, type):
                got = (
                    f"the class {_qualified_name(name)}; register it with "
                    f"zbuffer.core.register_{self._what.lower()} and pass its name"
                )
            else:
                got = f"{type(name).__name__}: {name!r}"
            raise TypeError(f"{self._what} class name must be a str or None, got {got}")
        _load_builtins()
        found = self._classes.get(name)
        if found is None:
            self._load_entry_points()
            found = self._classes.get(name)
        if found is None:
            failed = (
                f"; entry points that failed to load: {', '.join(self._failures)}"
                if self._failures
                else ""
            )
            raise ValueError(
                f"{self._what} class {name!r} (from {source}) is not registered; "
                f"registered {self._what} classes: {self.names()}. Register it with "
                f"zbuffer.core.register_{self._what.lower()}(cls) or import the package "
                f"that defines it{failed}"
            )
        return found

    def _load_entry_points(self) -> None:
        # Under a lock held until every entry point is loaded: without it, a thread that
        # missed a name while another thread was loading found the load marked done, the
        # name not registered yet, and raised. Reentrant, for a plugin whose import looks
        # a name up itself (that inner lookup sees the load as done, as before).
        with self._load_lock:
            if self._entry_points_loaded:
                return
            self._entry_points_loaded = True
            for entry_point in entry_points(group=self._group):
                try:
                    cls = entry_point.load()
                    self.register(cls, None)
                    # Also under the entry point's own name, so a short name can be
                    # configured. Inside the try: a name register refuses (an empty one)
                    # raised out of the first lookup and left the other plugins unloaded.
                    self.register(cls, entry_point.name)
                # One broken plugin must not hide the others: report it in the lookup error.
                except Exception as error:
                    self._failures.append(f"{entry_point.name} ({type(error).__name__}: {error})")


_buffer_registry: _Registry[Buffer] = _Registry(Buffer, "Buffer", BUFFER_ENV_VAR, "zbuffer.buffer")
_ndbuffer_registry: _Registry[NDBuffer] = _Registry(
    NDBuffer, "NDBuffer", NDBUFFER_ENV_VAR, "zbuffer.ndbuffer"
)


def _load_builtins() -> None:
    # Importing zbuffer.cpu registers its classes. Deferred to call time because
    # zbuffer.cpu imports zbuffer.core (this module), so a top-level import would cycle.
    importlib.import_module("zbuffer.cpu")


def register_buffer(cls: type[Buffer], qualname: str | None = None) -> None:
    """Register a Buffer class so it can be chosen by name.

    Parameters
    ----------
    cls
        A subclass of ``zbuffer.core.Buffer``.
    qualname
        The name to register it under; defaults to ``"<module>.<qualname>"`` of ``cls``.
        Registering a name again replaces the class.

    Raises
    ------
    TypeError
        If ``cls`` is not a Buffer subclass, or ``qualname`` is not a str.
    ValueError
        If ``qualname`` is empty.
    """
    _buffer_registry.register(cls, qualname)


def register_ndbuffer(cls: type[NDBuffer], qualname: str | None = None) -> None:
    """Register an NDBuffer class so it can be chosen by name.

    Parameters
    ----------
    cls
        A subclass of ``zbuffer.core.NDBuffer``.
    qualname
        The name to register it under; defaults to ``"<module>.<qualname>"`` of ``cls``.

    Raises
    ------
    TypeError
        If ``cls`` is not an NDBuffer subclass, or ``qualname`` is not a str.
    ValueError
        If ``qualname`` is empty.
    """
    _ndbuffer_registry.register(cls, qualname)


def get_buffer_class(name: str | None = None) -> type[Buffer]:
    """Return the Buffer class registered under ``name``.

    Parameters
    ----------
    name
        A registered name. If None, the ``ZBUFFER_BUFFER`` environment variable, and if
        that is unset or empty, ``"zbuffer.cpu.Buffer"``.

    Returns
    -------
    type[Buffer]

    Raises
    ------
    TypeError
        If ``name`` is not a str or None.
    ValueError
        If the name is not registered; the message lists the registered names.
    """
    return _buffer_registry.get(name)


def get_ndbuffer_class(name: str | None = None) -> type[NDBuffer]:
    """Return the NDBuffer class registered under ``name``.

    Parameters
    ----------
    name
        A registered name. If None, the ``ZBUFFER_NDBUFFER`` environment variable, and if
        that is unset or empty, ``"zbuffer.cpu.NDBuffer"``.

    Returns
    -------
    type[NDBuffer]

    Raises
    ------
    TypeError
        If ``name`` is not a str or None.
    ValueError
        If the name is not registered; the message lists the registered names.
    """
    return _ndbuffer_registry.get(name)


def registered_buffers() -> list[str]:
    """Return the registered Buffer class names, sorted."""
    return _buffer_registry.names()


def registered_ndbuffers() -> list[str]:
    """Return the registered NDBuffer class names, sorted."""
    return _ndbuffer_registry.names()


# Prototypes already built, by the values of the two environment variables. Cleared by
# every registration, so a cached prototype always holds the classes its names mean now.
_default_prototypes: dict[tuple[str | None, str | None], BufferPrototype] = {}


def default_buffer_prototype() -> BufferPrototype:
    """Return the BufferPrototype of the default Buffer and NDBuffer classes.

    The environment variables are read on every call (see ``get_buffer_class`` and
    ``get_ndbuffer_class``), so a change of them takes effect at once; the prototype for
    the values read is built once and reused.

    Returns
    -------
    BufferPrototype
    """
    environ = os.environ
    names = (environ.get(BUFFER_ENV_VAR) or None, environ.get(NDBUFFER_ENV_VAR) or None)
    prototype = _default_prototypes.get(names)
    if prototype is None:
        # Looked up from the environment again, so an error names where the name came from.
        prototype = BufferPrototype(buffer=get_buffer_class(), nd_buffer=get_ndbuffer_class())
        _default_prototypes[names] = prototype
    return prototype
