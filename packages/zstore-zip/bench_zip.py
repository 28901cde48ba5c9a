"""Compare zstore.zip.ZipStore with zarr-python's ZipStore on the workloads of issue 5.

Run: ``python packages/zstore-zip/bench_zip.py [--repeats N] [--only REGEX]``. Needs zarr
installed (it is not a dependency of zstore-zip). Prints the median time of each side and
the ratio zarr / ours (above 1: ours is faster). ``tools/bench`` runs the same workloads
in the monorepo's harness; this script is for working on this package alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

N, SIZE, RANGES, RANGE = 5000, 64 * 1024, 10_000, 4096


def sides() -> dict[str, tuple[Any, Any, Any, Any]]:
    import zarr.storage
    from zarr.abc.store import RangeByteRequest as ZarrRange
    from zarr.core.buffer import cpu as zarr_cpu

    import zbuffer.cpu
    from zstore.core import RangeByteRequest
    from zstore.zip import ZipStore

    return {
        "zarr": (zarr.storage.ZipStore, zarr_cpu.Buffer, zarr_cpu.buffer_prototype, ZarrRange),
        "ours": (ZipStore, zbuffer.cpu.Buffer, zbuffer.cpu.buffer_prototype, RangeByteRequest),
    }


def make_archive(path: Path, payload: bytes) -> list[str]:
    keys = [f"c/{i}" for i in range(N)]
    with zipfile.ZipFile(path, "w") as zf:
        for i, key in enumerate(keys):
            zf.writestr(key, payload[i % 16 * 1024 :][:SIZE])
    return keys


async def write(side: tuple[Any, ...], tmp: Path, payload: bytes) -> float:
    store_cls, buffer_cls, _, _ = side
    values = [buffer_cls.from_bytes(payload[i % 16 * 1024 :][:SIZE]) for i in range(N)]
    path = tmp / "w.zip"
    start = time.perf_counter()
    store = store_cls(path, mode="w")
    await asyncio.gather(*(store.set(f"c/{i}", v) for i, v in enumerate(values)))
    store.close()
    elapsed = time.perf_counter() - start
    path.unlink()
    return elapsed


async def read_all(side: tuple[Any, ...], archive: Path, keys: list[str]) -> float:
    store_cls, _, proto, _ = side
    start = time.perf_counter()
    store = store_cls(archive, mode="r")
    got = await asyncio.gather(*(store.get(k, proto) for k in keys))
    store.close()
    elapsed = time.perf_counter() - start
    assert all(len(g) == SIZE for g in got)
    return elapsed


async def range_reads(side: tuple[Any, ...], archive: Path, keys: list[str]) -> float:
    store_cls, _, proto, range_cls = side
    rng = random.Random(5)
    plan = [(keys[rng.randrange(N)], rng.randrange(SIZE - RANGE)) for _ in range(RANGES)]
    store = store_cls(archive, mode="r")
    await store.get(keys[0], proto)  # open untimed
    start = time.perf_counter()
    got = await asyncio.gather(
        *(store.get(k, proto, byte_range=range_cls(o, o + RANGE)) for k, o in plan)
    )
    elapsed = time.perf_counter() - start
    assert all(len(g) == RANGE for g in got)
    store.close()
    return elapsed


async def range_reads_sequential(side: tuple[Any, ...], archive: Path, keys: list[str]) -> float:
    store_cls, _, proto, range_cls = side
    store = store_cls(archive, mode="r")
    await store.get(keys[0], proto)
    start = time.perf_counter()
    for i in range(2000):
        await store.get(keys[i], proto, byte_range=range_cls(100, 100 + RANGE))
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


async def listing(side: tuple[Any, ...], archive: Path, keys: list[str]) -> float:
    store_cls, _, proto, _ = side
    store = store_cls(archive, mode="r")
    await store.get(keys[0], proto)
    start = time.perf_counter()
    for _ in range(20):
        names = [n async for n in store.list_dir("c")]
    elapsed = time.perf_counter() - start
    assert len(names) == N
    store.close()
    return elapsed


async def sizes(side: tuple[Any, ...], archive: Path, keys: list[str]) -> float:
    store_cls, _, proto, _ = side
    store = store_cls(archive, mode="r")
    await store.get(keys[0], proto)
    start = time.perf_counter()
    total = await store.getsize_prefix("c")
    each = await asyncio.gather(*(store.getsize(k) for k in keys))
    elapsed = time.perf_counter() - start
    assert total == sum(each) == N * SIZE
    store.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default=".")
    args = parser.parse_args()
    payload = random.Random(0).randbytes(SIZE + 16 * 1024)
    tmp = Path(tempfile.mkdtemp(prefix="bench_zip."))
    try:
        archive = tmp / "data.zip"
        keys = make_archive(archive, payload)
        workloads: dict[str, Callable[[tuple[Any, ...]], Awaitable[float]]] = {
            "write 5k x 64 KiB + close (gather set)": lambda s: write(s, tmp, payload),
            "reopen + read all 5k x 64 KiB (gather get)": lambda s: read_all(s, archive, keys),
            "10k range reads of 4 KiB (gather get)": lambda s: range_reads(s, archive, keys),
            "2k range reads of 4 KiB (one at a time)": lambda s: range_reads_sequential(
                s, archive, keys
            ),
            "list_dir over 5k members (x20)": lambda s: listing(s, archive, keys),
            "getsize_prefix + getsize of 5k members": lambda s: sizes(s, archive, keys),
        }
        print(f"{'workload':45} {'zarr':>10} {'ours':>10} {'zarr/ours':>10}")
        for name, run in workloads.items():
            if not re.search(args.only, name):
                continue
            times: dict[str, list[float]] = {"zarr": [], "ours": []}
            for _ in range(args.repeats):
                for label, side in sides().items():  # interleaved, so drift hits both
                    times[label].append(asyncio.run(run(side)))
            zarr_t, ours_t = (statistics.median(times[k]) for k in ("zarr", "ours"))
            print(f"{name:45} {zarr_t * 1e3:8.1f}ms {ours_t * 1e3:8.1f}ms {zarr_t / ours_t:9.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"(medians of {args.repeats}; {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")  # zarr's ZipStore warns about duplicate names
    main()
