"""The `trialrun` command: `python -m trialrun run FILE.py` and `python -m trialrun demo`."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PREAMBLE = """
import dataclasses
from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, run_test_suite


@dataclasses.dataclass
class Case(BaseTestCase):
    n: int

    def hash(self):
        return f"case-{self.n}"


class AtLeast(BaseTestEvaluator):
    id = "at-least"

    def __init__(self, minimum):
        self.minimum = minimum

    def evaluate_test_case(self, test_case, output):
        return Evaluation(
            score=1 if output >= self.minimum else 0,
            threshold=Threshold(gte=1),
            metadata={"output": output},
        )
"""


def write_script(tmp_path: Path, body: str, name: str = "suite_file.py") -> Path:
    path = tmp_path / name
    path.write_text(PREAMBLE + textwrap.dedent(body))
    return path


def trialrun_cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trialrun", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stored_runs(home: Path) -> list[tuple]:
    with sqlite3.connect(home / "trialrun.db") as conn:
        return conn.execute("SELECT suite_id, status FROM runs ORDER BY started_at").fetchall()


def test_run_exits_0_when_every_suite_passes(tmp_path, subprocess_env, trialrun_home):
    script = write_script(
        tmp_path,
        """
        run_test_suite(id="cli-pass", test_cases=[Case(n) for n in range(3)], evaluators=[AtLeast(0)], fn=lambda c: c.n)
        """,
    )
    proc = trialrun_cli(["run", str(script)], subprocess_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "cli-pass" in proc.stdout  # the summary prints without a terminal
    assert stored_runs(trialrun_home) == [("cli-pass", "completed")]


def test_run_exits_1_when_an_evaluation_fails(tmp_path, subprocess_env, trialrun_home):
    script = write_script(
        tmp_path,
        """
        run_test_suite(id="cli-ok", test_cases=[Case(5)], evaluators=[AtLeast(0)], fn=lambda c: c.n)
        run_test_suite(id="cli-fail", test_cases=[Case(n) for n in range(3)], evaluators=[AtLeast(2)], fn=lambda c: c.n)
        """,
    )
    proc = trialrun_cli(["run", str(script)], subprocess_env, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert sorted(stored_runs(trialrun_home)) == [
        ("cli-fail", "completed"),
        ("cli-ok", "completed"),
    ]


def test_run_exits_1_when_fn_raises(tmp_path, subprocess_env):
    script = write_script(
        tmp_path,
        """
        def fn(case):
            raise RuntimeError("agent down")

        run_test_suite(id="cli-raise", test_cases=[Case(1)], evaluators=[AtLeast(0)], fn=fn)
        """,
    )
    proc = trialrun_cli(["run", str(script)], subprocess_env, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr


def test_run_exits_2_on_a_validation_error_naming_the_culprit(tmp_path, subprocess_env):
    script = write_script(
        tmp_path,
        """
        run_test_suite(id="cli-invalid", test_cases=[Case(1), Case(2), Case(1)], evaluators=[AtLeast(0)], fn=lambda c: c.n)
        """,
    )
    proc = trialrun_cli(["run", str(script)], subprocess_env, tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "test_cases[0]" in proc.stderr and "test_cases[2]" in proc.stderr
    assert "case-1" in proc.stderr
    assert str(script) in proc.stderr


def test_run_exits_2_on_a_bad_concurrency(tmp_path, subprocess_env):
    script = write_script(
        tmp_path,
        """
        run_test_suite(id="cli-invalid", test_cases=[Case(1)], evaluators=[AtLeast(0)], fn=lambda c: c.n,
                       max_test_case_concurrency=0)
        """,
    )
    proc = trialrun_cli(["run", str(script)], subprocess_env, tmp_path)
    assert proc.returncode == 2
    assert "max_test_case_concurrency" in proc.stderr


def test_run_exits_2_when_the_file_runs_no_suite(tmp_path, subprocess_env):
    script = write_script(tmp_path, "print('defined things, ran nothing')\n")
    proc = trialrun_cli(["run", str(script)], subprocess_env, tmp_path)
    assert proc.returncode == 2
    assert "ran no suite" in proc.stderr
    assert "defined things, ran nothing" in proc.stdout


def test_run_exits_2_for_a_missing_file(tmp_path, subprocess_env):
    proc = trialrun_cli(["run", str(tmp_path / "nope.py")], subprocess_env, tmp_path)
    assert proc.returncode == 2
    assert "nope.py" in proc.stderr


def test_run_exits_2_when_the_file_raises(tmp_path, subprocess_env):
    script = write_script(tmp_path, "raise ImportError('missing dependency xyz')\n")
    proc = trialrun_cli(["run", str(script)], subprocess_env, tmp_path)
    assert proc.returncode == 2
    assert "missing dependency xyz" in proc.stderr


def test_run_passes_arguments_and_runs_as_main(tmp_path, subprocess_env):
    script = write_script(
        tmp_path,
        """
        import sys

        if __name__ == "__main__":
            minimum = int(sys.argv[1])
            run_test_suite(id="cli-args", test_cases=[Case(3)], evaluators=[AtLeast(minimum)], fn=lambda c: c.n)
        """,
    )
    assert trialrun_cli(["run", str(script), "3"], subprocess_env, tmp_path).returncode == 0
    assert trialrun_cli(["run", str(script), "4"], subprocess_env, tmp_path).returncode == 1


def test_run_quiet_prints_no_summary(tmp_path, subprocess_env):
    script = write_script(
        tmp_path,
        """
        run_test_suite(id="cli-quiet", test_cases=[Case(1)], evaluators=[AtLeast(0)], fn=lambda c: c.n)
        """,
    )
    proc = trialrun_cli(["run", "-q", str(script)], subprocess_env, tmp_path)
    assert proc.returncode == 0
    assert "cli-quiet" not in proc.stdout


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("signum", "in_background"),
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGTERM, True)],
    ids=["ctrl-c", "sigterm", "sigterm-in-background"],
)
def test_ctrl_c_and_sigterm_interrupt_keep_finished_cases_and_exit_130(
    tmp_path, subprocess_env, trialrun_home, signum, in_background
):
    """in_background: started as `trialrun run FILE &` from a script, which ignores SIGINT;
    regression: SIGTERM was turned into that ignored SIGINT, and the run went on."""
    script = write_script(
        tmp_path,
        """
        import asyncio

        async def fn(case):
            if case.n == 3:
                await asyncio.sleep(30)
            return case.n

        class AsyncAtLeast(AtLeast):
            async def evaluate_test_case(self, test_case, output):
                if test_case.n == 2:
                    # cases 0-2 are evaluated once this returns; case 3's fn is asleep
                    asyncio.get_running_loop().call_soon(lambda: print("READY", flush=True))
                return AtLeast.evaluate_test_case(self, test_case, output)

        run_test_suite(id="cli-ctrl-c", test_cases=[Case(n) for n in range(10)], evaluators=[AsyncAtLeast(0)], fn=fn,
                       max_test_case_concurrency=1)
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "trialrun", "run", str(script)],
        env=subprocess_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if in_background else None,
    )
    try:
        assert proc.stdout.readline().strip() == "READY"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, out + err
    assert stored_runs(trialrun_home) == [("cli-ctrl-c", "interrupted")]
    with sqlite3.connect(trialrun_home / "trialrun.db") as conn:
        hashes = [h for (h,) in conn.execute("SELECT hash FROM case_results ORDER BY idx")]
        evaluated = [
            h
            for (h,) in conn.execute("SELECT case_hash FROM evaluation_results ORDER BY case_hash")
        ]
    assert hashes == ["case-0", "case-1", "case-2"]
    assert evaluated == ["case-0", "case-1", "case-2"]


@pytest.mark.calls
def test_demo_exits_0_and_prints_both_prompt_versions_and_the_voice_calls(
    tmp_path, subprocess_env, trialrun_home
):
    # From the clone's root, as the README runs it: the voice half calls examples/voice_agent.
    root = Path(__file__).resolve().parent.parent
    proc = trialrun_cli(["demo"], subprocess_env, root, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "prompt_version=v1" in proc.stdout
    assert "prompt_version=v2" in proc.stdout
    # The voice half: two calls to the example agent, one failing as designed.
    assert "== book-appointment (caller alex): passed" in proc.stdout, proc.stdout[-3000:]
    assert "== agent-says-goodbye (caller sam): failed" in proc.stdout
    assert "caller: Tuesday morning would be great." in proc.stdout
    runs = stored_runs(trialrun_home)
    assert sorted(runs) == [("demo-support-agent", "completed")] * 2 + [
        ("demo-voice-agent", "completed")
    ]


def test_no_command_is_a_usage_error(tmp_path, subprocess_env):
    proc = trialrun_cli([], subprocess_env, tmp_path)
    assert proc.returncode == 2


def test_version(tmp_path, subprocess_env):
    import trialrun

    proc = trialrun_cli(["--version"], subprocess_env, tmp_path)
    assert proc.returncode == 0
    assert trialrun.__version__ in proc.stdout


# --- options after FILE, usage errors, the store in parent folders, gc --dry-run ----------

PASSING = """
run_test_suite(id="cli-args", test_cases=[Case(n) for n in range(2)], evaluators=[AtLeast(0)], fn=lambda c: c.n)
"""


@pytest.mark.parametrize(
    "after", [["--junit", "out.xml"], ["--junit=out.xml"], ["-q"], ["--suite", "x"]]
)
def test_trialrun_options_after_file_are_refused_with_a_hint(tmp_path, subprocess_env, after):
    script = write_script(tmp_path, PASSING)
    proc = trialrun_cli(["run", str(script), *after], subprocess_env, tmp_path)
    assert proc.returncode == 2, proc.stdout
    name = after[0].split("=")[0]
    assert f"{name} comes after {script}" in proc.stderr
    assert "put it before FILE" in proc.stderr and f"-- {after[0]}" in proc.stderr
    assert "usage: trialrun run" in proc.stderr  # the subcommand's usage, not the top one
    assert not (tmp_path / "out.xml").exists()
    assert not Path(subprocess_env["TRIALRUN_HOME"]).exists()  # the script never ran


def test_junit_before_file_writes_the_report(tmp_path, subprocess_env):
    script = write_script(tmp_path, PASSING)
    proc = trialrun_cli(["run", "--junit", "out.xml", str(script)], subprocess_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "<testsuites" in (tmp_path / "out.xml").read_text()


@pytest.mark.parametrize(
    ("given", "seen"),
    [
        (["--mode", "fast", "x"], ["--mode", "fast", "x"]),
        (["--", "--junit", "x"], ["--junit", "x"]),
        (["a", "--", "--suite", "--"], ["a", "--suite", "--"]),
    ],
)
def test_a_scripts_own_arguments_still_pass(tmp_path, subprocess_env, given, seen):
    script = write_script(
        tmp_path,
        PASSING + "\nimport json, sys\nprint('ARGV=' + json.dumps(sys.argv[1:]))\n",
    )
    proc = trialrun_cli(["run", str(script), *given], subprocess_env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("ARGV="))
    assert json.loads(line[5:]) == seen
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("argv", "usage", "suggestion"),
    [
        (["rnus"], "usage: trialrun [", "did you mean runs?"),
        (["runs", "--limt", "3"], "usage: trialrun runs", "did you mean --limit?"),
        (["gc", "--keep", "1", "--dryrun"], "usage: trialrun gc", "did you mean --dry-run?"),
        (["export", "--format", "jsn"], "usage: trialrun export", "did you mean json?"),
    ],
)
def test_usage_errors_show_the_subcommands_usage_and_a_suggestion(
    tmp_path, subprocess_env, argv, usage, suggestion
):
    proc = trialrun_cli(argv, subprocess_env, tmp_path)
    assert proc.returncode == 2
    assert usage in proc.stderr and suggestion in proc.stderr, proc.stderr


def test_every_option_has_help_text():
    import argparse

    from trialrun.cli import _parser

    parser = _parser()
    missing = []
    for sub in parser._actions:
        if not isinstance(sub, argparse._SubParsersAction):
            continue
        for name, command in sub.choices.items():
            for action in command._actions:
                if not action.help and not isinstance(action, argparse._HelpAction):
                    missing.append(f"{name} {action.option_strings or action.dest}")
    assert missing == []


def test_the_store_is_found_in_a_parent_folder(tmp_path, subprocess_env):
    project = tmp_path / "project"
    deep = project / "src" / "deep"
    deep.mkdir(parents=True)
    env = dict(subprocess_env)
    del env["TRIALRUN_HOME"]
    script = write_script(project, PASSING)
    assert trialrun_cli(["run", str(script)], env, project).returncode == 0
    assert (project / ".trialrun" / "trialrun.db").is_file()
    runs = trialrun_cli(["runs"], env, deep)
    assert runs.returncode == 0, runs.stderr
    assert "cli-args" in runs.stdout
    # A suite run from the subfolder records into the same store.
    assert trialrun_cli(["run", str(script)], env, deep).returncode == 0
    assert not (deep / ".trialrun").exists()
    with sqlite3.connect(project / ".trialrun" / "trialrun.db") as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (2,)


def test_gc_dry_run_lists_what_would_go_and_deletes_nothing(tmp_path, subprocess_env):
    script = write_script(tmp_path, PASSING)
    for _ in range(3):
        assert trialrun_cli(["run", "-q", str(script)], subprocess_env, tmp_path).returncode == 0
    home = Path(subprocess_env["TRIALRUN_HOME"])
    with sqlite3.connect(home / "trialrun.db") as conn:
        oldest = [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY started_at")][:2]
    dry = trialrun_cli(["gc", "--keep", "1", "--dry-run"], subprocess_env, tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [*oldest, "would delete 2 runs (dry run: nothing deleted)"]
    assert len(stored_runs(home)) == 3
    real = trialrun_cli(["gc", "--keep", "1"], subprocess_env, tmp_path)
    assert real.stdout.strip() == "deleted 2 runs" and len(stored_runs(home)) == 1


def test_the_progress_bar_on_a_terminal_shows_the_count_and_the_time_left(tmp_path, subprocess_env):
    """On a terminal the suite draws a progress bar on stderr: done/total, failing cases,
    rate, time taken and the estimated time left (ETA)."""
    import os
    import pty

    script = write_script(
        tmp_path,
        """
        import time
        def fn(case):
            time.sleep(0.05)
            return case.n
        run_test_suite(id="slow", test_cases=[Case(n) for n in range(30)],
                       evaluators=[AtLeast(3)], fn=fn, max_test_case_concurrency=1)
        """,
    )
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=subprocess_env,
        cwd=tmp_path,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    assert proc.wait(timeout=60) == 0  # a plain script: its own exit code
    text = seen.decode(errors="replace")
    assert "/30" in text and "failing" in text, text
    assert "ETA " in text, text
