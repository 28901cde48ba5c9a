"""Hypothesis strategies for store keys, paths, byte requests and buffers.

Names follow ``zarr.testing.strategies`` (``node_names``, ``keys``, ``paths``,
``key_ranges``); everything generated here is a valid key under ``zstore.core``'s rules,
so a store that rejects one of these keys is wrong, not the test.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import hypothesis.strategies as st

from zbuffer.core import BufferPrototype, default_buffer_prototype
from zstore.core import OffsetByteRequest, RangeByteRequest, SuffixByteRequest

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from zbuffer.core import Buffer
    from zstore.core import ByteRequest

__all__ = [
    "buffers",
    "byte_requests",
    "chunk_keys",
    "key_ranges",
    "keys",
    "node_names",
    "offset_byte_requests",
    "paths",
    "range_byte_requests",
    "short_node_names",
    "suffix_byte_requests",
    "zarr_key_chars",
]

# From https://zarr-specs.readthedocs.io/en/latest/v3/core/v3.0.html#node-names: not empty,
# no "/", not only periods, no "__" prefix. Names are also kept short (filesystems limit a
# name to 255 bytes) and never "zarr.json", which would collide with node metadata.
zarr_key_chars = st.sampled_from(
    ".-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)


def _as_node_name(name: str) -> str:
    """Turn any non-empty text over ``zarr_key_chars`` into a valid node name.

    A ``map`` rather than a ``filter``: nothing is thrown away, and Hypothesis does not
    re-analyse a filter predicate every time a strategy built on it is drawn from.
    """
    if set(name) == {"."}:
        name = name + "a"
    if name.startswith("__"):
        name = "a" + name[1:]
    if name.lower() == "zarr.json":
        name = name + "0"
    return name


node_names: SearchStrategy[str] = st.text(zarr_key_chars, min_size=1, max_size=24).map(
    _as_node_name
)
"""One valid path segment (a zarr v3 node name)."""

short_node_names: SearchStrategy[str] = st.text(zarr_key_chars, min_size=1, max_size=3).map(
    _as_node_name
)
"""Names of at most 3 characters: collide often, so sibling-prefix bugs (``a`` / ``a-b``) show."""


def keys(*, max_num_nodes: int | None = None) -> SearchStrategy[str]:
    """A valid store key: one or more node names joined by ``/``."""
    return st.lists(node_names, min_size=1, max_size=max_num_nodes).map("/".join)


def paths(*, max_num_nodes: int | None = None) -> SearchStrategy[str]:
    """A node path: ``"/"`` (the root) or a key."""
    return st.just("/") | keys(max_num_nodes=max_num_nodes)


def chunk_keys(*, max_ndim: int = 3, max_index: int = 4) -> SearchStrategy[str]:
    """A zarr v3 default chunk key relative to its array: ``c`` or ``c/1/0/2``."""
    index = st.lists(st.integers(0, max_index), min_size=0, max_size=max_ndim)
    return index.map(lambda idx: "/".join(["c", *map(str, idx)]))


def range_byte_requests(max_size: int = sys.maxsize) -> SearchStrategy[RangeByteRequest]:
    """``RangeByteRequest(start, end)`` with ``0 <= start <= end <= max_size``."""
    bound = st.integers(min_value=0, max_value=max_size)
    return st.tuples(bound, bound).map(lambda pair: RangeByteRequest(min(pair), max(pair)))


def offset_byte_requests(max_size: int = sys.maxsize) -> SearchStrategy[OffsetByteRequest]:
    """``OffsetByteRequest(offset)`` with ``0 <= offset <= max_size``."""
    return st.builds(OffsetByteRequest, st.integers(min_value=0, max_value=max_size))


def suffix_byte_requests(max_size: int = sys.maxsize) -> SearchStrategy[SuffixByteRequest]:
    """``SuffixByteRequest(suffix)`` with ``0 <= suffix <= max_size``."""
    return st.builds(SuffixByteRequest, st.integers(min_value=0, max_value=max_size))


def byte_requests(
    max_size: int = sys.maxsize, *, allow_none: bool = True
) -> SearchStrategy[ByteRequest | None]:
    """Any byte request (all three kinds), or ``None`` for the whole value.

    Bounds are drawn independently of any value's length, so they routinely run past the
    end and exercise clipping.
    """
    kinds: list[SearchStrategy[ByteRequest | None]] = [
        range_byte_requests(max_size),
        offset_byte_requests(max_size),
        suffix_byte_requests(max_size),
    ]
    if allow_none:
        kinds.insert(0, st.none())
    return st.one_of(kinds)


def key_ranges(
    keys: SearchStrategy[str] = node_names, max_size: int = sys.maxsize
) -> SearchStrategy[list[tuple[str, ByteRequest | None]]]:
    """Lists of ``(key, byte_request)`` pairs for ``get_partial_values``.

    Parameters
    ----------
    keys : SearchStrategy of str
        Where the keys come from (e.g. ``st.sampled_from(existing_keys)``).
    max_size : int
        The largest offset, end or suffix to draw.
    """
    return st.lists(st.tuples(keys, byte_requests(max_size)), min_size=1, max_size=10)


@st.composite
def buffers(
    draw: st.DrawFn,
    *,
    prototype: BufferPrototype | None = None,
    min_size: int = 0,
    max_size: int = 100,
) -> Buffer:
    """A buffer of ``prototype.buffer`` (default prototype when None) with random bytes."""
    proto = prototype if prototype is not None else default_buffer_prototype()
    data = draw(st.binary(min_size=min_size, max_size=max_size))
    return proto.buffer.from_bytes(data)
