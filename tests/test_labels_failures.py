"""Cases by name, failures with their input and output: labels in every view, and the
first failing cases at the end of a run."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import xml.etree.ElementTree as ET

from trialrun import (
    BaseTestCase,
    BaseTestEvaluator,
    Evaluation,
    Threshold,
    history,
    md5,
    run_test_suite,
)


@dataclasses.dataclass
class Question(BaseTestCase):
    n: int
    question: str
    expected: str
    context: str = "x" * 400  # too long to name a case by

    def hash(self) -> str:
        return md5(str(self.n))


@dataclasses.dataclass
class Named(BaseTestCase):
    n: int
    question: str

    @property
    def label(self) -> str:
        return f"named case {self.n}"

    def hash(self) -> str:
        return f"named-{self.n}"


@dataclasses.dataclass
class Numbers(BaseTestCase):
    n: int

    def hash(self) -> str:
        return f"num-{self.n}"


class Exact(BaseTestEvaluator):
    id = "exact"

    def evaluate_test_case(self, test_case, output) -> Evaluation:
        expected = getattr(test_case, "expected", output)
        ok = output == expected
        return Evaluation(
            score=float(ok), threshold=Threshold(gte=1), metadata={"wanted": expected}
        )


QUESTIONS = [
    Question(0, "What is 2+2?", "4"),
    Question(1, "Capital of France?", "Paris"),
    Question(2, "Colour of the sky?", "blue"),
]


def answer(case: Question) -> str:
    if case.n == 2:
        raise ValueError("the model is down")
    return {0: "4", 1: "Lyon"}[case.n]


def test_labels_come_from_label_else_short_fields_else_none(store_rows):
    result = run_test_suite("labels", QUESTIONS, answer, [Exact()], quiet=True)
    assert [c.label for c in result.cases] == [
        "What is 2+2? · 4",
        "Capital of France? · Paris",
        "Colour of the sky? · blue",
    ]
    named = run_test_suite("named", [Named(1, "q")], lambda c: "a", [Exact()], quiet=True)
    assert named.cases[0].label == "named case 1"
    plain = run_test_suite("plain", [Numbers(1)], lambda c: 1, [Exact()], quiet=True)
    assert plain.cases[0].label is None
    rows = store_rows("SELECT hash, label FROM case_results ORDER BY run_id, idx")
    assert {r["hash"]: r["label"] for r in rows} == {
        md5("0"): "What is 2+2? · 4",
        md5("1"): "Capital of France? · Paris",
        md5("2"): "Colour of the sky? · blue",
        "named-1": "named case 1",
        "num-1": None,
    }


def test_show_compare_and_junit_name_cases_by_label_with_the_hash():
    first = run_test_suite("views", QUESTIONS, lambda c: c.expected, [Exact()], quiet=True)
    run_test_suite("views", QUESTIONS, answer, [Exact()], quiet=True)
    shown = history.run("latest").text()
    assert f"FAIL Capital of France? · Paris [{md5('1')}]" in shown
    assert f"ok   What is 2+2? · 4 [{md5('0')}]" in shown
    compared = history.compare(first.run_ids[0]).text()
    assert f"Capital of France? · Paris [{md5('1')}]  exact  passed 1 -> failed 0" in compared
    assert f"Colour of the sky? · blue [{md5('2')}]: fn newly raised" in compared
    names = [
        c.get("name") for c in ET.fromstring(history.run("latest").junit_xml()).iter("testcase")
    ]
    assert f"Capital of France? · Paris [{md5('1')}] / exact" in names
    assert f"Colour of the sky? · blue [{md5('2')}] / fn" in names


def test_the_summary_shows_the_first_failing_cases_and_where_to_look():
    result = run_test_suite("summary", QUESTIONS, answer, [Exact()], quiet=True)
    text = result.summary()
    (run_id,) = result.run_ids
    tail = text[text.index("2 failing cases:") :]
    assert f"FAIL Capital of France? · Paris [{md5('1')}]" in tail
    assert '    input:  {"n":1,"question":"Capital of France?","expected":"Paris"' in tail
    assert '    output: "Lyon"' in tail
    assert "    exact failed: score 0, needs Threshold(gte=1)" in tail
    assert '      metadata: {"wanted":"Paris"}' in tail
    assert "fn raised: ValueError: the model is down" in tail
    assert f"look closer: trialrun show {run_id} (every case), or trialrun ui" in tail
    # The 400-character context is cut in the input shown.
    assert "more chars)" in tail
    passing = run_test_suite("summary-ok", QUESTIONS[:1], answer, [Exact()], quiet=True)
    assert "failing" not in passing.summary() and "trialrun show" not in passing.summary()


def test_at_most_five_failing_cases_are_shown(tmp_path):
    cases = [Question(n, f"question {n}", "right") for n in range(8)]
    text = run_test_suite("many", cases, lambda c: "wrong", [Exact()], quiet=True).summary()
    assert "8 failing cases, the first 5:" in text
    assert text.count("\n  FAIL ") == 5


def test_the_cli_prints_failing_cases_at_the_end_of_a_run(tmp_path, subprocess_env):
    script = tmp_path / "suite.py"
    script.write_text(
        "import dataclasses\n"
        "from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, run_test_suite\n"
        "@dataclasses.dataclass\n"
        "class Q(BaseTestCase):\n"
        "    question: str\n"
        "    def hash(self): return self.question\n"
        "class E(BaseTestEvaluator):\n"
        "    id = 'e'\n"
        "    def evaluate_test_case(self, c, o):\n"
        "        return Evaluation(score=0, threshold=Threshold(gte=1), metadata={'reason': 'no'})\n"
        "run_test_suite('cli-fail', [Q('hello there')], lambda c: 'out put', [E()])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "trialrun", "run", str(script)],
        env=subprocess_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "FAIL hello there" in proc.stdout  # label == hash: shown once
    assert '    output: "out put"' in proc.stdout
    assert "reason" in proc.stdout and "trialrun show" in proc.stdout


def test_the_runs_list_reads_failed_for_a_run_with_failing_cases():
    run_test_suite("verdicts", QUESTIONS, answer, [Exact()], quiet=True)
    run_test_suite("verdicts-ok", QUESTIONS[:1], answer, [Exact()], quiet=True)
    listed = {r["suite_id"]: r for r in (history.runs()[i] for i in range(2))}
    assert (listed["verdicts"]["status"], listed["verdicts"]["verdict"]) == ("completed", "failed")
    assert (listed["verdicts"]["failed_cases"], listed["verdicts"]["errored_cases"]) == (1, 1)
    assert listed["verdicts-ok"]["verdict"] == "passed"
    text = history.runs().text()
    header, *rows = text.splitlines()
    assert header.split()[:8] == [
        "run",
        "suite",
        "verdict",
        "started",
        "(UTC)",
        "cases",
        "passed",
        "failed",
    ]
    row = next(r for r in rows if " verdicts " in r)
    assert " failed " in row and " 33.333% " in row
