"""The buffer contract of zarr-python 3 (``zarr.abc.buffer``) and a registry of buffer classes.

``zbuffer.core`` holds the protocols and abstract classes every buffer implementation
codes against, and the registry that picks the default Buffer and NDBuffer classes. The
NumPy-backed classes live in ``zbuffer.cpu``.
"""

from zbuffer.core.__about__ import __version__
from zbuffer.core._buffer import (
    ArrayLike,
    Buffer,
    BufferPrototype,
    BytesLike,
    Endian,
    NDArrayLike,
    NDArrayLikeOrScalar,
    NDBuffer,
    ScalarType,
)
from zbuffer.core._registry import (
    default_buffer_prototype,
    get_buffer_class,
    get_ndbuffer_class,
    register_buffer,
    register_ndbuffer,
    registered_buffers,
    registered_ndbuffers,
)

__all__ = [
    "ArrayLike",
    "Buffer",
    "BufferPrototype",
    "BytesLike",
    "Endian",
    "NDArrayLike",
    "NDArrayLikeOrScalar",
    "NDBuffer",
    "ScalarType",
    "__version__",
    "default_buffer_prototype",
    "get_buffer_class",
    "get_ndbuffer_class",
    "register_buffer",
    "register_ndbuffer",
    "registered_buffers",
    "registered_ndbuffers",
]
