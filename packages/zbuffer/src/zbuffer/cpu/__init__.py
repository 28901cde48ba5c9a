"""NumPy-backed buffers in host memory, as ``zarr.core.buffer.cpu`` of zarr-python 3.

Importing this module registers ``zbuffer.cpu.Buffer`` and ``zbuffer.cpu.NDBuffer`` with the
registry of ``zbuffer.core``; they are the default classes.
"""

from zbuffer.cpu._buffer import Buffer, NDBuffer, buffer_prototype, numpy_buffer_prototype

__all__ = ["Buffer", "NDBuffer", "buffer_prototype", "numpy_buffer_prototype"]
