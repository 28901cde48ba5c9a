"""Run ``mypy --strict`` over every distribution's sources and over tools/.

Each distribution's ``src`` folder goes on the search path, so the PEP 420 namespaces
``zbuffer`` and ``zstore`` resolve across distributions exactly as they do once installed.
"""

from __future__ import annotations

import os
import subprocess
import sys

from _workspace import ROOT, distributions


def _mypy(targets: list[str], search_path: list[str], extra: list[str]) -> int:
    """Run mypy --strict on ``targets`` with ``search_path`` as MYPYPATH; return its code."""
    command = ["mypy", "--strict", "--config-file", str(ROOT / "pyproject.toml"), *targets]
    print("$", " ".join(command), flush=True)
    env = dict(os.environ, MYPYPATH=os.pathsep.join(search_path))
    run = subprocess.run([sys.executable, "-m", *command, *extra], env=env, cwd=ROOT, check=False)
    return run.returncode


def main(argv: list[str]) -> int:
    dists = distributions()
    packages = [
        arg for dist in dists for package in dist.import_packages for arg in ("-p", package)
    ]
    packages_code = _mypy(packages, [str(d.src) for d in dists], argv)
    tools_code = _mypy(["tools", "tests-integration"], ["tools", "tests-integration"], argv)
    return packages_code or tools_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
