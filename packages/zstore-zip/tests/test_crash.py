"""A writer killed mid-write never destroys an archive that was whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import buffer_prototype
from zstore.zip import ZipStore

if TYPE_CHECKING:
    from pathlib import Path

# Appends to an existing archive forever, announcing progress on stdout.
_WRITER = """
import asyncio, sys
from zbuffer.cpu import Buffer
from zstore.zip import ZipStore

async def main():
    store = await ZipStore.open(sys.argv[1], mode="a")
    await store.set("a/c/0", Buffer.from_bytes(b"overwritten"))  # forces a compaction too
    i = 0
    while True:
        await store.set(f"new/{i}", Buffer.from_bytes(bytes(64 * 1024)))
        i += 1
        if i == 50:
            print("writing", flush=True)

asyncio.run(main())
"""

# Opens, writes and closes in a loop: the kill may land inside close() (compaction, fsync,
# rename); every archive on disk must still be whole.
_PUBLISHER = """
import asyncio, sys
from zbuffer.cpu import Buffer
from zstore.zip import ZipStore

async def main():
    i = 0
    while True:
        store = await ZipStore.open(sys.argv[1], mode="a")
        await store.set(f"round/{i}", Buffer.from_bytes(bytes(8192)))
        await store.set("a/c/0", Buffer.from_bytes(b"round %d" % i))
        store.close()
        i += 1
        if i == 3:
            print("publishing", flush=True)

asyncio.run(main())
"""


def kill_when(script: str, path: Path, line: str, delay: float = 0.0) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == line, "the writer did not start writing"
        if delay:
            time.sleep(delay)  # not a timing assertion: only varies where the kill lands
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


async def test_archive_survives_a_writer_killed_mid_write(archive: Path) -> None:
    before = archive.read_bytes()
    kill_when(_WRITER, archive, "writing")
    assert archive.read_bytes() == before, "the killed writer must not have touched the archive"
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
    store = await ZipStore.open(archive, mode="r")
    value = await store.get("a/c/0", buffer_prototype)
    assert value is not None
    assert value.to_bytes() == b"0123456789", "the old content must be intact"
    assert sorted([k async for k in store.list()]) == ["a/c/0", "a/c/1", "zarr.json"]


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
async def test_archive_stays_whole_when_killed_while_publishing(
    archive: Path, delay: float
) -> None:
    kill_when(_PUBLISHER, archive, "publishing", delay)
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None, "the archive must be whole whenever the kill lands"
        names = zf.namelist()
        assert len(names) == len(set(names)), "each key once"
    store = await ZipStore.open(archive, mode="a")
    rounds = sorted([int(k.split("/")[1]) async for k in store.list_prefix("round/")])
    assert rounds == list(range(len(rounds))), "published rounds form an unbroken prefix"
    assert len(rounds) >= 3
    value = await store.get("a/c/0", buffer_prototype)
    assert value is not None
    assert value.to_bytes() == b"round %d" % rounds[-1], "the last published round wins"
    assert await store.get("zarr.json", buffer_prototype) is not None
    store.close()
    # Leftover temporary files of the killed writer are not part of the archive.
    leftovers = [p.name for p in archive.parent.iterdir() if p.name.endswith(".zstore-tmp")]
    assert all(p.startswith(f".{archive.name}.") for p in leftovers)
