"""Autoblocks' run_test_suite options: its parameter order, `evaluators` optional,
`before_evaluators_hook` with `hook_results` and `retry_count` (`human_review_job`:
test_human_review.py).

`test_sync_before_evaluators_hook` is ported from the Autoblocks SDK's
`tests/autoblocks/test_run_test_suite.py` (github.com/autoblocksai/python-sdk, commit
fc6826d, MIT licence), with the same test case, evaluators and hook; where the SDK test
expects posts to its CLI server, this asserts what run_test_suite returns and stores.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time

import pytest

from trialrun import SuiteValidationError
from trialrun.testing.models import BaseTestCase, BaseTestEvaluator, Evaluation
from trialrun.testing.run import run_test_suite


@dataclasses.dataclass
class MyTestCase(BaseTestCase):
    input: str

    def hash(self) -> str:
        return self.input


def test_sync_before_evaluators_hook(store_rows):
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

        def evaluate_test_case(self, test_case, output, hook_results: HookResults) -> Evaluation:
            return Evaluation(score=hook_results.hook1.x)

    class Evaluator2(BaseTestEvaluator):
        id = "evaluator-2"

        async def evaluate_test_case(
            self, test_case, output, hook_results: HookResults
        ) -> Evaluation:
            await asyncio.sleep(0.1)
            return Evaluation(score=hook_results.hook2.y)

    num_times_hook_called = 0

    def before_evaluators_hook(test_case: MyTestCase, output: str) -> HookResults:
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
        quiet=True,
    )

    assert num_times_hook_called == 1
    (case,) = result.cases
    assert (case.hash, case.output) == ("a", "a!")
    assert case.evaluation("evaluator-1").score == 0.1
    assert case.evaluation("evaluator-2").score == 0.2
    (stored,) = store_rows("SELECT hash, output, error FROM case_results")
    assert stored == {"hash": "a", "output": '"a!"', "error": None}


async def test_an_async_hook_runs_in_the_call_slot_and_none_passes_no_hook_results():
    in_flight = peak = 0
    lock = threading.Lock()

    async def fn(case: MyTestCase) -> str:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        return case.input

    async def hook(case: MyTestCase, output: str) -> None:
        nonlocal in_flight
        await asyncio.sleep(0.01)  # still within fn's slot
        with lock:
            in_flight -= 1

    class NoHookResults(BaseTestEvaluator):
        id = "plain"

        def evaluate_test_case(self, test_case, output) -> Evaluation:  # no hook_results
            return Evaluation(score=1)

    from trialrun.testing.run import run_test_suite_async

    result = await run_test_suite_async(
        id="slots",
        test_cases=[MyTestCase(str(i)) for i in range(12)],
        evaluators=[NoHookResults()],
        fn=fn,
        max_test_case_concurrency=3,
        before_evaluators_hook=hook,
        quiet=True,
    )
    assert peak == 3  # a call and its hook hold one slot
    assert all(case.evaluation("plain").score == 1 for case in result.cases)


def test_a_hook_that_raises_errors_its_case_and_skips_its_evaluators(store_rows):
    calls = []

    class Counted(BaseTestEvaluator):
        id = "counted"

        def evaluate_test_case(self, test_case, output, hook_results=None) -> Evaluation:
            calls.append(test_case.input)
            return Evaluation(score=1)

    def hook(case: MyTestCase, output: str) -> str:
        if case.input == "bad":
            raise RuntimeError("the grader is down")
        return "graded"

    result = run_test_suite(
        id="hook-fails",
        test_cases=[MyTestCase("good"), MyTestCase("bad")],
        evaluators=[Counted()],
        fn=lambda case: case.input.upper(),
        before_evaluators_hook=hook,
        quiet=True,
    )
    good, bad = result.cases
    assert calls == ["good"]
    assert good.error is None and good.evaluation("counted").score == 1
    assert bad.output == "BAD"  # fn's output is kept
    assert "before_evaluators_hook raised" in bad.error and "the grader is down" in bad.error
    assert not result.passed
    stored = {row["hash"]: row for row in store_rows("SELECT * FROM case_results")}
    assert stored["bad"]["output"] == '"BAD"' and "the grader is down" in stored["bad"]["error"]


def test_a_hook_that_is_not_callable_is_refused_before_any_call():
    called = []
    with pytest.raises(SuiteValidationError, match="before_evaluators_hook must be a callable"):
        run_test_suite(
            id="bad-hook",
            test_cases=[MyTestCase("a")],
            fn=called.append,
            before_evaluators_hook="not a function",
            quiet=True,
        )
    assert called == []


def test_the_sdk_positional_order_and_no_evaluators():
    result = run_test_suite("positional", [MyTestCase("a")], lambda case: case.input * 2)
    assert result.cases[0].output == "aa" and result.passed


def test_trialrun_earlier_positional_order_still_runs():
    class One(BaseTestEvaluator):
        id = "one"

        def evaluate_test_case(self, test_case, output) -> Evaluation:
            return Evaluation(score=1)

    result = run_test_suite(
        "earlier", [MyTestCase("a")], [One()], lambda case: case.input, 2, {"k": [1, 2]}
    )
    assert [run.grid for run in result.runs] == [{"k": 1}, {"k": 2}]
    assert all(case.evaluation("one").score == 1 for case in result.cases)


def test_retry_count_retries_network_failures_only():
    attempts: dict[str, int] = {}

    def flaky(case: MyTestCase) -> str:
        attempts[case.input] = attempts.get(case.input, 0) + 1
        if case.input == "network" and attempts[case.input] < 3:
            raise ConnectionError("connection reset by peer")
        if case.input == "timeout" and attempts[case.input] < 2:
            raise TimeoutError("read timed out")
        if case.input == "bug":
            raise KeyError("not a network error")
        return "ok"

    started = time.monotonic()
    result = run_test_suite(
        id="retried",
        test_cases=[MyTestCase(name) for name in ("network", "timeout", "bug")],
        fn=flaky,
        retry_count=2,
        quiet=True,
    )
    by_hash = {case.hash: case for case in result.cases}
    assert attempts == {"network": 3, "timeout": 2, "bug": 1}
    assert by_hash["network"].output == "ok" and by_hash["timeout"].output == "ok"
    assert "KeyError" in by_hash["bug"].error
    assert time.monotonic() - started < 10  # backoff starts at half a second


async def test_retry_count_retries_an_async_fn_and_gives_up_after_the_last_try():
    attempts = 0

    async def down(case: MyTestCase) -> str:
        nonlocal attempts
        attempts += 1
        raise ConnectionRefusedError("connection refused")

    from trialrun.testing.run import run_test_suite_async

    result = await run_test_suite_async(
        id="gives-up", test_cases=[MyTestCase("a")], fn=down, retry_count=1, quiet=True
    )
    assert attempts == 2
    assert "ConnectionRefusedError" in result.cases[0].error


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_a_bad_retry_count_is_refused(bad):
    with pytest.raises(SuiteValidationError, match="retry_count"):
        run_test_suite(id="x", test_cases=[MyTestCase("a")], fn=str, retry_count=bad, quiet=True)


def test_repeated_test_cases(store_rows):
    """Ported from the SDK's `test_repeated_test_cases`: a case with
    TestCaseConfig(repeat_num_times=3) runs three times, as hashes a-0, a-1, a-2."""
    from trialrun.testing.models import TestCaseConfig

    @dataclasses.dataclass
    class SomeTestCase(BaseTestCase):
        input: str
        test_case_config: TestCaseConfig | None = None

        def hash(self) -> str:
            return self.input

    class MyEvaluator(BaseTestEvaluator):
        id = "my-evaluator"

        def evaluate_test_case(self, test_case: SomeTestCase, output: str) -> Evaluation:
            return Evaluation(score=ord(test_case.input) / 100)

    calls = []

    def fn(test_case: SomeTestCase) -> str:
        calls.append(test_case.input)
        return test_case.input + "!"

    result = run_test_suite(
        id="my-test-id",
        test_cases=[
            SomeTestCase(test_case_config=TestCaseConfig(repeat_num_times=3), input="a"),
            SomeTestCase(input="b"),
        ],
        evaluators=[MyEvaluator()],
        fn=fn,
        max_test_case_concurrency=1,
        quiet=True,
    )
    assert sorted(calls) == ["a", "a", "a", "b"]
    assert [(c.hash, c.output, c.evaluation("my-evaluator").score) for c in result.cases] == [
        ("a-0", "a!", 0.97),
        ("a-1", "a!", 0.97),
        ("a-2", "a!", 0.97),
        ("b", "b!", 0.98),
    ]
    hashes = [r["hash"] for r in store_rows("SELECT hash FROM case_results ORDER BY idx")]
    assert hashes == ["a-0", "a-1", "a-2", "b"]


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "3"])
def test_a_bad_repeat_count_is_refused_naming_the_case(bad):
    from trialrun.testing.models import TestCaseConfig

    @dataclasses.dataclass
    class Repeated(BaseTestCase):
        input: str
        test_case_config: TestCaseConfig | None = None

        def hash(self) -> str:
            return self.input

    case = Repeated("x", TestCaseConfig(repeat_num_times=bad))
    with pytest.raises(SuiteValidationError, match=r"test_cases\[0\].*repeat_num_times"):
        run_test_suite(id="bad-repeat", test_cases=[case], fn=str, quiet=True)


def test_outputs_and_cases_are_stored_as_autoblocks_serializes_them(store_rows):
    """An output's own serialize() is stored; datetimes, dates, UUIDs and enum members are
    stored as their JSON forms, not reprs; a case field with no JSON form is left out (as the
    SDK's serializer skips it), and its test_case_config is not stored."""
    import datetime
    import enum
    import uuid

    from trialrun.testing.models import TestCaseConfig

    class Color(enum.Enum):
        RED = "red"

    class Opaque:
        pass

    @dataclasses.dataclass
    class Rich(BaseTestCase):
        input: str
        when: datetime.date
        handle: Opaque
        test_case_config: TestCaseConfig | None = None

        def hash(self) -> str:
            return self.input

    class Reply:
        def __init__(self, text: str) -> None:
            self.text = text

        def serialize(self) -> dict:
            return {"text": self.text, "at": datetime.datetime(2026, 12, 5, 8, 30)}

    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")

    def fn(case: Rich) -> object:
        if case.input == "reply":
            return Reply("hello")
        return {"id": ident, "color": Color.RED, "on": case.when}

    run_test_suite(
        id="serialized",
        test_cases=[
            Rich("reply", datetime.date(2026, 1, 2), Opaque()),
            Rich("plain", datetime.date(2026, 1, 3), Opaque(), TestCaseConfig()),
        ],
        fn=fn,
        quiet=True,
    )
    rows = {r["hash"]: r for r in store_rows("SELECT hash, test_case, output FROM case_results")}
    assert json.loads(rows["reply"]["output"]) == {"text": "hello", "at": "2026-12-05T08:30:00"}
    assert json.loads(rows["plain"]["output"]) == {
        "id": "12345678-1234-5678-1234-567812345678",
        "color": "red",
        "on": "2026-01-03",
    }
    assert json.loads(rows["plain"]["test_case"]) == {"input": "plain", "when": "2026-01-03"}
