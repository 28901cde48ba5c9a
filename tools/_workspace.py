"""What the workspace holds: each distribution under packages/, its import packages and deps.

The tools in this folder (dependency check, mypy runner) all need the same facts about the
packages; reading them here, from each pyproject.toml, keeps one source of truth.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"

_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical_name(name: str) -> str:
    """Return the PEP 503 normalised form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """Return the canonical distribution name of a PEP 508 requirement string."""
    match = _REQUIREMENT_NAME.match(requirement)
    if match is None:
        raise ValueError(f"cannot parse requirement {requirement!r}")
    return canonical_name(match.group(1))


@dataclass(frozen=True)
class Distribution:
    """One distribution of the workspace, as its pyproject.toml describes it."""

    name: str
    directory: Path
    import_packages: tuple[str, ...]
    dependencies: frozenset[str]
    extras: dict[str, frozenset[str]]

    @property
    def src(self) -> Path:
        return self.directory / "src"


def _import_packages(pyproject: dict[str, object], directory: Path) -> tuple[str, ...]:
    """Dotted names of the packages a wheel ships, from its ``only-include`` list."""
    tool = pyproject.get("tool", {})
    assert isinstance(tool, dict)
    wheel = tool.get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
    included = wheel.get("only-include") or wheel.get("packages") or []
    names = []
    for entry in included:
        relative = Path(entry).relative_to("src") if entry.startswith("src/") else Path(entry)
        names.append(".".join(relative.parts))
    if not names:
        raise ValueError(f"{directory}/pyproject.toml lists no wheel only-include packages")
    return tuple(names)


def distributions() -> list[Distribution]:
    """Every distribution under packages/, sorted by name."""
    found = []
    for pyproject_path in sorted(PACKAGES.glob("*/pyproject.toml")):
        data = tomllib.loads(pyproject_path.read_text())
        project = data["project"]
        found.append(
            Distribution(
                name=canonical_name(project["name"]),
                directory=pyproject_path.parent,
                import_packages=_import_packages(data, pyproject_path.parent),
                dependencies=frozenset(
                    requirement_name(r) for r in project.get("dependencies", [])
                ),
                extras={
                    extra: frozenset(requirement_name(r) for r in requirements)
                    for extra, requirements in project.get("optional-dependencies", {}).items()
                },
            )
        )
    return found
