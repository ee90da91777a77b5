"""The Python surface as type checkers see it: an evaluator's `id` written the ways users
of Autoblocks write it checks under mypy --strict (a class attribute, an annotated one,
one set per instance), and at run time an evaluator without an id is still refused.
The same file is checked with basedpyright (pyright's rules, Node.js from a wheel)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from trialrun import BaseTestEvaluator

USER_CODE = """
from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold
from trialrun.evaluators import HasAllSubstrings
from trialrun.testing.models import BaseTestEvaluator as AutoblocksEvaluator


class ClassAttribute(BaseTestEvaluator):
    id = "class-attribute"

    def evaluate_test_case(self, test_case: BaseTestCase, output: str) -> Evaluation:
        return Evaluation(score=1.0, threshold=Threshold(gte=1))


class Annotated(AutoblocksEvaluator):
    id: str = "annotated"
    max_concurrency = 2

    async def evaluate_test_case(self, test_case: BaseTestCase, output: str) -> Evaluation:
        return Evaluation(score=1.0)


class PerInstance(BaseTestEvaluator):
    id: str = ""  # each instance's own (a class-level id is what the base requires)

    def __init__(self, name: str) -> None:
        self.id = name

    def evaluate_test_case(self, test_case: BaseTestCase, output: str) -> Evaluation | None:
        return None


def ids(evaluators: list[BaseTestEvaluator]) -> list[str]:
    return [e.id for e in evaluators]


print(ids([ClassAttribute(), Annotated(), PerInstance("x"), HasAllSubstrings(["a"])]))
"""


def test_evaluator_ids_as_users_write_them_pass_mypy_strict_and_pyright(tmp_path):
    path = tmp_path / "user_evaluators.py"
    path.write_text(textwrap.dedent(USER_CODE))
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (tmp_path / "pyrightconfig.json").write_text(
        json.dumps({"include": [path.name], "typeCheckingMode": "standard"})
    )
    pyright = subprocess.run(
        [
            *(sys.executable, "-m", "basedpyright"),
            *("--pythonpath", sys.executable, "-p", str(tmp_path / "pyrightconfig.json")),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert pyright.returncode == 0, pyright.stdout + pyright.stderr
    assert "0 errors" in pyright.stdout, pyright.stdout
    ran = subprocess.run([sys.executable, str(path)], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "['class-attribute', 'annotated', 'x', 'has-all-substrings']"


def test_an_evaluator_without_an_id_is_still_refused_at_run_time():
    class NoId(BaseTestEvaluator):
        def evaluate_test_case(self, test_case, output):
            return None

    with pytest.raises(TypeError, match="abstract"):
        NoId()  # type: ignore[abstract]
