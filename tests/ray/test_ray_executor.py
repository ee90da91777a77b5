"""trialrun.executors.Ray against a real two-node Ray cluster on 127.0.0.1 (conftest.py):
fn calls run as Ray tasks on both nodes, results stream into the local store, the grid
and remote evaluators work, user errors are not retried, Ctrl-C cancels the tasks, and
a node killed mid-suite loses nothing finished and stores nothing twice."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import ray
from trialrun import (
    BaseTestCase,
    BaseTestEvaluator,
    Evaluation,
    SuiteValidationError,
    grid_search_ctx,
    run_test_suite,
    run_test_suite_async,
)
from trialrun.executors import Ray, RayTaskLost

# The workers cannot import this test file: its cases, functions and evaluators travel by
# value (as a suite file run as __main__ does by itself).
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@dataclasses.dataclass
class Case(BaseTestCase):
    n: int

    def hash(self) -> str:
        return f"case-{self.n}"


def where() -> dict:
    return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}


def rows(home: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(home / "trialrun.db") as conn:
        return conn.execute(sql).fetchall()


def test_the_cluster_sees_only_loopback(cluster):
    addresses = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert all(line.split()[1] == "lo" for line in addresses.splitlines()), addresses
    listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True)
    local = [line.split()[3].rsplit(":", 1)[0] for line in listening.stdout.splitlines()]
    assert len(local) >= 3, local  # the GCS and the raylets
    # Given 127.0.0.1 and only loopback, Ray binds loopback; "*" would reach nothing more.
    loopback = {"127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "*", "0.0.0.0", "[::]"}
    assert set(local) <= loopback, local


class OnRay(BaseTestEvaluator):
    id = "on-ray"
    remote = True

    def evaluate_test_case(self, test_case, output):
        return Evaluation(score=1, metadata=where())


class Here(BaseTestEvaluator):
    id = "here"

    def evaluate_test_case(self, test_case, output):
        return Evaluation(score=1, metadata={"pid": os.getpid()})


def test_a_suite_runs_fn_and_remote_evaluators_as_tasks_on_both_nodes(cluster, trialrun_home):
    def fn(case):
        time.sleep(0.05)
        return {"double": case.n * 2, "grid": grid_search_ctx(), **where()}

    result = run_test_suite(
        "on-ray",
        [Case(n) for n in range(24)],
        fn,
        [OnRay(), Here()],
        max_test_case_concurrency=4,
        grid_search_params={"model": ["a", "b"]},
        quiet=True,
        executor=Ray(address=cluster.address),
    )
    assert len(result.cases) == 48 and not [c.error for c in result.cases if c.error]
    outputs = [c.output for c in result.cases]
    assert {(o["double"], o["grid"]["model"]) for o in outputs} == {
        (2 * n, m) for n in range(24) for m in "ab"
    }
    nodes = {n["NodeID"] for n in cluster.alive_nodes()}
    assert {o["node"] for o in outputs} == nodes  # both nodes ran fn
    assert all(o["pid"] != os.getpid() for o in outputs)
    metadata = [(e.evaluator_id, e.metadata) for c in result.cases for e in c.evaluations]
    assert all(m["node"] in nodes for i, m in metadata if i == "on-ray")
    assert all(m["pid"] == os.getpid() for i, m in metadata if i == "here")
    stored = rows(trialrun_home, "SELECT count(*), count(DISTINCT run_id) FROM case_results")
    assert stored == [(48, 2)]


def test_an_exception_in_fn_errors_its_case_once_and_is_not_retried(cluster, tmp_path):
    attempts = tmp_path / "attempts"
    attempts.mkdir()

    def fn(case):
        (attempts / f"{case.n}-{time.monotonic_ns()}").touch()
        if case.n == 3:
            raise ValueError("no threes")
        return case.n

    result = run_test_suite(
        "raises",
        [Case(n) for n in range(6)],
        fn,
        quiet=True,
        executor=Ray(address=cluster.address),
    )
    errors = {c.hash: c.error for c in result.cases}
    assert "ValueError" in errors["case-3"] and "no threes" in errors["case-3"]
    assert [h for h, e in errors.items() if e] == ["case-3"]
    assert sorted(p.name.split("-")[0] for p in attempts.iterdir()) == [str(n) for n in range(6)]


def test_cancelling_the_suite_cancels_its_ray_tasks(cluster, tmp_path, trialrun_home):
    marks = tmp_path / "marks"
    marks.mkdir()

    def fn(case):
        (marks / f"started-{case.n}").touch()
        time.sleep(4)
        (marks / f"finished-{case.n}").touch()
        return case.n

    async def main():
        task = asyncio.ensure_future(
            run_test_suite_async(
                "cancelled",
                [Case(n) for n in range(4)],
                fn,
                max_test_case_concurrency=4,
                quiet=True,
                executor=Ray(address=cluster.address),
            )
        )
        deadline = time.monotonic() + 30
        while len(list(marks.glob("started-*"))) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert len(list(marks.glob("started-*"))) == 4
    time.sleep(5)  # longer than fn: a task still running would have finished by now
    assert list(marks.glob("finished-*")) == []
    assert rows(trialrun_home, "SELECT status FROM runs") == [("interrupted",)]


def test_a_node_killed_mid_suite_loses_nothing_and_stores_each_case_once(
    cluster, tmp_path, trialrun_home
):
    """The cases run on one node (a resource only it has); it is killed with cases in
    flight and replaced by a new node, as a cluster replaces a lost machine: Ray runs the
    lost tasks again there, and the store keeps each case once."""
    doomed = cluster.add_worker(cpus=4, resource="pool")
    attempts = tmp_path / "attempts"
    attempts.mkdir()

    def fn(case):
        (attempts / f"{case.n}-{time.monotonic_ns()}").touch()
        time.sleep(0.5)
        return {"n": case.n, **where()}

    def stored() -> int:
        if not (trialrun_home / "trialrun.db").exists():
            return 0
        return rows(trialrun_home, "SELECT count(*) FROM case_results")[0][0]

    async def main():
        task = asyncio.ensure_future(
            run_test_suite_async(
                "node-lost",
                [Case(n) for n in range(40)],
                fn,
                max_test_case_concurrency=8,
                quiet=True,
                executor=Ray(
                    address=cluster.address,
                    max_retries=3,
                    remote_options={"resources": {"pool": 1}},
                ),
            )
        )
        # Once 12 calls started: some finished, 4 (the node's CPUs) in flight on it.
        deadline = time.monotonic() + 60
        while len(list(attempts.iterdir())) < 12 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not task.done()
        before = rows(trialrun_home, "SELECT hash, output FROM case_results") if stored() else []
        cluster.kill(doomed)  # every case in flight runs on it
        await asyncio.to_thread(cluster.add_worker, 4, "pool")
        return before, await task

    before, result = asyncio.run(main())
    assert len(before) < 40
    errors = [c.error for c in result.cases if c.error]
    assert not errors, errors[:1]
    stored_rows = rows(trialrun_home, "SELECT hash, output FROM case_results")
    assert len(stored_rows) == 40 and len({h for h, _ in stored_rows}) == 40  # each once
    assert set(before) <= set(stored_rows)  # what finished before the loss is kept as it was
    nodes = {json.loads(output)["node"] for _, output in stored_rows}
    assert doomed.node_id in nodes and len(nodes) == 2  # the rest ran on the new node
    ran = [p.name.split("-")[0] for p in attempts.iterdir()]
    assert len(ran) > 40  # the cases in flight on the lost node ran again (Ray's retries)


def test_a_task_lost_without_retries_errors_its_case_naming_the_loss(cluster, tmp_path):
    doomed = cluster.add_worker(cpus=4, resource="doomed")

    def fn(case):
        time.sleep(30 if case.n else 0)
        return case.n

    async def main():
        task = asyncio.ensure_future(
            run_test_suite_async(
                "lost",
                [Case(n) for n in range(2)],
                fn,
                quiet=True,
                executor=Ray(
                    address=cluster.address,
                    max_retries=0,
                    remote_options={"resources": {"doomed": 1}},
                ),
            )
        )
        await asyncio.sleep(8)
        cluster.kill(doomed)
        return await asyncio.wait_for(task, 60)

    result = asyncio.run(main())
    errors = {c.hash: c.error for c in result.cases}
    assert errors["case-0"] is None
    assert "RayTaskLost" in errors["case-1"] and "lost after 0 retries" in errors["case-1"]
    assert f"node ID: {doomed.node_id}" in errors["case-1"]  # Ray's reason names the node


def test_bad_executors_are_refused_before_anything_runs():
    with pytest.raises(SuiteValidationError, match=r"\[bad\] executor must be .*Ray"):
        run_test_suite("bad", [Case(1)], lambda c: c, quiet=True, executor="ray")
    with pytest.raises(ValueError, match="max_retries"):
        Ray(max_retries=-1)
    assert RayTaskLost.__mro__[1] is RuntimeError


AGENT = Path(__file__).resolve().parents[2] / "examples" / "voice_agent" / "agent.py"
AGENT_NUMBER, TRIALRUN_NUMBER, TOKEN = "+15550100", "+15550199", "ray-voice-token"


def test_voice_calls_run_on_ray_workers_and_come_back_judged_and_recorded(cluster, tmp_path):
    """TestRunner(executor=Ray(...)): each call is placed by a worker, through a carrier of
    its own like the runner's, to the example agent; results and recordings come back."""
    import re

    from trialrun.telephony import LoopbackCarrier
    from trialrun.voice import Agent, Scenario, Test, TestRunner
    from trialrun.voice.evaluators import EndedBy, MustSay

    agent = subprocess.Popen(
        [sys.executable, str(AGENT), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TWILIO_AUTH_TOKEN": TOKEN},
    )
    try:
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", agent.stdout.readline())
        assert found, "the example agent did not start"
        book = Scenario(
            "book-on-ray",
            "You want to book an appointment.",
            script=[
                "Hi, I would like to book an appointment please.",
                "Tuesday morning would be great.",
                {"say": "Thank you, that is all. Bye.", "hang_up": True},
            ],
            checks=[MustSay("confirmed"), EndedBy("caller")],
        )

        async def main():
            numbers = {AGENT_NUMBER: f"{found.group(1)}/voice"}
            async with LoopbackCarrier(numbers, auth_token=TOKEN) as carrier:
                runner = TestRunner(
                    carrier=carrier,
                    twilio_phone_number=TRIALRUN_NUMBER,
                    silence_turn=3.0,
                    recordings_dir=tmp_path / "recordings",
                    concurrency=2,
                    quiet=True,
                    executor=Ray(address=cluster.address),
                )
                runner.add_test(Test(book, Agent("alex", "a caller")))
                runner.add_test(Test(book, Agent("sam", "another caller")))
                results = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 240)
                assert runner._server is None  # no call went through this process
                return results

        results = asyncio.run(main())
    finally:
        agent.terminate()
        agent.wait(10)
    for result in results:
        assert result.error is None, result.error
        assert result.passed, [(c.evaluator_id, c.metadata) for c in result.checks]
        assert result.metrics.ended_by == "caller"
        assert any("confirmed" in u.text.lower() for u in result.transcript if u.role == "agent")
        recording = Path(result.recording_path)
        assert recording.parent == tmp_path / "recordings" and recording.stat().st_size > 8000
    assert len({r.call_sid for r in results}) == 2


def test_voice_on_an_executor_refuses_what_cannot_reach_the_workers(cluster, tmp_path):
    from trialrun.telephony import LoopbackCarrier
    from trialrun.voice import Agent, Scenario, Test, TestRunner

    script = Scenario("s", "x", script=[{"say": "Bye.", "hang_up": True}])

    async def run(carrier, **options):
        runner = TestRunner(
            carrier=carrier, quiet=True, executor=Ray(address=cluster.address), **options
        )
        runner.add_test(Test(script, Agent("a", "b")))
        return await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 120)

    async def main():
        # Nothing listens at the agent's URL: the worker says so, naming the URL.
        async with LoopbackCarrier({AGENT_NUMBER: "http://127.0.0.1:9/voice"}) as carrier:
            [unreachable] = await run(carrier)
            with pytest.raises(ValueError, match=r"text_to_speech \(lock\) cannot travel"):
                await run(carrier, text_to_speech=threading.Lock())
            with pytest.raises(ValueError, match="OUTBOUND"):
                runner = TestRunner(
                    carrier=carrier, quiet=True, executor=Ray(address=cluster.address)
                )
                runner.add_test(Test(script, Agent("a", "b")))
                await runner.run_tests(AGENT_NUMBER, type=TestRunner.INBOUND)
        return unreachable

    unreachable = asyncio.run(main())
    assert "http://127.0.0.1:9/voice" in unreachable.error
    assert "cannot be reached from the Ray worker on node 127.0.0.1" in unreachable.error
