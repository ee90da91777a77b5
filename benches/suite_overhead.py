"""Overhead of trialrun's ``run_test_suite`` against a bare-asyncio baseline.

Run it from the repository root after building the extension in release mode::

    maturin develop --release      # or: pip install .
    python benches/suite_overhead.py
    python benches/suite_overhead.py --only a,d --repeat 3
    python benches/suite_overhead.py --scale 0.1          # quick run, fewer cases
    python benches/suite_overhead.py --baseline-only      # no trialrun import needed

Workloads (each runs in this process against a baseline doing the same calls):

  a  2000 cases, concurrency 50, async fn sleeping 10 ms; a trivial sync
     evaluator and an async evaluator sleeping 2 ms (max_concurrency 10).
     Ideal 0.40 s; target <= 1.2x ideal.
  b  as (a) with a 2x2 grid (8000 fn calls, fn reads grid_search_ctx()).
     Ideal 1.6 s; target <= 1.2x ideal.
  c  as (a) with a sync fn doing time.sleep(0.01); target <= 1.3x ideal.
  d  overhead-bound: 100,000 cases, ``async def fn(case): return case.x``,
     one trivial sync evaluator; target: trialrun cases/s >= baseline cases/s.
  e  thread-bound: 8,000 cases, a sync fn doing time.sleep(0.05), one trivial
     sync evaluator, at concurrencies 100, 1,000, 3,000 and 10,000 (a row each;
     at the higher ones, up to a thread per call); the baseline runs fn on a
     ThreadPoolExecutor with as many workers. Target: <= 1.2x baseline at each.

For (a)-(c) the peak number of fn calls in flight is counted inside fn and
must equal the concurrency (50): fewer means the engine under-uses its slots,
more means it does not bound fn calls (e.g. per grid combination).

The baseline is ``asyncio.gather`` over every (case, grid combination) with an
``asyncio.Semaphore`` around fn and one semaphore per evaluator around its
call; it stores nothing. trialrun's times run until every result is durably
stored in its SQLite run store, which lives in a temporary TRIALRUN_HOME that
is removed at the end. This is not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import dataclasses
import gc
import inspect
import itertools
import math
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

CONCURRENCY = 50
FN_SLEEP_S = 0.01
EVAL_SLEEP_S = 0.002
GRID_2X2 = {"model": ["a", "b"], "temperature": [0.0, 1.0]}


@dataclasses.dataclass(frozen=True)
class Workload:
    key: str
    description: str  # shown after the (scaled) case count
    n_cases: int
    fn_kind: str  # "async_sleep" | "sync_sleep" | "echo"
    evaluators: str  # "both" | "trivial"
    grid: dict | None = None
    target: float = 1.2  # max trialrun/ideal, or min trialrun/baseline for "echo"
    concurrency: int = CONCURRENCY
    fn_sleep_s: float = FN_SLEEP_S
    # Judged against the baseline's time rather than the ideal (which thread start-up
    # alone exceeds at thousands of threads).
    vs_baseline: bool = False

    @property
    def throughput_bound(self) -> bool:
        return self.fn_kind == "echo"


WORKLOADS = [
    Workload("a", "async fn", 2000, "async_sleep", "both"),
    Workload("b", "async fn, 2x2 grid", 2000, "async_sleep", "both", grid=GRID_2X2),
    Workload("c", "sync fn", 2000, "sync_sleep", "both", target=1.3),
    Workload("d", "echo fn", 100_000, "echo", "trivial", target=1.0),
    *(
        Workload(
            "e",
            f"sync fn, {threads:,} threads",
            8000,
            "sync_sleep",
            "trivial",
            concurrency=threads,
            fn_sleep_s=0.05,
            vs_baseline=True,
        )
        for threads in (100, 1000, 3000, 10_000)
    ),
]


# --------------------------------------------------------------------------
# API stand-ins, so the baselines can run before trialrun imports.
# --------------------------------------------------------------------------


def standin_api() -> SimpleNamespace:
    class BaseTestCase:
        def hash(self) -> str:
            raise NotImplementedError

    class BaseTestEvaluator:
        id: str = ""
        max_concurrency: int = 10

    @dataclasses.dataclass
    class Threshold:
        lt: float | None = None
        lte: float | None = None
        gt: float | None = None
        gte: float | None = None

    @dataclasses.dataclass
    class Evaluation:
        score: float
        threshold: Threshold | None = None
        metadata: dict | None = None

    return SimpleNamespace(
        BaseTestCase=BaseTestCase,
        BaseTestEvaluator=BaseTestEvaluator,
        Threshold=Threshold,
        Evaluation=Evaluation,
        grid_search_ctx=None,
        __version__="(not imported: --baseline-only)",
    )


# --------------------------------------------------------------------------
# Test cases, evaluators and fns shared by trialrun and the baseline.
# --------------------------------------------------------------------------


class InFlight:
    """Counts fn calls in flight (from any thread) and remembers the peak."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current = 0
        self.peak = 0

    def reset(self) -> None:
        self.current = self.peak = 0

    def enter(self) -> None:
        with self._lock:
            self.current += 1
            if self.current > self.peak:
                self.peak = self.current

    def exit(self) -> None:
        with self._lock:
            self.current -= 1


def build_fixtures(api: SimpleNamespace) -> SimpleNamespace:
    """Case and evaluator classes built on `api` (trialrun or the stand-ins)."""

    @dataclasses.dataclass
    class Case(api.BaseTestCase):
        x: int

        def hash(self) -> str:
            return str(self.x)

    class TrivialEvaluator(api.BaseTestEvaluator):
        id = "trivial"

        def evaluate_test_case(self, test_case, output):
            return api.Evaluation(score=1.0, threshold=api.Threshold(gte=0.5))

    class SleepyEvaluator(api.BaseTestEvaluator):
        id = "sleepy"
        max_concurrency = 10

        async def evaluate_test_case(self, test_case, output):
            await asyncio.sleep(EVAL_SLEEP_S)
            return api.Evaluation(score=1.0)

    return SimpleNamespace(
        Case=Case, TrivialEvaluator=TrivialEvaluator, SleepyEvaluator=SleepyEvaluator
    )


def expected_output(case: Any, fn_kind: str, grid: dict | None) -> Any:
    if fn_kind == "echo":
        return case.x
    if grid is None:
        return "ok"
    return ",".join(f"{k}={grid[k]}" for k in sorted(grid))


def make_fn(
    fn_kind: str,
    grid_ctx: Callable[[], dict | None],
    gauge: InFlight,
    sleep_s: float = FN_SLEEP_S,
):
    """The fn under test; `grid_ctx` is trialrun.grid_search_ctx or the baseline's."""
    if fn_kind == "echo":

        async def echo(case):
            return case.x

        return echo

    if fn_kind == "async_sleep":

        async def async_sleep(case):
            gauge.enter()
            try:
                await asyncio.sleep(sleep_s)
            finally:
                gauge.exit()
            return expected_output(case, fn_kind, grid_ctx())

        return async_sleep

    if fn_kind == "sync_sleep":

        def sync_sleep(case):
            gauge.enter()
            try:
                time.sleep(sleep_s)
            finally:
                gauge.exit()
            return expected_output(case, fn_kind, grid_ctx())

        return sync_sleep

    raise ValueError(fn_kind)


def grid_combos(grid: dict | None) -> list[dict | None]:
    if not grid:
        return [None]
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*grid.values())]


def grid_key(grid: dict | None) -> tuple | None:
    return tuple(sorted(grid.items())) if grid else None


# --------------------------------------------------------------------------
# Baseline: bare asyncio.gather + semaphores, storing nothing.
# --------------------------------------------------------------------------

BASELINE_GRID: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "baseline_grid", default=None
)


async def baseline_suite(cases, evaluators, fn, concurrency, grid, executor=None):
    """Returns [(case, combo, output, [evaluation, ...]), ...]."""
    loop = asyncio.get_running_loop()
    fn_sem = asyncio.Semaphore(concurrency)
    ev_sems = [asyncio.Semaphore(ev.max_concurrency) for ev in evaluators]
    fn_is_async = inspect.iscoroutinefunction(fn)

    async def one(case, combo):
        BASELINE_GRID.set(combo)  # each gather task runs in its own context copy
        async with fn_sem:
            if fn_is_async:
                output = await fn(case)
            else:
                ctx = contextvars.copy_context()
                output = await loop.run_in_executor(executor, ctx.run, fn, case)
        # Evaluators one after the other: sync ones run inline and never yield,
        # and each workload has at most one async evaluator, so this is as
        # concurrent as gathering them without the cost of extra tasks.
        evaluations = []
        for ev, sem in zip(evaluators, ev_sems):
            async with sem:
                evaluation = ev.evaluate_test_case(case, output)
                if inspect.isawaitable(evaluation):
                    evaluation = await evaluation
            evaluations.append(evaluation)
        return case, combo, output, evaluations

    return await asyncio.gather(*(one(c, g) for c in cases for g in grid_combos(grid)))


def run_baseline(w: Workload, cases, evaluators, gauge: InFlight):
    fn = make_fn(w.fn_kind, BASELINE_GRID.get, gauge, w.fn_sleep_s)

    async def main():
        if w.fn_kind == "sync_sleep":
            with ThreadPoolExecutor(max_workers=w.concurrency) as pool:
                return await baseline_suite(cases, evaluators, fn, w.concurrency, w.grid, pool)
        return await baseline_suite(cases, evaluators, fn, w.concurrency, w.grid)

    return asyncio.run(main())


def check_baseline(w: Workload, cases, evaluators, rows) -> None:
    assert len(rows) == len(cases) * len(grid_combos(w.grid)), "baseline lost calls"
    for case, combo, output, evaluations in rows:
        assert output == expected_output(case, w.fn_kind, combo), (output, combo)
        assert len(evaluations) == len(evaluators) and all(e is not None for e in evaluations)


# --------------------------------------------------------------------------
# trialrun
# --------------------------------------------------------------------------


def run_trialrun(api, w: Workload, cases, evaluators, gauge: InFlight, use_async_api: bool):
    kwargs = dict(
        id=f"bench-{w.key}",
        test_cases=cases,
        evaluators=evaluators,
        fn=make_fn(w.fn_kind, api.grid_search_ctx, gauge, w.fn_sleep_s),
        max_test_case_concurrency=w.concurrency,
        grid_search_params=w.grid,
        quiet=True,
    )
    if use_async_api:
        return asyncio.run(api.run_test_suite_async(**kwargs))
    return api.run_test_suite(**kwargs)


def check_trialrun(w: Workload, cases, evaluators, result) -> None:
    """A broken run must not print a fast number."""
    assert result.status == "completed", f"status {result.status!r}"
    by_hash = {c.hash(): c for c in cases}
    expected = {(h, grid_key(g)) for h in by_hash for g in grid_combos(w.grid)}
    seen = [(c.hash, grid_key(c.grid)) for c in result.cases]
    assert len(seen) == len(expected) and set(seen) == expected, (
        f"{len(result.cases)} case results for {len(expected)} expected (hash, grid) pairs"
    )
    evaluator_ids = sorted(ev.id for ev in evaluators)
    for c in result.cases:
        assert c.error is None, f"case {c.hash} {c.grid}: fn error {c.error}"
        want = expected_output(by_hash[c.hash], w.fn_kind, c.grid)
        assert c.output == want, f"case {c.hash} {c.grid}: output {c.output!r} != {want!r}"
        assert sorted(e.evaluator_id for e in c.evaluations) == evaluator_ids, (
            f"case {c.hash}: evaluations {[e.evaluator_id for e in c.evaluations]}"
        )
        for e in c.evaluations:
            assert e.error is None, f"case {c.hash} {e.evaluator_id}: {e.error}"
            assert e.score == 1.0, f"case {c.hash} {e.evaluator_id}: score {e.score}"


# --------------------------------------------------------------------------
# Timing and reporting
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Timing:
    seconds: float  # best of N
    peak: int  # highest fn calls in flight over all N runs


def best_of(repeat: int, run: Callable[[], Any], check: Callable[[Any], None], gauge) -> Timing:
    best, peak = math.inf, 0
    for _ in range(repeat):
        gc.collect()
        gauge.reset()
        t0 = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - t0
        check(result)
        best, peak = min(best, elapsed), max(peak, gauge.peak)
    return Timing(best, peak)


def fn_calls(w: Workload, n_cases: int) -> int:
    return n_cases * len(grid_combos(w.grid))


def report_row(w: Workload, n_cases: int, base: Timing, trial: Timing | None) -> list[str]:
    calls = fn_calls(w, n_cases)
    label = f"{w.key}: {n_cases:,} cases, {w.description}"
    if calls != n_cases:
        label += f" ({calls:,} calls)"
    if w.throughput_bound:
        base_rate = calls / base.seconds
        row = [label, "-", f"{base_rate:,.0f} cases/s"]
        if trial is None:
            return row + ["n/a", "n/a", f">= {w.target:.1f}x baseline", "-", "-"]
        ratio = (calls / trial.seconds) / base_rate
        ok = ratio >= w.target
        return row + [
            f"{calls / trial.seconds:,.0f} cases/s",
            f"{ratio:.2f}x baseline",
            f">= {w.target:.1f}x baseline",
            "-",
            "yes" if ok else "NO",
        ]

    ideal = math.ceil(calls / w.concurrency) * w.fn_sleep_s
    want_peak = min(w.concurrency, calls)
    row = [
        label,
        f"{ideal:.2f} s",
        f"{base.seconds:.3f} s ({base.seconds / ideal:.2f}x)",
    ]
    against = "baseline" if w.vs_baseline else ""
    if trial is None:
        return row + ["n/a", "n/a", f"<= {w.target:.1f}x {against}", f"{base.peak}/-", "-"]
    ratio = trial.seconds / (base.seconds if w.vs_baseline else ideal)
    # With a thread per call, calls end before the last threads start: no peak to want.
    ok = ratio <= w.target and (w.vs_baseline or trial.peak == want_peak)
    peak_wanted = "" if w.vs_baseline else f" (want {want_peak})"
    return row + [
        f"{trial.seconds:.3f} s",
        f"{ratio:.2f}x {against}".rstrip(),
        f"<= {w.target:.1f}x {against}".rstrip(),
        f"{base.peak}/{trial.peak}{peak_wanted}",
        "yes" if ok else "NO",
    ]


HEADER = [
    "workload",
    "ideal",
    "baseline",
    "trialrun",
    "trialrun/ideal",
    "target",
    "peak in flight base/trialrun",
    "ok?",
]


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]

    def line(cells: list[str]) -> str:
        return " | ".join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip()

    print(line(HEADER))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def run_workload(api, fixtures, w: Workload, args) -> list[str]:
    n_cases = max(1, round(w.n_cases * args.scale))
    cases = [fixtures.Case(x=i) for i in range(n_cases)]
    evaluators = [fixtures.TrivialEvaluator()]
    if w.evaluators == "both":
        evaluators.append(fixtures.SleepyEvaluator())
    gauge = InFlight()

    base = best_of(
        args.repeat,
        lambda: run_baseline(w, cases, evaluators, gauge),
        lambda rows: check_baseline(w, cases, evaluators, rows),
        gauge,
    )
    trial = None
    if not args.baseline_only:
        trial = best_of(
            args.repeat,
            lambda: run_trialrun(api, w, cases, evaluators, gauge, args.async_api),
            lambda result: check_trialrun(w, cases, evaluators, result),
            gauge,
        )
    return report_row(w, n_cases, base, trial)


def warm_up(api, fixtures, args) -> None:
    """One tiny run of each side, so imports and store creation are not timed."""
    w = Workload("warm-up", "", 10, "async_sleep", "both", grid=GRID_2X2)
    run_workload(api, fixtures, w, argparse.Namespace(**{**vars(args), "scale": 1.0, "repeat": 1}))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="a,b,c,d,e", help="comma-separated workloads (a-e)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply case counts (quick runs)")
    p.add_argument("--repeat", type=int, default=1, help="best of N runs (default 1)")
    p.add_argument("--baseline-only", action="store_true", help="run only the baselines")
    p.add_argument(
        "--async-api",
        action="store_true",
        help="time run_test_suite_async instead of run_test_suite",
    )
    args = p.parse_args(argv)
    args.only = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = set(args.only) - {w.key for w in WORKLOADS}
    if unknown:
        p.error(f"unknown workloads: {','.join(sorted(unknown))}")
    if args.repeat < 1 or args.scale <= 0:
        p.error("--repeat must be >= 1 and --scale > 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    home = tempfile.mkdtemp(prefix="trialrun-bench-")
    os.environ["TRIALRUN_HOME"] = home  # before importing trialrun
    try:
        if args.baseline_only:
            api = standin_api()
        else:
            import trialrun as api
        fixtures = build_fixtures(api)

        print(f"python {platform.python_version()} ({sys.executable})")
        print(f"trialrun {api.__version__}")
        print(f"cpu_count {os.cpu_count()}")
        print(f"scale {args.scale}, best of {args.repeat}, TRIALRUN_HOME {home}")
        print(
            "baseline = asyncio.gather + Semaphore, stores nothing; "
            "trialrun = until every result is stored in SQLite"
            + (" (run_test_suite_async)" if args.async_api else " (run_test_suite)")
        )
        print()

        warm_up(api, fixtures, args)
        rows = [run_workload(api, fixtures, w, args) for w in WORKLOADS if w.key in args.only]
        print_table(rows)
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
