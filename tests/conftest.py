"""Shared fixtures: every test gets its own run store (TRIALRUN_HOME under tmp_path)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# pytest started in the background by a shell inherits SIGINT ignored, and so would every
# process a test starts: the tests that press Ctrl-C on one need it delivered as from a
# terminal (a Python handler here is the default again in a child).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store for what runs before a test's own (module- and session-scoped fixtures):
    never the working directory's ./.trialrun."""
    home = tmp_path_factory.mktemp("session-home")
    saved = os.environ.get("TRIALRUN_HOME")
    os.environ["TRIALRUN_HOME"] = str(home)
    yield home
    if saved is None:
        os.environ.pop("TRIALRUN_HOME", None)
    else:
        os.environ["TRIALRUN_HOME"] = saved


@pytest.fixture(autouse=True)
def trialrun_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolates the run store: results of this test go to tmp_path/home/trialrun.db."""
    home = tmp_path / "home"
    monkeypatch.setenv("TRIALRUN_HOME", str(home))
    # Summaries print only when asked; tests pass quiet=True anyway.
    monkeypatch.delenv("TRIALRUN_QUIET", raising=False)
    return home


@pytest.fixture
def store_rows(trialrun_home: Path) -> Callable[..., list[dict[str, Any]]]:
    """Reads the real store file with the stdlib sqlite3 module: store_rows(sql, *params)."""

    def query(sql: str, *params: Any) -> list[dict[str, Any]]:
        path = trialrun_home / "trialrun.db"
        assert path.is_file(), f"no run store at {path}"
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql, params)]
        finally:
            conn.close()

    return query


@pytest.fixture
def store_rows_from_another_process(trialrun_home: Path) -> Callable[..., list[dict[str, Any]]]:
    """store_rows for reading while a run writes in this process: the query runs in a
    child process. Two SQLite libraries in one process (trialrun's bundled one and the
    stdlib's) do not see each other's locks, and the second would reset the WAL index the
    first has mapped."""

    def query(sql: str, *params: Any) -> list[dict[str, Any]]:
        path = trialrun_home / "trialrun.db"
        script = (
            "import json, sqlite3, sys\n"
            "conn = sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True)\n"
            "conn.row_factory = sqlite3.Row\n"
            "rows = [dict(r) for r in conn.execute(sys.argv[2], json.loads(sys.argv[3]))]\n"
            "print(json.dumps(rows))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script, str(path), sql, json.dumps(params)],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)

    return query


def loads(text: Any) -> Any:
    """JSON text from the store, None stays None."""
    return None if text is None else json.loads(text)


@pytest.fixture
def json_loads() -> Callable[[Any], Any]:
    return loads


@pytest.fixture
def subprocess_env(trialrun_home: Path) -> dict[str, str]:
    """Environment for child processes: the same isolated store, no inherited quiet flag."""
    env = dict(os.environ)
    env["TRIALRUN_HOME"] = str(trialrun_home)
    env.pop("TRIALRUN_QUIET", None)
    return env
