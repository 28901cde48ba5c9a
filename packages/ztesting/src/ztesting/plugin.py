"""The ztesting pytest plugin: markers and Hypothesis profiles.

Loaded automatically through the ``pytest11`` entry point. It registers:

- markers ``gpu`` (needs CuPy and a CUDA device) and ``slow`` (long-running), so suites
  built on ztesting run under ``--strict-markers``;
- Hypothesis profiles ``ci`` (few examples, no deadline: fast and never flaky on a busy
  machine) and ``nightly`` (many examples, for scheduled thorough runs).

Choose a profile with ``--hypothesis-profile=nightly`` or the environment variable
``HYPOTHESIS_PROFILE``; when neither is given and no other profile was loaded, ``ci`` is
used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    import pytest

__all__ = ["MARKERS", "PROFILE_ENV_VAR", "register_profiles"]

PROFILE_ENV_VAR = "HYPOTHESIS_PROFILE"

MARKERS = {
    "gpu": "needs CuPy and a CUDA device; skipped with a reason when absent",
    "slow": "long-running test; deselect with -m 'not slow'",
}


def register_profiles() -> None:
    """Register the ``ci`` and ``nightly`` Hypothesis profiles."""
    settings.register_profile(
        "ci",
        max_examples=25,
        deadline=None,
        derandomize=False,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        stateful_step_count=25,
    )
    settings.register_profile(
        "nightly",
        max_examples=1000,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        stateful_step_count=80,
    )


# At import time, so the profiles exist before Hypothesis' own plugin loads the one named
# by --hypothesis-profile in its pytest_configure.
register_profiles()


def pytest_configure(config: pytest.Config) -> None:
    """Register markers and load the chosen Hypothesis profile."""
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    if config.getoption("hypothesis_profile", None):
        return  # Hypothesis' plugin loads the profile named on the command line.
    chosen = os.environ.get(PROFILE_ENV_VAR)
    if chosen:
        settings.load_profile(chosen)
    elif settings.get_current_profile_name() == "default":
        # Do not override a profile a conftest already loaded.
        settings.load_profile("ci")


def pytest_report_header(config: pytest.Config) -> str:
    """Say which Hypothesis profile is active."""
    return f"ztesting: hypothesis profile {settings.get_current_profile_name()!r}"
