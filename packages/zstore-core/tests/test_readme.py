"""The README's example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    examples = [block for block in blocks if "asyncio.run(main())" in block]
    assert len(examples) == 1, "the README should have exactly one runnable example"
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(examples[0], str(README), "exec"), namespace)  # raises if any assert fails
    assert "main" in namespace
