"""pytest plugin (entry point `pytest11`): the `trialrun` fixture runs a suite and fails
the test with a readable list of failing cases when any evaluation fails or errors;
`--trialrun-junit PATH` writes JUnit XML of every suite run during the session.

    def test_agent(trialrun):
        trialrun.run(id="agent", test_cases=cases, evaluators=[...], fn=agent)

    async def test_agent_async(trialrun):
        await trialrun.run_async(id="agent", test_cases=cases, evaluators=[...], fn=agent)

Fixtures for voice agents: ``loopback_carrier`` (a ``LoopbackCarrier``), ``call_server`` (a
``CallServer`` on it, number +15550199), ``voice_agent`` (starts an agent process pointed
at the carrier, and stops it) and ``openai_server`` (a scripted OpenAI-compatible server)::

    def test_greets(voice_agent, call_server):
        agent = voice_agent([sys.executable, "agent.py", "--port", "{port}"])
        ...  # await call_server.place_call(agent.number)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest

from trialrun._core import SuiteResult
from trialrun._run import _collectors, run_test_suite, run_test_suite_async


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("trialrun")
    group.addoption(
        "--trialrun-junit",
        metavar="PATH",
        default=None,
        help="write JUnit XML of every trialrun suite run in this session (a testcase per case x evaluator)",
    )


def pytest_configure(config: Any) -> None:
    if config.getoption("--trialrun-junit", None):
        config._trialrun_results = []
        config._trialrun_worker_runs = []  # (store, run id) from pytest-xdist's workers
        _collectors.append(config._trialrun_results)


def _stored_runs(results: Sequence[SuiteResult]) -> list[tuple[str, str]]:
    """(store file, run id) of each recorded run (suites run with record=False are in no
    store and left out)."""
    return [(r.store_path, run_id) for r in results if r.store_path for run_id in r.run_ids]


def pytest_sessionfinish(session: Any) -> None:
    """Under pytest-xdist a worker hands its runs to the controller, which writes the one
    JUnit file."""
    config = session.config
    results = getattr(config, "_trialrun_results", None)
    if results is not None and hasattr(config, "workeroutput"):
        config.workeroutput["trialrun_runs"] = json.dumps(_stored_runs(results))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist (controller): a worker finished; keep the runs it reported."""
    runs = getattr(node.config, "_trialrun_worker_runs", None)
    reported = getattr(node, "workeroutput", {}).get("trialrun_runs")
    if runs is not None and reported:
        runs.extend(tuple(pair) for pair in json.loads(reported))


def pytest_unconfigure(config: Any) -> None:
    results = getattr(config, "_trialrun_results", None)
    if results is None:
        return
    _collectors.remove(results)
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller writes the file
    from trialrun.history import _junit_of_stored

    runs = _stored_runs(results) + config._trialrun_worker_runs
    with open(config.getoption("--trialrun-junit"), "w", encoding="utf-8") as f:
        f.write(_junit_of_stored(runs))


def assert_suite_passed(result: SuiteResult, limit: int = 20) -> None:
    """Fail the current test, listing failing cases and their metadata, unless it passed."""
    __tracebackhide__ = True
    try:
        result.assert_passed(limit)
    except AssertionError as e:
        pytest.fail(str(e), pytrace=False)


class SuiteRunner:
    """What the `trialrun` fixture gives: run a suite and assert it passed."""

    def run(self, *args: Any, check: bool = True, **kwargs: Any) -> SuiteResult:
        __tracebackhide__ = True
        kwargs.setdefault("quiet", True)
        result = run_test_suite(*args, **kwargs)
        if check:
            assert_suite_passed(result)
        return result

    async def run_async(self, *args: Any, check: bool = True, **kwargs: Any) -> SuiteResult:
        __tracebackhide__ = True
        kwargs.setdefault("quiet", True)
        result = await run_test_suite_async(*args, **kwargs)
        if check:
            assert_suite_passed(result)
        return result


@pytest.fixture
def trialrun() -> SuiteRunner:
    """Runs suites inside a test; a failing evaluation fails the test."""
    return SuiteRunner()


# --- voice agents ---------------------------------------------------------------------

#: The number ``voice_agent`` gives an agent on the loopback carrier, and the call server's.
AGENT_NUMBER = "+15550100"
CALL_SERVER_NUMBER = "+15550199"


@pytest.fixture
def loopback_carrier() -> Iterator[Any]:
    """A ``LoopbackCarrier`` with no numbers yet (``voice_agent`` adds its agents'), stopped
    after the test."""
    from trialrun.telephony import LoopbackCarrier

    carrier = LoopbackCarrier()
    try:
        yield carrier
    finally:
        carrier.stop()


@pytest.fixture
def call_server(loopback_carrier: Any) -> Iterator[Any]:
    """trialrun's end of calls (a ``CallServer``) on the ``loopback_carrier``, calling from
    +15550199; stopped after the test."""
    from trialrun.telephony import CallServer

    server = CallServer(carrier=loopback_carrier, phone_number=CALL_SERVER_NUMBER)
    try:
        yield server
    finally:
        server.stop()


class VoiceAgent:
    """An agent process ``voice_agent`` started: its ``url`` (http://127.0.0.1:PORT),
    ``webhook_url``, ``number`` on the carrier and ``process``; ``output()`` is what it
    printed so far (stdout and stderr)."""

    def __init__(
        self, process: subprocess.Popen[bytes], port: int, webhook_url: str, number: str, log: Any
    ) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.webhook_url = webhook_url
        self.number = number
        self._log = log

    def output(self) -> str:
        if self._log.closed:
            return ""
        self._log.flush()
        with open(self._log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the agent's process group: SIGTERM, then SIGKILL after ``timeout`` s."""
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait()
        else:
            # The leader is gone; children it left in its group go too.
            _signal_group(self.process, signal.SIGKILL)
        self._log.close()
        try:
            os.unlink(self._log.name)
        except OSError:
            pass

    def __repr__(self) -> str:
        return f"VoiceAgent(url={self.url!r}, number={self.number!r})"


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # its own session: the group id is its pid
    except (ProcessLookupError, PermissionError):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` (any status: a webhook that refuses an
    unsigned request is up)."""
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False
    return True


VoiceAgentFactory = Callable[..., VoiceAgent]


@pytest.fixture
def voice_agent(loopback_carrier: Any) -> Iterator[VoiceAgentFactory]:
    """Starts voice-agent processes for the test: ``voice_agent(command, env=None, *,
    number="+15550100", webhook_path="/voice", ready_timeout=30.0, cwd=None)``.

    ``{port}`` in the command (a list of arguments) is replaced by a free loopback port,
    also given as ``PORT``. The agent's environment is the test's plus
    ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN`` and ``TWILIO_API_BASE`` of the
    ``loopback_carrier`` (so it checks signatures and calls the REST API there) and ``env``.
    It returns once ``http://127.0.0.1:{port}{webhook_path}`` answers, with the number
    pointed at it on the carrier; an agent that exits or does not answer in time fails the
    test with what it printed. Each agent's process group is stopped after the test."""
    started: list[VoiceAgent] = []

    def start(
        command: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        number: str = AGENT_NUMBER,
        webhook_path: str = "/voice",
        ready_timeout: float = 30.0,
        cwd: str | os.PathLike[str] | None = None,
    ) -> VoiceAgent:
        __tracebackhide__ = True
        if isinstance(command, str) or not command:
            raise TypeError("voice_agent takes the command as a list of arguments")
        port = _free_port()
        args = [str(a).replace("{port}", str(port)) for a in command]
        full_env = dict(os.environ)
        full_env.update(
            PORT=str(port),
            TWILIO_ACCOUNT_SID=loopback_carrier.account_sid,
            TWILIO_AUTH_TOKEN=loopback_carrier.auth_token,
            TWILIO_API_BASE=loopback_carrier.api_base,
        )
        full_env.update(env or {})
        log = tempfile.NamedTemporaryFile(prefix="voice-agent-", suffix=".log", delete=False)
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
        webhook_url = f"http://127.0.0.1:{port}{webhook_path}"
        agent = VoiceAgent(process, port, webhook_url, number, log)
        started.append(agent)
        deadline = time.monotonic() + ready_timeout
        while not _answers(webhook_url):
            if process.poll() is not None:
                pytest.fail(
                    f"voice agent {args!r} exited with code {process.returncode} before its "
                    f"webhook {webhook_url} answered; it printed:\n{agent.output()[-4000:]}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"voice agent {args!r}: its webhook {webhook_url} did not answer within "
                    f"{ready_timeout:g} s; it printed:\n{agent.output()[-4000:]}",
                    pytrace=False,
                )
            time.sleep(0.1)
        loopback_carrier.set_number(number, webhook_url)
        return agent

    try:
        yield start
    finally:
        for agent in started:
            agent.stop()


@pytest.fixture
def openai_server() -> Iterator[Any]:
    """A scripted OpenAI-compatible server on 127.0.0.1 (``trialrun.openai_server``): give
    its ``url`` as the ``base_url``, script answers with ``reply(...)``, read ``requests``."""
    from trialrun.openai_server import OpenAIServer

    server = OpenAIServer()
    try:
        yield server
    finally:
        server.close()
