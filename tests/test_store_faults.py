"""The run store under faults (issue 17): a store the reader may not write."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from trialrun import BaseTestCase, run_test_suite


class Case(BaseTestCase):
    def __init__(self, n: int) -> None:
        self.n = n

    def hash(self) -> str:
        return f"case-{self.n}"


@pytest.fixture
def read_only_store(monkeypatch):
    """A store with one run, in a read-only folder (file and folder without write bits).
    Root ignores permission bits through CAP_DAC_OVERRIDE, so as root the reading process
    runs without it (and its relatives): it is then held to the bits like anyone.
    Yields (home, the command prefix that reads it)."""
    home = Path(tempfile.mkdtemp(prefix="trialrun-ro-"))
    monkeypatch.setenv("TRIALRUN_HOME", str(home))
    run_test_suite("read-only", [Case(0), Case(1)], [], lambda c: c.n, quiet=True)
    for leftover in home.glob("trialrun.db-*"):  # the writer closed: WAL checkpointed
        leftover.unlink()
    (home / "trialrun.db").chmod(0o444)
    home.chmod(0o555)
    prefix = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    yield home, prefix
    home.chmod(0o755)
    shutil.rmtree(home, ignore_errors=True)


def test_a_store_the_reader_may_not_write_can_be_listed_and_shown(read_only_store):
    home, prefix = read_only_store
    env = {**os.environ, "TRIALRUN_HOME": str(home)}
    before = (home / "trialrun.db").read_bytes()
    for command in (["runs"], ["show", "latest"], ["export", "latest", "--format", "json"]):
        out = subprocess.run(
            [*prefix, sys.executable, "-m", "trialrun", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, f"{command}: {out.stderr}"
        assert "read-only" in out.stdout or "case-1" in out.stdout, out.stdout
    assert (home / "trialrun.db").read_bytes() == before
    assert sorted(p.name for p in home.iterdir()) == ["trialrun.db"]


SLOW_SUITE = """
import asyncio
from trialrun import BaseTestCase, run_test_suite

class Case(BaseTestCase):
    def __init__(self, n):
        self.n = n

    def hash(self):
        return f"case-{self.n}"

async def fn(case):
    if case.n == 2:
        print("READY", flush=True)
        await asyncio.sleep(60)
    return case.n

run_test_suite(id="killed", test_cases=[Case(n) for n in range(3)], fn=fn,
               max_test_case_concurrency=1)
"""


def test_a_run_whose_process_was_killed_is_marked_interrupted(tmp_path, subprocess_env):
    script = tmp_path / "slow.py"
    script.write_text(SLOW_SUITE)
    proc = subprocess.Popen(
        [sys.executable, "-m", "trialrun", "run", str(script)],
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "READY"
        proc.kill()  # SIGKILL: no handler runs, the run row stays "running"
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    listed = subprocess.run(
        [sys.executable, "-m", "trialrun", "runs"],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if "killed" in line]
    assert "interrupted" in row and "running" not in row
