"""The Autoblocks SDK's tests of what `run_test_suite` stores of cases and outputs, and
of `retry_count`, ported to trialrun.

Ported from github.com/autoblocksai/python-sdk at commit fc6826d (MIT licence):
`tests/autoblocks/test_run_test_suite.py` (test_serializes, test_logs_errors_from_our_code,
test_skips_non_serializable_test_case_attributes, test_serialize,
test_serialize_dataset_item_id, test_exceptions_as_outputs, test_retry_*),
`tests/autoblocks/test_run_test_suite_v2_retry.py` (every test) and
test_v2_run_id_validation_with_retry_count from
`tests/autoblocks/test_run_test_suite_v2_validation.py`, keeping the SDK's test names,
test cases and fns. Where an SDK test expects the /results body its CLI server receives
(testCaseBody, testCaseOutput) or an /errors post, the port asserts what
`run_test_suite` returns and what the run store's `case_results` holds. The rest of
test_run_test_suite.py, and what is not ported and why, is in test_autoblocks_sdk_suite.py.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import uuid

import httpx
import pytest

from sdk_port import MyTestCase, stored_cases, stored_evaluations
from trialrun.testing.models import BaseTestCase, BaseTestEvaluator, Evaluation
from trialrun.testing.run import run_test_suite
from trialrun.testing.v2.run import run_test_suite as run_test_suite_v2

# --- what is stored of cases and outputs ------------------------------------------------


def test_serializes(store_rows):
    import pydantic

    @dataclasses.dataclass
    class ATestCase(BaseTestCase):
        d: datetime.datetime
        u: uuid.UUID

        def hash(self) -> str:
            return str(self.u)

    class AOutput(pydantic.BaseModel):
        d: datetime.datetime
        u: uuid.UUID

    def test_fn(test_case: ATestCase) -> AOutput:
        return AOutput(d=test_case.d, u=test_case.u)

    result = run_test_suite(
        id="my-test-id",
        test_cases=[
            ATestCase(
                d=datetime.datetime(2021, 1, 1, 1, 1, 1),
                u=uuid.UUID("ed022d1e-d0f2-41e4-ad55-9df0479cb62d"),
            ),
        ],
        evaluators=[],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    assert isinstance(result.cases[0].output, AOutput)
    expected = dict(d="2021-01-01T01:01:01", u="ed022d1e-d0f2-41e4-ad55-9df0479cb62d")
    assert [(r["hash"], r["test_case"], r["output"]) for r in stored_cases(store_rows)] == [
        ("ed022d1e-d0f2-41e4-ad55-9df0479cb62d", expected, expected)
    ]


def test_a_pydantic_output_is_stored_as_its_json_dump(store_rows):
    """As the SDK stores a pydantic model (its model_dump_json): serializers for JSON
    applied, Decimals and timedeltas as pydantic writes them, not as reprs."""
    import decimal

    import pydantic

    class Quote(pydantic.BaseModel):
        price: decimal.Decimal
        wait: datetime.timedelta

        @pydantic.field_serializer("price", when_used="json")
        def _dollars(self, price: decimal.Decimal) -> str:
            return f"${price}"

    quote = Quote(price=decimal.Decimal("1.50"), wait=datetime.timedelta(hours=1))
    run_test_suite(id="my-test-id", test_cases=[MyTestCase("a")], fn=lambda case: quote)
    [row] = stored_cases(store_rows)
    assert (
        row["output"] == json.loads(quote.model_dump_json()) == {"price": "$1.50", "wait": "PT1H"}
    )


def test_logs_errors_from_our_code(store_rows):
    """Kept on purpose (README, Coming from Autoblocks): the SDK fails a case whose output
    has no JSON form ("TypeError: Type is not JSON serializable: SomeClass") and skips its
    evaluators. trialrun judges the object fn returned as usual and stores its repr."""

    class SomeClass:
        pass

    def test_fn(test_case: MyTestCase) -> SomeClass:
        return SomeClass()

    class Looked(BaseTestEvaluator):
        id = "looked"

        def evaluate_test_case(self, test_case: MyTestCase, output: SomeClass) -> Evaluation:
            return Evaluation(score=1 if isinstance(output, SomeClass) else 0)

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="hi")],
        evaluators=[Looked()],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    (case,) = result.cases
    assert isinstance(case.output, SomeClass) and case.error is None
    assert case.evaluation("looked").score == 1
    [row] = stored_cases(store_rows)
    assert row["output"] == repr(case.output) and row["error"] is None


class BrokenOutput:
    def __init__(self, text: str) -> None:
        self.text = text

    def serialize(self) -> dict:
        raise RuntimeError(f"cannot serialize {self.text}")


def test_an_output_whose_serialize_raises_fails_its_case(store_rows):
    """As the SDK (it serializes the output before its evaluators, and posts the error):
    the case errors with the traceback, its evaluators do not run, the store keeps the
    error and no output. trialrun used to store the object's fields silently."""
    judged = []

    class Judge(BaseTestEvaluator):
        id = "judge"

        def evaluate_test_case(self, test_case: MyTestCase, output) -> Evaluation:
            judged.append(test_case.input)
            return Evaluation(score=1)

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase("broken"), MyTestCase("fine")],
        evaluators=[Judge()],
        fn=lambda case: BrokenOutput(case.input) if case.input == "broken" else case.input,
    )
    broken, fine = result.cases
    assert isinstance(broken.output, BrokenOutput)  # kept in memory, as a raising hook's
    assert broken.error.startswith("the output's serialize() raised:\nTraceback")
    assert broken.error.endswith("RuntimeError: cannot serialize broken")
    assert broken.evaluations == [] and judged == ["fine"]
    assert fine.error is None and fine.evaluation("judge").score == 1
    assert not result.passed and result.totals["cases_errored"] == 1
    rows = {r["hash"]: r for r in stored_cases(store_rows)}
    assert rows["broken"]["output"] is None
    assert rows["broken"]["error"].endswith("RuntimeError: cannot serialize broken")
    assert rows["fine"]["output"] == "fine" and rows["fine"]["error"] is None
    assert list(stored_evaluations(store_rows)) == [("fine", "judge")]


@pytest.mark.parametrize("record", [True, False])
def test_a_raising_serialize_fails_the_case_after_the_hook_and_unrecorded_too(record):
    """The SDK serializes after before_evaluators_hook; the case fails whether or not
    trialrun records it, so a run's verdict does not depend on record=."""
    hooked, judged = [], []

    class Judge(BaseTestEvaluator):
        id = "judge"

        def evaluate_test_case(self, test_case, output, hook_results=None) -> Evaluation:
            judged.append(test_case.input)
            return Evaluation(score=1)

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase("broken")],
        evaluators=[Judge()],
        fn=lambda case: BrokenOutput(case.input),
        before_evaluators_hook=lambda case, output: hooked.append(case.input),
        record=record,
    )
    (case,) = result.cases
    assert hooked == ["broken"] and judged == []
    assert "RuntimeError: cannot serialize broken" in case.error
    assert not result.passed


def test_skips_non_serializable_test_case_attributes(store_rows):
    class SomeClass:
        pass

    @dataclasses.dataclass
    class TestCaseWithNonSerializableAttrs(BaseTestCase):
        # Serializable
        d: datetime.datetime
        u: uuid.UUID

        # Not serializable
        c: SomeClass

        def hash(self) -> str:
            return str(self.u)

    def test_fn(test_case: TestCaseWithNonSerializableAttrs) -> str:
        return str(test_case.u)

    run_test_suite(
        id="my-test-id",
        test_cases=[
            TestCaseWithNonSerializableAttrs(
                d=datetime.datetime(2021, 1, 1, 1, 1, 1),
                u=uuid.UUID("ed022d1e-d0f2-41e4-ad55-9df0479cb62d"),
                c=SomeClass(),
            ),
        ],
        evaluators=[],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    [row] = stored_cases(store_rows)
    assert row["hash"] == "ed022d1e-d0f2-41e4-ad55-9df0479cb62d"
    assert row["test_case"] == dict(
        d="2021-01-01T01:01:01", u="ed022d1e-d0f2-41e4-ad55-9df0479cb62d"
    )
    assert row["output"] == "ed022d1e-d0f2-41e4-ad55-9df0479cb62d"


def test_serialize(store_rows):
    @dataclasses.dataclass
    class MyCustomTestCase(BaseTestCase):
        x: int
        y: int

        def hash(self):
            return f"{self.x}-{self.y}"

        def serialize(self):
            return dict(x=self.x, y=self.y, prod=self.x * self.y)

    @dataclasses.dataclass
    class MyCustomOutput:
        x: int
        y: int

        def serialize(self):
            return dict(x=self.x, y=self.y, sum=self.x + self.y)

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyCustomTestCase(x=1, y=2)],
        fn=lambda test_case: MyCustomOutput(x=test_case.x, y=test_case.y),
    )
    assert result.cases[0].output == MyCustomOutput(1, 2)
    assert [(r["hash"], r["test_case"], r["output"]) for r in stored_cases(store_rows)] == [
        ("1-2", dict(x=1, y=2, prod=2), dict(x=1, y=2, sum=3))
    ]


def test_serialize_dataset_item_id(store_rows):
    """Kept on purpose (README): the dataset item id names an item of an Autoblocks cloud
    dataset and is not stored; the case runs and is stored as the SDK's /results body."""
    mock_dataset_item_id = str(uuid.uuid4())

    @dataclasses.dataclass
    class MyCustomTestCase(BaseTestCase):
        x: int
        y: int

        def hash(self):
            return f"{self.x}-{self.y}"

        def serialize_dataset_item_id(self):
            return mock_dataset_item_id

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyCustomTestCase(x=1, y=2)],
        fn=lambda test_case: f"{test_case.x}-{test_case.y}",
    )
    assert result.passed and result.cases[0].output == "1-2"
    assert [(r["hash"], r["test_case"], r["output"]) for r in stored_cases(store_rows)] == [
        ("1-2", dict(x=1, y=2), "1-2")
    ]


def test_exceptions_as_outputs(store_rows):
    def test_fn(test_case: MyTestCase) -> Exception | float:
        try:
            return 1 / 0
        except Exception as err:
            return err

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a")],
        fn=test_fn,
    )
    (case,) = result.cases
    assert isinstance(case.output, ZeroDivisionError) and case.error is None
    [row] = stored_cases(store_rows)
    assert row["output"].startswith("Traceback (most recent call last):")
    assert "ZeroDivisionError: division by zero" in row["output"]


# --- retry_count: the SDK's retry tests, v1 and v2 ---------------------------------------


@pytest.fixture
def fast_backoff(monkeypatch):
    """Retries wait 5 ms at first instead of half a second (the waits are not what these
    tests check; test_autoblocks_run_options.py times the real backoff)."""
    import trialrun._run

    monkeypatch.setattr(trialrun._run, "_BACKOFF_FIRST_S", 0.005)


def test_retry_on_timeout_errors(fast_backoff, store_rows):
    call_count = 0

    def test_fn(test_case: MyTestCase) -> str:
        nonlocal call_count
        call_count += 1
        if call_count <= 2:
            raise httpx.TimeoutException("Request timed out")
        return test_case.input + "!"

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a")],
        evaluators=[],
        fn=test_fn,
        max_test_case_concurrency=1,
        retry_count=3,
    )
    assert call_count == 3
    assert result.passed and result.cases[0].output == "a!"
    assert [(r["hash"], r["output"], r["error"]) for r in stored_cases(store_rows)] == [
        ("a", "a!", None)
    ]


def test_retry_exhausted_reports_error(fast_backoff, store_rows):
    call_count = 0

    def test_fn(test_case: MyTestCase) -> str:
        nonlocal call_count
        call_count += 1
        raise httpx.TimeoutException("Request timed out")

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a")],
        evaluators=[],
        fn=test_fn,
        max_test_case_concurrency=1,
        retry_count=2,
    )
    assert call_count == 3
    (case,) = result.cases
    assert case.error.endswith("httpx.TimeoutException: Request timed out")
    assert not result.passed
    [row] = stored_cases(store_rows)
    assert row["output"] is None
    assert row["error"].endswith("httpx.TimeoutException: Request timed out")


def test_retry_only_on_specific_exceptions(fast_backoff, store_rows):
    call_count = 0

    def test_fn(test_case: MyTestCase) -> str:
        nonlocal call_count
        call_count += 1
        raise ValueError("Not a timeout error")

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a")],
        evaluators=[],
        fn=test_fn,
        max_test_case_concurrency=1,
        retry_count=3,
    )
    assert call_count == 1
    assert result.cases[0].error.endswith("ValueError: Not a timeout error")
    [row] = stored_cases(store_rows)
    assert row["error"].endswith("ValueError: Not a timeout error")


def test_retry_count_zero_no_retry(store_rows):
    call_count = 0

    def test_fn(test_case: MyTestCase) -> str:
        nonlocal call_count
        call_count += 1
        raise httpx.TimeoutException("Request timed out")

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a")],
        evaluators=[],
        fn=test_fn,
        max_test_case_concurrency=1,
        retry_count=0,
    )
    assert call_count == 1
    assert result.cases[0].error.endswith("httpx.TimeoutException: Request timed out")
    [row] = stored_cases(store_rows)
    assert row["error"].endswith("httpx.TimeoutException: Request timed out")


class MyEvaluator(BaseTestEvaluator):
    id = "my-evaluator"

    def evaluate_test_case(self, test_case: MyTestCase, output: str) -> Evaluation:
        return Evaluation(score=1.0, metadata=dict(output=output))


def _v2(fn, retry_count, evaluators=(), **options):
    """The v2 retry tests' suite (the SDK's test file also calls init_auto_tracer first,
    which trialrun does not need)."""
    return run_test_suite_v2(
        id="my-test-id",
        app_slug="test-app",
        test_cases=[MyTestCase(input="a")],
        evaluators=list(evaluators),
        fn=fn,
        max_test_case_concurrency=1,
        retry_count=retry_count,
        **options,
    )


def _failing_first(times: int, error: BaseException):
    calls = []

    def test_fn(test_case: MyTestCase) -> str:
        calls.append(test_case.input)
        if len(calls) <= times:
            raise error
        return test_case.input + "!"

    return test_fn, calls


def test_v2_retry_on_timeout_errors(fast_backoff):
    test_fn, calls = _failing_first(2, httpx.TimeoutException("Request timed out"))
    result = _v2(test_fn, retry_count=3)
    assert len(calls) == 3 and result.cases[0].output == "a!"


def test_v2_retry_exhausted_logs_error(fast_backoff, store_rows):
    test_fn, calls = _failing_first(99, httpx.TimeoutException("Request timed out"))
    result = _v2(test_fn, retry_count=2)
    assert len(calls) == 3
    assert result.cases[0].error.endswith("httpx.TimeoutException: Request timed out")
    [row] = stored_cases(store_rows)
    assert row["error"].endswith("httpx.TimeoutException: Request timed out")


def test_v2_retry_only_on_specific_exceptions(fast_backoff):
    test_fn, calls = _failing_first(99, ValueError("Not a timeout error"))
    result = _v2(test_fn, retry_count=3)
    assert len(calls) == 1
    assert result.cases[0].error.endswith("ValueError: Not a timeout error")


def test_v2_retry_count_zero_no_retry():
    test_fn, calls = _failing_first(99, httpx.TimeoutException("Request timed out"))
    result = _v2(test_fn, retry_count=0)
    assert len(calls) == 1 and not result.passed


def test_v2_retry_with_evaluators(fast_backoff, store_rows):
    test_fn, calls = _failing_first(1, httpx.TimeoutException("Request timed out"))
    result = _v2(test_fn, retry_count=2, evaluators=[MyEvaluator()])
    assert len(calls) == 2
    evaluation = result.cases[0].evaluation("my-evaluator")
    assert (evaluation.score, evaluation.metadata) == (1.0, {"output": "a!"})
    evals = stored_evaluations(store_rows)
    assert {k: (v["score"], v["metadata"]) for k, v in evals.items()} == {
        ("a", "my-evaluator"): (1.0, {"output": "a!"})
    }


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("Connection failed"),
        httpx.ReadTimeout("Read timeout"),
        httpx.WriteTimeout("Write timeout"),
        httpx.PoolTimeout("Pool timeout"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_v2_retry_with_connection_errors(fast_backoff, error):
    test_fn, calls = _failing_first(1, error)
    result = _v2(test_fn, retry_count=1)
    assert len(calls) == 2 and result.passed and result.cases[0].output == "a!"


def test_v2_retry_with_async_function(fast_backoff):
    calls = []

    async def async_test_fn(test_case: MyTestCase) -> str:
        calls.append(test_case.input)
        if len(calls) == 1:
            raise httpx.TimeoutException("Request timed out")
        return test_case.input + "!"

    result = _v2(async_test_fn, retry_count=2)
    assert len(calls) == 2 and result.cases[0].output == "a!"


def test_v2_run_id_validation_with_retry_count(store_rows):
    """From test_run_test_suite_v2_validation.py: a valid run_id with retry_count."""
    valid_run_id = "abc123def456ghi789jkl012"
    result = _v2(lambda test_case: test_case.input + "!", retry_count=2, run_id=valid_run_id)
    assert result.run_ids == [valid_run_id]
    assert store_rows("SELECT id FROM runs") == [{"id": valid_run_id}]
