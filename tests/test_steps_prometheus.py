"""prometheus-test's projects on trialrun.steps: the package's real step API (runner and
worker), its documented one and the older Context dialect, run against real worker
processes on loopback ports, the embedded MongoDB wire-protocol server and a middle
server of the test's own that checks every signature it receives.

The project in steps_projects/builder is modelled on real projects that use
prometheus-test (none found carries a licence that allows copying it as a fixture):
TestingRabbit-pixel/prometheus-test's example/tests (stages worker_task,
worker_submission, worker_audit; steps.py with functools.partial; workers.json with
keypairs) and the Koii builder task's tests/e2e.py (a post_load_callback that reads the
global runner's config and queries MongoDB by taskId). Its worker (main.py) is a stub
answering the same endpoints, with the stdlib in place of Flask.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from trialrun.steps import (
    EXIT_CONFIG,
    EXIT_STEP_FAILED,
    StepsConfigError,
    StepsConfigWarning,
    TestRunner,
    TestStep,
)
from trialrun.steps.utils import (
    SigningKey,
    create_signature,
    load_keypair,
    public_key_of,
    verify_signature,
)
from trialrun.steps.workers import Response

BUILDER = Path(__file__).resolve().parent / "steps_projects" / "builder"
STEP_NAMES = ["worker1_task", "worker2_task", "worker1_submission", "worker2_audit"]

# --- base58 and the package's signature, written independently of trialrun ------------

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _ALPHABET[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    n = 0
    for c in text:
        n = n * 58 + _ALPHABET.index(c)
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def package_signature(seed: bytes, payload: dict[str, Any]) -> str:
    """What prometheus-test's utils.create_signature returns (PyNaCl, as it used)."""
    message = json.dumps(payload, sort_keys=True).encode()
    signed = nacl.signing.SigningKey(seed).sign(message)
    return b58encode(signed.signature + message)


def open_signature(signature: str, public_key: str) -> dict[str, Any]:
    """The payload, checked with PyNaCl against the base58 public key."""
    raw = b58decode(signature)
    nacl.signing.VerifyKey(b58decode(public_key)).verify(raw[64:], raw[:64])
    return json.loads(raw[64:])


# --- the middle server: records what the stages submit, checks their signatures ---------


class MiddleServer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.approve = True
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    signed = open_signature(body["signature"], body["stakingKey"])
                except Exception as e:  # a bad signature is the client's failure
                    return self.reply(401, {"success": False, "message": f"bad signature: {e}"})
                kind = self.path.rsplit("/", 1)[-1]
                owner.calls.append((kind, signed))
                if kind == "audit":
                    return self.reply(200, {"success": True, "approved": owner.approve})
                self.reply(200, {"success": True})

            def reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [payload for k, payload in self.calls if k == kind]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def middle():
    server = MiddleServer()
    yield server
    server.close()


@pytest.fixture
def builder(tmp_path, middle, monkeypatch):
    """A copy of the builder project whose config points at the middle server."""
    monkeypatch.delenv("MONGO_URI", raising=False)
    project = tmp_path / "builder"
    shutil.copytree(BUILDER, project, ignore=shutil.ignore_patterns("__pycache__"))
    config = project / "tests" / "config.yaml"
    config.write_text(
        config.read_text().replace("http://127.0.0.1:9", middle.url),
    )
    return project


def load_tests_package(project: Path, name: str) -> Any:
    """Imports project/tests as a package named `name` and returns its module `sub`."""
    spec = importlib.util.spec_from_file_location(
        name, project / "tests" / "__init__.py", submodule_search_locations=[str(project / "tests")]
    )
    assert spec and spec.loader
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return package


@pytest.fixture
def builder_tests(builder):
    name = f"builder_tests_{os.getpid()}_{id(builder)}"
    load_tests_package(builder, name)
    yield lambda sub: importlib.import_module(f"{name}.{sub}")
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]


def add_uuids(db: Any) -> None:
    """The e2e.py callback's work, for runs built in the test: uuids by taskId."""
    for todo in db.todos.find({"taskId": "builder-e2e"}):
        db.todos.update_one({"_id": todo["_id"]}, {"$set": {"uuid": f"uuid-{todo['title'][:1]}"}})


def outcomes(result: Any) -> list[tuple[str, int, str]]:
    return [(s.name, s.round, s.outcome) for s in result.steps]


def keys_of(project: Path, worker: str, role: str) -> tuple[bytes, str]:
    """(seed, base58 public key) of a worker's key file: the project's, else generated."""
    own = project / "tests" / "keys" / f"{worker}_{role}.json"
    path = own if own.exists() else project / "tests" / "data" / "keys" / f"{worker}_{role}.json"
    raw = bytes(json.loads(path.read_text()))
    return raw[:32], b58encode(raw[32:])


def check_middle_server_saw_the_rounds(middle: MiddleServer, project: Path) -> None:
    """Rounds 1 and 2 each: one submission signed by worker1's key file, one audit signed
    by worker2's generated key; round 3 has no todo and submits nothing."""
    _, worker1 = keys_of(project, "worker1", "staking")
    _, worker2 = keys_of(project, "worker2", "staking")
    submits, audits = middle.of("submit"), middle.of("audit")
    assert [(s["roundNumber"], s["stakingKey"], s["githubUsername"]) for s in submits] == [
        (1, worker1, "alice"),
        (2, worker1, "alice"),
    ]
    assert [s["prUrl"] for s in submits] == [
        "https://example.invalid/worker1/pull/1",
        "https://example.invalid/worker1/pull/2",
    ]
    assert [(a["roundNumber"], a["stakingKey"], a["submitterKey"]) for a in audits] == [
        (1, worker2, worker1),
        (2, worker2, worker1),
    ]


# --- the real project layout, run as its users run it ------------------------------------


def test_real_api_project_runs_as_python_m_e2e_with_only_imports_changed(
    builder, middle, subprocess_env
):
    """`python -m tests.e2e --reset`: prepare(runner, worker)/execute(runner, worker, data)
    with partial and validate; runner.get/set(scope="round") with dotted keys; the global
    runner's config in post_load_callback; todos queried by taskId; three rounds counted
    from todos; signatures from a key file and from generated keys; worker.get(path)."""
    env = {k: v for k, v in subprocess_env.items() if k != "MONGO_URI"}

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", *args],
            cwd=builder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    done = run("tests.e2e", "--reset")
    assert "3 round(s): the task's documents in 'todos' plus one" in done.stderr
    assert "WORKER2_STAKING_KEYPAIR is not set; using a generated test key" in done.stderr
    assert "WORKER1_STAKING_KEYPAIR" not in done.stderr  # the project's file is used
    assert "round 3 worker2_audit [worker2]: passed" in done.stderr
    check_middle_server_saw_the_rounds(middle, builder)
    state = json.loads((builder / "tests" / "data" / "test_state.json").read_text())
    assert state["finished"] and state["round"] == 3
    # prometheus-test's state: every round's values, kept by round number.
    assert state["rounds"]["1"]["pr_urls"] == {
        "worker1": "https://example.invalid/worker1/pull/1",
        "worker2": "https://example.invalid/worker2/pull/1",
    }
    assert state["rounds"]["2"]["submission_data"]["worker1"]["roundNumber"] == 2
    assert state["global_state"]["audited"] == 2

    # The same project under the CLI (argparse in e2e.py sees no options there); the
    # generated keys are kept, so the second run signs with the same ones.
    middle.calls.clear()
    run("trialrun", "steps", "tests/e2e.py", "--reset")
    check_middle_server_saw_the_rounds(middle, builder)


# --- each dialect, in process --------------------------------------------------------------


def check_audits(runner, worker, data):
    """A last step (real API, no prepare): what the audits left in MongoDB."""
    db = runner.mongo_client[runner.config.mongodb["database"]]
    audits = list(db.audits.find({"taskId": runner.config.task_id}, {"_id": 0}))
    todos = list(db.todos.find({}, {"_id": 0, "taskId": 1, "uuid": 1}))
    return {"success": True, "audits": len(audits), "todos": todos}


@pytest.mark.parametrize("dialect", ["real", "context", "documented"])
def test_each_dialect_runs_the_project_over_three_rounds(builder, builder_tests, middle, dialect):
    if dialect == "real":
        steps = builder_tests("steps").steps
    else:
        steps = getattr(builder_tests("steps_dialects"), f"{dialect}_steps")
    assert {s.dialect for s in steps} == {"runner" if dialect == "real" else "context"}
    steps = [*steps, TestStep("check_audits", "", None, check_audits, "worker1")]
    config = builder / "tests" / "config.yaml"
    runner = TestRunner(steps, config, {"post_load_callback": add_uuids}, quiet=True)
    result = runner.run(force_reset=True)
    assert result.passed, result.summary()
    assert result.finished and [s.round for s in result.steps][-1] == 3
    check_middle_server_saw_the_rounds(middle, builder)
    last = result.steps[-1].output
    assert last["audits"] == 2
    # Every loaded document was stamped with the task's id; post_load_callback's uuids stay.
    assert sorted(t["uuid"] for t in last["todos"]) == ["uuid-1", "uuid-2"]
    assert {t["taskId"] for t in last["todos"]} == {"builder-e2e"}
    if dialect == "documented":  # round 3 has no todo: its steps skip
        assert [o for n, r, o in outcomes(result) if r == 3][:4] == ["skipped"] * 4


# --- failures: where the package fails, trialrun fails ------------------------------------


def test_a_result_without_success_fails_the_step_and_a_rerun_resumes(builder, builder_tests):
    """Regression: execute returning {"success": False, "error": ...} passed silently.
    The worker's model call fails in round 2; the step fails with the worker's error, the
    run stops there; once the worker recovers, the rerun resumes at that step."""
    steps = builder_tests("steps").steps
    config = builder / "tests" / "config.yaml"
    flag = builder / "fail_worker1"  # worker1's FAIL_FLAG (workers.json)
    arm = TestStep("arm", "", None, functools.partial(_arm, flag), "worker2")
    first = TestRunner(
        [steps[0], arm, *steps[1:]], config, {"post_load_callback": add_uuids}, quiet=True
    )
    result = first.run(force_reset=True)
    assert outcomes(result)[-1] == ("worker1_task", 2, "failed")
    assert result.steps[-1].error == "Step worker1_task failed: the model timed out"
    assert result.exit_code == EXIT_STEP_FAILED and not result.finished
    # The failed step's partial results are not taken as passed: no PR for round 2.
    state = json.loads((builder / "tests" / "data" / "test_state.json").read_text())
    assert "pr_urls" not in state["round_state"]

    flag.unlink()
    again = TestRunner(first.steps, config, {"post_load_callback": add_uuids}, quiet=True)
    result = again.run()
    assert result.passed, result.summary()
    assert outcomes(result)[0] == ("worker1_task", 2, "passed")
    assert result.finished


def _arm(flag: Path, runner: Any, worker: Any, data: Any) -> dict[str, Any]:
    """After round 1's first step: make worker1's next task fail."""
    if runner.current_round == 1:
        flag.write_text("fail")
    return {"success": True}


def test_results_the_package_fails_fail(builder, builder_tests, middle):
    """execute returning None (the package calls result.get: AttributeError), a result
    with success False and a message, and validate's assertion: each fails its step."""
    config = builder / "tests" / "config.yaml"

    def returns_none(runner, worker, data):
        return None

    def says_no(runner, worker, data):
        return {"success": False, "message": "no eligible todos"}

    for execute, expected in [
        (returns_none, "execute returned None; a result with a truthy 'success' is required"),
        (says_no, "Step s failed: no eligible todos"),
    ]:
        result = TestRunner([TestStep("s", "", None, execute, "worker1")], config, quiet=True).run(
            force_reset=True
        )
        assert outcomes(result) == [("s", 1, "failed")]
        assert expected in result.steps[0].error

    # The audit's validate rejects when the middle server does not approve.
    middle.approve = False
    steps = builder_tests("steps").steps
    result = TestRunner(steps, config, {"post_load_callback": add_uuids}, quiet=True).run(
        force_reset=True
    )
    assert outcomes(result)[-1] == ("worker2_audit", 1, "failed")
    assert "the audit rejected the submission" in result.steps[-1].error


def test_a_documented_step_returning_success_false_fails(builder):
    config = builder / "tests" / "config.yaml"

    def execute(context, data):
        return {"success": False, "error": "quota exceeded"}

    result = TestRunner([TestStep("s", "", None, execute, "worker1")], config, quiet=True).run()
    assert outcomes(result) == [("s", 1, "failed")]
    assert result.steps[0].error == "Step s failed: quota exceeded"


def test_env_vars_reading_an_unset_variable_fail_before_anything_starts(builder):
    workers = builder / "tests" / "workers.json"
    data = json.loads(workers.read_text())
    data["worker2"]["env_vars"]["GITHUB_TOKEN"] = "WORKER2_GITHUB_TOKEN"
    workers.write_text(json.dumps(data))
    step = TestStep("s", "", None, lambda runner, worker, data: {"success": True}, "worker1")
    result = TestRunner([step], builder / "tests" / "config.yaml", quiet=True).run()
    assert result.exit_code == EXIT_CONFIG and result.steps == []
    assert "worker 'worker2': env_vars read variables that are not set" in result.error
    assert "GITHUB_TOKEN (from WORKER2_GITHUB_TOKEN)" in result.error


def test_a_missing_rounds_collection_is_a_config_error(builder):
    config = builder / "tests" / "config.yaml"
    config.write_text(config.read_text() + "rounds_collection: rounds\n")
    step = TestStep("s", "", None, lambda runner, worker, data: {"success": True}, "worker1")
    result = TestRunner([step], config, quiet=True).run()
    assert result.exit_code == EXIT_CONFIG, result.summary()
    assert "rounds_collection: collection 'rounds' does not exist in 'builder247'" in result.error


# --- signatures: which API a step is written against ---------------------------------------


def real_prepare(runner, worker):
    return {}


def real_execute(runner, worker, data):
    return {"success": True}


def real_validate(runner, result):
    assert result["success"]


def three_args(a, b, c):
    return None


def test_the_real_api_that_raised_typeerror_runs(builder):
    """Regression: prepare(runner, worker) was called as prepare(context) and raised
    TypeError: missing 1 required positional argument: 'worker'."""

    def prepare_step1(runner, worker):
        return {"task_id": runner.config.task_id, "name": worker.get("name")}

    def execute_step1(runner, worker, prepare_data):
        response = worker.get("/submission/1")  # the worker answers 404: no PR yet
        return {"success": True, "data": prepare_data, "status": response.status_code}

    step = TestStep("step1", "", prepare_step1, execute_step1, "worker1")
    result = TestRunner([step], builder / "tests" / "config.yaml", quiet=True).run()
    assert result.passed, result.summary()
    assert result.steps[0].output["data"] == {"task_id": "builder-e2e", "name": "worker1"}
    assert result.steps[0].output["status"] == 404


def test_signatures_decide_the_dialect_through_partial():
    assert TestStep("a", "", real_prepare, real_execute, "w").dialect == "runner"
    # prometheus-test's positional order (its dataclass's): name, description, worker, ...
    step = TestStep("a", "", "w", real_prepare, real_execute, real_validate)
    assert (step.worker, step.prepare, step.execute, step.validate) == (
        "w",
        real_prepare,
        real_execute,
        real_validate,
    )
    assert TestStep("b", "", lambda context: 1, lambda context, data: 2, "w").dialect == "context"
    bound = functools.partial(three_args, "x")  # (b, c) left
    assert TestStep("c", "", bound, real_execute, "w").dialect == "runner"
    kw = functools.partial(lambda runner, worker, target_name: 0, target_name="worker1")
    assert TestStep("d", "", kw, real_execute, "w").dialect == "runner"

    async def prepare(context, target_name):
        return None

    assert (
        TestStep("e", "", functools.partial(prepare, target_name="w1"), lambda c, d: 0, "w").dialect
        == "context"
    )


def test_a_function_that_fits_no_api_is_refused_naming_its_file_and_line():
    with pytest.raises(StepsConfigError) as e:
        TestStep("s", "", three_args, real_execute, "worker1")
    message = str(e.value)
    assert f"{__name__}.three_args ({__file__}:{three_args.__code__.co_firstlineno})" in message
    assert "prepare(context) or prepare(runner, worker)" in message
    assert "(a, b, c)" in message

    with pytest.raises(StepsConfigError) as e:
        TestStep("s", "", functools.partial(real_execute, 1, 2, 3), real_execute, "worker1")
    assert "partial(" in str(e.value) and "real_execute" in str(e.value)

    # Each fits an API, but not the same one.
    with pytest.raises(StepsConfigError, match="does not go with the step's other functions"):
        TestStep("s", "", real_prepare, lambda context, data: 0, "worker1")


# --- what the worker and runner objects offer ---------------------------------------------


def test_worker_http_helpers_without_requests(builder, monkeypatch):
    """Without requests installed, worker.get(path)/post return an object with the same
    common attributes."""
    monkeypatch.setitem(sys.modules, "requests", None)
    seen = {}

    def execute(runner, worker, data):
        missing = worker.get("/submission/7")
        posted = worker.post("/worker-task/1", json={"signature": "x", "stakingKey": "y"})
        seen["types"] = (type(missing), type(posted))
        return {
            "success": True,
            "missing": [missing.status_code, missing.ok, missing.json()["error"]],
            "posted": [posted.status_code, posted.json()["error"].startswith("bad signature")],
            "repo": worker.get("github_repo"),
            "database": worker.database_path == worker.get_env("DATABASE_PATH"),
            "port": worker.get("port") == worker.port,
        }

    result = TestRunner(
        [TestStep("s", "", None, execute, "worker1")], builder / "tests" / "config.yaml", quiet=True
    ).run()
    assert result.passed, result.summary()
    assert seen["types"] == (Response, Response)
    out = result.steps[0].output
    assert out["missing"] == [404, False, "no submission"]
    assert out["posted"] == [401, True]
    assert (out["repo"], out["port"], out["database"]) == ("builder-e2e-fork-1", True, True)


def test_runner_get_set_scopes_state_and_config(builder):
    config = builder / "tests" / "config.yaml"
    config.write_text(config.read_text() + "max_rounds: 2\nrepo_owner: koii\n")

    def first(runner, worker, data):
        runner.set("pr_urls.worker1", f"pr-{runner.current_round}")  # round, the default
        runner.set("totals.rounds", runner.current_round, scope="global")
        with pytest.raises(ValueError, match="Invalid scope"):
            runner.set("x", 1, scope="forever")
        db = runner.mongo_client[runner.config.mongodb["database"]]
        return {
            "success": True,
            "last": runner.get("last_completed_step"),
            # A collection without a data_file exists and starts empty.
            "audits": ["audits" in db.list_collection_names(), db.audits.count_documents({})],
        }

    def second(runner, worker, data):
        previous = runner.state["rounds"].get(str(runner.current_round - 1), {})
        return {
            "success": True,
            "round": runner.get("pr_urls.worker1"),
            "global": runner.get("totals.rounds"),
            "previous": previous.get("pr_urls"),
            "config": [runner.get("repo_owner"), runner.config.repo_owner, runner.get("task_id")],
            "workers": sorted(runner.get("workers")),
            "missing": runner.get("nothing.here"),
            "last": runner.get("last_completed_step"),
            "last_in_state": runner.state["last_completed_step"],
        }

    steps = [
        TestStep("first", "", None, first, "worker1"),
        TestStep("second", "", None, second, "worker2"),
    ]
    with pytest.warns(StepsConfigWarning, match="unknown key 'repo_owner'"):
        result = TestRunner(steps, config, quiet=True).run()
    assert result.passed, result.summary()
    r1, r2 = result.steps[1].output, result.steps[3].output
    # Each round starts with no step completed (the round-1 "second" came before round 2).
    assert [result.steps[0].output["last"], result.steps[2].output["last"]] == [None, None]
    assert result.steps[0].output["audits"] == [True, 0]
    assert (r1["round"], r1["global"], r1["previous"]) == ("pr-1", 1, None)
    assert (r2["round"], r2["global"], r2["previous"]) == ("pr-2", 2, {"worker1": "pr-1"})
    assert r2["config"] == ["koii", "koii", "builder-e2e"]
    assert r2["workers"] == ["worker1", "worker2"]
    assert (r2["missing"], r2["last"], r2["last_in_state"]) == (None, "first", "first")
    with pytest.raises(RuntimeError, match="available while the sequence runs"):
        TestRunner(steps, config).get("task_id")


# --- utils: the package's signatures, from Rust ---------------------------------------------


def test_create_signature_equals_the_packages_and_reads_back():
    seed = bytes(range(32))
    payload = {"taskId": "t", "roundNumber": 3, "stakingKey": "k", "nested": {"b": 1, "a": [2]}}
    key = SigningKey(seed)
    assert create_signature(key, payload) == package_signature(seed, payload)
    # PyNaCl's own key object works too, as in projects that still build theirs.
    assert create_signature(nacl.signing.SigningKey(seed), payload) == package_signature(
        seed, payload
    )
    public = b58encode(bytes(nacl.signing.SigningKey(seed).verify_key))
    assert public_key_of(key) == public
    assert verify_signature(create_signature(key, payload), public) == payload
    with pytest.raises(ValueError, match="does not match"):
        verify_signature(create_signature(key, payload), b58encode(bytes(32 * [9])))
    with pytest.raises(ValueError, match="signing key is None"):
        create_signature(None, payload)
    signed = key.sign(b"hello")
    assert signed.message == b"hello" and signed.signature == bytes(
        nacl.signing.SigningKey(seed).sign(b"hello").signature
    )


def test_load_keypair_reads_solana_files_and_names_bad_ones(tmp_path):
    seed = bytes(range(100, 132))
    public = bytes(nacl.signing.SigningKey(seed).verify_key)
    path = tmp_path / "id.json"
    path.write_text(json.dumps(list(seed + public)))
    key, public_b58 = load_keypair(path)
    assert public_b58 == b58encode(public) and bytes(key) == seed
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"private": b58encode(seed)}))
    assert load_keypair(private)[1] == public_b58
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(list(seed + bytes(32))))
    with pytest.raises(StepsConfigError, match="bad.json: not a keypair file"):
        load_keypair(bad)


# --- warnings -------------------------------------------------------------------------------


def test_config_warnings_point_at_the_run_call_once(builder):
    config = builder / "tests" / "config.yaml"
    config.write_text(config.read_text() + "max_rounds: 1\nmy_setting: 1\n")
    step = TestStep("s", "", None, lambda runner, worker, data: {"success": True}, "worker1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(2):
            line = sys._getframe().f_lineno + 1
            TestRunner([step], config, quiet=True).run(force_reset=True)
    ours = [w for w in caught if issubclass(w.category, StepsConfigWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    assert "unknown key 'my_setting'" in str(ours[0].message)
    assert (ours[0].filename, ours[0].lineno) == (__file__, line)


def test_a_stage_of_the_wrong_shape_is_named_by_the_cli(builder, subprocess_env):
    """A stage file's prepare taking a third argument: `trialrun steps` refuses the
    sequence before anything starts, naming the stage's module, file and line."""
    stage = builder / "tests" / "stages" / "worker_task.py"
    stage.write_text(
        stage.read_text().replace(
            "def prepare(runner, worker):", "def prepare(runner, worker, todo):"
        )
    )
    line = stage.read_text().splitlines().index("def prepare(runner, worker, todo):") + 1
    done = subprocess.run(
        [sys.executable, "-m", "trialrun", "steps", "tests/e2e.py"],
        cwd=builder,
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert (
        f"tests.stages.worker_task.prepare ({stage}:{line}) takes (runner, worker, todo)"
        in done.stderr
    )
    assert "accepted: prepare(context) or prepare(runner, worker)" in done.stderr
    assert not (builder / "tests" / "data" / "logs").exists()  # no worker was started
