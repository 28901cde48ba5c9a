"""The README's downstream example runs and passes; the plugin's markers and profiles work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import settings

from ztesting import plugin

pytest_plugins = ["pytester"]

README = Path(__file__).parents[1] / "README.md"
EMPTY_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def readme_example() -> str:
    """The python block that follows the ``<!-- example: downstream -->`` marker."""
    text = README.read_text()
    match = re.search(r"<!-- example: downstream -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "README.md lost its downstream example"
    return match.group(1)


def test_readme_example_is_under_20_lines_of_code() -> None:
    # Blank lines are not counted: the formatter adds PEP 8 spacing between definitions.
    lines = [line for line in readme_example().splitlines() if line.strip()]
    assert len(lines) < 20, f"the README example has {len(lines)} lines of code"


def test_readme_example_runs_and_passes(pytester: pytest.Pytester) -> None:
    # A fresh project with an empty config: no asyncio_mode, as a downstream author has.
    pytester.makeini(EMPTY_INI)
    pytester.makepyfile(test_my_store=readme_example())
    result = pytester.runpytest("-p", "no:cacheprovider", "-q", "--tb=short")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes.get("errors", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes.get("passed", 0) > 200, outcomes
    result.stdout.no_fnmatch_line("*skipped*")


def test_plugin_registers_markers(pytester: pytest.Pytester) -> None:
    pytester.makeini(EMPTY_INI + "addopts = --strict-markers\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gpu
        @pytest.mark.slow
        def test_marked():
            assert True
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.gpu:*CUDA*", "*@pytest.mark.slow:*"])


PROFILE_PROBE = """
from hypothesis import settings

def test_profile():
    print("PROFILE=" + settings.get_current_profile_name())
    print("EXAMPLES=" + str(settings.default.max_examples))
"""


class _FakeConfig:
    """Just enough of pytest.Config for the plugin's pytest_configure."""

    def __init__(self, profile_option: str | None) -> None:
        self.profile_option = profile_option
        self.ini_lines: list[tuple[str, str]] = []

    def addinivalue_line(self, name: str, line: str) -> None:
        self.ini_lines.append((name, line))

    def getoption(self, name: str, default: object = None) -> object:
        return self.profile_option if name == "hypothesis_profile" else default


@pytest.mark.parametrize(
    ("option", "env", "before", "expected"),
    [
        (None, None, "default", "ci"),
        (None, "nightly", "default", "nightly"),
        (None, None, "custom", "custom"),
        ("nightly", "ci", "default", "default"),
    ],
    ids=["default-is-ci", "env", "keeps-conftest-profile", "option-left-to-hypothesis"],
)
def test_plugin_loads_the_chosen_profile(
    monkeypatch: pytest.MonkeyPatch,
    option: str | None,
    env: str | None,
    before: str,
    expected: str,
) -> None:
    previous = settings.get_current_profile_name()
    settings.register_profile("custom", max_examples=3)
    try:
        settings.load_profile(before)
        if env is None:
            monkeypatch.delenv(plugin.PROFILE_ENV_VAR, raising=False)
        else:
            monkeypatch.setenv(plugin.PROFILE_ENV_VAR, env)
        config = _FakeConfig(option)
        plugin.pytest_configure(config)  # type: ignore[arg-type]
        assert settings.get_current_profile_name() == expected
        assert {name for name, _ in config.ini_lines} == {"markers"}
    finally:
        settings.load_profile(previous)


def test_hypothesis_profile_option_selects_nightly_end_to_end(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(plugin.PROFILE_ENV_VAR, raising=False)
    pytester.makeini(EMPTY_INI)
    pytester.makepyfile(PROFILE_PROBE)
    # A subprocess: Hypothesis' current profile is process-global.
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-s", "--hypothesis-profile=nightly"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*PROFILE=nightly", "EXAMPLES=1000"])


def test_profiles_are_fast_and_thorough() -> None:
    ci = settings.get_profile("ci")
    nightly = settings.get_profile("nightly")
    assert ci.deadline is None
    assert nightly.deadline is None
    assert ci.max_examples < nightly.max_examples
    assert ci.stateful_step_count < nightly.stateful_step_count
