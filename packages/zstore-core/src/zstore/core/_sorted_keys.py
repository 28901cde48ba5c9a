"""A sorted set of string keys with O(log n) insert/remove and O(log n + k) range queries.

MemoryStore lists, sizes and deletes directories from this index instead of scanning every
key. A plain sorted ``list`` with ``bisect.insort`` would do the queries but makes each
insert an O(n) memmove (tens of microseconds at 100k keys); splitting the keys into blocks
of bounded length (the idea behind ``sortedcontainers.SortedList``, written out here so
zstore-core needs no dependency) keeps every insert to a short memmove.

Not thread-safe by itself: the owner holds a lock around every call.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Container, Iterable, Iterator

__all__ = ["SortedKeys", "prefix_end"]

_LOAD = 512
"""Target block length; a block is split when it grows past twice this."""


def prefix_end(prefix: str) -> str | None:
    """Return the smallest string greater than every string starting with ``prefix``.

    Keys starting with ``prefix`` are exactly those in ``[prefix, prefix_end(prefix))``.
    None means "no upper bound" (the empty prefix, or one made only of U+10FFFF).
    """
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    return stripped[:-1] + chr(ord(stripped[-1]) + 1)


class SortedKeys:
    """A sorted set of str in blocks of bounded length.

    Parameters
    ----------
    keys : Iterable of str
        The initial keys (duplicates are dropped).
    load : int
        The target block length; tests pass a tiny one to exercise block splits.
    """

    __slots__ = ("_blocks", "_len", "_load", "_maxes")

    def __init__(self, keys: Iterable[str] = (), *, load: int = _LOAD) -> None:
        if load < 1:
            raise ValueError(f"load must be >= 1, got {load}")
        self._load = load
        ordered = sorted(set(keys))
        self._build(ordered)

    def _build(self, ordered: list[str]) -> None:
        load = self._load
        self._blocks: list[list[str]] = [
            ordered[i : i + load] for i in range(0, len(ordered), load)
        ]
        self._maxes: list[str] = [block[-1] for block in self._blocks]
        self._len = len(ordered)

    def update(self, new_keys: Iterable[str]) -> None:
        """Insert many keys not yet present, in O((n + m) log m) rather than m inserts.

        The merged list is sorted by timsort, which merges the existing sorted run with the
        new keys in near-linear time when the new keys arrive in roughly sorted order.
        """
        merged = list(self)
        merged.extend(new_keys)
        merged.sort()
        self._build(merged)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[str]:
        for block in self._blocks:
            yield from block

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        i = bisect_left(self._maxes, key)
        if i == len(self._maxes):
            return False
        block = self._blocks[i]
        j = bisect_left(block, key)
        return j < len(block) and block[j] == key

    def add(self, key: str) -> None:
        """Insert ``key``; the caller guarantees it is not present."""
        maxes = self._maxes
        if not maxes:
            self._blocks.append([key])
            maxes.append(key)
            self._len = 1
            return
        i = bisect_left(maxes, key)
        if i == len(maxes):
            # Past every key: append to the last block (the common case for ordered writes).
            i -= 1
            block = self._blocks[i]
            block.append(key)
            maxes[i] = key
        else:
            block = self._blocks[i]
            insort(block, key)
        self._len += 1
        load = self._load
        if len(block) > 2 * load:
            self._blocks[i : i + 1] = [block[:load], block[load:]]
            maxes[i : i + 1] = [block[load - 1], block[-1]]

    def discard(self, key: str) -> bool:
        """Remove ``key`` if present; return whether it was."""
        maxes = self._maxes
        i = bisect_left(maxes, key)
        if i == len(maxes):
            return False
        block = self._blocks[i]
        j = bisect_left(block, key)
        if j == len(block) or block[j] != key:
            return False
        del block[j]
        self._len -= 1
        if block:
            maxes[i] = block[-1]
        else:
            del self._blocks[i]
            del maxes[i]
        return True

    def _locate(self, lo: str) -> tuple[int, int]:
        """Return (block, offset) of the first key >= ``lo``; block == len(blocks) if none."""
        i = bisect_left(self._maxes, lo)
        if i == len(self._maxes):
            return i, 0
        return i, bisect_left(self._blocks[i], lo)

    def range(self, lo: str, hi: str | None) -> list[str]:
        """Return the keys ``k`` with ``lo <= k < hi`` (no upper bound if ``hi`` is None)."""
        out: list[str] = []
        i, j = self._locate(lo)
        blocks = self._blocks
        while i < len(blocks):
            block = blocks[i]
            if hi is not None and block[-1] >= hi:
                out.extend(block[j : bisect_left(block, hi, j)])
                break
            out.extend(block[j:])
            i, j = i + 1, 0
        return out

    def with_prefix(self, prefix: str) -> list[str]:
        """Return the keys starting with ``prefix``, sorted."""
        return self.range(prefix, prefix_end(prefix))

    def first_with_prefix(self, prefix: str) -> str | None:
        """The smallest key starting with ``prefix``, or None if there is none."""
        i, j = self._locate(prefix)
        if i == len(self._blocks):
            return None
        key = self._blocks[i][j]
        return key if key.startswith(prefix) else None

    def any_with_prefix(self, prefix: str) -> bool:
        """Whether some key starts with ``prefix``."""
        return self.first_with_prefix(prefix) is not None

    def children(self, directory: str, present: Container[str] | None = None) -> list[str]:
        """Return the names directly under ``directory`` (``""`` or ending in ``/``).

        A key ``directory + "a"`` gives ``a``; keys ``directory + "b/..."`` give ``b`` once.
        After finding a sub-directory the search jumps past all of its keys with one bisect,
        so the cost is O((log n) * names + leaf keys), not O(keys under ``directory``).

        Parameters
        ----------
        directory : str
            ``""`` or a prefix ending in ``/``.
        present : Container of str, optional
            If given, every key the search looks at must be in it. A sub-directory's name
            rests on one key only, so the owner cannot check the names afterwards.

        Raises
        ------
        KeyError
            If a key the search looked at is not in ``present``, naming the key.
        """
        out: list[str] = []
        seen: set[str] = set()
        blocks = self._blocks
        cut = len(directory)
        i, j = self._locate(directory)
        while i < len(blocks):
            block = blocks[i]
            if j >= len(block):
                i, j = i + 1, 0
                continue
            key = block[j]
            if not key.startswith(directory):
                break
            if present is not None and key not in present:
                raise KeyError(key)
            slash = key.find("/", cut)
            if slash < 0:
                name = key[cut:]
                j += 1
            else:
                name = key[cut:slash]
                # '0' is the character after '/', so this skips every key under name/.
                i, j = self._locate(key[:slash] + "0")
            if name not in seen:
                seen.add(name)
                out.append(name)
        return out

    def pop_prefix(self, prefix: str) -> list[str]:
        """Remove and return the keys starting with ``prefix``, in O(log n + k)."""
        hi = prefix_end(prefix)
        removed: list[str] = []
        i, j = self._locate(prefix)
        blocks, maxes = self._blocks, self._maxes
        while i < len(blocks):
            block = blocks[i]
            stop = len(block) if hi is None else bisect_left(block, hi, j)
            removed.extend(block[j:stop])
            # A key >= hi left in this block means no later block has matches.
            done = stop < len(block)
            del block[j:stop]
            if block:
                maxes[i] = block[-1]
                i += 1
            else:
                del blocks[i]
                del maxes[i]
            j = 0
            if done:
                break
        self._len -= len(removed)
        return removed

    def clear(self) -> None:
        """Remove every key."""
        self._blocks.clear()
        self._maxes.clear()
        self._len = 0
