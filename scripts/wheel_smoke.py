"""A smoke test of an installed trialrun wheel (scripts/build_wheels.sh runs it).

Run it with the interpreter of a virtualenv the wheel was installed into, from outside
the source tree, so that `import trialrun` finds the wheel and not python/. It imports the
Rust core (Python loads extension modules with RTLD_NOW, so every symbol the library needs
from the C library is resolved here), runs a small suite into a run store of its own
(the core's tokio runtime, its SQLite writer thread), and lists and shows the stored runs
with the `trialrun` command the wheel installs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import trialrun
import trialrun._core
from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, md5, run_test_suite


@dataclasses.dataclass
class Case(BaseTestCase):
    x: int
    y: int

    def hash(self) -> str:
        return md5(f"{self.x}-{self.y}")


class SumIsRight(BaseTestEvaluator):
    id = "sum-is-right"

    def evaluate_test_case(self, test_case, output) -> Evaluation:
        return Evaluation(
            score=1 if output == test_case.x + test_case.y else 0, threshold=Threshold(gte=1)
        )


async def add(case: Case) -> int:
    await asyncio.sleep(0.001)
    return case.x + case.y


def main() -> int:
    core = Path(trialrun._core.__file__).resolve()
    print(f"trialrun {trialrun.__version__}, core {core}")
    if "site-packages" not in core.parts:
        print("the core was not imported from an installed wheel", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="trialrun-wheel-smoke-") as home:
        os.environ["TRIALRUN_HOME"] = home
        result = run_test_suite(
            id="wheel-smoke",
            test_cases=[Case(x, y) for x in range(3) for y in range(2)],
            fn=add,
            evaluators=[SumIsRight()],
            grid_search_params={"size": ["small", "large"]},
            quiet=True,
        )
        print(f"run_test_suite: {len(result.cases)} results, passed={result.passed}")
        if not result.passed or len(result.cases) != 12:
            print(result.failure_report(), file=sys.stderr)
            return 1
        # The console script beside the interpreter (bin/trialrun, Scripts\trialrun.exe).
        cli = shutil.which("trialrun", path=str(Path(sys.executable).parent))
        if cli is None:
            print("the wheel installed no trialrun command", file=sys.stderr)
            return 1
        for args in (["runs"], ["show", "latest"]):
            proc = subprocess.run([cli, *args], capture_output=True, text=True, timeout=60)
            head = "\n".join(proc.stdout.splitlines()[:4])
            print(f"$ trialrun {' '.join(args)}\n{head}")
            if proc.returncode != 0 or "wheel-smoke" not in proc.stdout:
                print(proc.stderr, file=sys.stderr)
                return 1
    print("wheel smoke: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
