"""The test suite's own hygiene: nothing a test or fixture runs writes the working
directory's ./.trialrun (module fixtures run before a test's own store is set)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

import trialrun


@dataclass
class Case(trialrun.BaseTestCase):
    n: int

    def hash(self) -> str:
        return f"case-{self.n}"


@pytest.fixture(scope="module")
def module_run_home() -> str | None:
    """What a module-scoped fixture that runs a suite sees, and the run it makes."""
    trialrun.run_test_suite("module-fixture", [Case(n=1)], [], lambda case: None, quiet=True)
    return os.environ.get("TRIALRUN_HOME")


def test_a_module_fixture_stores_outside_the_working_directory(module_run_home, trialrun_home):
    assert module_run_home is not None
    home = Path(module_run_home)
    assert (home / "trialrun.db").is_file()
    assert Path.cwd() not in home.parents and home != trialrun_home
