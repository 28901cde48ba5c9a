"""Check that each distribution stands alone.

1. Imports: every module a distribution's sources import is the standard library, the
   distribution itself, or a declared dependency. An import of an optional extra's
   dependency is allowed only inside a function (a lazy import), so importing the package
   never needs the extra.
2. Install closures (``--closure``): every distribution is built into a wheel, installed
   alone into a fresh virtual environment from those wheels (and PyPI for third-party
   dependencies), and must import there and pull in nothing outside its declared closure:
   never another distribution of ours it does not depend on, never pytest, hypothesis,
   fsspec, cupy or zarr unless declared.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from _workspace import ROOT, Distribution, canonical_name, distributions

if TYPE_CHECKING:
    from collections.abc import Iterator

# Third-party import names whose distribution name differs from the import name.
IMPORT_TO_DISTRIBUTION = {
    "zipfile_deflate64": "zipfile-deflate64",
    "cupy": "cupy-cuda12x",
    "yaml": "pyyaml",
    "_pytest": "pytest",
}

# Distributions a package must never pull in unless its closure declares them.
WATCHED = {"pytest", "hypothesis", "fsspec", "s3fs", "cupy-cuda12x", "zarr", "numcodecs"}


def _owner_map(dists: list[Distribution]) -> dict[str, str]:
    """Map each import package we ship (``zstore.core``) to its distribution."""
    return {package: dist.name for dist in dists for package in dist.import_packages}


def _imports(path: Path) -> Iterator[tuple[str, bool]]:
    """Yield ``(module, at_top_level)`` for every absolute import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    function_nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function_nodes.update(id(child) for child in ast.walk(node) if child is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) not in function_nodes
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, id(node) not in function_nodes


def _distribution_of(module: str, owners: dict[str, str]) -> str | None:
    """The distribution providing ``module``, or None for the standard library."""
    top = module.split(".", maxsplit=1)[0]
    if top in sys.stdlib_module_names:
        return None
    parts = module.split(".")
    for length in range(len(parts), 0, -1):
        owner = owners.get(".".join(parts[:length]))
        if owner is not None:
            return owner
    return canonical_name(IMPORT_TO_DISTRIBUTION.get(top, top))


def check_imports(dists: list[Distribution]) -> list[str]:
    """Return one message per import that its distribution does not declare."""
    owners = _owner_map(dists)
    problems = []
    for dist in dists:
        optional = frozenset().union(*dist.extras.values()) if dist.extras else frozenset()
        for path in sorted(dist.src.rglob("*.py")):
            for module, at_top_level in _imports(path):
                needed = _distribution_of(module, owners)
                if needed is None or needed == dist.name or needed in dist.dependencies:
                    continue
                where = path.relative_to(ROOT)
                if needed in optional and not at_top_level:
                    continue
                if needed in optional:
                    problems.append(
                        f"{where}: imports {module} (extra-only dependency {needed}) at module "
                        "level; import it lazily inside the function that needs it"
                    )
                else:
                    problems.append(
                        f"{where}: imports {module} but {dist.name} does not declare {needed}"
                    )
    return problems


def _closure(dist: Distribution, by_name: dict[str, Distribution]) -> set[str]:
    """Every name ``dist`` may install: itself, its dependencies, theirs, and so on."""
    seen: set[str] = set()
    stack = [dist.name]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in by_name:
            stack.extend(by_name[name].dependencies)
    return seen


def check_closures(dists: list[Distribution]) -> list[str]:
    """Build every wheel, install each alone in a fresh venv, and check what came with it."""
    uv = shutil.which("uv")
    if uv is None:
        return ["uv is not installed; the closure check needs it (pip install uv)"]
    by_name = {d.name: d for d in dists}
    ours = set(by_name)
    problems = []
    with tempfile.TemporaryDirectory(prefix="zcheck-") as tmp:
        wheels = Path(tmp) / "wheels"
        for dist in dists:
            subprocess.run(
                [uv, "build", "--quiet", "--wheel", "--out-dir", str(wheels), str(dist.directory)],
                check=True,
            )
        for dist in dists:
            venv = Path(tmp) / f"venv-{dist.name}"
            python = venv / "bin" / "python"
            subprocess.run(
                [uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True
            )
            subprocess.run(
                [
                    uv,
                    "pip",
                    "install",
                    "--quiet",
                    "--python",
                    str(python),
                    "--find-links",
                    str(wheels),
                    dist.name,
                ],
                check=True,
            )
            frozen = subprocess.run(
                [uv, "pip", "freeze", "--python", str(python)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            installed = {
                canonical_name(line.split("==")[0].split(" @ ")[0])
                for line in frozen.splitlines()
                if line.strip()
            }
            allowed = _closure(dist, by_name)
            unexpected = sorted(
                name
                for name in installed
                if (name in ours or name in WATCHED) and name not in allowed
            )
            if unexpected:
                problems.append(f"pip install {dist.name} also installed {', '.join(unexpected)}")
            imports = "; ".join(f"import {package}" for package in dist.import_packages)
            result = subprocess.run(
                [str(python), "-c", imports], capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                problems.append(
                    f"{dist.name} installed alone fails to import: {result.stderr.strip()[-400:]}"
                )
            print(f"  {dist.name}: installs {', '.join(sorted(installed))}", flush=True)
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--closure", action="store_true", help="also check install closures")
    args = parser.parse_args(argv)
    dists = distributions()
    problems = check_imports(dists)
    print(f"imports: {len(dists)} distributions checked, {len(problems)} problem(s)")
    if args.closure:
        problems += check_closures(dists)
    for problem in problems:
        print("  -", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
