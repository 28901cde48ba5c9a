"""ztesting: a conformance kit for zarr-python 3 shaped stores.

Subclass :class:`ztesting.store.StoreTests` to test a store (or
:class:`ztesting.sync_store.SyncStoreTests` for one with ``get_sync``, ``set_sync`` and
``delete_sync``), drive it with the state machines in :mod:`ztesting.stateful`, and
generate inputs with :mod:`ztesting.strategies`.
The pytest plugin (:mod:`ztesting.plugin`, registered as a ``pytest11`` entry point)
registers the markers and Hypothesis profiles the kit uses.
"""

from __future__ import annotations

from ztesting.__about__ import __version__
from ztesting.store import LatencyStore, StoreTests
from ztesting.sync_store import SyncStoreTests
from ztesting.utils import assert_bytes_equal

__all__ = ["LatencyStore", "StoreTests", "SyncStoreTests", "__version__", "assert_bytes_equal"]
