"""Rate limits, timeouts and budgets (issue 18): fn calls a real loopback HTTP server
that answers 429 above N requests/s; retries, adaptive concurrency, quota stops,
timeouts and budgets are checked against what users rely on."""

from __future__ import annotations

import asyncio
import email.utils
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import httpx
import pytest

import trialrun
from rate_limited_server import RateLimitedServer
from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, _core
from trialrun._limits import retry_after_s
from trialrun.openai_server import OpenAIServer


class Case(BaseTestCase):
    def __init__(self, n: int) -> None:
        self.n = n

    def hash(self) -> str:
        return f"c{self.n}"


def cases(count: int) -> list[Case]:
    return [Case(i) for i in range(count)]


class Always(BaseTestEvaluator):
    id = "always"

    def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
        return Evaluation(1.0, Threshold(gte=0.5))


def http_fn(url: str) -> Any:
    """fn: one GET per case through one client (made on the suite's loop)."""
    clients: list[httpx.AsyncClient] = []

    async def fn(case: Case) -> str:
        if not clients:
            clients.append(httpx.AsyncClient(limits=httpx.Limits(max_connections=100)))
        response = await clients[0].get(f"{url}/work?case={case.n}")
        response.raise_for_status()
        return response.text

    return fn


def test_adaptive_retries_pass_every_case_where_a_fixed_run_fails_some():
    with RateLimitedServer(rate=20, latency_s=0.02) as server:
        fixed = trialrun.run_test_suite(
            "fixed",
            cases(60),
            http_fn(server.url),
            [Always()],
            max_test_case_concurrency=20,
            quiet=True,
        )
        assert fixed.totals["cases_errored"] > 0, "without retries the server's 429s fail cases"
        assert any("429" in (c.error or "") for c in fixed.cases)

    with RateLimitedServer(rate=20, latency_s=0.02) as server:
        result = trialrun.run_test_suite(
            "adaptive",
            cases(60),
            http_fn(server.url),
            [Always()],
            max_test_case_concurrency=20,
            rate_limit_retries=50,
            quiet=True,
        )
        assert server.limited > 0, "the server did rate-limit"
    assert result.passed, result.failure_report()
    assert result.status == "completed"
    retried = [c for c in result.cases if c.retries]
    assert retried, "some cases were retried"
    # retries are shown apart from failures, with the original error kept
    assert result.totals["failures"] == 0
    assert result.totals["retries"] == sum(c.retries for c in result.cases)
    assert result.totals["cases_retried"] == len(retried)
    first = retried[0].attempts[0]
    assert "429" in first["error"] and first["wait_s"] > 0
    summary = result.summary()
    assert f"{result.totals['retries']} attempts retried after rate limits" in summary
    assert summary.startswith("PASSED adaptive")


def test_retry_after_is_honoured_and_a_sync_fn_is_retried_too():
    calls: list[float] = []

    def fn(case: Case) -> str:
        calls.append(time.monotonic())
        if len(calls) == 1:
            error = urllib.error.HTTPError("http://x", 429, "Too Many Requests", {}, None)  # type: ignore[arg-type]
            error.headers = {"Retry-After": "0.3"}  # type: ignore[assignment]
            raise error
        return "ok"

    result = trialrun.run_test_suite("sync", cases(1), fn, rate_limit_retries=2, quiet=True)
    assert result.passed
    assert result.cases[0].retries == 1
    assert calls[1] - calls[0] >= 0.3
    assert result.cases[0].attempts[0]["wait_s"] == pytest.approx(0.3)


def test_retry_after_as_an_http_date_and_retry_after_ms():
    class Limited(Exception):
        status_code = 429

        def __init__(self, headers: dict[str, str]) -> None:
            self.headers = headers

    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after_s(Limited({"retry-after": soon})) <= 30  # type: ignore[operator]
    assert retry_after_s(Limited({"Retry-After": "12"})) == 12
    assert retry_after_s(Limited({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert retry_after_s(Limited({"retry-after": "whenever"})) is None


def test_rate_limits_are_recognised_by_status_class_name_and_predicate():
    class RateLimitError(Exception):  # as openai names it, without importing openai
        pass

    class Response:
        status_code = 429

    class HTTPStatusError(Exception):
        response = Response()

    assert trialrun.is_rate_limit_error(RateLimitError())
    assert trialrun.is_rate_limit_error(HTTPStatusError())
    assert not trialrun.is_rate_limit_error(ValueError("429"))

    class Throttled(Exception):
        pass

    attempts = []

    async def fn(case: Case) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise Throttled("slow down")
        return "ok"

    result = trialrun.run_test_suite(
        "predicate",
        cases(1),
        fn,
        rate_limit_retries=5,
        is_rate_limit=lambda e: isinstance(e, Throttled),
        quiet=True,
    )
    assert result.passed and result.cases[0].retries == 2
    assert result.cases[0].attempts[0]["error"] == "Throttled: slow down"


def test_retries_run_out_and_the_last_error_fails_the_case():
    class RateLimitError(Exception):
        pass

    def fn(case: Case) -> str:
        raise RateLimitError("always limited")

    result = trialrun.run_test_suite("out", cases(1), fn, rate_limit_retries=2, quiet=True)
    case = result.cases[0]
    assert not case.passed and "always limited" in (case.error or "")
    assert case.retries == 2 and result.totals["retries"] == 2


def test_evaluators_are_retried_on_rate_limits():
    class RateLimitError(Exception):
        pass

    seen: list[int] = []

    class Judge(BaseTestEvaluator):
        id = "judge"

        async def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
            seen.append(test_case.n)
            if seen.count(test_case.n) == 1:
                raise RateLimitError("judge limited")
            return Evaluation(1.0, Threshold(gte=0.5))

    result = trialrun.run_test_suite(
        "judged", cases(3), lambda c: c.n, [Judge()], rate_limit_retries=1, quiet=True
    )
    assert result.passed, result.failure_report()
    assert [c.evaluations[0].retries for c in result.cases] == [1, 1, 1]
    assert result.totals["retries"] == 3 and result.totals["cases_retried"] == 0


def test_retries_and_usage_are_kept_in_the_store_and_shown(store_rows):
    """Each retried attempt (the original error first) and the usage reported, per call of
    fn and of each evaluator, outlive the process: the store's call_logs, exports, show."""

    class RateLimitError(Exception):
        pass

    tries: dict[str, int] = {}

    def limited(name: str) -> None:
        tries[name] = tries.get(name, 0) + 1
        if tries[name] == 1:
            raise RateLimitError(f"429 for {name}")

    def fn(case: Case) -> int:
        limited(f"fn {case.n}")
        trialrun.report_usage(model="m", input_tokens=10, output_tokens=case.n)
        return case.n

    class Judge(BaseTestEvaluator):
        id = "judge"

        def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
            if test_case.n == 1:
                limited("judge 1")
            return Evaluation(1.0, Threshold(gte=0.5))

    result = trialrun.run_test_suite(
        "kept-retries", cases(2), fn, [Judge()], rate_limit_retries=2, quiet=True
    )
    assert result.passed
    rows = store_rows(
        "SELECT case_idx, evaluator_id, attempts, input_tokens, output_tokens FROM call_logs "
        "ORDER BY case_idx, evaluator_id"
    )
    assert [(r["case_idx"], r["evaluator_id"]) for r in rows] == [(0, ""), (1, ""), (1, "judge")]
    fn_log = json.loads(rows[1]["attempts"])
    assert len(fn_log) == 1 and "RateLimitError: 429 for fn 1" in fn_log[0]["error"]
    assert (rows[1]["input_tokens"], rows[1]["output_tokens"]) == (10, 1)
    assert rows[2]["input_tokens"] is None  # the judge reported no usage
    stored = trialrun.history.run(result.runs[0].run_id)
    exported = json.loads(stored.to_json())["call_logs"]
    assert exported[2]["evaluator_id"] == "judge" and len(exported[2]["attempts"]) == 1
    assert "3 attempts retried after rate limits (3 calls)" in stored.text()


def test_an_exhausted_quota_stops_the_suite_at_once(store_rows):
    with RateLimitedServer(rate=1000) as server:
        started: list[int] = []

        async def fn(case: Case) -> str:
            started.append(case.n)
            async with httpx.AsyncClient() as client:
                if case.n == 3:
                    await asyncio.sleep(0.2)  # after cases 0-2 finished
                    response = await client.get(f"{server.url}/quota")
                    response.raise_for_status()
                await asyncio.sleep(0.01 if case.n < 3 else 5)
                return "ok"

        result = trialrun.run_test_suite(
            "quota",
            cases(50),
            fn,
            [Always()],
            max_test_case_concurrency=4,
            rate_limit_retries=10,
            quiet=True,
        )
    assert result.status == "stopped"
    assert result.stop_reason is not None
    assert result.stop_reason.startswith("quota exhausted (fn)")
    assert "insufficient_quota" in result.stop_reason or "429" in result.stop_reason
    assert result.duration_s < 3, "cases in flight were cancelled, not waited for"
    assert len(started) < 50
    # finished cases are kept; the one that met the quota errored; the rest are not run
    hashes = {c.hash for c in result.cases}
    assert {"c0", "c1", "c2"} <= hashes
    assert "c3" in hashes and "429" in (result.cases[3].error or "")
    assert result.totals["not_run"] == 50 - len(result.cases)
    assert result.totals["cases_errored"] == 1, "cases not run are not failures of their own"
    assert not result.passed
    assert "stopped: quota exhausted (fn)" in result.summary()
    [run] = store_rows("SELECT status, stop_reason FROM runs")
    assert run["status"] == "stopped" and run["stop_reason"] == result.stop_reason
    stored = store_rows("SELECT hash FROM case_results")
    assert {r["hash"] for r in stored} == hashes


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_fn_timeout(kind: str):
    if kind == "async":

        async def fn(case: Case) -> str:
            await asyncio.sleep(10 if case.n == 1 else 0)
            return "ok"

    else:

        def fn(case: Case) -> str:  # type: ignore[misc]
            time.sleep(10 if case.n == 1 else 0)
            return "ok"

    started = time.monotonic()
    result = trialrun.run_test_suite("timeouts", cases(3), fn, fn_timeout=0.3, quiet=True)
    assert time.monotonic() - started < 5, "the slow call was cancelled or abandoned"
    assert [c.passed for c in result.cases] == [True, False, True]
    assert "fn timed out after 0.3 s" in (result.cases[1].error or "")
    assert "CallTimeout" in (result.cases[1].error or "")


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_evaluator_timeout(kind: str):
    class Slow(BaseTestEvaluator):
        id = "slow"

        def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
            time.sleep(10 if test_case.n == 0 else 0)
            return Evaluation(1.0)

    class SlowAsync(BaseTestEvaluator):
        id = "slow"

        async def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
            await asyncio.sleep(10 if test_case.n == 0 else 0)
            return Evaluation(1.0)

    evaluator = SlowAsync() if kind == "async" else Slow()
    started = time.monotonic()
    result = trialrun.run_test_suite(
        "ev-timeouts", cases(2), lambda c: c.n, [evaluator], evaluator_timeout=0.2, quiet=True
    )
    assert time.monotonic() - started < 5
    first = result.cases[0].evaluations[0]
    assert first.verdict == "errored"
    assert 'evaluator "slow" timed out after 0.2 s' in (first.error or "")
    assert result.cases[1].evaluations[0].verdict == "no_threshold"


def test_a_timeout_is_not_retried_as_a_network_error():
    calls = []

    async def fn(case: Case) -> str:
        calls.append(1)
        await asyncio.sleep(5)
        return "late"

    result = trialrun.run_test_suite(
        "no-retry", cases(1), fn, fn_timeout=0.1, retry_count=3, quiet=True
    )
    assert len(calls) == 1 and "timed out" in (result.cases[0].error or "")


def test_a_used_up_budget_stops_scheduling_and_keeps_what_finished(store_rows):
    finished_evaluations = []

    class Judge(BaseTestEvaluator):
        id = "judge"
        max_concurrency = 1

        async def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
            await asyncio.sleep(0.01)
            finished_evaluations.append(test_case.n)
            return Evaluation(1.0, Threshold(gte=0.5))

    async def fn(case: Case) -> str:
        await asyncio.sleep(0.01)
        trialrun.report_usage(model="small", input_tokens=60, output_tokens=40)
        return "ok"

    result = trialrun.run_test_suite(
        "budget",
        cases(40),
        fn,
        [Judge()],
        max_test_case_concurrency=2,
        max_tokens=1000,
        quiet=True,
    )
    assert result.status == "stopped"
    assert result.stop_reason is not None and result.stop_reason.startswith("budget exhausted")
    done = len(result.cases)
    assert 10 <= done <= 12, "the 10th case used up 1000 tokens; calls in flight finished"
    assert result.totals["not_run"] == 40 - done
    assert result.totals["failures"] == 0
    assert result.totals["tokens"] == 100 * done
    # every finished case kept its evaluation
    assert all(len(c.evaluations) == 1 for c in result.cases)
    assert sorted(finished_evaluations) == sorted(c.test_case.n for c in result.cases)
    assert result.cases[0].usage == {"input_tokens": 60, "output_tokens": 40}
    assert "budget exhausted" in result.summary()
    [run] = store_rows("SELECT status, stop_reason FROM runs")
    assert run["status"] == "stopped" and run["stop_reason"].startswith("budget exhausted")
    # History shows the stop and its reason (the text view, exports and the viewer's API).
    stored = trialrun.history.run(result.runs[0].run_id)
    assert f"stopped: {result.stop_reason}" in stored.text()
    assert json.loads(stored.to_json())["run"]["stop_reason"] == result.stop_reason
    assert "stopped" in str(trialrun.history.runs())


def test_a_cost_budget_uses_the_price_table():
    def fn(case: Case) -> str:
        model = "priced" if case.n != 5 else "unknown"
        trialrun.report_usage(model=model, input_tokens=100_000, output_tokens=0)
        return "ok"

    result = trialrun.run_test_suite(
        "cost",
        cases(4) + [Case(5)],
        fn,
        max_cost=10.0,
        prices={"priced": (1.0, 2.0)},
        max_test_case_concurrency=1,
        quiet=True,
    )
    assert result.status == "completed"
    assert result.totals["cost"] == pytest.approx(0.4)
    # an unpriced model errors its case, naming the model and what is priced
    err = result.cases[4].error or ""
    assert 'no price for model "unknown"' in err and '"priced"' in err


def test_report_usage_outside_a_limited_suite_does_nothing():
    trialrun.report_usage(model="m", input_tokens=5)
    result = trialrun.run_test_suite(
        "plain", cases(1), lambda c: trialrun.report_usage(input_tokens=1), quiet=True
    )
    assert result.passed and result.cases[0].usage is None and result.cases[0].retries == 0
    assert "tokens" not in result.totals


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("rate_limit_retries", -1, "rate_limit_retries must be a whole number >= 0"),
        ("fn_timeout", 0, "fn_timeout must be a positive number of seconds"),
        ("evaluator_timeout", "1", "evaluator_timeout must be a positive number"),
        ("max_tokens", 0, "max_tokens must be a whole number >= 1"),
        ("max_cost", 1.0, "max_cost needs prices"),
        ("prices", {"m": (1.0,)}, "prices['m'] must be (input, output)"),
        ("is_rate_limit", 3, "is_rate_limit must be a callable"),
    ],
)
def test_bad_options_are_refused_before_any_call(option: str, value: Any, message: str):
    called = []
    with pytest.raises(trialrun.SuiteValidationError, match=r"\[opts\] ") as raised:
        trialrun.run_test_suite("opts", cases(1), called.append, quiet=True, **{option: value})
    assert message in str(raised.value)
    assert called == []


def test_adaptive_concurrency_settles_under_a_concurrency_limit():
    """A provider that takes 4 calls at once: AIMD cuts the cases the suite keeps open
    (started, not yet answered) from 32 to near 4; fixed concurrency keeps all 32 open,
    retrying."""
    in_flight = 0
    opened: set[int] = set()
    done: set[int] = set()
    open_at_success: list[int] = []
    lock = threading.Lock()

    class RateLimitError(Exception):
        pass

    async def fn(case: Case) -> str:
        nonlocal in_flight
        with lock:
            opened.add(case.n)
            in_flight += 1
            over = in_flight > 4
        try:
            if over:
                raise RateLimitError("busy")
            await asyncio.sleep(0.01)
            with lock:
                done.add(case.n)
                open_at_success.append(len(opened) - len(done))
            return "ok"
        finally:
            with lock:
                in_flight -= 1

    def run(adaptive: bool) -> tuple[trialrun.SuiteResult, float]:
        opened.clear()
        done.clear()
        open_at_success.clear()
        result = trialrun.run_test_suite(
            "aimd",
            cases(300),
            fn,
            max_test_case_concurrency=32,
            rate_limit_retries=1000,
            adaptive_concurrency=adaptive,
            quiet=True,
        )
        middle = open_at_success[100:200]
        return result, sum(middle) / len(middle)

    adaptive, adaptive_open = run(True)
    fixed, fixed_open = run(False)
    assert adaptive.passed and fixed.passed
    assert adaptive_open <= 12, adaptive_open
    assert fixed_open >= 24, fixed_open
    assert adaptive.totals["retries"] < fixed.totals["retries"]


async def test_the_shared_key_budget_paces_callers():
    trialrun.limit_key("test-provider", requests_per_minute=600)  # 10/s, 600 at once
    try:
        waits = [await trialrun.acquire("test-provider") for _ in range(600)]
        assert sum(waits) == 0
        started = time.monotonic()
        await trialrun.acquire("test-provider")
        assert 0.05 <= time.monotonic() - started < 1
        assert trialrun.acquire_sync("unknown-key", tokens=10) == 0.0
    finally:
        trialrun.limit_key("test-provider")


async def test_trialrun_s_own_model_calls_draw_on_the_same_budget_as_fn():
    """LLM judges and simulated callers call models through LanguageModel: each request
    first waits for the provider key's budget ("openai" by default), which fn's own calls
    (acquire) spend too."""
    question = {"messages": [{"role": "user", "content": "ready?"}], "max_tokens": 50}
    with OpenAIServer() as server:
        for _ in range(3):
            server.reply("yes")
        judge = _core.LanguageModel.openai("judge-model", base_url=server.url)
        elsewhere = _core.LanguageModel.openai(
            "judge-model", base_url=server.url, limit_key="another-key"
        )
        trialrun.limit_key("openai", tokens_per_minute=6000)  # 100 tokens a second
        try:
            started = time.monotonic()
            await judge.chat(question)  # within the budget: no wait
            assert time.monotonic() - started < 0.4
            # fn spends what is left of the minute's budget.
            trialrun.acquire_sync("openai", tokens=6000)
            started = time.monotonic()
            await judge.chat(question)  # ~70 tokens (50 asked + the body): ~0.7 s
            waited = time.monotonic() - started
            assert 0.5 <= waited < 5, waited
            started = time.monotonic()
            await elsewhere.chat(question)  # another key's budget: no wait
            assert time.monotonic() - started < 0.4
        finally:
            trialrun.limit_key("openai")
        assert len(server.requests) == 3


def test_json_of_the_quota_answer_is_openai_shaped():
    with RateLimitedServer(rate=1) as server:
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"{server.url}/quota")
    error = raised.value
    assert error.code == 429
    body = json.loads(error.read())
    assert body["error"]["code"] == "insufficient_quota"
