"""The README's example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    examples = [block for block in blocks if "asyncio.run(main())" in block]
    assert len(examples) == 2, "the store example and the worker-thread example"
    for example in examples:
        namespace: dict[str, object] = {"__name__": "readme_example"}
        exec(compile(example, str(README), "exec"), namespace)  # raises if an assert fails
        assert "main" in namespace
