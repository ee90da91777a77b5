"""The pytest plugin: the `trialrun` fixture runs a suite and fails the test with a
readable list of failing cases."""

from __future__ import annotations

import sqlite3
import sys
import textwrap
import time
from array import array
from pathlib import Path

import pytest

EXAMPLE_AGENT = Path(__file__).resolve().parent.parent / "examples" / "voice_agent" / "agent.py"

CONFTEST = """
import pytest

@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALRUN_HOME", str(tmp_path / "inner-home"))
"""

SUITE = """
import asyncio
import dataclasses
import os

from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold


@dataclasses.dataclass
class Sum(BaseTestCase):
    x: int
    y: int
    expected: int

    def hash(self):
        return f"sum-{self.x}-{self.y}"


class IsRight(BaseTestEvaluator):
    id = "is-right"

    def evaluate_test_case(self, test_case, output):
        ok = output == test_case.expected
        return Evaluation(
            score=1 if ok else 0,
            threshold=Threshold(gte=1),
            metadata=None if ok else {"reason": f"wanted {test_case.expected}, got {output}"},
        )


def adder(case):
    return case.x + case.y


async def async_adder(case):
    await asyncio.sleep(0)
    return case.x + case.y


GOOD = [Sum(1, 2, 3), Sum(2, 2, 4)]
BAD = [Sum(1, 2, 3), Sum(2, 2, 5), Sum(3, 3, 6)]


def store_in(tmp_path, result):
    assert result.store_path == str(tmp_path / "inner-home" / "trialrun.db")
    assert os.environ["TRIALRUN_HOME"] == str(tmp_path / "inner-home")
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(
        """
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        """
    )
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(suite_defs=SUITE)
    return pytester


def write_test(pytester: pytest.Pytester, body: str) -> None:
    pytester.makepyfile(test_inner="from suite_defs import *\n\n" + textwrap.dedent(body))


def test_failing_evaluation_fails_the_test_and_lists_the_case(inner):
    write_test(
        inner,
        """
        def test_sums(trialrun):
            trialrun.run(id="sums", test_cases=BAD, evaluators=[IsRight()], fn=adder)
        """,
    )
    result = inner.runpytest("-p", "asyncio")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "sum-2-2" in out  # the failing case's hash
    assert "wanted 5, got 4" in out  # and its metadata
    assert "is-right" in out
    assert "sum-1-2" not in out and "sum-3-3" not in out  # passing cases are not listed


def test_passing_suite_passes_the_test(inner):
    write_test(
        inner,
        """
        def test_sums(trialrun, tmp_path):
            result = trialrun.run(id="sums", test_cases=GOOD, evaluators=[IsRight()], fn=adder)
            assert result.passed
            assert [c.output for c in result.cases] == [3, 4]
            store_in(tmp_path, result)
        """,
    )
    result = inner.runpytest("-p", "asyncio")
    result.assert_outcomes(passed=1)


def test_async_run_fails_and_passes(inner):
    write_test(
        inner,
        """
        async def test_good(trialrun, tmp_path):
            result = await trialrun.run_async(id="good", test_cases=GOOD, evaluators=[IsRight()], fn=async_adder)
            assert result.passed
            store_in(tmp_path, result)

        async def test_bad(trialrun):
            await trialrun.run_async(id="bad", test_cases=BAD, evaluators=[IsRight()], fn=async_adder)
        """,
    )
    result = inner.runpytest("-p", "asyncio")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "test_bad" in out
    assert "sum-2-2" in out and "wanted 5, got 4" in out


def test_sync_run_inside_an_async_test(inner):
    write_test(
        inner,
        """
        async def test_blocking_in_loop(trialrun):
            result = trialrun.run(id="in-loop", test_cases=GOOD, evaluators=[IsRight()], fn=async_adder)
            assert result.passed
        """,
    )
    inner.runpytest("-p", "asyncio").assert_outcomes(passed=1)


def test_check_false_returns_the_result_without_failing(inner):
    write_test(
        inner,
        """
        def test_inspect(trialrun):
            result = trialrun.run(id="sums", test_cases=BAD, evaluators=[IsRight()], fn=adder, check=False)
            assert result.passed is False
            assert [c.hash for c in result.failures()] == ["sum-2-2"]
        """,
    )
    inner.runpytest("-p", "asyncio").assert_outcomes(passed=1)


def test_fn_raising_fails_the_test_with_its_error(inner):
    write_test(
        inner,
        """
        def broken(case):
            raise RuntimeError(f"agent crashed on {case.x}")

        def test_broken(trialrun):
            trialrun.run(id="broken", test_cases=GOOD, evaluators=[IsRight()], fn=broken)
        """,
    )
    result = inner.runpytest("-p", "asyncio")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "sum-1-2" in out and "agent crashed on 1" in out


def test_inner_runs_use_their_own_store(inner, trialrun_home):
    write_test(
        inner,
        """
        import pathlib

        def test_sums(trialrun):
            result = trialrun.run(id="inner-only", test_cases=GOOD, evaluators=[IsRight()], fn=adder)
            pathlib.Path("inner_store.txt").write_text(result.store_path)
        """,
    )
    inner.runpytest("-p", "asyncio").assert_outcomes(passed=1)
    store = (inner.path / "inner_store.txt").read_text()
    assert "inner-home" in store
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT suite_id, status FROM runs").fetchall() == [
            ("inner-only", "completed")
        ]
        assert conn.execute("SELECT count(*) FROM cases").fetchone()[0] == len(GOOD_HASHES)
    # nothing leaked into the outer test's store
    outer = trialrun_home / "trialrun.db"
    assert store != str(outer)
    if outer.exists():
        with sqlite3.connect(outer) as conn:
            assert (
                conn.execute("SELECT count(*) FROM runs WHERE suite_id = 'inner-only'").fetchone()[
                    0
                ]
                == 0
            )


GOOD_HASHES = ["sum-1-2", "sum-2-2"]


def test_validation_error_surfaces_in_the_test(inner):
    write_test(
        inner,
        """
        def test_dupes(trialrun):
            trialrun.run(id="dupes", test_cases=[Sum(1, 2, 3), Sum(1, 2, 4)], evaluators=[IsRight()], fn=adder)
        """,
    )
    result = inner.runpytest("-p", "asyncio")
    result.assert_outcomes(failed=1)
    assert "SuiteValidationError" in result.stdout.str()
    assert "test_cases[1]" in result.stdout.str()


# --- fixtures for voice agents ------------------------------------------------------------

ENV_AGENT = '''
"""A stand-in agent: its webhook answers with the environment it was started with, and it
leaves a child in its process group, whose pid it writes beside itself."""
import json, os, subprocess, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open(sys.argv[2], "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
print("agent up", flush=True)

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        keys = ["PORT", "EXTRA", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_BASE"]
        body = json.dumps({k: os.environ.get(k) for k in keys}).encode()
        self.send_response(200 if self.path == "/hook" else 404)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''


def gone(pid: int) -> bool:
    """The process has exited (a zombie not yet reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_voice_agent_starts_the_agent_pointed_at_the_carrier_and_stops_its_group(inner):
    inner.makepyfile(env_agent=ENV_AGENT)
    pids = inner.path / "pids.txt"
    write_test(
        inner,
        f"""
        import json, sys, urllib.request

        def test_agent(voice_agent, loopback_carrier, call_server):
            agent = voice_agent(
                [sys.executable, "env_agent.py", "{{port}}", {str(pids)!r}],
                env={{"EXTRA": "yes"}},
                number="+15550123",
                webhook_path="/hook",
            )
            seen = json.load(urllib.request.urlopen(agent.webhook_url))
            assert seen == {{
                "PORT": str(agent.port),
                "EXTRA": "yes",
                "TWILIO_ACCOUNT_SID": loopback_carrier.account_sid,
                "TWILIO_AUTH_TOKEN": loopback_carrier.auth_token,
                "TWILIO_API_BASE": loopback_carrier.api_base,
            }}
            assert agent.webhook_url == f"http://127.0.0.1:{{agent.port}}/hook"
            assert "agent up" in agent.output()
            assert call_server.carrier is loopback_carrier
            assert call_server.phone_number == "+15550199"
        """,
    )
    result = inner.runpytest("-p", "asyncio")
    result.assert_outcomes(passed=1)
    agent_pid, child_pid = map(int, pids.read_text().split())
    # The agent and the child it left in its group were both stopped after the test.
    for pid in (agent_pid, child_pid):
        for _ in range(50):
            if gone(pid):
                break
            time.sleep(0.1)
        assert gone(pid), f"process {pid} still runs"


def test_an_agent_that_exits_or_never_answers_fails_the_test_with_what_it_printed(inner):
    write_test(
        inner,
        """
        import sys

        def test_exits(voice_agent):
            voice_agent([sys.executable, "-c", "print('OPENAI_API_KEY is not set'); raise SystemExit(3)"])

        def test_never_answers(voice_agent):
            voice_agent([sys.executable, "-c", "import time; print('thinking', flush=True); time.sleep(60)"],
                        ready_timeout=1)
        """,
    )
    result = inner.runpytest("-p", "asyncio")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "exited with code 3 before its webhook" in out
    assert "OPENAI_API_KEY is not set" in out
    assert "did not answer within 1 s" in out and "thinking" in out


def test_openai_server_answers_as_scripted_and_records_what_it_received(inner):
    write_test(
        inner,
        """
        import json
        import httpx

        def test_model(openai_server):
            openai_server.reply(tool_calls=[("book", {"day": "Tuesday"})])
            openai_server.reply(json={"booked": True, "day": "Tuesday"})
            openai_server.reply("Booked for Tuesday.")
            url = openai_server.url + "/chat/completions"
            auth = {"Authorization": "Bearer sk-test"}
            first = httpx.post(url, headers=auth, json={
                "model": "m", "messages": [{"role": "user", "content": "Tuesday please"}],
                "tools": [{"type": "function", "function": {"name": "book", "parameters": {}}}],
            }).json()
            call = first["choices"][0]["message"]["tool_calls"][0]
            assert first["choices"][0]["finish_reason"] == "tool_calls"
            assert (call["function"]["name"], json.loads(call["function"]["arguments"])) == ("book", {"day": "Tuesday"})
            second = httpx.post(url, json={
                "model": "m", "messages": [{"role": "tool", "tool_call_id": call["id"], "content": "ok"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "b", "schema": {}}},
            }).json()
            assert json.loads(second["choices"][0]["message"]["content"]) == {"booked": True, "day": "Tuesday"}
            with httpx.stream("POST", url, json={"model": "m", "messages": [], "stream": True}) as r:
                events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
            assert events[-1] == "[DONE]"
            text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
            assert text == "Booked for Tuesday."
            # Nothing left to answer: a 500 that says so.
            fourth = httpx.post(url, json={"model": "m", "messages": []})
            assert fourth.status_code == 500 and "no answer left" in fourth.text
            assert len(openai_server.requests) == 4 and openai_server.pending == 0
            headers, body = openai_server.requests[0]
            assert headers["authorization"] == "Bearer sk-test"
            assert body["tools"][0]["function"]["name"] == "book"
            assert openai_server.bodies[1]["messages"][0]["role"] == "tool"
        """,
    )
    result = inner.runpytest("-p", "asyncio")
    result.assert_outcomes(passed=1)


async def test_the_fixtures_call_the_example_voice_agent(voice_agent, call_server):
    """Used directly: the example agent started by the fixture answers a call placed by
    the call server and greets the caller; its process is stopped afterwards."""
    agent = voice_agent([sys.executable, str(EXAMPLE_AGENT), "--port", "{port}"])
    call = await call_server.place_call(agent.number)
    heard_ms = 0
    async for event in call:
        if event.kind == "audio" and max(map(abs, array("h", event.audio or b"\0\0"))) > 1000:
            heard_ms += 20
            if heard_ms >= 400:  # the greeting is coming through
                call.hang_up()
        elif event.kind == "ended":
            break
    assert heard_ms >= 400
    assert event.reason == "hung_up"


def test_junit_under_pytest_xdist_holds_every_workers_suites(inner):
    """With pytest-xdist each worker runs suites in a process of its own (here each test
    has a store of its own too); the controller writes one JUnit file with them all."""
    write_test(
        inner,
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_sums(trialrun, n):
            trialrun.run(id=f"sums-{n}", test_cases=GOOD, evaluators=[IsRight()], fn=adder)
        """,
    )
    junit = inner.path / "out.xml"
    result = inner.runpytest_subprocess("-p", "asyncio", "-n", "2", f"--trialrun-junit={junit}")
    result.assert_outcomes(passed=4)
    import xml.etree.ElementTree as ET

    root = ET.parse(junit).getroot()
    suites = sorted(s.get("name") for s in root.iter("testsuite"))
    assert suites == ["sums-0", "sums-1", "sums-2", "sums-3"], ET.tostring(root)
    assert root.get("tests") == "8"  # 4 suites x 2 cases x 1 evaluator
