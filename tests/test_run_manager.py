"""Autoblocks' RunManager (v1: `trialrun.testing.run.RunManager`, v2:
`trialrun.testing.v2.run_manager.RunManager`): a run started, given results by hand and
ended, stored like any suite run.

The tests marked "ported" follow the Autoblocks SDK's `tests/autoblocks/test_run_manager.py`
and `tests/autoblocks/test_run_manager_v2.py` (github.com/autoblocksai/python-sdk, commit
fc6826d, MIT licence), with the same test case, output and evaluations; where the SDK tests
expect posts to Autoblocks' API, these assert what trialrun stores instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import subprocess
import sys
import threading
from typing import Any

import pytest

from trialrun import history
from trialrun._core import ManualRun, default_store_path
from trialrun.testing.models import (
    Assertion,
    BaseTestCase,
    BaseTestEvaluator,
    Evaluation,
    EvaluationWithId,
    HumanReviewField,
    HumanReviewFieldContentType,
    Threshold,
)
from trialrun.testing.run import RunManager
from trialrun.testing.v2.run_manager import RunManager as RunManagerV2


@dataclasses.dataclass
class MyTestCase(BaseTestCase):
    input: str

    def hash(self) -> str:
        return self.input

    def serialize_for_human_review(self) -> list[HumanReviewField]:
        return [
            HumanReviewField(
                name="input", value=self.input, content_type=HumanReviewFieldContentType.TEXT
            )
        ]


@dataclasses.dataclass
class MyOutput:
    output: str

    def serialize_for_human_review(self) -> list[HumanReviewField]:
        return [
            HumanReviewField(
                name="output", value=self.output, content_type=HumanReviewFieldContentType.TEXT
            )
        ]


def evaluation(score: float = 1) -> EvaluationWithId:
    return EvaluationWithId(id="evaluator-external-id", score=score, threshold=Threshold(gte=0.5))


# --- v1 -----------------------------------------------------------------------------------


def test_does_not_allow_adding_result_before_starting():
    """Ported."""
    test_run = RunManager[MyTestCase, MyOutput]("test-id", "Test run")
    with pytest.raises(ValueError, match="start the run with `start\\(\\)` before adding"):
        test_run.add_result(
            test_case=MyTestCase(input="test"),
            output=MyOutput(output="test"),
            test_case_duration_ms=100,
            evaluations=[evaluation()],
        )
    assert not default_store_path().exists()  # nothing was written


def test_does_not_allow_adding_result_after_run_has_ended():
    """Ported: the run is stored (started, then completed with no cases)."""
    test_run = RunManager[MyTestCase, MyOutput]("test-id", "Test run")
    test_run.start()
    test_run.end()
    with pytest.raises(ValueError, match="ended run"):
        test_run.add_result(
            test_case=MyTestCase(input="test"),
            output=MyOutput(output="test"),
            test_case_duration_ms=100,
            evaluations=[evaluation()],
        )
    stored = history.run(test_run.run_id)
    assert (stored.suite_id, stored.status, stored.cases) == ("test-id", "completed", [])


def test_does_not_allow_ending_run_that_has_not_been_started():
    """Ported."""
    with pytest.raises(ValueError, match="before ending it"):
        RunManager[MyTestCase, MyOutput]("test-id", "Test run").end()


def test_create_human_review_job_before_start():
    """Ported."""
    with pytest.raises(ValueError, match="before creating a human review job"):
        RunManager[MyTestCase, MyOutput]("test-id", "Test run").create_human_review_job(
            assignee_email_address="test@test.com", name="Test human review job"
        )


def test_full_lifecycle(store_rows):
    """Ported: start, one result with an evaluation, end, a review job. Where the SDK posts
    the result's body, output, review fields and evaluation, trialrun stores them."""
    test_run = RunManager[MyTestCase, MyOutput]("test-id", "Test run")
    test_run.start()
    run_id = test_run.run_id
    assert run_id is not None
    assert history.run(run_id).status == "running"  # stored at start, as engine runs are

    test_run.add_result(
        test_case=MyTestCase(input="test"),
        output=MyOutput(output="test"),
        test_case_duration_ms=100,
        evaluations=[evaluation()],
    )
    test_run.end()
    test_run.create_human_review_job(
        assignee_email_address="test@test.com", name="Test human review job"
    )

    stored = history.run(run_id)
    assert (stored.suite_id, stored.status) == ("test-id", "completed")
    assert stored.ended_at is not None and stored.ended_at >= stored.started_at
    (case,) = stored.cases
    assert case["hash"] == "test"
    assert case["test_case"] == {"input": "test"}  # testCaseBody
    assert case["output"] == {"output": "test"}  # testCaseOutput
    assert case["duration_s"] == pytest.approx(0.1)  # testCaseDurationMs=100
    (e,) = case["evaluations"]
    assert (e["evaluator_id"], e["score"], e["verdict"]) == ("evaluator-external-id", 1, "passed")
    assert e["threshold"] == {"gte": 0.5}
    assert (e["metadata"], e["error"]) == (None, None)

    review = stored.review
    assert [(j["name"], j["assignees"], j["rubric_id"]) for j in review["jobs"]] == [
        ("Test human review job", ["test@test.com"], None)
    ]
    (item,) = review["items"]
    assert item["input_fields"] == [{"name": "input", "value": "test", "contentType": "text"}]
    assert item["output_fields"] == [{"name": "output", "value": "test", "contentType": "text"}]
    # The store holds exactly what a suite run would: one run, one case, one evaluation.
    assert store_rows("SELECT count(*) AS n FROM evaluations")[0]["n"] == 1


def test_results_match_what_the_suite_engine_stores(store_rows):
    """The same case, output and evaluation stored by run_test_suite and by RunManager give
    the same rows (case JSON, output JSON, evaluation with assertions in its metadata)."""
    from trialrun.testing.run import run_test_suite

    assertions = [Assertion(criterion="polite", passed=False, required=True)]
    when = datetime.datetime(2025, 1, 2, 3, 4, 5)

    @dataclasses.dataclass
    class Rich(BaseTestCase):
        input: str
        at: datetime.datetime
        handle: Any = None  # no JSON form: left out, as Autoblocks does

        def hash(self) -> str:
            return self.input

    class Judge(BaseTestEvaluator):
        id = "judge"

        def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
            return Evaluation(
                score=0.5,
                threshold=Threshold(gte=0.7),
                metadata={"reason": "curt"},
                assertions=assertions,
            )

    case = Rich("hello", when, handle=threading.Lock())
    run_test_suite("same", [case], lambda c: MyOutput("hi"), [Judge()], quiet=True)
    manager = RunManager("same")
    manager.start()
    manager.add_result(
        case,
        MyOutput("hi"),
        evaluations=[
            EvaluationWithId(
                id="judge",
                score=0.5,
                threshold=Threshold(gte=0.7),
                metadata={"reason": "curt"},
                assertions=assertions,
            )
        ],
    )
    manager.end()
    cases = store_rows("SELECT run_id, test_case, output FROM case_results ORDER BY run_id")
    evaluations = store_rows(
        "SELECT run_id, evaluator_id, score, threshold, verdict, metadata FROM evaluation_results"
        " ORDER BY run_id"
    )
    assert len(cases) == len(evaluations) == 2
    assert (
        cases[0]["test_case"]
        == cases[1]["test_case"]
        == ('{"input":"hello","at":"2025-01-02T03:04:05"}')
    )
    assert cases[0]["output"] == cases[1]["output"] == '{"output":"hi"}'
    strip = [{k: v for k, v in e.items() if k != "run_id"} for e in evaluations]
    assert strip[0] == strip[1]
    assert strip[0]["verdict"] == "failed"
    assert '"_assertions":[{"criterion":"polite"' in strip[0]["metadata"]


def test_bad_results_are_refused_by_name_and_nothing_is_stored():
    manager = RunManager("checked")
    manager.start()
    with pytest.raises(ValueError, match=r"evaluations\[0\].score .*between 0 and 1"):
        manager.add_result(MyTestCase("a"), "out", evaluations=[evaluation(score=1.5)])
    with pytest.raises(TypeError, match=r"evaluations\[0\] must be an EvaluationWithId"):
        manager.add_result(MyTestCase("a"), "out", evaluations=[Evaluation(score=1)])
    with pytest.raises(TypeError, match=r"evaluations\[0\].threshold must be a Threshold"):
        manager.add_result(
            MyTestCase("a"),
            "out",
            evaluations=[EvaluationWithId(id="x", score=1, threshold=1)],  # type: ignore[arg-type]
        )
    with pytest.raises(ValueError, match='evaluator id "e" is given twice'):
        twice = [EvaluationWithId(id="e", score=1), EvaluationWithId(id="e", score=0)]
        manager.add_result(MyTestCase("a"), "out", evaluations=twice)
    with pytest.raises(TypeError, match="test_case must be a BaseTestCase"):
        manager.add_result("a case", "out")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="101 characters, at most 100"):
        manager.add_result(MyTestCase("x" * 101), "out")
    manager.add_result(MyTestCase("a"), "out")
    with pytest.raises(ValueError, match='hash "a" was already added'):
        manager.add_result(MyTestCase("a"), "again")
    manager.end()
    assert [c["hash"] for c in history.run(manager.run_id).cases] == ["a"]


def test_a_run_manager_run_compares_and_shows_like_any_run(capsys):
    from trialrun.cli import main

    for score in (1, 0.2):
        manager = RunManager[MyTestCase, MyOutput]("manual")
        manager.start()
        manager.add_result(MyTestCase("q"), MyOutput("a"), 5, [evaluation(score)])
        manager.end()
    comparison = history.compare()
    assert comparison.to_dict()["evaluators"][0]["newly_failing"] == ["q"]
    assert main(["compare"]) == 1
    assert "q  evaluator-external-id  passed 1 -> failed 0.2" in capsys.readouterr().out
    assert main(["show"]) == 0
    out = capsys.readouterr().out
    assert "suite manual  failed (status completed)" in out  # a failing case: the verdict
    assert "FAIL q  (0.005 s)" in out


async def test_the_async_methods_store_the_same():
    manager = RunManager[MyTestCase, MyOutput]("async-manual")
    await manager.async_start()
    await manager.async_add_result(MyTestCase("q"), MyOutput("a"), 20, [evaluation()])
    await manager.async_create_human_review_job("a@example.com", "async job")
    await manager.async_end()
    stored = history.run(manager.run_id)
    assert stored.status == "completed" and [c["hash"] for c in stored.cases] == ["q"]
    assert stored.review["jobs"][0]["name"] == "async job"


def test_a_process_that_dies_before_end_leaves_its_results_in_an_interrupted_run(trialrun_home):
    """As a suite run whose process died: the store marks it interrupted once it sees the
    writing process is gone."""
    script = (
        "import dataclasses, os\n"
        "from trialrun.testing.models import BaseTestCase\n"
        "from trialrun.testing.run import RunManager\n"
        "@dataclasses.dataclass\n"
        "class C(BaseTestCase):\n"
        "    x: str\n"
        "    def hash(self): return self.x\n"
        "m = RunManager('dies')\n"
        "m.start()\n"
        "m.add_result(C('kept'), 'out')\n"
        "print(m.run_id, flush=True)\n"
        "os._exit(9)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 9, done.stderr
    stored = history.run(done.stdout.strip())
    assert stored.status == "interrupted"
    assert [c["hash"] for c in stored.cases] == ["kept"]


def test_manual_run_directly():
    run = ManualRun("direct")
    run_id = run.run_id
    assert not run.started and not run.ended
    with pytest.raises(ValueError, match="call start\\(\\) before adding results"):
        run.add_result(MyTestCase("a"), 1)
    assert run.start() == run_id
    with pytest.raises(ValueError, match="already started"):
        run.start()
    assert (
        run.add_result(
            MyTestCase("a"), None, 0.5, error="boom", evaluation_errors=[("judge", "Traceback")]
        )
        == "a"
    )
    run.end()
    with pytest.raises(ValueError, match="already ended"):
        run.end()
    (case,) = history.run(run_id).cases
    assert (case["error"], case["output"], case["duration_s"]) == ("boom", None, 0.5)
    (e,) = case["evaluations"]
    assert (e["evaluator_id"], e["verdict"], e["score"], e["error"]) == (
        "judge",
        "errored",
        None,
        "Traceback",
    )
    with pytest.raises(ValueError, match="suite id must be a non-empty string"):
        ManualRun(" ")


# --- v2 -----------------------------------------------------------------------------------


class MyEvaluator(BaseTestEvaluator):
    @property
    def id(self) -> str:
        return "evaluator-external-id"

    def evaluate_test_case(self, *args: Any, **kwargs: Any) -> Evaluation | None:
        return Evaluation(score=1, threshold=Threshold(gte=0.5), metadata={"reason": "ok"})


def test_does_not_allow_adding_result_after_run_has_ended_v2():
    """Ported."""
    test_run = RunManagerV2(app_slug="my-app", run_message="Test run")
    test_run.start()
    test_run.end()
    with pytest.raises(ValueError, match="ended run"):
        test_run.add_result(
            test_case=MyTestCase(input="test"), output=MyOutput(output="test"), duration_ms=100
        )


def test_full_lifecycle_v2():
    """Ported: the evaluator runs, the result and the review job are stored."""
    test_run = RunManagerV2(app_slug="my-app", run_message="Test run")
    test_run.start()
    exec_id = test_run.add_result(
        test_case=MyTestCase(input="test"),
        output=MyOutput(output="test"),
        duration_ms=100,
        evaluators=[MyEvaluator()],
        started_at="2025-01-01T00:00:00.000Z",
    )
    assert exec_id == "test"  # the stored case's hash (the SDK returns its execution id)
    test_run.end()
    test_run.create_human_review(
        name="Test human review job", assignee_email_addresses=["test@test.com"]
    )

    stored = history.run(test_run.run_id)
    assert (stored.suite_id, stored.status) == ("my-app", "completed")
    (case,) = stored.cases
    assert (case["test_case"], case["output"]) == ({"input": "test"}, {"output": "test"})
    assert case["duration_s"] == pytest.approx(0.1)
    (e,) = case["evaluations"]
    assert (e["evaluator_id"], e["score"], e["verdict"]) == ("evaluator-external-id", 1, "passed")
    assert e["metadata"] == {"reason": "ok"}
    (job,) = stored.review["jobs"]
    assert (job["name"], job["assignees"], job["rubric_id"]) == (
        "Test human review job",
        ["test@test.com"],
        None,
    )
    assert stored.review["items"][0]["output_fields"][0]["value"] == "test"


def test_end_without_start_sets_timestamps_and_allows_human_review():
    """Ported."""
    test_run = RunManagerV2(app_slug="my-app")
    with pytest.raises(ValueError, match="call end\\(\\) before creating human review"):
        test_run.create_human_review(name="HR job", assignee_email_addresses=["a@test.com"])
    test_run.end()
    assert test_run.can_create_human_review is True
    assert test_run.started_at is not None
    assert test_run.ended_at is not None
    test_run.create_human_review(name="HR job", assignee_email_addresses=["a@test.com"])
    stored = history.run(test_run.run_id)
    assert (stored.status, stored.cases) == ("completed", [])
    assert stored.review["jobs"][0]["assignees"] == ["a@test.com"]


def test_add_result_without_evaluators_sends_empty_maps():
    """Ported: no evaluators, no evaluations."""
    test_run = RunManagerV2(app_slug="my-app")
    test_run.start()
    assert (
        test_run.add_result(
            test_case=MyTestCase(input="test"), output=MyOutput(output="test"), duration_ms=250
        )
        == "test"
    )
    (case,) = history.run(test_run.run_id).cases
    assert case["evaluations"] == [] and case["duration_s"] == pytest.approx(0.25)


def test_v2_runs_async_and_sync_evaluators_and_stores_failures():
    seen_threads: list[str] = []

    class AsyncEvaluator(BaseTestEvaluator):
        id = "async"

        async def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
            await asyncio.sleep(0.01)
            return Evaluation(score=0.0, threshold=Threshold(gte=1))

    class SyncEvaluator(BaseTestEvaluator):
        id = "sync"

        def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
            seen_threads.append(threading.current_thread().name)
            return Evaluation(score=0.5)

    class Raises(BaseTestEvaluator):
        id = "raises"

        def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
            raise ZeroDivisionError("bad math")

    class Skips(BaseTestEvaluator):
        id = "skips"

        def evaluate_test_case(self, test_case: Any, output: Any) -> None:
            return None

    class Wrong(BaseTestEvaluator):
        id = "wrong"

        def evaluate_test_case(self, test_case: Any, output: Any) -> Any:
            return 0.5

    test_run = RunManagerV2(app_slug="evaluated")
    evaluators = [AsyncEvaluator(), SyncEvaluator(), Raises(), Skips(), Wrong()]
    test_run.add_result(
        test_case=MyTestCase("q"),
        output="out",
        duration_ms=1,
        evaluators=evaluators,
        status="FAILED",
    )
    test_run.end()
    (case,) = history.run(test_run.run_id).cases
    assert case["error"] == "add_result status 'FAILED'"
    by_id = {e["evaluator_id"]: e for e in case["evaluations"]}
    assert sorted(by_id) == ["async", "raises", "sync", "wrong"]  # skips returned None
    assert (by_id["async"]["verdict"], by_id["sync"]["verdict"]) == ("failed", "no_threshold")
    assert by_id["raises"]["verdict"] == "errored"
    assert "ZeroDivisionError: bad math" in by_id["raises"]["error"]
    assert "returned float" in by_id["wrong"]["error"]
    assert seen_threads and seen_threads[0] != threading.current_thread().name


async def test_v2_async_add_result_inside_a_running_loop():
    test_run = RunManagerV2(app_slug="in-loop")
    test_run.start()
    await test_run.async_add_result(
        test_case=MyTestCase("a"), output="x", duration_ms=3, evaluators=[MyEvaluator()]
    )
    # The sync form works inside a running loop too (it runs its own loop on a thread).
    test_run.add_result(test_case=MyTestCase("b"), output="y", duration_ms=3)
    await test_run.async_end()
    assert [c["hash"] for c in history.run(test_run.run_id).cases] == ["a", "b"]


def test_a_case_whose_serialize_asks_the_run_does_not_hang():
    """Regression: add_result ran serialize() while holding the run's lock, so a
    serialize() that read the run's id waited on itself forever (run in a child process,
    so a hang fails the test instead of stopping the session)."""
    script = (
        "import dataclasses\n"
        "from trialrun._core import ManualRun\n"
        "from trialrun.testing.models import BaseTestCase\n"
        "run = ManualRun('reentrant')\n"
        "@dataclasses.dataclass\n"
        "class C(BaseTestCase):\n"
        "    x: str\n"
        "    def hash(self): return self.x\n"
        "    def serialize(self): return {'x': self.x, 'run': run.run_id}\n"
        "run.start()\n"
        "run.add_result(C('a'), 'out')\n"
        "run.end()\n"
        "print(run.run_id)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    (case,) = history.run(done.stdout.strip()).cases
    assert case["test_case"] == {"x": "a", "run": done.stdout.strip()}
