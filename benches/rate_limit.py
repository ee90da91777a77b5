"""A suite against a provider that rate-limits: trialrun's adaptive concurrency and
rate-limit retries beside a fixed-concurrency run without them.

    python benches/rate_limit.py                       # N = 50 requests/s, 20 s per run
    python benches/rate_limit.py --rate 100 --seconds 10

The server (tests/rate_limited_server.py) is a real HTTP server on a free loopback port:
it answers at most N requests in any one second (each after `--latency` seconds) and 429
with a Retry-After above that. fn calls it with httpx, once per case; the suite has more
cases than the run can finish, so each run is timed for `--seconds` and then interrupted
(cases in flight are cancelled; they are not counted).

Figures per run: answered requests/s over the steady part (after the first quarter of
the run) against N, 429s the server sent, cases that failed, and the peak of calls in
flight at the server. Target: the adaptive run settles within 10% of N with no failed
case; the fixed run fails cases. This is not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import httpx  # noqa: E402

import trialrun  # noqa: E402
from rate_limited_server import RateLimitedServer  # noqa: E402


class Case(trialrun.BaseTestCase):
    def __init__(self, n: int) -> None:
        self.n = n

    def hash(self) -> str:
        return f"c{self.n}"


async def timed_run(server: RateLimitedServer, seconds: float, **options: Any) -> dict[str, Any]:
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=1000))

    async def fn(case: Case) -> str:
        response = await client.get(f"{server.url}/work?case={case.n}")
        response.raise_for_status()
        return response.text

    cases = [Case(i) for i in range(int(server.rate * seconds * 4) + 100)]
    start = time.monotonic()
    task = asyncio.ensure_future(
        trialrun.run_test_suite_async("rate-limit-bench", cases, fn, quiet=True, **options)
    )
    await asyncio.sleep(seconds)
    task.cancel()
    result = None
    try:
        await task
    except asyncio.CancelledError:
        pass
    end = time.monotonic()
    await client.aclose()
    # the interrupted suite's results: the last collected (run_test_suite_async re-raises)
    del result
    return {"start": start, "end": end}


def run_one(rate: int, latency: float, seconds: float, label: str, **options: Any) -> list[str]:
    with RateLimitedServer(rate=rate, latency_s=latency) as server:
        with trialrun._run.collect_results() as results:  # type: ignore[attr-defined]
            times = asyncio.run(timed_run(server, seconds, **options))
        [result] = results
        steady_from = times["start"] + (times["end"] - times["start"]) / 4
        steady = server.ok_rate(steady_from, times["end"])
        failed = result.totals["cases_errored"]
        return [
            label,
            f"{steady:.1f}",
            f"{100 * (steady - rate) / rate:+.1f}%",
            str(len(result.cases)),
            str(failed),
            str(result.totals["retries"]),
            str(server.limited),
            str(server.peak_in_flight),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=50, help="N: answered requests/s")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per answer")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    parser.add_argument("--concurrency", type=int, default=50, help="max_test_case_concurrency")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="trialrun-bench-")
    os.environ["TRIALRUN_HOME"] = home
    rows = [
        run_one(
            args.rate,
            args.latency,
            args.seconds,
            f"adaptive (rate_limit_retries=100, max {args.concurrency})",
            max_test_case_concurrency=args.concurrency,
            rate_limit_retries=100,
        ),
        run_one(
            args.rate,
            args.latency,
            args.seconds,
            f"fixed concurrency {args.concurrency}, no retries",
            max_test_case_concurrency=args.concurrency,
        ),
    ]
    header = ["run", "ok/s", "vs N", "cases", "failed", "retries", "429s", "peak"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(
        f"server: N = {args.rate} requests/s, {args.latency:g} s per answer, "
        f"{args.seconds:g} s per run (ok/s over the last three quarters)"
    )
    for row in [header, *rows]:
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths))
            )
        )


if __name__ == "__main__":
    main()
