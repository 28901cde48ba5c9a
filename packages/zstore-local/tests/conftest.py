"""Fixtures shared by the zstore-local tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from zstore.local import LocalStore

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An existing, empty store root."""
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def store(root: Path) -> LocalStore:
    """A writable LocalStore over ``root``, already opened."""
    return LocalStore(root)


def listing(root: Path) -> list[str]:
    """Every file under ``root`` (temporary files included), as ``/``-separated paths."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
