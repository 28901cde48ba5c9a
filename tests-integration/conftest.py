"""Collect every matrix test's outcome by (store, prototype) and print the table at the end.

Each matrix test class carries ``matrix_store`` and ``matrix_prototype`` attributes; they
are copied into the test report's ``user_properties``, which pytest-xdist sends from the
workers to the controller, so the table is right whether or not the run is parallel.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest
    from _pytest.terminal import TerminalReporter

_OUTCOMES = ("passed", "failed", "skipped")
_results: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        cls = getattr(item, "cls", None)
        store = getattr(cls, "matrix_store", None)
        prototype = getattr(cls, "matrix_prototype", None)
        if store is not None and prototype is not None:
            item.user_properties.append(("matrix", f"{store}|{prototype}"))


def _outcome(report: pytest.TestReport) -> str | None:
    """The outcome one report settles for its test, or None if it settles nothing."""
    if report.when == "call":
        return "failed" if report.failed else ("skipped" if report.skipped else "passed")
    if report.when == "setup" and not report.passed:
        return "failed" if report.failed else "skipped"
    if report.when == "teardown" and report.failed:
        return "failed"
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    cell = dict(report.user_properties).get("matrix")
    outcome = _outcome(report)
    if cell is None or outcome is None:
        return
    store, prototype = str(cell).split("|")
    _results[store, prototype][outcome] += 1


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    if not _results or hasattr(terminalreporter.config, "workerinput"):
        return
    stores = sorted({store for store, _ in _results})
    prototypes = sorted({prototype for _, prototype in _results})
    cells = {key: "/".join(str(counts[o]) for o in _OUTCOMES) for key, counts in _results.items()}
    width = max(12, *(len(c) for c in cells.values()), *(len(p) for p in prototypes)) + 2
    first = max(len("store"), *(len(s) for s in stores)) + 2
    write = terminalreporter.write_line
    terminalreporter.section("store x buffer prototype (passed/failed/skipped)")
    write("store".ljust(first) + "".join(p.ljust(width) for p in prototypes))
    for store in stores:
        row = "".join(cells.get((store, p), "-").ljust(width) for p in prototypes)
        write(store.ljust(first) + row)
