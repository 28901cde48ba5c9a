"""The README's example runs as written."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (example,) = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its mkdtemp() lands here
    exec(compile(example, str(README), "exec"), {"__name__": "readme_example"})
    (root,) = tmp_path.iterdir()
    assert capsys.readouterr().out == f"{root.as_uri()} ok\n"
    # What the example leaves on disk: the one key it did not delete, as a plain file.
    assert [p.relative_to(root).as_posix() for p in root.rglob("*")] == [
        "group",
        "group/zarr.json",
    ]
