"""Run-store benchmark (issue: run history).

1. What storing costs: a suite of 100,000 cases (async echo fn) with two trivial sync
   evaluators, i.e. 100,000 case results and 200,000 evaluations, run with record=True
   (written to SQLite as they finish, flushed before the call returns) against the same
   suite with record=False. Target: storing slows it by at most 10%.
2. Comparing: two stored 100,000-case runs compared by test-case hash, through the
   Python API (load both runs from SQLite + compare) and through `trialrun compare`
   (a fresh process, text output). Target: under 2 s.

    python benches/history_store.py [--cases N] [--repeat R]

after `maturin develop --release` (or `pip install .`). Uses a temporary TRIALRUN_HOME.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time

HOME = tempfile.mkdtemp(prefix="trialrun-bench-history-")
os.environ["TRIALRUN_HOME"] = HOME

import trialrun  # noqa: E402  (after TRIALRUN_HOME is set)
from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, history, run_test_suite  # noqa: E402


@dataclasses.dataclass
class Case(BaseTestCase):
    x: int

    def hash(self) -> str:
        return f"case-{self.x}"


class Passes(BaseTestEvaluator):
    id = "passes"

    def evaluate_test_case(self, test_case: Case, output: int) -> Evaluation:
        return Evaluation(score=1.0, threshold=Threshold(gte=0.5))


class Parity(BaseTestEvaluator):
    """Scores depend on a shift, so two runs differ and a comparison has work to do."""

    id = "parity"

    def __init__(self, shift: int) -> None:
        self.shift = shift

    def evaluate_test_case(self, test_case: Case, output: int) -> Evaluation:
        ok = (output + self.shift) % 7 != 0
        return Evaluation(
            score=1.0 if ok else 0.0,
            threshold=Threshold(gte=1),
            metadata=None if ok else {"x": output},
        )


async def echo(case: Case) -> int:
    return case.x


def suite(cases, shift: int, record: bool) -> trialrun.SuiteResult:
    result = run_test_suite(
        "bench-history",
        cases,
        [Passes(), Parity(shift)],
        echo,
        max_test_case_concurrency=50,
        quiet=True,
        record=record,
    )
    assert result.status == "completed" and len(result.cases) == len(cases), result
    assert all(len(c.evaluations) == 2 for c in result.cases)
    return result


def best(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.cases
    cases = [Case(i) for i in range(n)]
    print(
        f"python {sys.version.split()[0]}, trialrun {trialrun.__version__}, {os.cpu_count()} cpus, {n:,} cases"
    )

    suite(cases[:1000], 0, True)  # warm-up: imports, store creation
    # Interleaved, so drift on the machine hits both; each recorded run gets a fresh
    # store, so the figure is the cost of storing one suite, not of a growing file.
    unrecorded, recorded = float("inf"), float("inf")
    for i in range(args.repeat):
        unrecorded = min(unrecorded, best(1, lambda: suite(cases, 0, False)))
        os.environ["TRIALRUN_HOME"] = os.path.join(HOME, f"fresh-{i}")
        recorded = min(recorded, best(1, lambda: suite(cases, 0, True)))
    os.environ["TRIALRUN_HOME"] = HOME
    slowdown = recorded / unrecorded - 1
    print()
    print(
        f"{'suite of ' + format(n, ',') + ' cases, 2 evaluators':<44} {'seconds':>8} {'cases/s':>10}"
    )
    print(f"{'  record=False (nothing stored)':<44} {unrecorded:>8.3f} {n / unrecorded:>10,.0f}")
    print(
        f"{'  record=True (' + format(n, ',') + ' cases + ' + format(2 * n, ',') + ' evaluations)':<44} {recorded:>8.3f} {n / recorded:>10,.0f}"
    )
    print(
        f"  storing costs {slowdown:+.1%} (target <= +10%: {'yes' if slowdown <= 0.10 else 'NO'})"
    )

    base = suite(cases, 1, True).run_ids[0]
    head = suite(cases, 2, True).run_ids[0]
    comparison = history.compare(base, head)
    assert len(comparison.regressions()) > 0
    api = best(args.repeat, lambda: history.compare(base, head))
    env = dict(os.environ, TRIALRUN_HOME=HOME)

    def run_cli() -> None:
        out = subprocess.run(
            [sys.executable, "-m", "trialrun", "compare", base, head], env=env, capture_output=True
        )
        assert out.returncode == 1, out.stderr  # regressions present

    cli = best(args.repeat, run_cli)
    print()
    print(f"compare two stored {n:,}-case runs (target < 2 s)")
    print(
        f"  history.compare (load both + compare)      {api:>8.3f} s  {'yes' if api < 2 else 'NO'}"
    )
    print(
        f"  trialrun compare (new process, text out)   {cli:>8.3f} s  {'yes' if cli < 2 else 'NO'}"
    )
    shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    main()
