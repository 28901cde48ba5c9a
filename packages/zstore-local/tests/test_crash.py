"""A writer killed in the middle of a large write leaves the old value whole and no debris."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

from zbuffer.cpu import Buffer, buffer_prototype
from zstore.local import TMP_PREFIX, LocalStore

if TYPE_CHECKING:
    from pathlib import Path

BIG = 256 * 1024 * 1024  # large enough that the copy into the page cache takes a while

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    import numpy as np
    from zbuffer.cpu import Buffer
    from zstore.local import LocalStore

    async def main():
        store = await LocalStore.open(sys.argv[1])
        value = Buffer.from_array_like(np.full(int(sys.argv[2]), 7, dtype="uint8"))
        print("ready", flush=True)
        await store.set("a/big", value)
        print("done", flush=True)

    asyncio.run(main())
    """
)


def _temp_files(directory: Path) -> list[Path]:
    return (
        [p for p in directory.iterdir() if p.name.startswith(TMP_PREFIX)]
        if directory.is_dir()
        else []
    )


def _kill_mid_write(root: Path) -> bool:
    """Start a writer, freeze it while its temporary file is partly written, kill it.

    Returns False if the window was missed (the temporary file was already complete).
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), str(BIG)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            temps = _temp_files(root / "a")
            if temps:
                # SIGSTOP first: with the writer frozen, the size we see is the size at
                # the kill, so "partly written" is certain, not a guess.
                proc.send_signal(signal.SIGSTOP)
                sizes = [t.stat().st_size for t in _temp_files(root / "a")]
                if sizes and 0 < max(sizes) < BIG:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return True
                proc.send_signal(signal.SIGCONT)
                if sizes and max(sizes) >= BIG:
                    return False  # already complete: the window was missed
                # Created but not written to yet (size 0): keep watching.
            if proc.poll() is not None:
                return False
            time.sleep(0.001)
        raise AssertionError("the writer never created its temporary file")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_killed_writer_leaves_old_value_whole_and_no_listed_temp(root: Path) -> None:
    old = b"old value " * 1000

    async def write_old() -> None:
        await LocalStore(root).set("a/big", Buffer.from_bytes(old))

    asyncio.run(write_old())
    for _ in range(5):
        if _kill_mid_write(root):
            break
        asyncio.run(write_old())  # missed the window: put the old value back and retry
    else:
        raise AssertionError("could not catch the writer mid-write in 5 attempts")

    # The dead writer's partial temporary file is on disk ...
    assert _temp_files(root / "a"), "expected the killed writer's temporary file on disk"

    async def check() -> None:
        store = LocalStore(root)
        value = await store.get("a/big", buffer_prototype)
        assert value is not None, "old value lost"
        assert value.to_bytes() == old, "old value not intact"
        # ... but never listed, counted or seen as content.
        assert [k async for k in store.list()] == ["a/big"]
        assert [k async for k in store.list_prefix("a/")] == ["a/big"]
        assert [k async for k in store.list_dir("a")] == ["big"]
        assert await store.getsize_prefix("a") == len(old)
        await store.delete("a/big")
        assert await store.is_empty(""), "a stale temporary file made the store non-empty"
        assert [k async for k in store.list_dir("")] == []
        # delete_dir / clear clean the stale file up.
        await store.clear()
        assert list(root.iterdir()) == [], "clear left the stale temporary file behind"

    asyncio.run(check())
