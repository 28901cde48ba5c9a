#!/usr/bin/env python
"""Side-by-side benchmark of our buffers and stores against zarr-python's.

Every workload is written once, as an async function taking a *side* (the buffer classes,
store factories and byte-request classes of one implementation) and a context (sizes,
temporary directories, the timer). The harness runs each workload against zarr-python and
against our packages, interleaved (zarr, ours, ours, zarr, ...) and repeated, because this
machine is shared and absolute times drift: only the ratio of two measurements taken
seconds apart means something. Some workloads also have a *limit*: the same work done with
raw numpy / ``os`` / ``zipfile`` calls, the floor a store can approach.

Run ``python tools/bench/run.py --help``; ``tools/bench/README.md`` explains the output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import datetime
import functools
import gc
import importlib
import itertools
import json
import math
import os
import platform
import pstats
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

KiB = 1024
MiB = 1024 * KiB

# --------------------------------------------------------------------------------------
# Sides: where each implementation's classes come from
# --------------------------------------------------------------------------------------

# component -> (module, attribute, distribution to name when the module is missing)
ComponentSpec = dict[str, tuple[str, str, str]]

ZARR_SPEC: ComponentSpec = {
    "Buffer": ("zarr.core.buffer.cpu", "Buffer", "zarr"),
    "NDBuffer": ("zarr.core.buffer.cpu", "NDBuffer", "zarr"),
    "prototype": ("zarr.core.buffer.cpu", "buffer_prototype", "zarr"),
    "MemoryStore": ("zarr.storage", "MemoryStore", "zarr"),
    "LocalStore": ("zarr.storage", "LocalStore", "zarr"),
    "ZipStore": ("zarr.storage", "ZipStore", "zarr"),
    "RangeByteRequest": ("zarr.abc.store", "RangeByteRequest", "zarr"),
    "OffsetByteRequest": ("zarr.abc.store", "OffsetByteRequest", "zarr"),
    "SuffixByteRequest": ("zarr.abc.store", "SuffixByteRequest", "zarr"),
}

OURS_SPEC: ComponentSpec = {
    "Buffer": ("zbuffer.cpu", "Buffer", "zbuffer"),
    "NDBuffer": ("zbuffer.cpu", "NDBuffer", "zbuffer"),
    "prototype": ("zbuffer.cpu", "buffer_prototype", "zbuffer"),
    "MemoryStore": ("zstore.core", "MemoryStore", "zstore-core"),
    "LocalStore": ("zstore.local", "LocalStore", "zstore-local"),
    "ZipStore": ("zstore.zip", "ZipStore", "zstore-zip"),
    "RangeByteRequest": ("zstore.core", "RangeByteRequest", "zstore-core"),
    "OffsetByteRequest": ("zstore.core", "OffsetByteRequest", "zstore-core"),
    "SuffixByteRequest": ("zstore.core", "SuffixByteRequest", "zstore-core"),
}


class Unavailable(Exception):
    """A side cannot run a workload because a package is missing or incomplete."""


class WrongResult(Exception):
    """A store returned something other than what the workload stored (a bug, not speed)."""


def expect(condition: bool, what: str) -> None:
    """Raise WrongResult unless `condition`: a fast wrong answer is not a result."""
    if not condition:
        raise WrongResult(what)


class Side:
    """One implementation's buffers, stores and byte requests, imported on first use.

    A component whose package is not importable raises `Unavailable`, which the harness
    reports as ``n/a (...)`` for the workloads that need it while the rest still run.
    """

    def __init__(self, name: str, label: str, spec: ComponentSpec) -> None:
        self.name = name
        self.label = label
        self._spec = spec
        self._resolved: dict[str, Any] = {}

    def get(self, component: str) -> Any:
        if component in self._resolved:
            return self._resolved[component]
        module_name, attr, dist = self._spec[component]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if module_name == missing or module_name.startswith(missing + "."):
                raise Unavailable(f"package {dist} not installed") from exc
            raise Unavailable(f"importing {module_name} failed: {exc}") from exc
        except ImportError as exc:
            raise Unavailable(f"importing {module_name} failed: {exc}") from exc
        if not hasattr(module, attr):
            raise Unavailable(f"{module_name} has no {attr} yet")
        value = getattr(module, attr)
        self._resolved[component] = value
        return value

    def check(self, *components: str) -> None:
        """Raise Unavailable now, before any setup, if a needed component is missing."""
        for component in components:
            self.get(component)

    # Buffers --------------------------------------------------------------------------
    @property
    def Buffer(self) -> Any:
        return self.get("Buffer")

    @property
    def NDBuffer(self) -> Any:
        return self.get("NDBuffer")

    @property
    def prototype(self) -> Any:
        return self.get("prototype")

    def buffers(self, data: bytes | bytearray, size: int, count: int) -> list[Any]:
        """`count` buffers of `size` bytes, zero-copy views into `data` (cycled)."""
        view = memoryview(data)
        span = len(data) // size
        from_bytes = self.Buffer.from_bytes
        return [from_bytes(view[(i % span) * size : (i % span + 1) * size]) for i in range(count)]

    # Byte requests ---------------------------------------------------------------------
    def range_request(self, start: int, end: int) -> Any:
        return self.get("RangeByteRequest")(start, end)

    def offset_request(self, offset: int) -> Any:
        return self.get("OffsetByteRequest")(offset)

    def suffix_request(self, suffix: int) -> Any:
        return self.get("SuffixByteRequest")(suffix)

    # Stores ----------------------------------------------------------------------------
    async def memory_store(self, items: Iterable[tuple[str, Any]] = ()) -> Any:
        """A MemoryStore holding `items`, written with ``_set_many`` (untimed).

        Not built over a ready dict: ours indexes the keys it is given that way, so a
        listing timed next would not pay for indexing keys that a store filled by writes
        does (zarr-python's store keeps nothing but the dict, either way).
        """
        store = self.get("MemoryStore")()
        await store._set_many(list(items))
        return store

    def local_store(self, root: Path, *, read_only: bool = False) -> Any:
        return self.get("LocalStore")(root, read_only=read_only)

    def zip_store(self, path: Path, *, mode: str) -> Any:
        return self.get("ZipStore")(path, mode=mode)


# --------------------------------------------------------------------------------------
# Workloads: definition and registry
# --------------------------------------------------------------------------------------


class GcClock:
    """Time spent in the garbage collector, and its collections, inside timed blocks.

    With ``--gc`` it answers "how much of a row is the collector's": in a gather of 100k
    tasks most of the floor is collections over every live task, paid by both sides.
    """

    def __init__(self) -> None:
        self.active = False
        self.seconds = 0.0
        self.collections = [0, 0, 0]  # per generation
        self._started = 0.0

    def reset(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]

    def callback(self, phase: str, info: dict[str, int]) -> None:
        if not self.active:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1


@dataclasses.dataclass
class Ctx:
    """What a workload function gets besides its side."""

    quick: bool
    tmp: Path  # this workload's directory, shared by all sides, removed afterwards
    shared: dict[str, Any]  # prepared once per workload, shared by all sides
    cache: dict[str, Any]  # this side's, kept across the repeats of this workload
    elapsed: float | None = None
    ops: int = 0
    nbytes: int = 0
    gc_clock: GcClock | None = None  # set with --gc
    gc_seconds: float = 0.0
    gc_collections: tuple[int, int, int] = (0, 0, 0)

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    @contextlib.contextmanager
    def timed(self, ops: int = 1, nbytes: int = 0) -> Iterator[None]:
        """Time the block; only one timed block per call of a workload."""
        # Collected here, after the workload's setup, so that what setup allocated never
        # lands a collection inside one side's timed block and not the other's.
        gc.collect()
        clock = self.gc_clock
        if clock is not None:
            clock.reset()
            clock.active = True
        start = time.perf_counter()
        try:
            yield
        finally:
            if clock is not None:
                clock.active = False
        self.elapsed = time.perf_counter() - start
        self.ops = ops
        self.nbytes = nbytes
        if clock is not None:
            self.gc_seconds = clock.seconds
            young, middle, full = clock.collections
            self.gc_collections = (young, middle, full)

    def fresh_dir(self, name: str) -> Path:
        """An empty directory under this workload's tmp dir (unique per call)."""
        path = Path(tempfile.mkdtemp(prefix=name + "-", dir=self.tmp))
        return path


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    group: str
    run: Callable[[Side, Ctx], Awaitable[None]] | None
    target: float | None = None  # the minimum ratio zarr-python / ours
    limit: Callable[[Ctx], Awaitable[None]] | None = None
    limit_factor: float | None = None  # the maximum ratio ours / limit
    needs: tuple[str, ...] = ()


WORKLOADS: list[Workload] = []


def workload(
    name: str,
    group: str,
    *,
    needs: tuple[str, ...],
    target: float | None = 1.0,
    limit: Callable[[Ctx], Awaitable[None]] | None = None,
    limit_factor: float | None = None,
) -> Callable[[Callable[[Side, Ctx], Awaitable[None]]], Callable[[Side, Ctx], Awaitable[None]]]:
    """Register a workload; the default target is the issue's "no workload slower"."""

    def register(
        fn: Callable[[Side, Ctx], Awaitable[None]],
    ) -> Callable[[Side, Ctx], Awaitable[None]]:
        WORKLOADS.append(Workload(name, group, fn, target, limit, limit_factor, needs))
        return fn

    return register


def reference(name: str, group: str, fn: Callable[[Ctx], Awaitable[None]]) -> None:
    """Register a limit-only row (no store involved), e.g. numpy copy bandwidth."""
    WORKLOADS.append(Workload(name, group, None, None, fn))


async def drain(aiter: Any) -> list[Any]:
    return [x async for x in aiter]


async def drain_ranges(aiter: Any) -> list[tuple[int, Any]]:
    """Flatten what get_ranges yields: batches of (index, buffer) pairs, on both sides."""
    return [pair async for batch in aiter for pair in batch]


def payload(data: bytes | bytearray, size: int, i: int) -> bytes:
    """The bytes of value ``i`` of ``size`` over ``data``: what ``Side.buffers``,
    ``write_files`` and the archives hold (values cycle through ``data``)."""
    span = len(data) // size
    return bytes(data[(i % span) * size : (i % span + 1) * size])


def spread(n: int, count: int = 64) -> list[int]:
    """About ``count`` indices spread over ``range(n)``, the first and last included."""
    return sorted({0, n - 1, *range(0, n, max(1, n // count))}) if n else []


def check_bytes(got: Sequence[Any], expected: Callable[[int], bytes], what: str) -> None:
    """Compare the bytes of a spread sample of results with what they must be, after the
    timed block: a fast wrong answer (zeros of the right length, say) is not a result."""
    expect(len(got) > 0, f"{what}: no results")
    for i in spread(len(got)):
        value = got[i]
        expect(value is not None, f"{what}: item {i} is missing")
        expect(value.to_bytes() == expected(i), f"{what}: item {i} has the wrong bytes")


async def check_stored(
    side: Side, store: Any, keys: Sequence[str], expected: Callable[[int], bytes], what: str
) -> None:
    """Read back a spread sample of ``keys`` (after the timed block) and check their bytes."""
    sample = spread(len(keys))
    got = [await store.get(keys[i], side.prototype) for i in sample]
    check_bytes(got, lambda j: expected(sample[j]), what)


# --------------------------------------------------------------------------------------
# MemoryStore
# --------------------------------------------------------------------------------------
MEM = "MemoryStore"
MEM_NEEDS = ("Buffer", "prototype", "MemoryStore")


def chunk_keys(n: int) -> list[str]:
    return [f"arr/c/{i // 1000}/{i % 1000}" for i in range(n)]


def kib_payloads(side: Side, ctx: Ctx, n: int) -> tuple[list[str], list[Any]]:
    if "payloads" not in ctx.cache:
        data = ctx.shared.setdefault("random", os.urandom(4 * MiB))
        ctx.cache["payloads"] = (chunk_keys(n), side.buffers(data, KiB, n))
    keys, values = ctx.cache["payloads"]
    return keys, values


async def filled_memory_store(side: Side, ctx: Ctx, n: int) -> tuple[Any, list[str]]:
    keys, values = kib_payloads(side, ctx, n)
    if "store" not in ctx.cache:
        ctx.cache["store"] = await side.memory_store(zip(keys, values, strict=True))
    return ctx.cache["store"], keys


async def gathered(coros: Iterable[Awaitable[Any]], n: int, gathers: int = 1) -> list[Any]:
    """Await ``n`` coroutines in ``gathers`` consecutive ``asyncio.gather`` calls."""
    if gathers == 1:
        return await asyncio.gather(*coros)
    step = -(-n // gathers)
    it = iter(coros)
    results: list[Any] = []
    for _ in range(gathers):
        results.extend(await asyncio.gather(*itertools.islice(it, step)))
    return results


async def gather_floor_set(ctx: Ctx, gathers: int = 1) -> None:
    """The asyncio floor under a gathered set: one task per key that only stores into a dict."""
    n = ctx.size(100_000, 2_000)
    keys = chunk_keys(n)
    stored: dict[str, Any] = {}

    async def put(key: str, value: Any) -> None:
        stored[key] = value

    with ctx.timed(ops=n, nbytes=n * KiB):
        await gathered((put(k, None) for k in keys), n, gathers)
    expect(len(stored) == n, "the floor lost keys")


async def gather_floor_get(ctx: Ctx, gathers: int = 1) -> None:
    """The asyncio floor under a gathered get: one task per key that only reads a dict."""
    n = ctx.size(100_000, 2_000)
    stored = dict.fromkeys(chunk_keys(n), b"")

    async def fetch(key: str) -> Any:
        return stored.get(key)

    with ctx.timed(ops=n, nbytes=n * KiB):
        got = await gathered((fetch(k) for k in stored), n, gathers)
    expect(len(got) == n, "the floor lost keys")


async def gathered_sets(
    side: Side, ctx: Ctx, keys: list[str], values: list[Any], gathers: int = 1
) -> None:
    """Time set(key, value) of every key on a new MemoryStore, gathered, and check it."""
    n = len(keys)
    store = await side.memory_store()
    with ctx.timed(ops=n, nbytes=n * KiB):
        await gathered((store.set(k, v) for k, v in zip(keys, values, strict=True)), n, gathers)
    expect(len(await drain(store.list())) == n, "not every key was stored")
    await check_stored(side, store, keys, lambda i: values[i].to_bytes(), "set")


def memory_gather_workloads(gathers: int, note: str = "") -> None:
    """Register gathered set and get of 100k keys, in ``gathers`` gathers, with their floors."""

    async def set_all(side: Side, ctx: Ctx) -> None:
        keys, values = kib_payloads(side, ctx, ctx.size(100_000, 2_000))
        await gathered_sets(side, ctx, keys, values, gathers)

    async def get_all(side: Side, ctx: Ctx) -> None:
        n = ctx.size(100_000, 2_000)
        store, keys = await filled_memory_store(side, ctx, n)
        proto = side.prototype
        with ctx.timed(ops=n, nbytes=n * KiB):
            got = await gathered((store.get(k, proto) for k in keys), n, gathers)
        check_bytes(got, functools.partial(payload, ctx.shared["random"], KiB), "get")

    set_floor = functools.partial(gather_floor_set, gathers=gathers)
    get_floor = functools.partial(gather_floor_get, gathers=gathers)
    workload(
        f"memory set 100k x 1 KiB (gather set{note})",
        MEM,
        needs=MEM_NEEDS,
        target=1.5,
        limit=set_floor,
    )(set_all)
    workload(
        f"memory get 100k x 1 KiB (gather get{note})",
        MEM,
        needs=MEM_NEEDS,
        target=1.5,
        limit=get_floor,
    )(get_all)


memory_gather_workloads(1)
# The figures for zarr-python (11-12 us per key; 6 us per gathered task) match
# gathers of 10k on this machine: with 100k tasks alive at once, both sides pay far more
# per task (memory and garbage collection).
memory_gather_workloads(10, ", 10k at a time")


@workload(
    "memory set 100k x 1 KiB writable values (gather set)",
    MEM,
    needs=MEM_NEEDS,
    limit=gather_floor_set,
)
async def memory_set_gather_writable(side: Side, ctx: Ctx) -> None:
    # Values over a bytearray, as an uncompressed chunk is a view of the user's array:
    # both stores must copy them (kib_payloads views bytes, which ours keeps as is).
    n = ctx.size(100_000, 2_000)
    if "writable" not in ctx.cache:
        data = bytearray(ctx.shared.setdefault("random", os.urandom(4 * MiB)))
        ctx.cache["writable"] = side.buffers(data, KiB, n)
    await gathered_sets(side, ctx, chunk_keys(n), ctx.cache["writable"])


async def loop_floor_set(ctx: Ctx) -> None:
    """The floor under awaited sets: a coroutine that only stores into a dict, awaited."""
    n = ctx.size(100_000, 2_000)
    stored: dict[str, Any] = {}

    async def put(key: str, value: Any) -> None:
        stored[key] = value

    keys = chunk_keys(n)
    with ctx.timed(ops=n, nbytes=n * KiB):
        for k in keys:
            await put(k, None)
    expect(len(stored) == n, "the floor lost keys")


@workload(
    "memory set 100k x 1 KiB (awaited one at a time)",
    MEM,
    needs=MEM_NEEDS,
    target=1.5,
    limit=loop_floor_set,
)
async def memory_set_loop(side: Side, ctx: Ctx) -> None:
    # Without gather's per-task cost (the same for both stores), what is left is each
    # store's own work per call.
    n = ctx.size(100_000, 2_000)
    keys, values = kib_payloads(side, ctx, n)
    store = await side.memory_store()
    set_ = store.set
    with ctx.timed(ops=n, nbytes=n * KiB):
        for k, v in zip(keys, values, strict=True):
            await set_(k, v)
    expect(len(await drain(store.list())) == n, "not every key was stored")
    await check_stored(side, store, keys, lambda i: values[i].to_bytes(), "set")


@workload("memory get 100k x 1 KiB (awaited one at a time)", MEM, needs=MEM_NEEDS, target=1.5)
async def memory_get_loop(side: Side, ctx: Ctx) -> None:
    n = ctx.size(100_000, 2_000)
    store, keys = await filled_memory_store(side, ctx, n)
    proto, get = side.prototype, store.get
    with ctx.timed(ops=n, nbytes=n * KiB):
        got = [await get(k, proto) for k in keys]
    check_bytes(got, functools.partial(payload, ctx.shared["random"], KiB), "get")


@workload("memory set 100k x 1 KiB (_set_many)", MEM, needs=MEM_NEEDS, target=1.5)
async def memory_set_many(side: Side, ctx: Ctx) -> None:
    n = ctx.size(100_000, 2_000)
    keys, values = kib_payloads(side, ctx, n)
    store = await side.memory_store()
    with ctx.timed(ops=n, nbytes=n * KiB):
        await store._set_many(zip(keys, values, strict=True))
    expect(len(await drain(store.list())) == n, "not every key was stored")
    await check_stored(side, store, keys, lambda i: values[i].to_bytes(), "_set_many")


@workload("memory get 100k x 1 KiB (_get_many)", MEM, needs=MEM_NEEDS, target=1.5)
async def memory_get_many(side: Side, ctx: Ctx) -> None:
    n = ctx.size(100_000, 2_000)
    store, keys = await filled_memory_store(side, ctx, n)
    proto = side.prototype
    with ctx.timed(ops=n, nbytes=n * KiB):
        got = [x async for x in store._get_many((k, proto, None) for k in keys)]
    by_key = dict(got)
    expect(len(got) == n and len(by_key) == n, "_get_many lost a value")
    data = ctx.shared["random"]
    check_bytes([by_key[k] for k in keys], functools.partial(payload, data, KiB), "_get_many")


@workload("memory get_partial_values 100k mixed ranges", MEM, needs=MEM_NEEDS, target=1.5)
async def memory_partial_values(side: Side, ctx: Ctx) -> None:
    n = ctx.size(100_000, 2_000)
    store, keys = await filled_memory_store(side, ctx, n)
    kinds = [
        None,
        side.range_request(100, 600),
        side.offset_request(512),
        side.suffix_request(256),
    ]
    requests = [(k, kinds[i % 4]) for i, k in enumerate(keys)]
    with ctx.timed(ops=n):
        got = await store.get_partial_values(side.prototype, requests)
    expect(len(got) == n, "get_partial_values lost a value")
    parts = [slice(None), slice(100, 600), slice(512, None), slice(-256, None)]
    data = ctx.shared["random"]
    check_bytes(got, lambda i: payload(data, KiB, i)[parts[i % 4]], "get_partial_values")


def hierarchy_keys(ctx: Ctx) -> list[str]:
    """A 3-level hierarchy: 10 x 100 x 100 = 100k keys (quick: 10 x 10 x 20)."""
    n1, n2, n3 = (10, 10, 20) if ctx.quick else (10, 100, 100)
    return [f"g{i}/a{j}/c{k}" for i in range(n1) for j in range(n2) for k in range(n3)]


async def hierarchy_store(side: Side, ctx: Ctx, *, fresh: bool) -> tuple[Any, int, int, int]:
    """A MemoryStore with the hierarchy; rebuilt for destructive workloads."""
    n1, n2, n3 = (10, 10, 20) if ctx.quick else (10, 100, 100)
    if "items" not in ctx.cache:
        keys = hierarchy_keys(ctx)
        values = side.buffers(ctx.shared.setdefault("random", os.urandom(4 * MiB)), 64, len(keys))
        ctx.cache["items"] = list(zip(keys, values, strict=True))
    if fresh or "store" not in ctx.cache:
        ctx.cache["store"] = await side.memory_store(ctx.cache["items"])
    return ctx.cache["store"], n1, n2, n3


def level2_dirs(n1: int, n2: int, count: int) -> list[str]:
    rng = random.Random(42)
    return [f"g{rng.randrange(n1)}/a{rng.randrange(n2)}" for _ in range(count)]


@workload("memory list_dir 100 dirs of 100 among 100k", MEM, needs=MEM_NEEDS, target=20)
async def memory_list_dir(side: Side, ctx: Ctx) -> None:
    store, n1, n2, n3 = await hierarchy_store(side, ctx, fresh=True)
    dirs = level2_dirs(n1, n2, 100)
    with ctx.timed(ops=len(dirs)):
        got = [await drain(store.list_dir(d)) for d in dirs]
    children = sorted(f"c{k}" for k in range(n3))
    expect(all(sorted(g) == children for g in got), "list_dir returned wrong children")


@workload("memory list_prefix 100 prefixes of 100 among 100k", MEM, needs=MEM_NEEDS, target=20)
async def memory_list_prefix(side: Side, ctx: Ctx) -> None:
    store, n1, n2, n3 = await hierarchy_store(side, ctx, fresh=True)
    dirs = level2_dirs(n1, n2, 100)
    with ctx.timed(ops=len(dirs)):
        got = [await drain(store.list_prefix(d + "/")) for d in dirs]
    for d, g in zip(dirs, got, strict=True):
        expect(sorted(g) == sorted(f"{d}/c{k}" for k in range(n3)), f"list_prefix({d!r}) was wrong")


@workload("memory getsize_prefix 5 x 10k among 100k", MEM, needs=MEM_NEEDS, target=20)
async def memory_getsize_prefix(side: Side, ctx: Ctx) -> None:
    store, n1, n2, n3 = await hierarchy_store(side, ctx, fresh=True)
    prefixes = [f"g{i}" for i in range(0, n1, 2)]
    with ctx.timed(ops=len(prefixes)):
        sizes = [await store.getsize_prefix(p) for p in prefixes]
    expect(all(s == n2 * n3 * 64 for s in sizes), f"getsize_prefix gave {sizes[:3]}")


@workload("memory getsize_prefix('') 100k keys", MEM, needs=MEM_NEEDS, target=20)
async def memory_getsize_root(side: Side, ctx: Ctx) -> None:
    store, n1, n2, n3 = await hierarchy_store(side, ctx, fresh=True)
    with ctx.timed(ops=1):
        size = await store.getsize_prefix("")
    expect(size == n1 * n2 * n3 * 64, f"getsize_prefix('') gave {size}")


@workload("memory delete_dir 50 dirs of 100 among 100k", MEM, needs=MEM_NEEDS, target=20)
async def memory_delete_dir(side: Side, ctx: Ctx) -> None:
    store, n1, n2, n3 = await hierarchy_store(side, ctx, fresh=True)
    dirs = sorted(set(level2_dirs(n1, n2, 50)))
    with ctx.timed(ops=len(dirs)):
        for d in dirs:
            await store.delete_dir(d)
    left = len(await drain(store.list()))
    expect(left == n1 * n2 * n3 - len(dirs) * n3, f"delete_dir left {left} keys")


def scattered_starts(size: int, count: int, length: int) -> list[int]:
    rng = random.Random(7)
    return sorted(rng.randrange(0, size - length) for _ in range(count))


@workload("memory get_ranges 10k x 1 KiB in 16 MiB", MEM, needs=MEM_NEEDS)
async def memory_get_ranges(side: Side, ctx: Ctx) -> None:
    size = ctx.size(16 * MiB, MiB)
    count = ctx.size(10_000, 500)
    if "store" not in ctx.cache:
        data = ctx.shared.setdefault("blob", os.urandom(size))
        ctx.cache["store"] = await side.memory_store([("shard", side.Buffer.from_bytes(data))])
    store = ctx.cache["store"]
    starts = scattered_starts(size, count, KiB)
    ranges = [side.range_request(s, s + KiB) for s in starts]
    with ctx.timed(ops=count):
        got = await drain_ranges(store.get_ranges("shard", ranges, prototype=side.prototype))
    expect(sorted(i for i, _ in got) == list(range(count)), "get_ranges lost a range")
    data, by_index = ctx.shared["blob"], dict(got)
    check_bytes(
        [by_index[i] for i in range(count)],
        lambda i: data[starts[i] : starts[i] + KiB],
        "get_ranges",
    )


# --------------------------------------------------------------------------------------
# LocalStore
# --------------------------------------------------------------------------------------
LOCAL = "LocalStore"
LOCAL_NEEDS = ("Buffer", "prototype", "LocalStore", "RangeByteRequest")


def write_files(root: Path, keys: Sequence[str], data: bytes, size: int) -> None:
    """Write the files both stores and the raw-os limit read (plain Python, untimed)."""
    view = memoryview(data)
    span = len(data) // size
    for i, key in enumerate(keys):
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(view[(i % span) * size : (i % span + 1) * size])


def flat_keys(n: int) -> list[str]:
    return [f"c/{i}" for i in range(n)]


def shared_files(ctx: Ctx, n: int, size: int) -> tuple[Path, list[str]]:
    """One directory of `n` files of `size` bytes, written once per workload."""
    if "root" not in ctx.shared:
        root = ctx.fresh_dir("files")
        keys = flat_keys(n)
        write_files(root, keys, random_bytes(ctx, size), size)
        ctx.shared["root"] = root
        ctx.shared["keys"] = keys
    root_path: Path = ctx.shared["root"]
    keys_list: list[str] = ctx.shared["keys"]
    return root_path, keys_list


def random_bytes(ctx: Ctx, size: int) -> bytes:
    """Random bytes, enough for 16 distinct values of `size` (compression-proof)."""
    key = f"random-{size}"
    if key not in ctx.shared:
        ctx.shared[key] = os.urandom(max(16 * size, 4 * MiB))
    data: bytes = ctx.shared[key]
    return data


def files_shape(ctx: Ctx, which: str) -> tuple[int, int]:
    if which == "small":
        return ctx.size(5_000, 200), 64 * KiB
    return ctx.size(200, 10), ctx.size(4 * MiB, 256 * KiB)


async def local_write(side: Side, ctx: Ctx, which: str) -> None:
    n, size = files_shape(ctx, which)
    keys = flat_keys(n)
    values = side.buffers(random_bytes(ctx, size), size, n)
    root = ctx.fresh_dir("write")
    try:
        store = side.local_store(root)
        with ctx.timed(ops=n, nbytes=n * size):
            await asyncio.gather(*(store.set(k, v) for k, v in zip(keys, values, strict=True)))
        expect(len(os.listdir(root / "c")) == n, "not every file was written")
        on_disk = [(root / keys[i]).read_bytes() for i in spread(n)]
        expect(
            all(b == values[i].to_bytes() for b, i in zip(on_disk, spread(n), strict=True)),
            "a file holds the wrong bytes",
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def local_write_limit(ctx: Ctx, which: str) -> None:
    n, size = files_shape(ctx, which)
    keys = flat_keys(n)
    data = random_bytes(ctx, size)
    root = ctx.fresh_dir("write")
    try:
        with ctx.timed(ops=n, nbytes=n * size):
            write_files(root, keys, data, size)
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def local_read(side: Side, ctx: Ctx, which: str) -> None:
    n, size = files_shape(ctx, which)
    root, keys = shared_files(ctx, n, size)
    store = side.local_store(root, read_only=True)
    proto = side.prototype
    with ctx.timed(ops=n, nbytes=n * size):
        got = await asyncio.gather(*(store.get(k, proto) for k in keys))
    check_bytes(got, functools.partial(payload, random_bytes(ctx, size), size), "read")


def raw_read_all(root: Path, keys: Sequence[str]) -> int:
    total = 0
    for key in keys:
        fd = os.open(root / key, os.O_RDONLY)
        try:
            total += len(os.read(fd, os.fstat(fd).st_size))
        finally:
            os.close(fd)
    return total


async def local_read_limit(ctx: Ctx, which: str) -> None:
    n, size = files_shape(ctx, which)
    root, keys = shared_files(ctx, n, size)
    with ctx.timed(ops=n, nbytes=n * size):
        total = raw_read_all(root, keys)
    expect(total == n * size, "raw read lost bytes")


async def _local_write_small(side: Side, ctx: Ctx) -> None:
    await local_write(side, ctx, "small")


async def _local_write_small_limit(ctx: Ctx) -> None:
    await local_write_limit(ctx, "small")


async def _local_read_small(side: Side, ctx: Ctx) -> None:
    await local_read(side, ctx, "small")


async def _local_read_small_limit(ctx: Ctx) -> None:
    await local_read_limit(ctx, "small")


async def _local_write_big(side: Side, ctx: Ctx) -> None:
    await local_write(side, ctx, "big")


async def _local_write_big_limit(ctx: Ctx) -> None:
    await local_write_limit(ctx, "big")


async def _local_read_big(side: Side, ctx: Ctx) -> None:
    await local_read(side, ctx, "big")


async def _local_read_big_limit(ctx: Ctx) -> None:
    await local_read_limit(ctx, "big")


workload(
    "local write 5k x 64 KiB (gather set)",
    LOCAL,
    needs=LOCAL_NEEDS,
    limit=_local_write_small_limit,
)(_local_write_small)
workload(
    "local read 5k x 64 KiB (gather get)",
    LOCAL,
    needs=LOCAL_NEEDS,
    target=3,
    limit=_local_read_small_limit,
    limit_factor=3,
)(_local_read_small)
workload(
    "local write 200 x 4 MiB (gather set)",
    LOCAL,
    needs=LOCAL_NEEDS,
    limit=_local_write_big_limit,
)(_local_write_big)
workload(
    "local read 200 x 4 MiB (gather get)",
    LOCAL,
    needs=LOCAL_NEEDS,
    limit=_local_read_big_limit,
)(_local_read_big)


def range_plan(ctx: Ctx, n_files: int, file_size: int) -> list[tuple[int, int]]:
    """(file index, offset) of the 4 KiB range reads, the same for every side."""
    if "plan" not in ctx.shared:
        rng = random.Random(3)
        count = ctx.size(10_000, 300)
        ctx.shared["plan"] = [
            (rng.randrange(n_files), rng.randrange(file_size - 4 * KiB)) for _ in range(count)
        ]
    plan: list[tuple[int, int]] = ctx.shared["plan"]
    return plan


async def local_range_reads_limit(ctx: Ctx) -> None:
    n, size = files_shape(ctx, "small")
    root, keys = shared_files(ctx, n, size)
    plan = range_plan(ctx, n, size)
    with ctx.timed(ops=len(plan), nbytes=len(plan) * 4 * KiB):
        total = 0
        for i, offset in plan:
            fd = os.open(root / keys[i], os.O_RDONLY)
            try:
                total += len(os.pread(fd, 4 * KiB, offset))
            finally:
                os.close(fd)
    expect(total == len(plan) * 4 * KiB, "raw pread lost bytes")


@workload(
    "local range reads 10k x 4 KiB (gather get)",
    LOCAL,
    needs=LOCAL_NEEDS,
    target=4,
    limit=local_range_reads_limit,
)
async def local_range_reads(side: Side, ctx: Ctx) -> None:
    n, size = files_shape(ctx, "small")
    root, keys = shared_files(ctx, n, size)
    plan = range_plan(ctx, n, size)
    store = side.local_store(root, read_only=True)
    proto = side.prototype
    requests = [(keys[i], side.range_request(o, o + 4 * KiB)) for i, o in plan]
    with ctx.timed(ops=len(plan), nbytes=len(plan) * 4 * KiB):
        got = await asyncio.gather(*(store.get(k, proto, byte_range=r) for k, r in requests))
    check_ranges(got, plan, random_bytes(ctx, size), size, "range read")


def check_ranges(
    got: Sequence[Any], plan: Sequence[tuple[int, int]], data: bytes, size: int, what: str
) -> None:
    """Check 4 KiB range reads done by ``plan`` (value index, offset) of values of
    ``size`` over ``data``."""
    expect(len(got) == len(plan), f"{what}: {len(got)} results for {len(plan)} reads")

    def expected(j: int) -> bytes:
        i, offset = plan[j]
        return payload(data, size, i)[offset : offset + 4 * KiB]

    check_bytes(got, expected, what)


@workload(
    "local get_partial_values 10k x 4 KiB",
    LOCAL,
    needs=LOCAL_NEEDS,
    target=4,
    limit=local_range_reads_limit,
)
async def local_partial_values(side: Side, ctx: Ctx) -> None:
    n, size = files_shape(ctx, "small")
    root, keys = shared_files(ctx, n, size)
    plan = range_plan(ctx, n, size)
    store = side.local_store(root, read_only=True)
    requests = [(keys[i], side.range_request(o, o + 4 * KiB)) for i, o in plan]
    with ctx.timed(ops=len(plan), nbytes=len(plan) * 4 * KiB):
        got = await store.get_partial_values(side.prototype, requests)
    check_ranges(got, plan, random_bytes(ctx, size), size, "get_partial_values")


LIST_REPEATS = 20


async def local_list_dir_limit(ctx: Ctx) -> None:
    n, size = files_shape(ctx, "small")
    root, _ = shared_files(ctx, n, size)
    with ctx.timed(ops=LIST_REPEATS):
        got = [os.listdir(root / "c") for _ in range(LIST_REPEATS)]
    expect(all(len(g) == n for g in got), "os.listdir miscounted")


@workload(
    "local list_dir over 5k files (x20)",
    LOCAL,
    needs=LOCAL_NEEDS,
    target=3,
    limit=local_list_dir_limit,
)
async def local_list_dir(side: Side, ctx: Ctx) -> None:
    n, size = files_shape(ctx, "small")
    root, _ = shared_files(ctx, n, size)
    store = side.local_store(root, read_only=True)
    with ctx.timed(ops=LIST_REPEATS):
        got = [await drain(store.list_dir("c")) for _ in range(LIST_REPEATS)]
    names = sorted(k.removeprefix("c/") for k in flat_keys(n))
    expect(all(sorted(g) == names for g in got), f"list_dir returned {len(got[0])} of {n}")


async def local_getsize_limit(ctx: Ctx) -> None:
    n, size = files_shape(ctx, "small")
    root, _ = shared_files(ctx, n, size)
    with ctx.timed(ops=n), os.scandir(root / "c") as it:
        total = sum(e.stat().st_size for e in it)
    expect(total == n * size, "scandir miscounted")


@workload(
    "local getsize_prefix over 5k files",
    LOCAL,
    needs=LOCAL_NEEDS,
    target=10,
    limit=local_getsize_limit,
)
async def local_getsize_prefix(side: Side, ctx: Ctx) -> None:
    n, size = files_shape(ctx, "small")
    root, _ = shared_files(ctx, n, size)
    store = side.local_store(root, read_only=True)
    with ctx.timed(ops=n):
        total = await store.getsize_prefix("c")
    expect(total == n * size, f"getsize_prefix gave {total}")


def delete_fixture(ctx: Ctx) -> Path:
    n = ctx.size(5_000, 200)
    root = ctx.fresh_dir("delete")
    write_files(root, [f"d/c/{i}" for i in range(n)], random_bytes(ctx, 4 * KiB), 4 * KiB)
    (root / "keep").write_bytes(b"x")
    return root


async def local_delete_dir_limit(ctx: Ctx) -> None:
    root = delete_fixture(ctx)
    try:
        with ctx.timed(ops=1):
            shutil.rmtree(root / "d")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@workload("local delete_dir of 5k files", LOCAL, needs=LOCAL_NEEDS, limit=local_delete_dir_limit)
async def local_delete_dir(side: Side, ctx: Ctx) -> None:
    root = delete_fixture(ctx)
    try:
        store = side.local_store(root)
        with ctx.timed(ops=1):
            await store.delete_dir("d")
        expect(not list((root / "d").rglob("c/*")), "delete_dir left files")
        expect((root / "keep").exists(), "delete_dir deleted a sibling")
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def local_get_ranges_limit(ctx: Ctx) -> None:
    path, ranges = shard_file(ctx)
    with ctx.timed(ops=len(ranges)):
        fd = os.open(path, os.O_RDONLY)
        try:
            got = [os.pread(fd, KiB * 4, start) for start in ranges]
        finally:
            os.close(fd)
    expect(all(len(g) == 4 * KiB for g in got), "pread lost bytes")


def shard_file(ctx: Ctx) -> tuple[Path, list[int]]:
    """A 64 MiB file ("a shard") and the sorted starts of 10k 4 KiB ranges in it."""
    if "shard" not in ctx.shared:
        size = ctx.size(64 * MiB, 2 * MiB)
        root = ctx.fresh_dir("shard")
        (root / "shard").write_bytes(os.urandom(size))
        rng = random.Random(11)
        count = ctx.size(10_000, 300)
        ctx.shared["shard"] = (root, sorted(rng.randrange(size - 4 * KiB) for _ in range(count)))
    root, starts = ctx.shared["shard"]
    return root / "shard", starts


@workload(
    "local get_ranges 10k x 4 KiB in 64 MiB",
    LOCAL,
    needs=LOCAL_NEEDS,
    limit=local_get_ranges_limit,
)
async def local_get_ranges(side: Side, ctx: Ctx) -> None:
    path, starts = shard_file(ctx)
    store = side.local_store(path.parent, read_only=True)
    ranges = [side.range_request(s, s + 4 * KiB) for s in starts]
    with ctx.timed(ops=len(ranges)):
        got = await drain_ranges(store.get_ranges("shard", ranges, prototype=side.prototype))
    expect(sorted(i for i, _ in got) == list(range(len(ranges))), "get_ranges lost a range")
    data, by_index = path.read_bytes(), dict(got)
    check_bytes(
        [by_index[i] for i in range(len(ranges))],
        lambda i: data[starts[i] : starts[i] + 4 * KiB],
        "get_ranges",
    )


# --------------------------------------------------------------------------------------
# ZipStore
# --------------------------------------------------------------------------------------
ZIP = "ZipStore"
ZIP_NEEDS = ("Buffer", "prototype", "ZipStore", "RangeByteRequest")


def shared_zip(ctx: Ctx) -> tuple[Path, list[str], int]:
    """A stored (uncompressed) archive of 5k x 64 KiB members, written with zipfile."""
    n, size = files_shape(ctx, "small")
    if "zip" not in ctx.shared:
        path = ctx.fresh_dir("zip") / "data.zip"
        keys = flat_keys(n)
        data = memoryview(random_bytes(ctx, size))
        span = len(data) // size
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
            for i, key in enumerate(keys):
                zf.writestr(key, data[(i % span) * size : (i % span + 1) * size])
        ctx.shared["zip"] = (path, keys)
    path, keys = ctx.shared["zip"]
    return path, keys, size


def cached_zip_reader(side: Side, ctx: Ctx) -> Any:
    """A read-only ZipStore over the shared archive, opened once per side (untimed)."""
    path, _, _ = shared_zip(ctx)
    if "store" not in ctx.cache:
        ctx.cache["store"] = side.zip_store(path, mode="r")
    return ctx.cache["store"]


async def zip_write_limit(ctx: Ctx) -> None:
    n, size = files_shape(ctx, "small")
    data = memoryview(random_bytes(ctx, size))
    span = len(data) // size
    path = ctx.fresh_dir("zipw") / "w.zip"
    try:
        with (
            ctx.timed(ops=n, nbytes=n * size),
            zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf,
        ):
            for i in range(n):
                zf.writestr(f"c/{i}", data[(i % span) * size : (i % span + 1) * size])
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


@workload("zip write 5k x 64 KiB + close (gather set)", ZIP, needs=ZIP_NEEDS, limit=zip_write_limit)
async def zip_write(side: Side, ctx: Ctx) -> None:
    n, size = files_shape(ctx, "small")
    keys = flat_keys(n)
    values = side.buffers(random_bytes(ctx, size), size, n)
    path = ctx.fresh_dir("zipw") / "w.zip"
    try:
        store = side.zip_store(path, mode="w")
        with ctx.timed(ops=n, nbytes=n * size):
            await asyncio.gather(*(store.set(k, v) for k, v in zip(keys, values, strict=True)))
            store.close()
        with zipfile.ZipFile(path) as zf:
            expect(sorted(zf.namelist()) == sorted(keys), "the archive lacks members")
            expect(zf.testzip() is None, "a member fails its CRC check")
            expect(
                all(zf.read(keys[i]) == values[i].to_bytes() for i in spread(n)),
                "a member holds the wrong bytes",
            )
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


if TYPE_CHECKING:
    # An archive a workload reads: its path, member names and member size.
    ZipArchiveFn = Callable[[Ctx], tuple[Path, list[str], int]]


def read_all_workload(name: str, archive: ZipArchiveFn) -> None:
    """Register opening an archive and reading every member (gathered), with zipfile's
    reads of the same members as the limit."""

    async def limit(ctx: Ctx) -> None:
        path, keys, size = archive(ctx)
        with ctx.timed(ops=len(keys), nbytes=len(keys) * size), zipfile.ZipFile(path) as zf:
            total = sum(len(zf.read(k)) for k in keys)
        expect(total == len(keys) * size, "zipfile lost bytes")

    async def run(side: Side, ctx: Ctx) -> None:
        path, keys, size = archive(ctx)
        with ctx.timed(ops=len(keys), nbytes=len(keys) * size):
            store = side.zip_store(path, mode="r")
            got = await asyncio.gather(*(store.get(k, side.prototype) for k in keys))
            store.close()
        check_bytes(got, functools.partial(member_bytes, ctx, archive), "member read")

    workload(name, ZIP, needs=ZIP_NEEDS, limit=limit)(run)


def member_bytes(ctx: Ctx, archive: ZipArchiveFn, i: int) -> bytes:
    """Member ``i`` of ``archive`` as zipfile reads it (each member read once, cached)."""
    path, keys, _ = archive(ctx)
    members: dict[int, bytes] = ctx.shared.setdefault(f"members-{path}", {})
    if i not in members:
        with zipfile.ZipFile(path) as zf:
            members[i] = zf.read(keys[i])
    return members[i]


def check_member_ranges(
    ctx: Ctx, archive: ZipArchiveFn, got: Sequence[Any], plan: Sequence[tuple[int, int]]
) -> None:
    """Check 4 KiB range reads of ``archive``'s members done by ``plan``."""
    expect(len(got) == len(plan), f"{len(got)} results for {len(plan)} range reads")

    def expected(j: int) -> bytes:
        i, offset = plan[j]
        return member_bytes(ctx, archive, i)[offset : offset + 4 * KiB]

    check_bytes(got, expected, "range read")


def zip_range_plan(ctx: Ctx, archive: ZipArchiveFn, count: int) -> list[tuple[int, int]]:
    _, keys, size = archive(ctx)
    return range_plan(ctx, len(keys), size)[:count]


def zipfile_range_limit(
    archive: ZipArchiveFn, count: int = 10_000
) -> Callable[[Ctx], Awaitable[None]]:
    """The same range reads through zipfile, already open: open the member, seek, read
    4 KiB."""

    async def limit(ctx: Ctx) -> None:
        path, keys, _ = archive(ctx)
        plan = zip_range_plan(ctx, archive, count)
        got = []
        with zipfile.ZipFile(path) as zf, ctx.timed(ops=len(plan), nbytes=len(plan) * 4 * KiB):
            for i, offset in plan:
                with zf.open(keys[i]) as member:
                    member.seek(offset)
                    got.append(member.read(4 * KiB))
        expect(sum(map(len, got)) == len(plan) * 4 * KiB, "zipfile range reads lost bytes")

    return limit


def fresh_range_workload(
    name: str, archive: ZipArchiveFn, count: int, *, target: float = 1.0
) -> None:
    """Register gathered 4 KiB range reads from a store just opened (untimed, with its
    central directory read): most members are read for the first time, so their local
    headers are still to be read. zarr-python's zipfile reads the local header on every
    read anyway."""

    async def run(side: Side, ctx: Ctx) -> None:
        path, keys, _ = archive(ctx)
        plan = zip_range_plan(ctx, archive, count)
        store = side.zip_store(path, mode="r")
        expect(await store.exists(keys[0]), "the archive lacks a member")
        proto = side.prototype
        requests = [(keys[i], side.range_request(o, o + 4 * KiB)) for i, o in plan]
        with ctx.timed(ops=len(plan), nbytes=len(plan) * 4 * KiB):
            got = await asyncio.gather(*(store.get(k, proto, byte_range=r) for k, r in requests))
        store.close()
        check_member_ranges(ctx, archive, got, plan)

    limit = zipfile_range_limit(archive, count)
    workload(name, ZIP, needs=ZIP_NEEDS, target=target, limit=limit)(run)


read_all_workload("zip reopen + read all 5k x 64 KiB (gather get)", shared_zip)


@workload(
    "zip range reads 10k x 4 KiB (gather get)",
    ZIP,
    needs=ZIP_NEEDS,
    target=3,
    limit=zipfile_range_limit(shared_zip),
)
async def zip_range_reads(side: Side, ctx: Ctx) -> None:
    # One store per side, opened once and kept across the repeats: after the first
    # repeat, every member's data offset is known.
    _path, keys, size = shared_zip(ctx)
    plan = range_plan(ctx, len(keys), size)
    store = cached_zip_reader(side, ctx)
    proto = side.prototype
    requests = [(keys[i], side.range_request(o, o + 4 * KiB)) for i, o in plan]
    with ctx.timed(ops=len(plan), nbytes=len(plan) * 4 * KiB):
        got = await asyncio.gather(*(store.get(k, proto, byte_range=r) for k, r in requests))
    check_member_ranges(ctx, shared_zip, got, plan)


fresh_range_workload(
    "zip range reads 10k x 4 KiB, fresh store (gather get)", shared_zip, 10_000, target=3
)


@workload("zip range reads 2k x 4 KiB (awaited one at a time)", ZIP, needs=ZIP_NEEDS)
async def zip_range_reads_loop(side: Side, ctx: Ctx) -> None:
    # A lone read: nothing to overlap with. zarr-python reads the local header and the range
    # through zipfile on the event-loop thread; ours copies a cached range with one
    # non-blocking preadv2 on the loop, and pays a thread hop only when the range is not in
    # the page cache.
    _path, keys, size = shared_zip(ctx)
    plan = range_plan(ctx, len(keys), size)[: ctx.size(2_000, 200)]
    store = cached_zip_reader(side, ctx)
    proto = side.prototype
    requests = [(keys[i], side.range_request(o, o + 4 * KiB)) for i, o in plan]
    with ctx.timed(ops=len(plan), nbytes=len(plan) * 4 * KiB):
        got = [await store.get(k, proto, byte_range=r) for k, r in requests]
    check_member_ranges(ctx, shared_zip, got, plan)


def deflated_zip(ctx: Ctx) -> tuple[Path, list[str], int]:
    """A deflated archive of 2k x 64 KiB members, written with zipfile.

    Each member is random bytes of 16 values, which deflate halves: compressed members
    whose inflation, not the copy, is the cost.
    """
    n, size = ctx.size(2_000, 100), 64 * KiB
    if "deflated" not in ctx.shared:
        path = ctx.fresh_dir("zipd") / "deflated.zip"
        keys = flat_keys(n)
        rng = np.random.default_rng(5)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for key in keys:
                zf.writestr(key, rng.integers(0, 16, size, dtype=np.uint8).tobytes())
        ctx.shared["deflated"] = (path, keys)
    path, keys = ctx.shared["deflated"]
    return path, keys, size


read_all_workload("zip deflated: reopen + read all 2k x 64 KiB (gather get)", deflated_zip)
# Both inflate each member from its start up to the end of the range.
fresh_range_workload("zip deflated: range reads 4k x 4 KiB (gather get)", deflated_zip, 4_000)


async def zip_list_dir_limit(ctx: Ctx) -> None:
    path, keys, _ = shared_zip(ctx)
    with zipfile.ZipFile(path) as zf, ctx.timed(ops=LIST_REPEATS):
        got = [
            {n[2:].split("/", 1)[0] for n in zf.namelist() if n.startswith("c/")}
            for _ in range(LIST_REPEATS)
        ]
    expect(all(len(g) == len(keys) for g in got), "namelist miscounted")


@workload(
    "zip list_dir over 5k members (x20)",
    ZIP,
    needs=ZIP_NEEDS,
    target=3,
    limit=zip_list_dir_limit,
)
async def zip_list_dir(side: Side, ctx: Ctx) -> None:
    _, keys, _ = shared_zip(ctx)
    store = cached_zip_reader(side, ctx)
    with ctx.timed(ops=LIST_REPEATS):
        got = [await drain(store.list_dir("c")) for _ in range(LIST_REPEATS)]
    names = sorted(k.removeprefix("c/") for k in keys)
    expect(all(sorted(g) == names for g in got), f"list_dir returned {len(got[0])}")


async def zip_getsize_limit(ctx: Ctx) -> None:
    path, keys, size = shared_zip(ctx)
    with zipfile.ZipFile(path) as zf, ctx.timed(ops=len(keys)):
        total = sum(i.file_size for i in zf.infolist() if i.filename.startswith("c/"))
    expect(total == len(keys) * size, "infolist miscounted")


@workload(
    "zip getsize_prefix over 5k members",
    ZIP,
    needs=ZIP_NEEDS,
    target=20,
    limit=zip_getsize_limit,
)
async def zip_getsize_prefix(side: Side, ctx: Ctx) -> None:
    _, keys, size = shared_zip(ctx)
    store = cached_zip_reader(side, ctx)
    with ctx.timed(ops=len(keys)):
        total = await store.getsize_prefix("c")
    expect(total == len(keys) * size, f"getsize_prefix gave {total}")


async def each_getsize(
    getsize: Callable[[str], Awaitable[int]], keys: list[str], gathered: bool
) -> list[int]:
    """``getsize`` of every key: all in one gather, or awaited one at a time."""
    if gathered:
        return await asyncio.gather(*(getsize(k) for k in keys))
    return [await getsize(k) for k in keys]


def getsize_workloads(label: str, *, gathered: bool) -> None:
    """Register getsize of every member, gathered or awaited one at a time, with its floor:
    the same calls to a coroutine that only reads a dict."""

    async def floor(ctx: Ctx) -> None:
        _, keys, size = shared_zip(ctx)
        sizes = dict.fromkeys(keys, size)

        async def getsize(key: str) -> int:
            return sizes[key]

        with ctx.timed(ops=len(keys)):
            got = await each_getsize(getsize, keys, gathered)
        expect(sum(got) == len(keys) * size, "the floor miscounted")

    async def run(side: Side, ctx: Ctx) -> None:
        _, keys, size = shared_zip(ctx)
        store = cached_zip_reader(side, ctx)
        with ctx.timed(ops=len(keys)):
            got = await each_getsize(store.getsize, keys, gathered)
        expect(all(s == size for s in got), "getsize was wrong")

    name = f"zip getsize 5k members ({label})"
    workload(name, ZIP, needs=ZIP_NEEDS, target=20, limit=floor)(run)


getsize_workloads("gather", gathered=True)
# How a caller asks for the sizes of a few keys, one after another: each call's own cost,
# without one asyncio task per key (the gathered row is mostly tasks).
getsize_workloads("awaited one at a time", gathered=False)


# --------------------------------------------------------------------------------------
# Buffers
# --------------------------------------------------------------------------------------
BUF = "Buffers"
BUF_NEEDS = ("Buffer", "NDBuffer")


def big_bytes(ctx: Ctx) -> bytes:
    if "big" not in ctx.shared:
        ctx.shared["big"] = os.urandom(ctx.size(64 * MiB, 4 * MiB))
    data: bytes = ctx.shared["big"]
    return data


async def from_bytes_limit(ctx: Ctx) -> None:
    data = big_bytes(ctx)
    reps = 200
    with ctx.timed(ops=reps):
        for _ in range(reps):
            np.frombuffer(data, dtype="B")


@workload(
    "buffer from_bytes 64 MiB, zero-copy (x200)", BUF, needs=BUF_NEEDS, limit=from_bytes_limit
)
async def buffer_from_bytes(side: Side, ctx: Ctx) -> None:
    data = big_bytes(ctx)
    from_bytes = side.Buffer.from_bytes
    reps = 200
    with ctx.timed(ops=reps):
        for _ in range(reps):
            buf = from_bytes(data)
    expect(len(buf) == len(data), "from_bytes changed the length")


async def to_bytes_limit(ctx: Ctx) -> None:
    array = np.frombuffer(big_bytes(ctx), dtype="B")
    reps = 10
    with ctx.timed(ops=reps, nbytes=reps * array.nbytes):
        for _ in range(reps):
            out = array.tobytes()
    expect(len(out) == array.nbytes, "tobytes lost bytes")


@workload("buffer to_bytes 64 MiB (x10)", BUF, needs=BUF_NEEDS, limit=to_bytes_limit)
async def buffer_to_bytes(side: Side, ctx: Ctx) -> None:
    data = big_bytes(ctx)
    buf = side.Buffer.from_bytes(bytearray(data))
    reps = 10
    with ctx.timed(ops=reps, nbytes=reps * len(data)):
        for _ in range(reps):
            out = buf.to_bytes()
    expect(out == data, "to_bytes changed the bytes")


@workload("buffer to_bytes of from_bytes(bytes) 64 MiB (x10)", BUF, needs=BUF_NEEDS)
async def buffer_to_bytes_of_bytes(side: Side, ctx: Ctx) -> None:
    # The round trip of a value read as bytes (a file, an HTTP body): ours hands back the
    # bytes object, which cannot change; zarr-python copies it.
    data = big_bytes(ctx)
    buf = side.Buffer.from_bytes(data)
    reps = 10
    with ctx.timed(ops=reps, nbytes=reps * len(data)):
        for _ in range(reps):
            out = buf.to_bytes()
    expect(out == data, "to_bytes changed the bytes")


def combine_count(ctx: Ctx) -> int:
    return ctx.size(1000, 100)


def small_buffers(side: Side, ctx: Ctx, size: int) -> list[Any]:
    if "small" not in ctx.cache:
        # Both sides view the same memory: where a 16 MiB input lands (mmap or heap, which
        # depends on what was freed before) changed the time of np.concatenate by 3x in an
        # A/A run, far more than any difference between the implementations.
        count = combine_count(ctx)
        if "small" not in ctx.shared:
            ctx.shared["small"] = os.urandom(count * size)
        ctx.cache["small"] = side.buffers(ctx.shared["small"], size, count)
    bufs: list[Any] = ctx.cache["small"]
    return bufs


def combine_workloads(size: int, label: str) -> None:
    """Register combining 1,000 buffers into one, as zarr-python 3.4.2 builds a shard
    (``template.combine(buffers)``), with numpy's concatenate of the same memory."""

    async def run(side: Side, ctx: Ctx) -> None:
        bufs = small_buffers(side, ctx, size)
        with ctx.timed(ops=1, nbytes=len(bufs) * size):
            out = bufs[0].combine(bufs[1:])
        expect(out.to_bytes() == ctx.shared["small"], "combine changed the bytes")

    async def limit(ctx: Ctx) -> None:
        count = combine_count(ctx)
        if "small" not in ctx.shared:
            ctx.shared["small"] = os.urandom(count * size)
        view = memoryview(ctx.shared["small"])
        arrays = [np.frombuffer(view[i * size : (i + 1) * size], dtype="B") for i in range(count)]
        with ctx.timed(ops=1, nbytes=count * size):
            out = np.concatenate(arrays)
        expect(out.tobytes() == ctx.shared["small"], "concatenate changed the bytes")

    workload(f"buffer combine 1000 x {label}", BUF, needs=BUF_NEEDS, limit=limit)(run)


combine_workloads(4 * KiB, "4 KiB")
combine_workloads(16 * KiB, "16 KiB")


def nd_shape(ctx: Ctx) -> tuple[int, int]:
    return (4096, 4096) if not ctx.quick else (512, 512)


async def nd_create_limit(ctx: Ctx) -> None:
    shape = nd_shape(ctx)
    reps = 5
    with ctx.timed(ops=reps, nbytes=reps * 8 * shape[0] * shape[1]):
        for _ in range(reps):
            np.full(shape, 1.5, dtype="float64")


@workload(
    "ndbuffer create+fill 4096x4096 float64 (x5)",
    BUF,
    needs=BUF_NEEDS,
    limit=nd_create_limit,
)
async def nd_create(side: Side, ctx: Ctx) -> None:
    shape = nd_shape(ctx)
    create = side.NDBuffer.create
    reps = 5
    with ctx.timed(ops=reps, nbytes=reps * 8 * shape[0] * shape[1]):
        for _ in range(reps):
            nd = create(shape=shape, dtype="float64", fill_value=1.5)
    array = nd.as_numpy_array()
    expect(array.shape == shape and bool((array == 1.5).all()), "create did not fill")


def all_equal_workloads(value: float) -> None:
    async def run(side: Side, ctx: Ctx) -> None:
        if "nd" not in ctx.cache:
            ctx.cache["nd"] = side.NDBuffer.create(
                shape=nd_shape(ctx), dtype="float64", fill_value=value
            )
        nd = ctx.cache["nd"]
        reps = 5
        with ctx.timed(ops=reps):
            results = [nd.all_equal(value) for _ in range(reps)]
        expect(all(results), "all_equal said False on a uniform buffer")
        # And False where it must be: one element off, in the last place it could hide.
        odd = side.NDBuffer.create(shape=nd_shape(ctx), dtype="float64", fill_value=value)
        odd.as_numpy_array()[-1, -1] = value + 1
        expect(not odd.all_equal(value), "all_equal said True on a buffer with one odd value")

    async def limit(ctx: Ctx) -> None:
        a = np.full(nd_shape(ctx), value, dtype="float64")
        reps = 5
        with ctx.timed(ops=reps):
            results = [bool((a == value).all()) for _ in range(reps)]
        expect(all(results), "numpy disagrees")

    workload(
        f"ndbuffer all_equal({value}) 4096x4096 float64 (x5)",
        BUF,
        needs=BUF_NEEDS,
        target=2,
        limit=limit,
    )(run)


all_equal_workloads(1.5)
all_equal_workloads(0.0)


async def numpy_copy(ctx: Ctx) -> None:
    src = np.frombuffer(big_bytes(ctx), dtype="B")
    dst = np.empty_like(src)
    reps = 20
    with ctx.timed(ops=reps, nbytes=reps * src.nbytes):
        for _ in range(reps):
            np.copyto(dst, src)


reference("numpy copy 64 MiB (x20), bandwidth floor", "References", numpy_copy)


# --------------------------------------------------------------------------------------
# Harness
# --------------------------------------------------------------------------------------


def slower_beyond_noise(ratios: list[float], alpha: float = 0.05) -> bool:
    """Whether the paired per-repeat ratios show ours slower beyond chance (sign test).

    Each repeat times both sides back to back, so each ratio is one paired trial. If the
    two sides were equally fast, each trial would come out below 1 with probability 1/2;
    ours counts as slower only when so many fall below 1 that equal speed would give that
    less often than ``alpha`` (one-sided): 7 or 8 of 8 repeats. A median ratio just under 1
    with repeats on both sides of it is a tie, not a loss.
    """
    n = len(ratios)
    below = sum(r < 1 for r in ratios)
    tail = sum(math.comb(n, k) for k in range(below, n + 1)) / 2**n
    return n > 0 and tail < alpha


@dataclasses.dataclass
class Result:
    workload: Workload
    times: dict[str, list[float]]
    status: dict[str, str]  # side -> "ok" | "n/a (...)" | "error: ..."
    ops: int = 0
    nbytes: int = 0
    # With --gc, per side and repeat: seconds in the collector, collections per generation.
    gc_seconds: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    gc_collections: dict[str, list[tuple[int, int, int]]] = dataclasses.field(default_factory=dict)

    def median(self, side: str) -> float | None:
        t = self.times.get(side) or []
        return statistics.median(t) if t else None

    def ratios(self) -> list[float]:
        z, o = self.times.get("zarr") or [], self.times.get("ours") or []
        return [a / b for a, b in zip(z, o, strict=False) if b > 0]

    def ratio(self) -> float | None:
        z, o = self.median("zarr"), self.median("ours")
        return z / o if z is not None and o else None

    def verdicts(self) -> list[str]:
        """What the issue's targets say about this row (empty when nothing to say)."""
        out: list[str] = []
        ratio = self.ratio()
        wl = self.workload
        if ratio is not None and wl.target is not None and ratio < wl.target:
            if ratio >= 1:
                out.append(f"MISS target {wl.target:g}x")
            else:
                ratios = self.ratios()
                slower = sum(r < 1 for r in ratios)
                count = f"ours slower in {slower} of {len(ratios)} repeats"
                if wl.target == 1 and not slower_beyond_noise(ratios):
                    out.append(f"tie ({count}: within noise)")
                else:
                    out.append(f"MISS target {wl.target:g}x ({count})")
        ours, lim = self.median("ours"), self.median("limit")
        over = ours / lim if ours is not None and lim else None
        if wl.limit_factor is not None and over is not None and over > wl.limit_factor:
            out.append(f"MISS ours {over:.1f}x reference > {wl.limit_factor:g}x")
        return out


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions: dict[str, str] = {}
    for dist in ("zarr", "zbuffer", "zstore-core", "zstore-local", "zstore-zip"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[dist] = version(dist)
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "packages": versions,
    }


def side_call(run: Callable[[Side, Ctx], Awaitable[None]], side: Side, ctx: Ctx) -> Awaitable[None]:
    return run(side, ctx)


async def as_coroutine(awaitable: Awaitable[None]) -> None:
    """asyncio.Runner.run wants a coroutine; workloads are typed as returning awaitables."""
    await awaitable


@dataclasses.dataclass(frozen=True)
class Options:
    repeats: int
    quick: bool
    tmp_root: Path
    profile: str | None = None  # side name to profile after the timed repeats
    gc_clock: GcClock | None = None  # with --gc


class WorkloadRun:
    """The repeats of one workload over every side, and their bookkeeping."""

    def __init__(self, wl: Workload, sides: list[Side], options: Options) -> None:
        self.wl, self.sides, self.options = wl, sides, options
        self.tmp = Path(
            tempfile.mkdtemp(prefix=re.sub(r"\W+", "-", wl.name)[:40], dir=options.tmp_root)
        )
        self.shared: dict[str, Any] = {}
        self.caches: dict[str, dict[str, Any]] = {s.name: {} for s in sides}
        self.caches["limit"] = {}
        self.result = Result(wl, {s.name: [] for s in sides}, {})
        status = self.result.status
        for side in sides:
            if wl.run is None:
                status[side.name] = "n/a"
                continue
            try:
                side.check(*wl.needs)
                status[side.name] = "ok"
            except Unavailable as exc:
                status[side.name] = f"n/a ({exc})"
        if wl.limit is not None:
            status["limit"] = "ok"
            self.result.times["limit"] = []

    def ctx(self, name: str) -> Ctx:
        return Ctx(
            quick=self.options.quick,
            tmp=self.tmp,
            shared=self.shared,
            cache=self.caches[name],
            gc_clock=self.options.gc_clock,
        )

    def measure(
        self,
        runner: asyncio.Runner,
        name: str,
        call: Callable[[Ctx], Awaitable[None]],
        *,
        keep: bool = True,
    ) -> None:
        """Run ``call`` once for ``name``; record its time if ``keep`` (not a warm-up)."""
        status = self.result.status
        ctx = self.ctx(name)
        try:
            runner.run(as_coroutine(call(ctx)))
        except Unavailable as exc:
            status[name] = f"n/a ({exc})"
            return
        except Exception as exc:
            status[name] = f"error: {type(exc).__name__}: {exc}"[:300]
            print(f"  {name}: {self.wl.name}: {status[name]}", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            return
        if ctx.elapsed is None:
            status[name] = "error: workload never entered its timed block"
            return
        if not keep:
            return
        self.result.times[name].append(ctx.elapsed)
        self.result.ops, self.result.nbytes = ctx.ops, ctx.nbytes
        if ctx.gc_clock is not None:
            self.result.gc_seconds.setdefault(name, []).append(ctx.gc_seconds)
            self.result.gc_collections.setdefault(name, []).append(ctx.gc_collections)

    def round_order(self, r: int) -> list[tuple[str, Callable[[Ctx], Awaitable[None]]]]:
        """Who runs in round ``r``, in order. The sides alternate who goes first (an even
        number of repeats gives each the first slot equally often: in an A/A run the second
        of a pair was 2-5% faster); the reference moves through the three slots."""
        calls: list[tuple[str, Callable[[Ctx], Awaitable[None]]]] = []
        if self.wl.run is not None:
            sides = self.sides if r % 2 == 0 else self.sides[::-1]
            calls = [(s.name, functools.partial(side_call, self.wl.run, s)) for s in sides]
        if self.wl.limit is not None:
            calls.insert((r // 2) % (len(calls) + 1), ("limit", self.wl.limit))
        return calls

    def profile(self, runner: asyncio.Runner, side: Side) -> None:
        """One more, untimed run under cProfile, printed to stderr.

        cProfile sees the main thread only: work a store hands to a thread pool shows up
        as the wait for it.
        """
        assert self.wl.run is not None
        profiler = cProfile.Profile()
        call = functools.partial(side_call, self.wl.run, side)
        profiler.runcall(runner.run, as_coroutine(call(self.ctx(side.name))))
        print(f"-- profile of {side.label}: {self.wl.name}", file=sys.stderr)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)

    def run(self) -> Result:
        status = self.result.status
        try:
            with asyncio.Runner() as runner:
                # A first, uncounted round (not in --quick) warms imports, caches and the
                # allocator for everyone, so the first counted round is not a cold start.
                first = 0 if self.options.quick else -1
                for r in range(first, self.options.repeats):
                    for name, call in self.round_order(r):
                        if status[name] == "ok":
                            self.measure(runner, name, call, keep=r >= 0)
                for side in self.sides:
                    if self.options.profile == side.name and status[side.name] == "ok":
                        self.profile(runner, side)
                self.caches.clear()
                self.shared.clear()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return self.result


def fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.1f} ms"
    return f"{t * 1e6:.0f} us"


def table_rows(results: Sequence[Result], aa: bool) -> list[list[str]]:
    rows = []
    for res in results:
        wl = res.workload
        zarr_t, ours_t, lim_t = res.median("zarr"), res.median("ours"), res.median("limit")
        ratio = res.ratio()
        ratios = res.ratios()
        notes = [
            f"{side}: {st}" if side != "ours" or len(res.status) > 1 else st
            for side, st in res.status.items()
            if st not in {"ok", "n/a"}
        ]
        if wl.run is None and lim_t and res.nbytes:
            notes.append(f"{res.nbytes / lim_t / 1e9:.1f} GB/s")
        if not aa:
            notes.extend(res.verdicts())
        target = f">={wl.target:g}x" if wl.target is not None and wl.run is not None else ""
        rows.append(
            [
                wl.name,
                fmt_time(zarr_t),
                fmt_time(ours_t),
                f"{ratio:.2f}x" if ratio is not None else "-",
                f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-",
                fmt_time(lim_t),
                target,
                "; ".join(notes),
            ]
        )
    return rows


def render_gc_table(results: Sequence[Result], markdown: bool = False) -> str:
    """Per workload and side: median time, median time in the collector, and the median
    collections per generation (young / middle / full) inside the timed block."""
    head = ["workload", "side", "median", "in gc", "collections (young/middle/full)"]
    rows: list[list[str]] = []
    for r in results:
        for side, seconds in r.gc_seconds.items():
            counts = r.gc_collections[side]
            per_generation = "/".join(
                f"{statistics.median(c[g] for c in counts):g}" for g in range(3)
            )
            median = r.median(side)
            rows.append(
                [
                    r.workload.name,
                    side,
                    "-" if median is None else fmt_time(median),
                    fmt_time(statistics.median(seconds)),
                    per_generation,
                ]
            )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(x) for x in column) for column in zip(head, *rows, strict=False)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [head, *rows]
    )


def render_table(results: Sequence[Result], aa: bool, markdown: bool = False) -> str:
    ours_label = "zarr-python (A/A)" if aa else "ours"
    head = [
        "workload",
        "zarr-python",
        ours_label,
        "zarr/ours",
        "spread",
        "reference",
        "target",
        "notes",
    ]
    rows = table_rows(results, aa)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    lines = []
    group = None
    for row, res in zip([head, *rows], [None, *results], strict=True):
        if res is not None and res.workload.group != group:
            group = res.workload.group
            lines.append(f"-- {group}")
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:-1], widths[1:], strict=True)]
        lines.append("  ".join(cells) + ("  " + row[-1] if row[-1] else ""))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the same workloads against zarr-python and our packages, interleaved, "
        "and print medians and ratios (zarr-python time / our time: above 1 means ours is "
        "faster)."
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, 1 repeat: a smoke run (< 1 minute)"
    )
    parser.add_argument("--json", metavar="PATH", help="write every raw measurement here")
    parser.add_argument(
        "--only", metavar="PATTERN", help="run workloads whose name matches this regex"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="counted measurements per side and workload, after one uncounted warm-up round "
        "(default 8, even so that each side goes first equally often; quick: 1, no warm-up)",
    )
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument(
        "--profile",
        choices=["zarr", "ours"],
        help="after the timed repeats, run each workload once more under cProfile for this "
        "side and print the top functions by own time to stderr",
    )
    parser.add_argument(
        "--aa",
        action="store_true",
        help="A/A run: zarr-python against itself, to see how noisy the machine is",
    )
    parser.add_argument(
        "--tmpdir", metavar="DIR", help="where to create temporary files (default: system tmp)"
    )
    parser.add_argument(
        "--gc",
        action="store_true",
        help="also time the garbage collector inside each timed block and print, per side, "
        "the median time in it and the collections per generation",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    selected = [w for w in WORKLOADS if not args.only or re.search(args.only, w.name, re.I)]
    if args.list:
        for w in selected:
            print(f"{w.group:12} {w.name}")
        return 0
    if not selected:
        print(f"no workload matches {args.only!r}", file=sys.stderr)
        return 2
    repeats = args.repeats or (1 if args.quick else 8)
    sides = [
        Side("zarr", "zarr-python", ZARR_SPEC),
        Side(
            "ours", "zarr-python (A/A)" if args.aa else "ours", ZARR_SPEC if args.aa else OURS_SPEC
        ),
    ]
    info = machine()
    started = datetime.datetime.now(datetime.UTC)
    print(
        f"machine: {info['platform']}; {info['cpu']}; {info['cpu_count']} CPUs "
        f"({info['affinity']} usable); Python {info['python']}; numpy {info['numpy']}"
    )
    print("packages: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()))
    print(
        f"date: {started:%Y-%m-%d %H:%M} UTC; repeats: {repeats}; "
        f"{'quick' if args.quick else 'full'} sizes; {len(selected)} workloads"
    )
    print(
        "ratio = zarr-python median / ours median (>1: ours faster); spread = min-max of the "
        "per-repeat ratios; reference = the same work done by raw numpy/os/zipfile calls on "
        "one thread (not a floor: a store that overlaps I/O can beat it)",
        flush=True,
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="zbench-", dir=args.tmpdir) as tmp_root:
        clock = GcClock() if args.gc else None
        if clock is not None:
            gc.callbacks.append(clock.callback)
        options = Options(repeats, args.quick, Path(tmp_root), args.profile, clock)
        for i, wl in enumerate(selected, 1):
            t0 = time.perf_counter()
            res = WorkloadRun(wl, sides, options).run()
            results.append(res)
            ratio = res.ratio()
            print(
                f"[{i}/{len(selected)}] {wl.name}: "
                + (f"{ratio:.2f}x" if ratio is not None else "no ratio")
                + f" ({time.perf_counter() - t0:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    print()
    print(render_table(results, args.aa))
    if args.markdown:
        print()
        print(render_table(results, args.aa, markdown=True))
    if args.gc:
        print()
        print(render_gc_table(results, markdown=args.markdown))
    if args.json:
        payload = {
            "machine": info,
            "date": started.isoformat(),
            "args": vars(args),
            "repeats": repeats,
            "workloads": [
                {
                    "name": r.workload.name,
                    "group": r.workload.group,
                    "target": r.workload.target,
                    "limit_factor": r.workload.limit_factor,
                    "status": r.status,
                    "times_s": r.times,
                    "median_s": {k: r.median(k) for k in r.times},
                    "ratio": r.ratio(),
                    "ratios": r.ratios(),
                    "ops": r.ops,
                    "nbytes": r.nbytes,
                    "verdicts": r.verdicts(),
                    "gc_seconds": r.gc_seconds,
                    "gc_collections": r.gc_collections,
                }
                for r in results
            ],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nraw numbers written to {args.json}")
    errors = [r for r in results if any(s.startswith("error") for s in r.status.values())]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
