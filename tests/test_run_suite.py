"""run_test_suite / run_test_suite_async: results, grid search, concurrency, validation,
mid-run failures, contexts, interruption and the run store."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import trialrun
from trialrun import (
    BaseTestCase,
    BaseTestEvaluator,
    Evaluation,
    SuiteValidationError,
    Threshold,
    grid_search_ctx,
    run_test_suite,
    run_test_suite_async,
)

# --- helpers -------------------------------------------------------------------------


@dataclasses.dataclass
class Case(BaseTestCase):
    n: int
    text: str = ""

    def hash(self) -> str:
        return f"case-{self.n}"


def cases(count: int) -> list[Case]:
    return [Case(n, f"text {n}") for n in range(count)]


class FuncEvaluator(BaseTestEvaluator):
    """A sync evaluator built from a function of (test_case, output)."""

    def __init__(self, id: str, func: Callable[[Any, Any], Any], max_concurrency: int = 10) -> None:
        self._id = id
        self.func = func
        self.max_concurrency = max_concurrency

    @property
    def id(self) -> str:
        return self._id

    def evaluate_test_case(self, test_case: Any, output: Any) -> Any:
        return self.func(test_case, output)


class AsyncFuncEvaluator(FuncEvaluator):
    """An async evaluator: awaits `func(test_case, output)` when it returns an awaitable."""

    async def evaluate_test_case(self, test_case: Any, output: Any) -> Any:
        value = self.func(test_case, output)
        if asyncio.iscoroutine(value):
            value = await value
        return value


def evaluator(
    kind: str, id: str, func: Callable[[Any, Any], Any], max_concurrency: int = 10
) -> BaseTestEvaluator:
    cls = AsyncFuncEvaluator if kind == "async" else FuncEvaluator
    return cls(id, func, max_concurrency)


def make_fn(kind: str, body: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """fn of the given kind ("sync" or "async") returning body(case)."""
    if kind == "async":

        async def async_fn(case):
            await asyncio.sleep(0)
            return body(case)

        return async_fn

    def sync_fn(case):
        return body(case)

    return sync_fn


def half_threshold(case: Case, output: Any) -> Evaluation:
    """Scores n/4 against gte=0.5, with the case number as metadata."""
    return Evaluation(score=case.n / 4, threshold=Threshold(gte=0.5), metadata={"n": case.n})


class Peak:
    """Counts calls in flight (thread-safe) and remembers the highest count."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.total = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.total += 1
            self.peak = max(self.peak, self.now)

    def exit(self) -> None:
        with self._lock:
            self.now -= 1


async def run(entry: str, *args: Any, **kwargs: Any) -> trialrun.SuiteResult:
    """Runs a suite through the blocking or the async entry point (from an async test)."""
    kwargs.setdefault("quiet", True)
    if entry == "async":
        return await run_test_suite_async(*args, **kwargs)
    return run_test_suite(*args, **kwargs)


KINDS = ["sync", "async"]


# --- results -------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["blocking", "async"])
@pytest.mark.parametrize("ev_kind", KINDS)
@pytest.mark.parametrize("fn_kind", KINDS)
async def test_result_fields(fn_kind, ev_kind, entry):
    seen_by_evaluator = []

    def score(case, output):
        seen_by_evaluator.append((case, output))
        return half_threshold(case, output)

    test_cases = cases(4)
    result = await run(
        entry,
        id="fields",
        test_cases=test_cases,
        evaluators=[evaluator(ev_kind, "half", score)],
        fn=make_fn(fn_kind, lambda c: {"echo": c.text}),
    )

    assert result.suite_id == "fields"
    assert result.status == "completed"
    assert len(result) == len(result.cases) == 4
    assert len(result.runs) == 1 and result.run_ids == [result.runs[0].run_id]
    assert result.runs[0].grid is None
    # one result per case, in the order given
    assert [c.hash for c in result.cases] == [c.hash() for c in test_cases]
    for case_result, case in zip(result.cases, test_cases):
        assert case_result.test_case is case
        assert case_result.output == {"echo": case.text}
        assert case_result.error is None
        assert case_result.grid is None
        assert case_result.run_id == result.run_ids[0]
        assert case_result.duration_s >= 0
        [ev] = case_result.evaluations
        assert case_result.evaluation("half") is not None
        assert case_result.evaluation("nope") is None
        assert ev.evaluator_id == "half"
        assert ev.score == case.n / 4
        assert ev.threshold == Threshold(gte=0.5)
        expected_pass = case.n / 4 >= 0.5
        assert ev.verdict == ("passed" if expected_pass else "failed")
        assert ev.passed is expected_pass
        assert ev.metadata == {"n": case.n}
        assert ev.error is None
        assert ev.duration_s >= 0
        assert case_result.passed is expected_pass
    # the evaluator saw each case with its own output
    assert sorted((c.n, o["echo"]) for c, o in seen_by_evaluator) == [
        (c.n, c.text) for c in test_cases
    ]

    failing = [c for c in test_cases if c.n / 4 < 0.5]
    assert result.passed is False
    assert [c.hash for c in result.failures()] == [c.hash() for c in failing]
    totals = result.totals
    assert totals["cases"] == 4 and totals["cases_done"] == 4 and totals["cases_errored"] == 0
    assert totals["failures"] == len(failing)
    half = totals["evaluators"]["half"]
    assert half["passed"] == 4 - len(failing) and half["failed"] == len(failing)
    assert half["errored"] == 0 and half["no_threshold"] == 0
    assert half["mean_score"] == pytest.approx(sum(c.n / 4 for c in test_cases) / 4)


async def test_durations_cover_the_time_spent():
    async def fn(case):
        await asyncio.sleep(0.03)
        return case.n

    async def judge(case, output):
        await asyncio.sleep(0.02)
        return Evaluation(score=1)

    result = await run_test_suite_async(
        "durations", cases(2), [AsyncFuncEvaluator("slow", judge)], fn, quiet=True
    )
    for c in result.cases:
        assert 0.03 <= c.duration_s < 2
        assert 0.02 <= c.evaluations[0].duration_s < 2
    assert result.duration_s >= 0.05


def test_failure_report_and_summary():
    test_cases = cases(5)
    result = run_test_suite(
        "report-suite",
        test_cases,
        [FuncEvaluator("half", half_threshold)],
        lambda c: c.n,
        quiet=True,
    )
    failing = [c for c in test_cases if c.n / 4 < 0.5]
    report = result.failure_report()
    for c in test_cases:
        if c in failing:
            assert c.hash() in report
            assert f'{{"n":{c.n}}}' in report.replace(" ", "")  # its metadata
        else:
            assert c.hash() not in report
    assert "half" in report

    short = result.failure_report(limit=1)
    assert failing[0].hash() in short
    assert failing[1].hash() not in short
    assert f"{len(failing) - 1} more" in short

    summary = result.summary()
    assert "report-suite" in summary and "half" in summary
    assert "FAILED" in summary
    assert "PASSED" not in summary


def test_passing_suite_has_empty_failures():
    result = run_test_suite(
        "all-good",
        cases(3),
        [FuncEvaluator("ok", lambda c, o: Evaluation(score=1, threshold=Threshold(gte=1)))],
        lambda c: c.n,
        quiet=True,
    )
    assert result.passed is True
    assert list(result.failures()) == []
    assert result.failure_report() == ""
    assert "PASSED" in result.summary()
    result.assert_passed()


def test_scores_without_threshold_do_not_fail_the_suite():
    result = run_test_suite(
        "no-threshold",
        cases(3),
        [FuncEvaluator("plain", lambda c, o: Evaluation(score=0))],
        lambda c: c.n,
        quiet=True,
    )
    assert result.passed is True
    for c in result.cases:
        [ev] = c.evaluations
        assert ev.verdict == "no_threshold" and ev.passed is None and ev.score == 0
    assert result.totals["evaluators"]["plain"]["no_threshold"] == 3


def test_assert_passed_lists_failing_cases():
    result = run_test_suite(
        "assert-me", cases(4), [FuncEvaluator("half", half_threshold)], lambda c: c.n, quiet=True
    )
    with pytest.raises(AssertionError) as info:
        result.assert_passed()
    assert "case-0" in str(info.value) and "case-1" in str(info.value)
    assert "case-3" not in str(info.value)


def test_summary_is_printed_unless_quiet(capsys):
    run_test_suite("loud", cases(1), [], lambda c: c.n, quiet=False)
    assert "loud" in capsys.readouterr().out
    run_test_suite("silent", cases(1), [], lambda c: c.n, quiet=True)
    assert "silent" not in capsys.readouterr().out


def test_no_evaluators_is_a_valid_suite():
    result = run_test_suite("no-evaluators", cases(3), [], lambda c: c.n * 2, quiet=True)
    assert result.passed
    assert [c.output for c in result.cases] == [0, 2, 4]
    assert all(c.evaluations == [] for c in result.cases)


# --- fn and evaluator shapes ------------------------------------------------------------


async def doubled(case: Case) -> int:
    await asyncio.sleep(0)
    return case.n * 2


@pytest.mark.parametrize("entry", ["blocking", "async"])
async def test_sync_fn_returning_a_coroutine_is_awaited(entry):
    result = await run(entry, "coroutine-returner", cases(3), [], lambda case: doubled(case))
    assert [c.output for c in result.cases] == [0, 2, 4]
    assert all(c.error is None for c in result.cases)


async def test_sync_evaluator_returning_a_coroutine_is_awaited():
    async def judge(case, output):
        await asyncio.sleep(0)
        return Evaluation(score=1, threshold=Threshold(gte=1), metadata={"out": output})

    result = await run_test_suite_async(
        "coroutine-evaluator", cases(2), [FuncEvaluator("lazy", judge)], lambda c: c.n, quiet=True
    )
    assert result.passed
    assert [c.evaluation("lazy").metadata for c in result.cases] == [{"out": 0}, {"out": 1}]


class AsyncCallable:
    async def __call__(self, case):
        await asyncio.sleep(0)
        return f"called {case.n}"


async def offset(case: Case, by: int) -> int:
    await asyncio.sleep(0)
    return case.n + by


@pytest.mark.parametrize(
    "fn, expected",
    [
        (AsyncCallable(), lambda c: f"called {c.n}"),
        (functools.partial(offset, by=10), lambda c: c.n + 10),
    ],
    ids=["async-__call__", "partial"],
)
def test_other_async_callables(fn, expected):
    test_cases = cases(3)
    result = run_test_suite("callables", test_cases, [], fn, quiet=True)
    assert [c.output for c in result.cases] == [expected(c) for c in test_cases]


def test_evaluator_receives_the_case_and_the_output_objects():
    outputs: dict[int, object] = {}
    received = []

    def fn(case):
        outputs[case.n] = object()
        return outputs[case.n]

    test_cases = cases(3)
    run_test_suite(
        "identity",
        test_cases,
        [FuncEvaluator("spy", lambda c, o: received.append((c, o)))],
        fn,
        quiet=True,
    )
    assert len(received) == 3
    for case, output in received:
        assert case in test_cases and any(case is c for c in test_cases)
        assert output is outputs[case.n]


# --- grid search ------------------------------------------------------------------------


@pytest.mark.parametrize("fn_kind", KINDS)
def test_grid_search_runs_the_cartesian_product(fn_kind):
    params = {"model": ["a", "b", "c"], "temperature": [0, 1]}
    test_cases = cases(2)
    result = run_test_suite(
        "grid",
        test_cases,
        [],
        make_fn(fn_kind, lambda c: {"n": c.n, "grid": grid_search_ctx()}),
        grid_search_params=params,
        quiet=True,
    )
    combos = [dict(zip(params, values)) for values in itertools.product(*params.values())]

    # one run per combination, each with its own id
    assert len(result.runs) == len(combos)
    assert sorted(r.grid.items() for r in result.runs) == sorted(c.items() for c in combos)
    assert len(set(result.run_ids)) == len(combos)
    run_of = {r.run_id: r.grid for r in result.runs}

    # every case in every combination, exactly once
    pairs = sorted((c.hash, sorted(c.grid.items())) for c in result.cases)
    assert pairs == sorted((c.hash(), sorted(g.items())) for c in test_cases for g in combos)
    for c in result.cases:
        assert run_of[c.run_id] == c.grid
        # grid_search_ctx() inside fn returned this case's combination
        assert c.output["grid"] == c.grid


@pytest.mark.parametrize("ev_kind", KINDS)
def test_grid_search_ctx_inside_evaluators(ev_kind):
    result = run_test_suite(
        "grid-evaluator",
        cases(2),
        [
            evaluator(
                ev_kind,
                "grid-spy",
                lambda c, o: Evaluation(score=1, metadata={"grid": grid_search_ctx()}),
            )
        ],
        lambda c: c.n,
        grid_search_params={"model": ["x", "y"]},
        quiet=True,
    )
    for c in result.cases:
        assert c.evaluation("grid-spy").metadata == {"grid": c.grid}


@pytest.mark.parametrize("fn_kind", KINDS)
def test_grid_search_ctx_is_none_without_grid(fn_kind):
    result = run_test_suite(
        "no-grid", cases(2), [], make_fn(fn_kind, lambda c: grid_search_ctx()), quiet=True
    )
    assert [c.output for c in result.cases] == [None, None]
    assert grid_search_ctx() is None


def test_grid_search_ctx_returns_a_copy():
    def fn(case):
        ctx = grid_search_ctx()
        ctx["model"] = "tampered"
        return grid_search_ctx()

    result = run_test_suite(
        "grid-copy", cases(2), [], fn, grid_search_params={"model": ["m"]}, quiet=True
    )
    assert [c.output for c in result.cases] == [{"model": "m"}, {"model": "m"}]


def test_grid_accepts_tuples_and_non_string_values():
    result = run_test_suite(
        "grid-tuple",
        cases(1),
        [],
        lambda c: grid_search_ctx(),
        grid_search_params={"k": (1, None, 2.5)},
        quiet=True,
    )
    assert sorted((c.output["k"] is None, c.output["k"]) for c in result.cases) == [
        (False, 1),
        (False, 2.5),
        (True, None),
    ]


# --- concurrency -----------------------------------------------------------------------


async def test_case_concurrency_is_bounded_across_grid_combinations():
    peak = Peak()

    async def fn(case):
        peak.enter()
        await asyncio.sleep(0.005)
        peak.exit()
        return case.n

    result = await run_test_suite_async(
        "bounded",
        cases(5),
        [],
        fn,
        max_test_case_concurrency=3,
        grid_search_params={"a": [1, 2], "b": [1, 2]},
        quiet=True,
    )
    assert result.passed and len(result.cases) == 20
    assert peak.total == 20
    assert peak.peak == 3


def test_sync_fn_concurrency_is_bounded():
    peak = Peak()

    def fn(case):
        peak.enter()
        time.sleep(0.01)
        peak.exit()
        return case.n

    result = run_test_suite(
        "bounded-sync", cases(12), [], fn, max_test_case_concurrency=3, quiet=True
    )
    assert result.passed
    assert peak.peak == 3


async def test_default_case_concurrency_is_ten():
    peak = Peak()

    async def fn(case):
        peak.enter()
        await asyncio.sleep(0.01)
        peak.exit()
        return case.n

    await run_test_suite_async("default-limit", cases(30), [], fn, quiet=True)
    assert peak.peak == 10
    peak.peak = 0
    await run_test_suite_async(
        "default-limit", cases(30), [], fn, max_test_case_concurrency=None, quiet=True
    )
    assert peak.peak == 10


def test_sync_fn_really_runs_forty_at_once():
    # 40 threads must wait at the barrier together, twice; fewer in flight breaks it.
    barrier = threading.Barrier(40, timeout=10)
    peak = Peak()

    def fn(case):
        peak.enter()
        try:
            barrier.wait()
        finally:
            peak.exit()
        return case.n

    result = run_test_suite("forty", cases(80), [], fn, max_test_case_concurrency=40, quiet=True)
    assert [c.error for c in result.cases if c.error] == []
    assert result.passed
    assert peak.peak == 40


def test_sync_fn_keeps_its_concurrency_after_many_fast_calls():
    # The first 40 calls return at once; the next 8 must then be in flight together.
    barrier = threading.Barrier(8, timeout=1)

    def fn(case):
        if case.n >= 40:
            barrier.wait()
        return case.n

    result = run_test_suite(
        "fast-then-slow", cases(48), [], fn, max_test_case_concurrency=8, quiet=True
    )
    errors = [(c.hash, c.error.splitlines()[-1]) for c in result.cases if c.error]
    assert errors == []


async def test_sync_fn_does_not_block_the_callers_event_loop():
    # A sync fn runs in threads: the caller's loop keeps serving its own tasks, even
    # when a slow call comes after a streak of fast ones.
    ticks: list[float] = []
    stop = asyncio.Event()

    async def heartbeat():
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)

    def fn(case):
        if case.n == 60:
            time.sleep(0.5)
        return case.n

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    try:
        result = await run_test_suite_async("loop-stays-free", cases(64), [], fn, quiet=True)
    finally:
        stop.set()
        await beat
    assert result.passed
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < 0.3, f"the event loop was blocked for {max(gaps):.2f} s"


@pytest.mark.parametrize("ev_kind", KINDS)
def test_evaluator_max_concurrency_is_bounded_across_the_suite(ev_kind):
    peak = Peak()

    if ev_kind == "async":

        async def judge(case, output):
            peak.enter()
            await asyncio.sleep(0.005)
            peak.exit()
            return Evaluation(score=1)

    else:

        def judge(case, output):
            peak.enter()
            time.sleep(0.005)
            peak.exit()
            return Evaluation(score=1)

    result = run_test_suite(
        "evaluator-limit",
        cases(6),
        [evaluator(ev_kind, "limited", judge, max_concurrency=2)],
        lambda c: c.n,
        max_test_case_concurrency=20,
        grid_search_params={"g": [1, 2]},
        quiet=True,
    )
    assert result.totals["evaluators"]["limited"]["no_threshold"] == 12
    assert peak.total == 12
    assert peak.peak == 2


@pytest.mark.parametrize("ev_kind", KINDS)
async def test_evaluations_start_as_soon_as_an_output_exists(ev_kind):
    events: list[tuple] = []

    async def fn(case):
        events.append(("fn-start", case.n))
        await asyncio.sleep(0.01)
        events.append(("fn-end", case.n))
        return case.n

    def judge(case, output):
        events.append(("eval-start", case.n))
        return Evaluation(score=1)

    await run_test_suite_async(
        "eager-evaluation",
        cases(5),
        [evaluator(ev_kind, "judge", judge)],
        fn,
        max_test_case_concurrency=1,
        quiet=True,
    )
    assert events.index(("eval-start", 0)) < events.index(("fn-end", 4)), events
    # with a limit of 1, fn calls never overlap
    fn_events = [e for e in events if e[0] != "eval-start"]
    assert fn_events == [(kind, n) for n in range(5) for kind in ("fn-start", "fn-end")]


# --- validation ------------------------------------------------------------------------


class ReturnsHash(BaseTestCase):
    def __init__(self, value: Any) -> None:
        self.value = value

    def hash(self) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"ReturnsHash({self.value!r})"


class LimitedEvaluator(BaseTestEvaluator):
    def __init__(self, id: str, max_concurrency: Any) -> None:
        self._id = id
        self.max_concurrency = max_concurrency

    @property
    def id(self) -> str:
        return self._id

    def evaluate_test_case(self, test_case, output):
        return Evaluation(score=1)


class DuckEvaluator:
    """Looks like an evaluator but does not subclass BaseTestEvaluator."""

    id = "duck"
    max_concurrency = 1

    def evaluate_test_case(self, test_case, output):
        return Evaluation(score=1)


INVALID = {
    "empty test_cases": ({"test_cases": []}, ["test_cases", "empty"]),
    "not a test case": ({"test_cases": [Case(0), {"n": 1}]}, ["test_cases[1]", "BaseTestCase"]),
    "hash not a str": ({"test_cases": [Case(0), ReturnsHash(5)]}, ["test_cases[1]", "str", "int"]),
    "empty hash": ({"test_cases": [ReturnsHash("")]}, ["test_cases[0]", "empty"]),
    "hash of 101 chars": (
        {"test_cases": [Case(0), ReturnsHash("h" * 101)]},
        ["test_cases[1]", "101", "100"],
    ),
    "duplicate hashes": (
        {"test_cases": [Case(0), Case(1), Case(0)]},
        ["case-0", "test_cases[0]", "test_cases[2]"],
    ),
    "duplicate evaluator ids": (
        {
            "evaluators": [
                LimitedEvaluator("same", 1),
                LimitedEvaluator("other", 1),
                LimitedEvaluator("same", 1),
            ]
        },
        ["same", "evaluators[0]", "evaluators[2]"],
    ),
    "max_concurrency 0": (
        {"evaluators": [LimitedEvaluator("zero", 0)]},
        ["max_concurrency", "zero"],
    ),
    "max_concurrency str": (
        {"evaluators": [LimitedEvaluator("text", "3")]},
        ["max_concurrency", "str"],
    ),
    "max_concurrency bool": (
        {"evaluators": [LimitedEvaluator("flag", True)]},
        ["max_concurrency", "bool"],
    ),
    "max_concurrency negative": (
        {"evaluators": [LimitedEvaluator("neg", -2)]},
        ["max_concurrency"],
    ),
    "max_test_case_concurrency 0": (
        {"max_test_case_concurrency": 0},
        ["max_test_case_concurrency"],
    ),
    "max_test_case_concurrency float": (
        {"max_test_case_concurrency": 2.5},
        ["max_test_case_concurrency"],
    ),
    "max_test_case_concurrency bool": (
        {"max_test_case_concurrency": True},
        ["max_test_case_concurrency"],
    ),
    "grid empty list": ({"grid_search_params": {"model": []}}, ["model", "empty"]),
    "grid str value": ({"grid_search_params": {"model": "gpt"}}, ["model", "str"]),
    "grid int value": ({"grid_search_params": {"model": 3}}, ["model", "int"]),
    "grid not a dict": ({"grid_search_params": [("model", [1])]}, ["grid_search_params"]),
    "empty evaluator id": ({"evaluators": [LimitedEvaluator("", 1)]}, ["evaluators[0]", "id"]),
    "evaluator not a BaseTestEvaluator": (
        {"evaluators": [DuckEvaluator()]},
        ["evaluators[0]", "BaseTestEvaluator"],
    ),
    "fn not callable": ({"fn": "not callable"}, ["fn"]),
    "empty suite id": ({"id": ""}, ["id"]),
    "suite id not a str": ({"id": 5}, ["id", "str"]),
    "test_cases a dict": ({"test_cases": {"a": Case(0)}}, ["test_cases", "list"]),
    "evaluators not a list": ({"evaluators": LimitedEvaluator("solo", 1)}, ["evaluators", "list"]),
}


@pytest.mark.parametrize("entry", ["blocking", "async"])
@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_suites_are_refused_before_any_fn_call(name, entry, trialrun_home):
    overrides, fragments = INVALID[name]
    calls = []

    def fn(case):
        calls.append(case)
        return case

    kwargs = dict(
        id="invalid", test_cases=cases(2), evaluators=[LimitedEvaluator("ok", 1)], fn=fn, quiet=True
    )
    kwargs.update(overrides)
    with pytest.raises(SuiteValidationError) as info:
        if entry == "async":
            asyncio.run(run_test_suite_async(**kwargs))
        else:
            run_test_suite(**kwargs)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert calls == []
    # nothing was recorded as a run
    db = trialrun_home / "trialrun.db"
    if db.exists():
        import sqlite3

        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


@pytest.mark.parametrize("value", ["h" * 100, "é" * 100, "✓" * 100])
def test_hash_of_exactly_100_characters_is_accepted(value):
    result = run_test_suite("hash-100", [ReturnsHash(value)], [], lambda c: 1, quiet=True)
    assert result.cases[0].hash == value


def test_hash_raising_is_a_validation_error_naming_the_case():
    class Broken(BaseTestCase):
        def hash(self):
            raise KeyError("no inputs")

    calls = []
    with pytest.raises(SuiteValidationError, match=r"test_cases\[1\]"):
        run_test_suite(
            "broken-hash", [Case(0), Broken()], [], lambda c: calls.append(c), quiet=True
        )
    assert calls == []


def test_suite_validation_error_is_exported():
    assert issubclass(trialrun.SuiteValidationError, ValueError)


# --- failures in the middle of a run ------------------------------------------------------


@pytest.mark.parametrize("fn_kind", KINDS)
def test_fn_raising_fails_only_its_case(fn_kind):
    evaluated = []

    def body(case):
        if case.n == 2:
            raise ValueError(f"boom in case {case.n}")
        return case.n

    if fn_kind == "async":

        async def fn_under_test(case):
            await asyncio.sleep(0)
            return body(case)

    else:

        def fn_under_test(case):
            return body(case)

    def judge(case, output):
        evaluated.append(case.n)
        return Evaluation(score=1, threshold=Threshold(gte=1))

    result = run_test_suite(
        "fn-raises", cases(5), [FuncEvaluator("judge", judge)], fn_under_test, quiet=True
    )

    bad = result.cases[2]
    assert bad.hash == "case-2"
    assert "Traceback (most recent call last)" in bad.error
    assert "ValueError: boom in case 2" in bad.error
    assert "body" in bad.error  # the frame that raised
    assert bad.output is None
    assert bad.evaluations == []
    assert bad.passed is False
    assert sorted(evaluated) == [0, 1, 3, 4]
    for c in result.cases:
        if c.hash != "case-2":
            assert c.error is None and c.passed and c.output == int(c.hash.split("-")[1])
    assert result.passed is False
    assert result.totals["cases_errored"] == 1
    assert result.totals["cases_done"] == 5
    assert [c.hash for c in result.failures()] == ["case-2"]
    assert "case-2" in result.failure_report() and "boom in case 2" in result.failure_report()


@pytest.mark.parametrize("ev_kind", KINDS)
def test_evaluator_raising_errors_that_evaluation_only(ev_kind):
    def explode(case, output):
        if case.n == 1:
            raise RuntimeError("judge exploded")
        return Evaluation(score=1, threshold=Threshold(gte=1))

    result = run_test_suite(
        "evaluator-raises",
        cases(3),
        [
            evaluator(ev_kind, "explosive", explode),
            FuncEvaluator("steady", lambda c, o: Evaluation(score=1)),
        ],
        lambda c: c.n,
        quiet=True,
    )
    bad = result.cases[1]
    ev = bad.evaluation("explosive")
    assert ev.verdict == "errored"
    assert ev.passed is None and ev.score is None
    assert "Traceback (most recent call last)" in ev.error
    assert "RuntimeError: judge exploded" in ev.error
    assert bad.evaluation("steady").verdict == "no_threshold"  # the other evaluator still ran
    assert bad.passed is False and bad.error is None and bad.output == 1
    assert [c.passed for c in result.cases] == [True, False, True]
    totals = result.totals["evaluators"]["explosive"]
    assert (totals["passed"], totals["errored"]) == (2, 1)
    assert result.passed is False
    assert "explosive" in result.failure_report() and "judge exploded" in result.failure_report()


@pytest.mark.parametrize("ev_kind", KINDS)
@pytest.mark.parametrize(
    "returned, fragment",
    [(3, "int"), ("0.5", "str"), ({"score": 1}, "dict")],
    ids=["int", "str", "dict"],
)
def test_evaluator_returning_a_non_evaluation_is_errored(ev_kind, returned, fragment):
    result = run_test_suite(
        "bad-return",
        cases(1),
        [evaluator(ev_kind, "wrong-type", lambda c, o: returned)],
        lambda c: c.n,
        quiet=True,
    )
    ev = result.cases[0].evaluation("wrong-type")
    assert ev.verdict == "errored"
    assert fragment in ev.error
    assert result.passed is False


@pytest.mark.parametrize("ev_kind", KINDS)
def test_evaluator_building_an_invalid_evaluation_is_errored(ev_kind):
    result = run_test_suite(
        "bad-score",
        cases(2),
        [evaluator(ev_kind, "too-high", lambda c, o: Evaluation(score=1.5))],
        lambda c: c.n,
        quiet=True,
    )
    for c in result.cases:
        ev = c.evaluation("too-high")
        assert ev.verdict == "errored"
        assert "1.5" in ev.error and "ValueError" in ev.error
    assert result.totals["evaluators"]["too-high"]["errored"] == 2


@pytest.mark.parametrize("ev_kind", KINDS)
def test_evaluator_returning_none_records_nothing(ev_kind, store_rows):
    result = run_test_suite(
        "skipper",
        cases(3),
        [
            evaluator(ev_kind, "skipper", lambda c, o: None if c.n != 1 else Evaluation(score=1)),
            FuncEvaluator("always", lambda c, o: Evaluation(score=1, threshold=Threshold(gte=1))),
        ],
        lambda c: c.n,
        quiet=True,
    )
    assert result.passed
    for c in result.cases:
        ids = [e.evaluator_id for e in c.evaluations]
        assert ids.count("always") == 1
        assert ("skipper" in ids) is (c.hash == "case-1")
        assert (c.evaluation("skipper") is None) is (c.hash != "case-1")
    skipped = result.totals["evaluators"]["skipper"]
    assert skipped["passed"] + skipped["failed"] + skipped["errored"] + skipped["no_threshold"] == 1
    rows = store_rows("SELECT case_hash FROM evaluation_results WHERE evaluator_id = 'skipper'")
    assert [r["case_hash"] for r in rows] == ["case-1"]


# --- contexts ---------------------------------------------------------------------------

CALLER_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("caller_var", default="unset")
CASE_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("case_var", default="unset")


@pytest.mark.parametrize("entry", ["blocking", "async"])
@pytest.mark.parametrize("fn_kind", KINDS)
async def test_caller_context_is_visible_in_fn(fn_kind, entry):
    token = CALLER_VAR.set("from the caller")
    try:
        # 40 cases: fast sync calls may move onto the loop thread after a while
        result = await run(
            entry, "caller-context", cases(40), [], make_fn(fn_kind, lambda c: CALLER_VAR.get())
        )
    finally:
        CALLER_VAR.reset(token)
    assert {c.output for c in result.cases} == {"from the caller"}


@pytest.mark.parametrize("entry", ["blocking", "async"])
@pytest.mark.parametrize("fn_kind", KINDS)
async def test_context_set_in_one_case_does_not_leak(fn_kind, entry):
    def body(case):
        seen = CASE_VAR.get()
        CASE_VAR.set(f"set by {case.hash()}")
        return seen

    result = await run(
        entry, "no-leak", cases(40), [], make_fn(fn_kind, body), max_test_case_concurrency=1
    )
    assert {c.output for c in result.cases} == {"unset"}
    assert CASE_VAR.get() == "unset"


async def test_context_set_in_fn_does_not_reach_evaluators_of_other_cases():
    async def fn(case):
        CASE_VAR.set(f"fn of {case.n}")
        return case.n

    seen = {}

    def judge(case, output):
        seen[case.n] = CASE_VAR.get()
        return Evaluation(score=1)

    await run_test_suite_async(
        "ctx-evaluators", cases(4), [FuncEvaluator("j", judge)], fn, quiet=True
    )
    assert all(value in ("unset", f"fn of {n}") for n, value in seen.items()), seen
    assert len(seen) == 4


# --- blocking entry point inside a running loop -------------------------------------------


async def test_blocking_entry_point_works_inside_a_running_loop():
    loop_thread = threading.get_ident()
    fn_threads = set()

    async def fn(case):
        fn_threads.add(threading.get_ident())
        await asyncio.sleep(0)
        return case.n + 100

    result = run_test_suite(
        "blocking-in-loop",
        cases(5),
        [FuncEvaluator("ok", lambda c, o: Evaluation(score=1, threshold=Threshold(gte=1)))],
        fn,
        quiet=True,
    )
    assert isinstance(result, trialrun.SuiteResult)
    assert result.passed
    assert [c.output for c in result.cases] == [100, 101, 102, 103, 104]
    assert loop_thread not in fn_threads  # the suite ran its own loop on another thread
    # the caller's loop still works afterwards
    await asyncio.sleep(0)


async def test_blocking_entry_point_inside_a_loop_propagates_validation_errors():
    with pytest.raises(SuiteValidationError):
        run_test_suite("bad", [], [], lambda c: c, quiet=True)


# --- interruption -----------------------------------------------------------------------


async def test_cancelling_the_async_run_interrupts_it(store_rows):
    five_done = asyncio.Event()
    evaluated: list[int] = []
    started: list[int] = []

    async def fn(case):
        started.append(case.n)
        if case.n >= 5:
            await asyncio.sleep(10)
        return case.n

    async def judge(case, output):
        evaluated.append(case.n)
        if len(evaluated) == 5:
            five_done.set()
        return Evaluation(score=1, threshold=Threshold(gte=1))

    task = asyncio.create_task(
        run_test_suite_async(
            "interrupt-me",
            cases(50),
            [AsyncFuncEvaluator("judge", judge)],
            fn,
            max_test_case_concurrency=5,
            quiet=True,
        )
    )
    await asyncio.wait_for(five_done.wait(), timeout=5)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled_at < 1.0
    assert sorted(evaluated) == [0, 1, 2, 3, 4]
    assert len(started) < 50  # it stopped scheduling

    [run_row] = store_rows("SELECT * FROM runs")
    assert run_row["suite_id"] == "interrupt-me"
    assert run_row["status"] == "interrupted"
    assert run_row["ended_at"] is not None
    case_rows = store_rows("SELECT hash, error FROM case_results ORDER BY idx")
    assert [r["hash"] for r in case_rows] == [f"case-{n}" for n in range(5)]
    assert all(r["error"] is None for r in case_rows)
    eval_rows = store_rows("SELECT case_hash, verdict FROM evaluation_results ORDER BY case_hash")
    assert [(r["case_hash"], r["verdict"]) for r in eval_rows] == [
        (f"case-{n}", "passed") for n in range(5)
    ]


async def test_cancelling_abandons_a_sync_fn_blocked_in_a_thread(store_rows):
    loop = asyncio.get_running_loop()
    blocked = asyncio.Event()

    def fn(case):
        if case.n == 0:
            return "quick"
        loop.call_soon_threadsafe(blocked.set)
        time.sleep(0.5)
        return "slow"

    task = asyncio.create_task(
        run_test_suite_async("abandon", cases(3), [], fn, max_test_case_concurrency=1, quiet=True)
    )
    await asyncio.wait_for(blocked.wait(), timeout=5)
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled_at < 0.3  # did not wait for the 0.5 s sleep

    [run_row] = store_rows("SELECT status FROM runs")
    assert run_row["status"] == "interrupted"
    assert [r["hash"] for r in store_rows("SELECT hash FROM case_results")] == ["case-0"]


async def test_cancelling_with_evaluations_queued_behind_a_limit(store_rows):
    # "a" has room for both cases, "b" runs one at a time: b(case-1) waits in its queue
    # while a(case-1) runs when the suite is cancelled.
    started: dict[str, list[int]] = {"a": [], "b": []}
    both_running = asyncio.Event()

    def slow(name):
        async def judge(case, output):
            started[name].append(case.n)
            if len(started["a"]) == 2 and started["b"]:
                both_running.set()
            await asyncio.sleep(10)
            return Evaluation(score=1)

        return judge

    task = asyncio.create_task(
        run_test_suite_async(
            "queued-evaluations",
            cases(2),
            [
                AsyncFuncEvaluator("a", slow("a"), max_concurrency=5),
                AsyncFuncEvaluator("b", slow("b"), max_concurrency=1),
            ],
            make_fn("async", lambda c: c.n),
            quiet=True,
        )
    )
    await asyncio.wait_for(both_running.wait(), timeout=5)
    assert started["b"] == [0]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=2)
    [run_row] = store_rows("SELECT status FROM runs")
    assert run_row["status"] == "interrupted"
    # both fn calls finished: their cases are kept; no evaluation finished
    assert sorted(r["hash"] for r in store_rows("SELECT hash FROM case_results")) == [
        "case-0",
        "case-1",
    ]
    assert store_rows("SELECT * FROM evaluation_results") == []


# --- the run store ----------------------------------------------------------------------


def test_results_are_durable_in_the_store(store_rows, json_loads):
    def fn(case):
        if case.n == 2:
            raise ValueError("no output for two")
        return {"answer": case.n * 10, "words": ["a", case.text]}

    test_cases = cases(3)
    result = run_test_suite(
        "durable",
        test_cases,
        [FuncEvaluator("half", half_threshold)],
        fn,
        grid_search_params={"model": ["m1", "m2"]},
        quiet=True,
    )

    runs = store_rows("SELECT * FROM runs")
    assert {r["id"] for r in runs} == set(result.run_ids)
    grids = {r.run_id: r.grid for r in result.runs}
    for r in runs:
        assert r["suite_id"] == "durable"
        assert r["status"] == "completed"
        assert r["kind"] == "suite"
        assert json_loads(r["grid"]) == grids[r["id"]]
        assert r["started_at"] <= r["ended_at"]

    case_rows = store_rows("SELECT * FROM case_results")
    assert len(case_rows) == 6
    for row in case_rows:
        case = test_cases[row["idx"]]
        assert row["hash"] == case.hash()
        assert json_loads(row["test_case"]) == dataclasses.asdict(case)
        assert row["duration_s"] >= 0
        if case.n == 2:
            assert row["output"] is None
            assert "ValueError: no output for two" in row["error"]
        else:
            assert json_loads(row["output"]) == {"answer": case.n * 10, "words": ["a", case.text]}
            assert row["error"] is None
    assert sorted((r["run_id"], r["hash"]) for r in case_rows) == sorted(
        (c.run_id, c.hash) for c in result.cases
    )

    eval_rows = store_rows("SELECT * FROM evaluation_results")
    assert len(eval_rows) == 4  # case-2 raised in both runs: no evaluations
    for row in eval_rows:
        n = int(row["case_hash"].split("-")[1])
        assert row["run_id"] in grids
        assert row["evaluator_id"] == "half"
        assert row["score"] == n / 4
        assert json_loads(row["threshold"]) == {"gte": 0.5}
        assert row["verdict"] == ("passed" if n / 4 >= 0.5 else "failed")
        assert json_loads(row["metadata"]) == {"n": n}
        assert row["error"] is None
        assert row["duration_s"] >= 0


async def test_finished_cases_are_stored_while_the_run_goes_on(
    store_rows_from_another_process, trialrun_home
):
    store_rows = store_rows_from_another_process  # the run writes in this process meanwhile
    release = asyncio.Event()

    async def fn(case):
        if case.n == 1:
            await release.wait()
        return case.n

    task = asyncio.create_task(
        run_test_suite_async(
            "as-it-happens",
            cases(2),
            [FuncEvaluator("ok", lambda c, o: Evaluation(score=1, threshold=Threshold(gte=1)))],
            fn,
            quiet=True,
        )
    )
    try:
        # The writer thread commits in batches: wait (bounded) for case-0 to appear.
        deadline = time.monotonic() + 5
        rows: list[dict[str, Any]] = []
        evals: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            if (trialrun_home / "trialrun.db").exists():
                rows = store_rows("SELECT hash FROM case_results")
                evals = store_rows("SELECT case_hash FROM evaluation_results")
                if rows and evals:
                    break
            await asyncio.sleep(0.01)
        assert [r["hash"] for r in rows] == ["case-0"]
        assert [r["case_hash"] for r in evals] == ["case-0"]
        [run_row] = store_rows("SELECT status, ended_at FROM runs")
        assert run_row["status"] == "running" and run_row["ended_at"] is None
        assert not task.done()
    finally:
        release.set()
    result = await task
    assert result.passed
    assert [r["status"] for r in store_rows("SELECT status FROM runs")] == ["completed"]


def test_large_outputs_are_stored_cut_short(store_rows, json_loads):
    big = "x" * 400_000
    result = run_test_suite("big-output", cases(1), [], lambda c: big, quiet=True)
    assert result.cases[0].output == big  # the result keeps it whole
    [row] = store_rows("SELECT output FROM case_results")
    stored = json_loads(row["output"])
    assert isinstance(stored, str)
    assert "x" * 1000 in stored  # the start of the output is kept
    assert len(row["output"]) < len(big)
    assert "cut" in stored


def test_metadata_that_is_not_json_is_stored_as_repr(store_rows, json_loads):
    result = run_test_suite(
        "odd-metadata",
        cases(1),
        [
            FuncEvaluator(
                "odd",
                lambda c, o: Evaluation(score=1, metadata={"obj": Opaque(7), "list": [1, "a"]}),
            )
        ],
        lambda c: c.n,
        quiet=True,
    )
    assert result.cases[0].evaluations[0].metadata["obj"].n == 7
    [row] = store_rows("SELECT metadata FROM evaluation_results")
    assert json_loads(row["metadata"]) == {"obj": "<Opaque 7>", "list": [1, "a"]}


def test_errored_evaluations_are_stored(store_rows):
    def judge(case, output):
        raise RuntimeError("stored failure")

    run_test_suite(
        "errored-stored", cases(1), [FuncEvaluator("bad", judge)], lambda c: c.n, quiet=True
    )
    [row] = store_rows("SELECT * FROM evaluation_results")
    assert row["verdict"] == "errored"
    assert row["score"] is None
    assert "RuntimeError: stored failure" in row["error"]


def test_each_run_is_a_new_row(store_rows):
    first = run_test_suite("twice", cases(2), [], lambda c: c.n, quiet=True)
    second = run_test_suite("twice", cases(2), [], lambda c: c.n, quiet=True)
    assert first.run_ids != second.run_ids
    rows = store_rows("SELECT id FROM runs WHERE suite_id = 'twice'")
    assert {r["id"] for r in rows} == set(first.run_ids) | set(second.run_ids)
    assert len(store_rows("SELECT * FROM case_results")) == 4


async def test_concurrent_suites_share_the_store(store_rows):
    async def fn(case):
        await asyncio.sleep(0.001)
        return case.n

    ok = FuncEvaluator("ok", lambda c, o: Evaluation(score=1, threshold=Threshold(gte=1)))
    first, second = await asyncio.gather(
        run_test_suite_async("parallel-a", cases(40), [ok], fn, quiet=True),
        run_test_suite_async(
            "parallel-b", cases(40), [ok], fn, grid_search_params={"g": [1, 2]}, quiet=True
        ),
    )
    assert first.passed and second.passed
    runs = store_rows("SELECT suite_id, status, id FROM runs")
    assert sorted(r["suite_id"] for r in runs) == ["parallel-a", "parallel-b", "parallel-b"]
    assert {r["status"] for r in runs} == {"completed"}
    counts = store_rows("SELECT run_id, count(*) AS n FROM case_results GROUP BY run_id")
    assert {r["run_id"]: r["n"] for r in counts} == {
        run_id: 40 for run_id in first.run_ids + second.run_ids
    }
    assert store_rows("SELECT count(*) AS n FROM evaluation_results")[0]["n"] == 120


@pytest.mark.parametrize("problem", ["home is a file", "store is not sqlite"])
def test_unusable_store_fails_before_any_fn_call(problem, tmp_path, monkeypatch):
    if problem == "home is a file":
        home = tmp_path / "a-file"
        home.write_text("not a folder")
    else:
        home = tmp_path / "corrupt"
        home.mkdir()
        (home / "trialrun.db").write_text("not a database " * 100)
    monkeypatch.setenv("TRIALRUN_HOME", str(home))
    calls = []
    with pytest.raises(Exception) as info:
        run_test_suite("no-store", cases(1), [], lambda c: calls.append(c), quiet=True)
    assert str(home) in str(info.value)
    assert calls == []


def test_store_path_is_under_trialrun_home(trialrun_home):
    result = run_test_suite("where", cases(1), [], lambda c: c.n, quiet=True)
    assert result.store_path == str(trialrun_home / "trialrun.db")
    assert result.store_error is None


class Opaque:
    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"<Opaque {self.n}>"


@dataclasses.dataclass
class Inner:
    label: str


@dataclasses.dataclass
class Answer:
    text: str
    inner: Inner
    tags: tuple


def test_outputs_are_stored_as_json_repr_or_dataclass_fields(store_rows, json_loads):
    outputs = {
        0: Opaque(0),
        1: Answer("hi", Inner("x"), ("a", "b")),
        2: {"nested": Opaque(2), "ok": [1, 2.5, None, True]},
        3: (1, "two"),
        4: "plain text",
    }
    result = run_test_suite("outputs", cases(5), [], lambda c: outputs[c.n], quiet=True)
    # in memory, outputs are the objects fn returned
    for c in result.cases:
        assert c.output is outputs[int(c.hash.split("-")[1])]
    stored = {
        r["hash"]: json_loads(r["output"])
        for r in store_rows("SELECT hash, output FROM case_results")
    }
    assert stored["case-0"] == "<Opaque 0>"
    assert stored["case-1"] == {"text": "hi", "inner": {"label": "x"}, "tags": ["a", "b"]}
    assert stored["case-2"] == {"nested": "<Opaque 2>", "ok": [1, 2.5, None, True]}
    assert stored["case-3"] == [1, "two"]
    assert stored["case-4"] == "plain text"


def test_custom_serialize_is_what_the_store_keeps(store_rows, json_loads):
    class Plain(BaseTestCase):
        def __init__(self, q: str) -> None:
            self.q = q
            self.secret = "do not store"

        def hash(self) -> str:
            return self.q

        def serialize(self) -> Any:
            return {"question": self.q}

    run_test_suite("custom-serialize", [Plain("why?")], [], lambda c: c.q, quiet=True)
    [row] = store_rows("SELECT test_case FROM case_results")
    assert json_loads(row["test_case"]) == {"question": "why?"}


def test_non_dataclass_case_stores_its_attributes(store_rows, json_loads):
    class Plain(BaseTestCase):
        def __init__(self, q: str) -> None:
            self.q = q

        def hash(self) -> str:
            return self.q

    run_test_suite("plain-case", [Plain("q1")], [], lambda c: c.q, quiet=True)
    [row] = store_rows("SELECT test_case FROM case_results")
    assert json_loads(row["test_case"]) == {"q": "q1"}
