"""Step sequences under faults (issue 17): a runner killed with SIGKILL, workers whose
children detach with setsid, and hostile files (a state file that is not UTF-8, a data_dir
that is a file, .env values no program can receive). Real worker processes on loopback
ports, the real state file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_steps import (
    free_port,
    logged_pids,
    make_project,
    sleeping_script,
    start_and_wait,
    whoami,
)
from trialrun.steps import EXIT_CONFIG, TestRunner, TestStep

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def alive(pid: int) -> bool:
    """Running and not a zombie waiting for its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_gone(pids: list[int], seconds: float) -> list[int]:
    """The pids still alive after waiting up to `seconds` for them to end."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                out.append(int(entry.name))
    return out


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def fixed_port_workers() -> dict:
    """Two workers on fixed ports: a leftover worker makes the next run's port busy."""
    return {
        "w1": {"port": free_port(), "env": {"WORKER_ID": "w1"}},
        "w2": {"port": free_port(), "env": {"WORKER_ID": "w2"}},
    }


def resume(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trialrun", "steps", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- item 9: SIGKILL of the runner ----------------------------------------------------------


def test_workers_die_with_a_runner_killed_by_sigkill_and_the_rerun_starts(tmp_path, subprocess_env):
    config = make_project(tmp_path, workers=fixed_port_workers())
    started = tmp_path / "started"
    script = sleeping_script(config, started)
    proc = start_and_wait(script, started, subprocess_env)
    pids = logged_pids(config)
    proc.kill()
    proc.communicate(timeout=10)
    try:
        left = wait_gone(pids, 10)
        assert left == [], f"workers {left} outlived the runner"
    finally:
        kill_all(pids)
    done = resume(script, subprocess_env)
    assert done.returncode == 0, done.stderr


def test_a_rerun_stops_the_groups_a_killed_run_recorded(tmp_path, subprocess_env):
    """The watchdog cannot act (killed before the runner): the state file's
    record of the groups, with their leaders' start times, lets the rerun stop them."""
    workers = fixed_port_workers()
    workers["w2"]["command"] = (
        f"{sys.executable} -c 'import time; time.sleep(300)' & exec {sys.executable} main.py"
    )
    config = make_project(tmp_path, workers=workers)
    started = tmp_path / "started"
    script = sleeping_script(config, started)
    proc = start_and_wait(script, started, subprocess_env)
    pids = logged_pids(config)
    group_members = [p for w in pids for p in children(w)]
    try:
        assert group_members, "w2's child (outside main.py) runs"
        state = json.loads((config.parent / "data" / "test_state.json").read_text())
        recorded = [g["leader"]["pid"] for g in state["started"]["groups"]]
        assert sorted(recorded) == sorted(pids), (recorded, pids)
        everything = children(proc.pid)
        watchdogs = [p for p in everything if p not in pids]
        assert len(watchdogs) == 1, (everything, pids)
        # Killed first: a stopped one would be continued when its group is orphaned.
        os.kill(watchdogs[0], signal.SIGKILL)
        assert wait_gone(watchdogs, 5) == []
        proc.kill()
        proc.communicate(timeout=10)
        assert wait_gone(pids, 0.5) == pids, "the workers outlived runner and watchdog"
        done = resume(script, subprocess_env)
        assert done.returncode == 0, done.stderr
        assert wait_gone(pids + group_members, 2) == []
        assert "an earlier run left running" in done.stdout + done.stderr
    finally:
        proc.kill()
        proc.communicate(timeout=10)
        kill_all(pids + group_members)


def test_a_pid_reused_since_the_record_is_not_signalled(tmp_path):
    """A recorded group whose leader's pid now belongs to another process (another start
    time) is left alone."""
    config = make_project(tmp_path)
    bystander = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    try:
        fields = Path(f"/proc/{bystander.pid}/stat").read_text().rsplit(")", 1)[1].split()
        start_time = int(fields[19])
        state = {
            "version": 1,
            "fingerprint": {"steps": ["who@w1"], "config": {"task_id": "seq", "max_rounds": 1}},
            "round": 1,
            "completed": [],
            "finished": False,
            "data_loaded": True,
            "round_state": {},
            "global_state": {},
            "started": {
                "token": "gone-run",
                "groups": [
                    {"worker": "w1", "leader": {"pid": bystander.pid, "start_time": start_time - 1}}
                ],
            },
        }
        (config.parent / "data" / "test_state.json").write_text(json.dumps(state))
        result = TestRunner([TestStep("who", "", None, whoami, "w1")], config, quiet=True).run()
        assert result.passed, result.summary()
        assert bystander.poll() is None, "an unrelated process was killed"
        assert not any("earlier run" in n for n in result.notes)
    finally:
        bystander.kill()
        bystander.wait()


# --- item 10: detached descendants -------------------------------------------------------------


def test_children_that_detach_with_setsid_are_stopped_with_their_worker(tmp_path):
    """One child detaches with setsid and stays the worker's child; another detaches and
    is orphaned (its parent exits), so it is neither in the group nor below the worker."""
    near, far = tmp_path / "near.pid", tmp_path / "far.pid"
    command = (
        f"setsid sh -c 'echo $$ > {near}; exec sleep 300' & "
        f"(setsid sh -c 'echo $$ > {far}; exec sleep 300' &) ; "
        f"exec {sys.executable} main.py"
    )
    config = make_project(
        tmp_path, workers={"w1": {"env": {"WORKER_ID": "w1"}, "command": command}}
    )
    seen: list[int] = []

    def who(context, data):
        deadline = time.monotonic() + 5
        while not (near.exists() and far.exists() and near.read_text() and far.read_text()):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        seen.extend(int(p.read_text()) for p in (near, far))
        assert all(alive(p) for p in seen)
        return whoami(context, data)

    try:
        result = TestRunner([TestStep("who", "", None, who, "w1")], config, quiet=True).run()
        assert result.passed, result.summary()
        assert len(seen) == 2
        assert wait_gone(seen, 0.5) == [], "a detached child outlived the run"
    finally:
        kill_all(seen)


# --- item 14: hostile files name themselves ----------------------------------------------------


def test_a_state_file_that_is_not_utf8_names_the_file_and_line(tmp_path):
    config = make_project(tmp_path)
    state = config.parent / "data" / "test_state.json"
    state.write_bytes(b'{\n  "version": 1,\n  "round": \xff\xfe\n}\n')
    result = TestRunner([TestStep("who", "", None, whoami, "w1")], config, quiet=True).run()
    assert result.exit_code == EXIT_CONFIG and result.error_kind == "config", result.error
    assert f"{state}: line 3: not a trialrun state file (not UTF-8 text)" in result.error
    assert "--reset" in result.error


def test_a_data_dir_that_is_a_file_names_the_config_key(tmp_path):
    config = make_project(tmp_path, config="task_id: seq\ndata_dir: taken\n")
    (config.parent / "taken").write_text("a file")
    steps = [TestStep("who", "", None, whoami, "w1")]
    result = TestRunner(steps, config, quiet=True).run()
    assert result.exit_code == EXIT_CONFIG and result.error_kind == "config", result.error
    assert "config.yaml: line 2: key 'data_dir'" in result.error
    assert "is a file, not a folder" in result.error
    config.write_text("task_id: seq\ndata_dir: taken/inner\n")
    result = TestRunner(steps, config, quiet=True).run()
    assert "config.yaml: line 2: key 'data_dir'" in result.error
    assert "which is a file" in result.error


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        (b"BROKEN=a\x00b\n", "NUL byte"),
        (b"BROKEN=" + b"x" * 1_000_000 + b"\n", "a program can receive at most"),
    ],
    ids=["nul", "1MB"],
)
def test_env_values_no_program_can_receive_name_the_file_line_and_key(tmp_path, line, detail):
    config = make_project(tmp_path)
    dotenv = config.parent.parent / ".env"
    dotenv.write_bytes(b"# settings\nGOOD=1\n" + line)
    result = TestRunner([TestStep("who", "", None, whoami, "w1")], config, quiet=True).run()
    assert result.exit_code == EXIT_CONFIG and result.error_kind == "config", result.error
    assert f"{dotenv}: line 3: key 'BROKEN'" in result.error and detail in result.error
    assert "cannot run" not in result.error
    assert len(result.error) < 500, "the value is not repeated in the message"


def test_workers_json_env_values_no_program_can_receive_are_refused(tmp_path):
    workers = {"w1": {"env": {"WORKER_ID": "w1", "BAD": "a\u0000b"}}}
    config = make_project(tmp_path, workers=workers)
    result = TestRunner([TestStep("who", "", None, whoami, "w1")], config, quiet=True).run()
    assert result.exit_code == EXIT_CONFIG, result.error
    assert "workers.json: line 2: key 'w1': env 'BAD'" in result.error
    assert "NUL byte" in result.error
