"""zstore.local: zarr-python 3's LocalStore, confined to its root, atomic and batched.

>>> from zstore.local import LocalStore
"""

from __future__ import annotations

from zstore.local.__about__ import __version__
from zstore.local._files import TMP_PREFIX
from zstore.local._resolve import resolve
from zstore.local._store import LocalStore

__all__ = ["TMP_PREFIX", "LocalStore", "__version__", "resolve"]
