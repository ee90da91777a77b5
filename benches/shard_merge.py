"""Shard and merge: a 100,000-case suite run as 4 shards, each into a run store of its own
(as 4 CI jobs would), then `merge` of the 4 stores into one run; beside it the same suite
run whole, on the same machine, in the same process.

    python benches/shard_merge.py               # 100,000 cases, 4 shards
    python benches/shard_merge.py --cases 20000 --shards 8

Figures: each way's run time, the merge time (target: under 2 s for 100,000 cases) and
its rate, and whether a compare against the merged run is identical to the compare
against the whole run (both against a second whole run: every case, evaluation, score
and verdict the same; only the run ids and times differ). This is not a test: it prints
figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import trialrun
from trialrun import _core, history


@dataclasses.dataclass
class Case(trialrun.BaseTestCase):
    n: int

    def hash(self) -> str:
        return f"c{self.n}"


class Parity(trialrun.BaseTestEvaluator):
    id = "parity"

    def evaluate_test_case(self, test_case: Case, output: int) -> trialrun.Evaluation:
        return trialrun.Evaluation(
            score=float(output % 7 != 0), threshold=trialrun.Threshold(gte=1)
        )


def run(home: Path, cases: list[Case], shard: tuple[int, int] | None = None) -> float:
    os.environ["TRIALRUN_HOME"] = str(home)
    start = time.perf_counter()
    trialrun.run_test_suite(
        "shard-bench", cases, lambda c: c.n, [Parity()], quiet=True, shard=shard
    )
    return time.perf_counter() - start


def comparable(doc: dict) -> dict:
    """A comparison without what names or times its runs."""
    return {k: v for k, v in doc.items() if k not in ("base", "head")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()
    cases = [Case(n) for n in range(args.cases)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        main_home = root / "main"
        base_s = run(main_home, cases)
        whole_s = run(main_home, cases)
        shard_s = []
        for i in range(1, args.shards + 1):
            shard_s.append(run(root / f"shard{i}", cases, (i, args.shards)))
        sources = [root / f"shard{i}" / "trialrun.db" for i in range(1, args.shards + 1)]
        os.environ["TRIALRUN_HOME"] = str(main_home)
        start = time.perf_counter()
        [merged] = _core.merge_shards(sources, main_home / "trialrun.db")
        merge_s = time.perf_counter() - start

        ids = history.runs("shard-bench", 10).ids  # newest first
        assert ids[0] == merged["run_id"]
        base_id, whole_id = ids[-1], ids[-2]
        to_whole = history.compare(base_id, whole_id).to_dict()
        to_merged = history.compare(base_id, merged["run_id"]).to_dict()
        identical = comparable(to_whole) == comparable(to_merged)

    n = args.cases
    print(f"{n:,} cases, {args.shards} shards (release build: maturin develop --release)")
    print(f"{'':32}{'seconds':>10}{'cases/s':>12}")
    print(f"{'whole run (base)':32}{base_s:>10.2f}{n / base_s:>12,.0f}")
    print(f"{'whole run':32}{whole_s:>10.2f}{n / whole_s:>12,.0f}")
    for i, s in enumerate(shard_s, 1):
        part = merged["cases"] // args.shards
        print(f"{f'shard {i}/{args.shards}':32}{s:>10.2f}{part / s:>12,.0f}")
    print(f"{'merge of the shards':32}{merge_s:>10.2f}{n / merge_s:>12,.0f}")
    print(f"merged run: {merged['cases']:,} cases, {merged['status']}; target: merge under 2 s")
    print(f"compare against the merged run identical to against the whole run: {identical}")


if __name__ == "__main__":
    main()
