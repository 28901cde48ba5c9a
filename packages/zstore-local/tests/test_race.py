"""set_if_not_exists is atomic across processes and threads: exactly one writer wins."""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.local import TMP_PREFIX, LocalStore

if TYPE_CHECKING:
    from pathlib import Path

WRITERS = 6
SIZE = 1 << 20  # 1 MiB: big enough that the writes overlap in time
KEYS = ["k", "a/b/k"]


def _value(writer: int) -> bytes:
    return bytes([writer + 1]) * SIZE


def _race(root: str, writer: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    async def main() -> None:
        store = LocalStore(root)
        barrier.wait()
        for key in KEYS:
            await store.set_if_not_exists(key, Buffer.from_bytes(_value(writer)))

    asyncio.run(main())


# The fork happens while the store's pool threads idle; the child makes its own pool.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_set_if_not_exists_from_many_processes_has_one_winner(root: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=_race, args=(str(root), i, barrier)) for i in range(WRITERS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0, f"writer {proc.pid} failed with exit code {proc.exitcode}"

    async def check() -> None:
        store = LocalStore(root)
        for key in KEYS:
            value = await store.get(key, buffer_prototype)
            assert value is not None, f"{key!r}: nobody won"
            data = value.to_bytes()
            winners = [i for i in range(WRITERS) if data == _value(i)]
            assert len(winners) == 1, f"{key!r} holds no single writer's whole value"
        assert sorted([k async for k in store.list()]) == sorted(KEYS)

    asyncio.run(check())
    assert not [p for p in root.rglob(f"{TMP_PREFIX}*")], "temporary files left behind"


async def test_set_if_not_exists_from_many_coroutines_has_one_winner(root: Path) -> None:
    store = LocalStore(root)
    await asyncio.gather(
        *(store.set_if_not_exists("x", Buffer.from_bytes(_value(i))) for i in range(20))
    )
    value = await store.get("x", buffer_prototype)
    assert value is not None
    assert value.to_bytes() in {_value(i) for i in range(20)}
    assert [p.name for p in root.iterdir()] == ["x"]
