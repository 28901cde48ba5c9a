"""Shared fixtures: a fresh MemoryStore and the cpu buffer prototype."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from zbuffer.cpu import buffer_prototype
from zstore.core import MemoryStore

if TYPE_CHECKING:
    from zbuffer.core import BufferPrototype


@pytest.fixture
def proto() -> BufferPrototype:
    return buffer_prototype


@pytest.fixture
async def store() -> MemoryStore:
    return await MemoryStore.open()
