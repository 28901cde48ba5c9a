"""The README's example runs as written and prints what its comments say."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_prints_what_its_comments_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (example,) = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    monkeypatch.chdir(tmp_path)  # it writes example.zip in the working directory
    exec(compile(example, str(README), "exec"), {"__name__": "readme_example"})
    promised = re.findall(r"print\(.*\)  # (.*)", example)
    assert len(promised) == 3
    assert capsys.readouterr().out.splitlines() == promised
    # The archive it published holds the one live key once, readable by zipfile.
    with zipfile.ZipFile(tmp_path / "example.zip") as zf:
        assert zf.namelist() == ["group/c/0"]
        assert zf.testzip() is None
        assert zf.read("group/c/0") == b"latest value wins"
