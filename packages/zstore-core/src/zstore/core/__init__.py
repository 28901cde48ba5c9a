"""zstore.core: the Store contract of zarr-python 3, the shared key/prefix/range rules,
bounded concurrency, batched worker threads for blocking back ends, the async iterator
that listings return, an indexed
MemoryStore, StorePath and store resolution.

Every name a store package needs is importable from here.
"""

from __future__ import annotations

from zstore.core.__about__ import __version__
from zstore.core._byte_request import (
    ByteRequest,
    OffsetByteRequest,
    RangeByteRequest,
    SuffixByteRequest,
    normalize_byte_range,
)
from zstore.core._concurrency import (
    concurrency_limit,
    concurrent_as_completed,
    concurrent_map,
)
from zstore.core._keys import normalize_prefix, validate_key
from zstore.core._listing import Listing
from zstore.core._memory import MemoryStore
from zstore.core._protocols import (
    ByteGetter,
    ByteSetter,
    SupportsDeleteSync,
    SupportsGetSync,
    SupportsSetSync,
    SupportsSyncStore,
    SyncByteGetter,
    SyncByteSetter,
    set_or_delete,
    store_supports_sync_io,
)
from zstore.core._resolve import (
    ENTRY_POINT_GROUP,
    StoreLike,
    make_store,
    make_store_path,
    store_resolvers,
)
from zstore.core._store import (
    DEFAULT_MAX_GAP,
    DEFAULT_MAX_SIZE,
    READ_ONLY_MESSAGE,
    Store,
    coalesce_ranges,
    validate_range_options,
)
from zstore.core._store_path import ANY_ACCESS_MODE, AccessModeLiteral, StorePath
from zstore.core._threads import BatchResult, CallBatcher, ThreadDispatcher, shared_executor

__all__ = [
    "ANY_ACCESS_MODE",
    "AccessModeLiteral",
    "BatchResult",
    "ByteGetter",
    "ByteRequest",
    "ByteSetter",
    "CallBatcher",
    "DEFAULT_MAX_GAP",
    "DEFAULT_MAX_SIZE",
    "ENTRY_POINT_GROUP",
    "Listing",
    "MemoryStore",
    "OffsetByteRequest",
    "READ_ONLY_MESSAGE",
    "RangeByteRequest",
    "Store",
    "StoreLike",
    "StorePath",
    "SuffixByteRequest",
    "SupportsDeleteSync",
    "SupportsGetSync",
    "SupportsSetSync",
    "SupportsSyncStore",
    "SyncByteGetter",
    "SyncByteSetter",
    "ThreadDispatcher",
    "__version__",
    "coalesce_ranges",
    "concurrency_limit",
    "concurrent_as_completed",
    "concurrent_map",
    "make_store",
    "make_store_path",
    "normalize_byte_range",
    "normalize_prefix",
    "set_or_delete",
    "shared_executor",
    "store_resolvers",
    "store_supports_sync_io",
    "validate_key",
    "validate_range_options",
]
