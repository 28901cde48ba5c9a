"""Fixtures shared by the zstore-zip tests."""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

# Written by Python's zipfile, not by the code under test.
MEMBERS = {"zarr.json": b"{}", "a/c/0": b"0123456789", "a/c/1": b"abc"}


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """A small stored archive made by Python's zipfile."""
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in MEMBERS.items():
            zf.writestr(name, data)
    return path
