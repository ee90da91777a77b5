"""The Autoblocks SDK's own tests of `run_test_suite`, ported to trialrun.

Ported from github.com/autoblocksai/python-sdk at commit fc6826d (MIT licence):
`tests/autoblocks/test_run_test_suite.py` and
`tests/autoblocks/test_run_test_suite_without_cli.py`, keeping the SDK's test names, test
cases, fns and evaluators. Where an SDK test expects posts to its CLI server (/start,
/results, /evals, /errors, /end), the port asserts what trialrun's `run_test_suite`
returns (SuiteResult, CaseResult, EvaluationResult) and what its run store holds (`runs`,
`case_results`, `evaluation_results`). Where the SDK reports bad input by posting /errors
and returning, trialrun raises SuiteValidationError before anything runs or is stored,
with the suite id first as the SDK words it.

What is stored of cases and outputs, and the retry tests (v1 and v2), are in
test_autoblocks_sdk_storage_retry.py. Ported elsewhere: test_sync_before_evaluators_hook
and test_repeated_test_cases (test_autoblocks_run_options.py); test_filters_test_suites_*,
test_tests_and_hashes_overrides_* and the v2 run_id validation tests
(test_autoblocks_selection_v2.py).

Not ported, and why:
- test_creates_human_review_job, test_creates_human_review_jobs,
  test_serialize_for_human_review: human review (a local review queue in the run store)
  is being built separately; they are ported with it.
- test_sends_tracer_events: it checks that AutoblocksTracer events sent inside fn reach
  Autoblocks' cloud per case; trialrun has no tracer (the README says to drop it).
- test_prompt_manager_revision_usage: Autoblocks' prompt manager fetches prompt
  revisions from its cloud; trialrun has no prompt manager.
- test_alignment_mode_skips_test_suite, test_alignment_mode_without_test_case_hash,
  test_alignment_mode_with_test_case_hash: alignment mode is an interactive session of
  Autoblocks' CLI (`npx autoblocks testing align`), honoured by the SDK only while that
  CLI's server runs; trialrun has no such session. Choosing one suite and one case is
  TRIALRUN_SUITES / TRIALRUN_CASES (tested in test_autoblocks_selection_v2.py).
- test_v2_run_id_validation_happens_after_tracer_check (v2 validation file): it checks
  the order of a tracer check trialrun does not have.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import enum
import json
import threading
import time

import pytest

from sdk_port import MyTestCase, no_store, stored_cases, stored_evaluations
from trialrun import StoreError, SuiteValidationError
from trialrun.testing.models import (
    BaseEvaluator,
    BaseTestCase,
    BaseTestEvaluator,
    Evaluation,
    Threshold,
    TracerEvent,
)
from trialrun.testing.run import grid_search_ctx, run_test_suite
from trialrun.testing.util import md5

# --- bad input: the SDK posts /errors and returns; trialrun raises before anything runs ---


def test_no_test_cases(trialrun_home):
    calls = []
    with pytest.raises(SuiteValidationError) as info:
        run_test_suite(
            id="my-test-id",
            test_cases=[],
            fn=calls.append,
            max_test_case_concurrency=1,
        )
    assert str(info.value).startswith("[my-test-id] test_cases is empty")
    assert calls == [] and no_store(trialrun_home)


def test_invalid_test_cases(trialrun_home):
    calls = []
    with pytest.raises(SuiteValidationError) as info:
        run_test_suite(
            id="my-test-id",
            test_cases=[1, 2, 3],  # type: ignore[list-item]
            evaluators=[],
            fn=calls.append,
            max_test_case_concurrency=1,
        )
    assert str(info.value) == (
        "[my-test-id] test_cases[0] 1 is a int, not a BaseTestCase subclass instance"
    )
    assert calls == [] and no_store(trialrun_home)


def test_duplicate_test_case_hashes(trialrun_home):
    calls = []
    with pytest.raises(SuiteValidationError) as info:
        run_test_suite(
            id="my-test-id",
            test_cases=[MyTestCase(input="a"), MyTestCase(input="a")],
            evaluators=[],
            fn=calls.append,
            max_test_case_concurrency=1,
        )
    message = str(info.value)
    assert message.startswith('[my-test-id] duplicate test case hash "a"')
    assert "test_cases[0]" in message and "test_cases[1]" in message
    assert calls == [] and no_store(trialrun_home)


def test_invalid_evaluators(trialrun_home):
    calls = []
    with pytest.raises(SuiteValidationError) as info:
        run_test_suite(
            id="my-test-id",
            test_cases=[MyTestCase(input="a")],
            evaluators=[1, 2, 3],  # type: ignore[list-item]
            fn=calls.append,
            max_test_case_concurrency=1,
        )
    assert str(info.value) == (
        "[my-test-id] evaluators[0] 1 is a int, not a BaseTestEvaluator subclass instance"
    )
    assert calls == [] and no_store(trialrun_home)


def test_duplicate_evaluator_ids(trialrun_home):
    class MyEvaluator(BaseTestEvaluator):
        id = "my-evaluator"

        def evaluate_test_case(self, test_case: MyTestCase, output: str) -> None:
            return None

    calls = []
    with pytest.raises(SuiteValidationError) as info:
        run_test_suite(
            id="my-test-id",
            test_cases=[MyTestCase(input="a")],
            evaluators=[MyEvaluator(), MyEvaluator()],
            fn=calls.append,
            max_test_case_concurrency=1,
        )
    assert str(info.value) == (
        '[my-test-id] duplicate evaluator id "my-evaluator": evaluators[0] and evaluators[1]'
    )
    assert calls == [] and no_store(trialrun_home)


def test_a_case_whose_serialize_raises_is_refused_before_any_call(trialrun_home):
    """Kept on purpose (README): the SDK fails such a case when it posts its result;
    trialrun serializes every case before the first fn call and refuses the suite."""

    @dataclasses.dataclass
    class Unstorable(BaseTestCase):
        input: str

        def hash(self) -> str:
            return self.input

        def serialize(self):
            raise RuntimeError("no JSON for " + self.input)

    calls = []
    with pytest.raises(SuiteValidationError) as info:
        run_test_suite(
            id="my-test-id",
            test_cases=[MyTestCase("a"), Unstorable("b")],
            fn=calls.append,
        )
    message = str(info.value)
    assert message.startswith("[my-test-id] test_cases[1] ")
    assert "serialize() raised" in message and "no JSON for b" in message
    assert calls == [] and no_store(trialrun_home)


def test_a_bad_retry_count_names_the_suite_too():
    with pytest.raises(SuiteValidationError, match=r"^\[my-test-id\] retry_count"):
        run_test_suite(id="my-test-id", test_cases=[MyTestCase("a")], fn=str, retry_count=-1)


def test_run_stops_if_start_fails(tmp_path, monkeypatch):
    """The SDK stops when its CLI cannot start the run (/start fails); trialrun's
    equivalent is a run store it cannot open: StoreError naming the file, no fn call."""
    home = tmp_path / "a-file"
    home.write_text("not a folder")
    monkeypatch.setenv("TRIALRUN_HOME", str(home))
    calls = []
    with pytest.raises(StoreError) as info:
        run_test_suite(
            id="my-test-id",
            test_cases=[MyTestCase(input="a")],
            evaluators=[],
            fn=lambda test_case: calls.append(test_case) or test_case.input + "!",
            max_test_case_concurrency=1,
        )
    assert str(home) in str(info.value)
    assert calls == []


# --- errors in user code: they fail that case or that evaluation, not the run -------------


def _assert_error_in_test_fn(result, store_rows):
    a, b = result.cases
    assert (a.hash, a.output, a.error) == ("a", "a!", None)
    assert (b.hash, b.output) == ("b", None)
    assert b.error.startswith("Traceback (most recent call last):")
    assert b.error.endswith("ValueError: b!")
    assert not result.passed and result.status == "completed"
    rows = stored_cases(store_rows)
    assert [(r["hash"], r["test_case"], r["output"]) for r in rows] == [
        ("a", {"input": "a"}, "a!"),
        ("b", {"input": "b"}, None),
    ]
    assert rows[0]["error"] is None and rows[1]["error"].endswith("ValueError: b!")
    [run] = store_rows("SELECT id, suite_id, status, grid FROM runs")
    assert run == {"id": a.run_id, "suite_id": "my-test-id", "status": "completed", "grid": None}


def test_error_in_test_fn(store_rows):
    def test_fn(test_case: MyTestCase) -> str:
        if test_case.input == "a":
            return test_case.input + "!"
        raise ValueError(test_case.input + "!")

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a"), MyTestCase(input="b")],
        evaluators=[],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    _assert_error_in_test_fn(result, store_rows)


def test_error_in_async_test_fn(store_rows):
    async def test_fn(test_case: MyTestCase) -> str:
        if test_case.input == "a":
            return test_case.input + "!"
        raise ValueError(test_case.input + "!")

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a"), MyTestCase(input="b")],
        evaluators=[],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    _assert_error_in_test_fn(result, store_rows)


def test_error_in_evaluator(store_rows):
    def test_fn(test_case: MyTestCase) -> str:
        return test_case.input + "!"

    class MySyncEvaluator(BaseTestEvaluator):
        id = "my-sync-evaluator"

        def evaluate_test_case(self, test_case: MyTestCase, output: str) -> Evaluation:
            if test_case.input == "a":
                return Evaluation(score=0.5, threshold=Threshold(lt=0.6))
            raise ValueError(output)

    class MyAsyncEvaluator(BaseTestEvaluator):
        id = "my-async-evaluator"

        async def evaluate_test_case(self, test_case: MyTestCase, output: str) -> Evaluation:
            if test_case.input == "b":
                return Evaluation(score=0.6, threshold=Threshold(lt=0.7))
            raise ValueError(output)

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a"), MyTestCase(input="b")],
        evaluators=[MySyncEvaluator(), MyAsyncEvaluator()],
        fn=test_fn,
        max_test_case_concurrency=1,
    )

    a, b = result.cases
    assert (a.output, a.error, b.output, b.error) == ("a!", None, "b!", None)
    ok = a.evaluation("my-sync-evaluator")
    assert (ok.score, ok.threshold, ok.verdict) == (0.5, Threshold(lt=0.6), "passed")
    ok = b.evaluation("my-async-evaluator")
    assert (ok.score, ok.threshold, ok.verdict) == (0.6, Threshold(lt=0.7), "passed")
    for case, evaluator_id, message in [
        (b, "my-sync-evaluator", "ValueError: b!"),
        (a, "my-async-evaluator", "ValueError: a!"),
    ]:
        bad = case.evaluation(evaluator_id)
        assert (bad.score, bad.verdict) == (None, "errored")
        assert bad.error.endswith(message)
    assert not result.passed

    evals = stored_evaluations(store_rows)
    assert {k: (v["score"], v["threshold"], v["verdict"]) for k, v in evals.items()} == {
        ("a", "my-sync-evaluator"): (0.5, {"lt": 0.6}, "passed"),
        ("a", "my-async-evaluator"): (None, None, "errored"),
        ("b", "my-sync-evaluator"): (None, None, "errored"),
        ("b", "my-async-evaluator"): (0.6, {"lt": 0.7}, "passed"),
    }
    assert evals[("b", "my-sync-evaluator")]["error"].endswith("ValueError: b!")
    assert evals[("a", "my-async-evaluator")]["error"].endswith("ValueError: a!")
    assert [r["output"] for r in stored_cases(store_rows)] == ["a!", "b!"]


# --- fn and evaluators, sync and async ---------------------------------------------------


def _assert_two_cases_stored(store_rows):
    assert [
        (r["hash"], r["test_case"], r["output"], r["error"]) for r in stored_cases(store_rows)
    ] == [
        ("a", {"input": "a"}, "a!", None),
        ("b", {"input": "b"}, "b!", None),
    ]


def test_no_evaluators(store_rows):
    def test_fn(test_case: MyTestCase) -> str:
        return test_case.input + "!"

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a"), MyTestCase(input="b")],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    assert [(c.hash, c.output, c.evaluations) for c in result.cases] == [
        ("a", "a!", []),
        ("b", "b!", []),
    ]
    assert result.passed
    _assert_two_cases_stored(store_rows)
    assert store_rows("SELECT * FROM evaluation_results") == []


class EvaluatorA(BaseTestEvaluator):
    id = "evaluator-a"

    def evaluate_test_case(self, test_case: MyTestCase, output: str) -> Evaluation:
        return Evaluation(score=0, metadata=dict(reason="because"))


class EvaluatorB(BaseTestEvaluator):
    id = "evaluator-b"

    def evaluate_test_case(self, test_case: MyTestCase, output: str) -> Evaluation:
        return Evaluation(score=1)


def _assert_with_evaluators(result, store_rows, metadata):
    for case in result.cases:
        a, b = case.evaluation("evaluator-a"), case.evaluation("evaluator-b")
        assert (a.score, a.threshold, a.metadata, a.verdict) == (0, None, metadata, "no_threshold")
        assert (b.score, b.threshold, b.metadata, b.verdict) == (1, None, None, "no_threshold")
    assert result.passed  # no thresholds: nothing can fail
    _assert_two_cases_stored(store_rows)
    evals = stored_evaluations(store_rows)
    assert {k: (v["score"], v["threshold"], v["metadata"]) for k, v in evals.items()} == {
        ("a", "evaluator-a"): (0, None, metadata),
        ("a", "evaluator-b"): (1, None, None),
        ("b", "evaluator-a"): (0, None, metadata),
        ("b", "evaluator-b"): (1, None, None),
    }


def test_with_evaluators(store_rows):
    def test_fn(test_case: MyTestCase) -> str:
        return test_case.input + "!"

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a"), MyTestCase(input="b")],
        evaluators=[EvaluatorA(), EvaluatorB()],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    _assert_with_evaluators(result, store_rows, {"reason": "because"})


def test_run_test_suite_without_cli(store_rows):
    """From test_run_test_suite_without_cli.py: the same suite with no CLI server
    (trialrun never has one); it runs and records locally."""
    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a"), MyTestCase(input="b")],
        evaluators=[EvaluatorA(), EvaluatorB()],
        fn=lambda test_case: test_case.input.upper(),
        max_test_case_concurrency=1,
    )
    assert [c.output for c in result.cases] == ["A", "B"]
    rows = stored_cases(store_rows)
    assert [(r["hash"], r["output"]) for r in rows] == [("a", "A"), ("b", "B")]
    assert len(stored_evaluations(store_rows)) == 4


def test_concurrency(store_rows):
    """The SDK checks its posts come in a fixed order when every limit is 1; here the
    limits themselves: fn, and each evaluator, never run twice at once, cases in order."""
    lock = threading.Lock()
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}
    started: list[tuple[str, str]] = []

    def enter(name: str, hash_: str) -> None:
        with lock:
            in_flight[name] = in_flight.get(name, 0) + 1
            peak[name] = max(peak.get(name, 0), in_flight[name])
            started.append((name, hash_))
        time.sleep(0.02)  # long enough for a second call to overlap if it could
        with lock:
            in_flight[name] -= 1

    def test_fn(test_case: MyTestCase) -> str:
        enter("fn", test_case.input)
        return test_case.input + "!"

    class LimitedA(BaseTestEvaluator):
        id = "evaluator-a"
        max_concurrency = 1

        def evaluate_test_case(self, test_case: MyTestCase, output: str) -> Evaluation:
            enter(self.id, test_case.input)
            return Evaluation(score=0)

    class LimitedB(BaseTestEvaluator):
        id = "evaluator-b"
        max_concurrency = 1

        def evaluate_test_case(self, test_case: MyTestCase, output: str) -> Evaluation:
            enter(self.id, test_case.input)
            return Evaluation(score=1)

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a"), MyTestCase(input="b")],
        evaluators=[LimitedA(), LimitedB()],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    assert peak == {"fn": 1, "evaluator-a": 1, "evaluator-b": 1}
    for name in peak:
        assert [h for n, h in started if n == name] == ["a", "b"]
    assert [(c.hash, c.output) for c in result.cases] == [("a", "a!"), ("b", "b!")]
    _assert_two_cases_stored(store_rows)
    evals = stored_evaluations(store_rows)
    assert {k: v["score"] for k, v in evals.items()} == {
        ("a", "evaluator-a"): 0,
        ("a", "evaluator-b"): 1,
        ("b", "evaluator-a"): 0,
        ("b", "evaluator-b"): 1,
    }


def test_async_test_fn(store_rows):
    async def test_fn(test_case: MyTestCase) -> str:
        return test_case.input + "!"

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a"), MyTestCase(input="b")],
        evaluators=[],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    assert [c.output for c in result.cases] == ["a!", "b!"] and result.passed
    _assert_two_cases_stored(store_rows)


def test_async_evaluators(store_rows):
    def test_fn(test_case: MyTestCase) -> str:
        return test_case.input + "!"

    class AsyncA(BaseTestEvaluator):
        id = "evaluator-a"

        async def evaluate_test_case(self, test_case: MyTestCase, output: str) -> Evaluation:
            return Evaluation(score=0)

    class AsyncB(BaseTestEvaluator):
        id = "evaluator-b"

        async def evaluate_test_case(self, test_case: MyTestCase, output: str) -> Evaluation:
            return Evaluation(score=1)

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a"), MyTestCase(input="b")],
        evaluators=[AsyncA(), AsyncB()],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    _assert_with_evaluators(result, store_rows, None)


def test_async_before_evaluators_hook(store_rows):
    @dataclasses.dataclass
    class BeforeEvaluatorOutput1:
        x: float

    @dataclasses.dataclass
    class BeforeEvaluatorOutput2:
        y: float

    @dataclasses.dataclass
    class HookResults:
        hook1: BeforeEvaluatorOutput1
        hook2: BeforeEvaluatorOutput2

    class Evaluator1(BaseTestEvaluator):
        id = "evaluator-1"

        def evaluate_test_case(
            self, test_case: MyTestCase, output: str, hook_results: HookResults
        ) -> Evaluation:
            return Evaluation(score=hook_results.hook1.x)

    class Evaluator2(BaseTestEvaluator):
        id = "evaluator-2"

        async def evaluate_test_case(
            self, test_case: MyTestCase, output: str, hook_results: HookResults
        ) -> Evaluation:
            await asyncio.sleep(0.1)
            return Evaluation(score=hook_results.hook2.y)

    num_times_hook_called = 0

    async def before_evaluators_hook(test_case: MyTestCase, output: str) -> HookResults:
        await asyncio.sleep(0.1)
        nonlocal num_times_hook_called
        num_times_hook_called += 1
        return HookResults(
            hook1=BeforeEvaluatorOutput1(x=0.1),
            hook2=BeforeEvaluatorOutput2(y=0.2),
        )

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a")],
        evaluators=[Evaluator1(), Evaluator2()],
        fn=lambda test_case: test_case.input + "!",
        before_evaluators_hook=before_evaluators_hook,
    )

    assert num_times_hook_called == 1
    (case,) = result.cases
    assert (case.hash, case.output) == ("a", "a!")
    assert case.evaluation("evaluator-1").score == 0.1
    assert case.evaluation("evaluator-2").score == 0.2
    assert [(r["hash"], r["output"]) for r in stored_cases(store_rows)] == [("a", "a!")]
    evals = stored_evaluations(store_rows)
    assert {k: v["score"] for k, v in evals.items()} == {
        ("a", "evaluator-1"): 0.1,
        ("a", "evaluator-2"): 0.2,
    }


def test_handles_evaluators_implementing_base_evaluator(store_rows):
    @dataclasses.dataclass
    class SomeTestCase(BaseTestCase):
        x: float

        def hash(self):
            return f"{self.x}"

    class MyCombinedEvaluator(BaseEvaluator):
        id = "my-combined-evaluator"

        @staticmethod
        def _some_shared_implementation(x: float) -> float:
            return x

        def evaluate_test_case(self, test_case: SomeTestCase, output: str) -> Evaluation:
            return Evaluation(score=self._some_shared_implementation(test_case.x))

        def evaluate_event(self, event: TracerEvent) -> Evaluation:
            return Evaluation(score=self._some_shared_implementation(event.properties["x"]))

    def test_fn(test_case: SomeTestCase) -> str:
        return "whatever"

    result = run_test_suite(
        id="my-test-id",
        test_cases=[SomeTestCase(x=0.5)],
        evaluators=[MyCombinedEvaluator()],
        fn=test_fn,
    )
    (case,) = result.cases
    assert case.hash == "0.5" and case.evaluation("my-combined-evaluator").score == 0.5
    rows = stored_cases(store_rows)
    assert [(r["hash"], r["test_case"], r["output"]) for r in rows] == [
        ("0.5", {"x": 0.5}, "whatever")
    ]
    evals = stored_evaluations(store_rows)
    assert {k: (v["score"], v["threshold"]) for k, v in evals.items()} == {
        ("0.5", "my-combined-evaluator"): (0.5, None)
    }


def test_evaluators_with_optional_evaluations(store_rows):
    class RuleLevel(str, enum.Enum):  # the SDK's StrEnum
        CRITICAL = "critical"
        MEDIUM = "medium"
        LOW = "low"

        def __str__(self) -> str:
            return str.__str__(self)

    @dataclasses.dataclass
    class Rule:
        level: RuleLevel
        rule: str

    @dataclasses.dataclass
    class TestCase(BaseTestCase):
        input: str
        rules: list[Rule]

        def hash(self):
            return md5(self.input)

    @dataclasses.dataclass
    class Output:
        actions: list[str]

    class RuleEvaluator(BaseTestEvaluator, abc.ABC):
        @property
        @abc.abstractmethod
        def level(self) -> RuleLevel:
            pass

        @property
        def id(self) -> str:
            return f"rule-evaluator-{self.level.value}"

        def _rule_passed(self, rule: Rule, output: Output) -> bool:
            return False

        def evaluate_test_case(self, test_case: TestCase, output: Output) -> Evaluation | None:
            rules = [rule for rule in test_case.rules if rule.level == self.level]
            if not rules:
                return None
            failed_rules = [rule for rule in rules if not self._rule_passed(rule, output)]
            return Evaluation(
                score=0 if failed_rules else 1,
                threshold=Threshold(gte=1),
                metadata=dict(failed_rules=[rule.rule for rule in failed_rules])
                if failed_rules
                else None,
            )

    class CriticalLevelRuleEvaluator(RuleEvaluator):
        level = RuleLevel.CRITICAL

    class MediumLevelRuleEvaluator(RuleEvaluator):
        level = RuleLevel.MEDIUM

    class LowLevelRuleEvaluator(RuleEvaluator):
        level = RuleLevel.LOW

    def test_fn(test_case: TestCase) -> Output:
        return Output(actions=[test_case.input])

    test_cases = [
        TestCase(
            input="1",
            rules=[
                Rule(level=RuleLevel.CRITICAL, rule="this really, really shouldn't happen"),
                Rule(level=RuleLevel.CRITICAL, rule="this also really, really shouldn't happen"),
                Rule(level=RuleLevel.LOW, rule="not ideal but whatever"),
            ],
        ),
        TestCase(
            input="2",
            rules=[Rule(level=RuleLevel.MEDIUM, rule="this is a bit concerning")],
        ),
    ]

    result = run_test_suite(
        id="my-test-id",
        test_cases=test_cases,
        evaluators=[
            CriticalLevelRuleEvaluator(),
            MediumLevelRuleEvaluator(),
            LowLevelRuleEvaluator(),
        ],
        fn=test_fn,
    )

    one, two = result.cases
    assert sorted(e.evaluator_id for e in one.evaluations) == [
        "rule-evaluator-critical",
        "rule-evaluator-low",
    ]
    assert [e.evaluator_id for e in two.evaluations] == ["rule-evaluator-medium"]
    assert not result.passed

    rows = stored_cases(store_rows)
    assert [(r["hash"], r["test_case"], r["output"]) for r in rows] == [
        (
            md5("1"),
            {
                "input": "1",
                "rules": [
                    {"level": "critical", "rule": "this really, really shouldn't happen"},
                    {"level": "critical", "rule": "this also really, really shouldn't happen"},
                    {"level": "low", "rule": "not ideal but whatever"},
                ],
            },
            {"actions": ["1"]},
        ),
        (
            md5("2"),
            {"input": "2", "rules": [{"level": "medium", "rule": "this is a bit concerning"}]},
            {"actions": ["2"]},
        ),
    ]
    evals = stored_evaluations(store_rows)
    assert {
        k: (v["score"], v["threshold"], v["verdict"], v["metadata"]) for k, v in evals.items()
    } == {
        (md5("1"), "rule-evaluator-critical"): (
            0,
            {"gte": 1},
            "failed",
            {
                "failed_rules": [
                    "this really, really shouldn't happen",
                    "this also really, really shouldn't happen",
                ]
            },
        ),
        (md5("1"), "rule-evaluator-low"): (
            0,
            {"gte": 1},
            "failed",
            {"failed_rules": ["not ideal but whatever"]},
        ),
        (md5("2"), "rule-evaluator-medium"): (
            0,
            {"gte": 1},
            "failed",
            {"failed_rules": ["this is a bit concerning"]},
        ),
    }


def test_grid_search_params(store_rows):
    def test_fn(test_case: MyTestCase) -> str:
        ctx = grid_search_ctx()
        if ctx is not None:
            return f"{test_case.input}-{ctx['x']}-{ctx['y']}!"
        return test_case.input + "!"

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a")],
        evaluators=[],
        fn=test_fn,
        max_test_case_concurrency=1,
        grid_search_params=dict(x=["x1", "x2"], y=["y1", "y2"]),
    )

    combos = [
        dict(x="x1", y="y1"),
        dict(x="x1", y="y2"),
        dict(x="x2", y="y1"),
        dict(x="x2", y="y2"),
    ]
    assert [run.grid for run in result.runs] == combos
    assert [(c.grid, c.hash, c.output) for c in result.cases] == [
        (combo, "a", f"a-{combo['x']}-{combo['y']}!") for combo in combos
    ]
    runs = store_rows("SELECT id, suite_id, grid, status FROM runs ORDER BY seq")
    assert [(r["suite_id"], json.loads(r["grid"]), r["status"]) for r in runs] == [
        ("my-test-id", combo, "completed") for combo in combos
    ]
    assert [r["id"] for r in runs] == result.run_ids
    outputs = {r["run_id"]: (r["hash"], r["output"]) for r in stored_cases(store_rows)}
    assert [outputs[run_id] for run_id in result.run_ids] == [
        ("a", f"a-{combo['x']}-{combo['y']}!") for combo in combos
    ]
