"""The Ray executor against bare Ray: the same CPU-bound fn over N cases on a local
two-node Ray cluster (a head and a worker node on 127.0.0.1, 2 CPUs each), run once by
trialrun (`executor=Ray(...)`, results stored locally) and once submitted to Ray bare (a
list of tasks and `ray.get`), side by side in one run. Target: trialrun at most 1.1x the
bare time.

    python benches/ray_executor.py                  # 10,000 cases of 50 ms of CPU
    python benches/ray_executor.py --cases 2000 --work-ms 50

Ray's servers listen on every interface, so the benchmark re-runs itself in a network
namespace whose only interface is loopback (`unshare --net`, as root), as the tests do.
This is not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "ray"))

import trialrun  # noqa: E402
from trialrun.executors import Ray  # noqa: E402


@dataclasses.dataclass
class Case(trialrun.BaseTestCase):
    n: int

    def hash(self) -> str:
        return f"c{self.n}"


def burn(ms: float) -> int:
    """ms milliseconds of CPU work (a busy loop, not a sleep)."""
    end = time.process_time() + ms / 1000
    x = 0
    while time.process_time() < end:
        x += 1
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--work-ms", type=float, default=50.0)
    args = parser.parse_args()
    if [name for _, name in socket.if_nameindex()] != ["lo"]:
        inner = [sys.executable, *sys.argv]
        command = "ip link set lo up && exec " + " ".join(f"'{a}'" for a in inner)
        sys.exit(subprocess.run(["unshare", "--net", "sh", "-c", command]).returncode)

    import ray
    from conftest import RAY, Cluster

    work = args.work_ms
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="ray-bench")))
    try:
        cluster.start_head()
        cluster.add_worker()
        cpus = int(ray.cluster_resources()["CPU"])

        @ray.remote(max_retries=3)
        def bare(n: int) -> int:
            return burn(work)

        ray.get([bare.remote(i) for i in range(cpus * 4)])  # warm the workers

        start = time.perf_counter()
        ray.get([bare.remote(i) for i in range(args.cases)])
        bare_s = time.perf_counter() - start

        os.environ["TRIALRUN_HOME"] = tempfile.mkdtemp(prefix="trialrun-bench")
        start = time.perf_counter()
        result = trialrun.run_test_suite(
            "ray-bench",
            [Case(n) for n in range(args.cases)],
            lambda case: burn(work),
            quiet=True,
            max_test_case_concurrency=cpus * 4,
            executor=Ray(address=cluster.address),
        )
        trialrun_s = time.perf_counter() - start
        errors = sum(1 for c in result.cases if c.error)
    finally:
        cluster.stop()
        subprocess.run([RAY, "stop", "--force"], capture_output=True)

    cores = min(cpus, os.cpu_count() or cpus)  # the nodes share this machine's cores
    ideal = args.cases * work / 1000 / cores
    print(
        f"{args.cases:,} cases of {work:g} ms of CPU; {cpus} Ray CPUs over 2 nodes "
        f"on {os.cpu_count()} cores"
    )
    print(f"{'':34}{'seconds':>10}{'cases/s':>10}{'vs bare':>10}")
    print(f"{'ideal (work / cores)':34}{ideal:>10.1f}{args.cases / ideal:>10.0f}")
    print(f"{'bare Ray (tasks + ray.get)':34}{bare_s:>10.1f}{args.cases / bare_s:>10.0f}{1:>10.2f}")
    print(
        f"{'trialrun, Ray executor, stored':34}{trialrun_s:>10.1f}{args.cases / trialrun_s:>10.0f}"
        f"{trialrun_s / bare_s:>10.2f}"
    )
    print(f"errored cases: {errors}; target: trialrun at most 1.10x bare Ray")


if __name__ == "__main__":
    main()
