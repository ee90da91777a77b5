"""Shards: `trialrun run --shard i/n` (TRIALRUN_SHARD, `run_test_suite(shard=...)`) runs a
part of each suite's cases, as CI jobs on several machines do, and `trialrun merge` makes
the parts, brought back as run stores or JSON exports, one run again."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from test_cli import trialrun_cli, write_script
from trialrun import SuiteValidationError, run_test_suite
from trialrun.testing.models import BaseTestCase

SUITE = """
import os
run_test_suite(
    id="sharded",
    test_cases=[Case(n) for n in range(41)],
    evaluators=[AtLeast(int(os.environ.get("MINIMUM", "5")))],
    fn=lambda c: c.n,
)
"""


def run_in(home: Path, args: list[str], env: dict[str, str], cwd: Path, **extra: str):
    return trialrun_cli(args, {**env, "TRIALRUN_HOME": str(home), **extra}, cwd)


def rows(store: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(store) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def shards(tmp_path, subprocess_env):
    """The suite run whole in `whole/`, and as 4 shards, each in a store of its own."""
    script = write_script(tmp_path, SUITE)
    whole = tmp_path / "whole"
    assert run_in(whole, ["run", str(script)], subprocess_env, tmp_path).returncode == 1
    homes = []
    for i in range(1, 5):
        home = tmp_path / f"shard{i}"
        proc = run_in(home, ["run", "--shard", f"{i}/4", str(script)], subprocess_env, tmp_path)
        assert proc.returncode in (0, 1), proc.stderr
        homes.append(home)
    return script, whole, homes


def test_shards_split_the_cases_evenly_and_merge_into_the_whole_run(shards, subprocess_env):
    script, whole, homes = shards
    parts = [rows(h / "trialrun.db", "SELECT c.idx, c.hash FROM case_results c") for h in homes]
    tags = [rows(h / "trialrun.db", "SELECT shard FROM runs") for h in homes]
    assert tags == [[("1/4",)], [("2/4",)], [("3/4",)], [("4/4",)]]
    listed = run_in(homes[1], ["runs"], subprocess_env, homes[1])
    assert "sharded (shard 2/4)" in listed.stdout, listed.stdout
    # Disjoint, together every case, sizes within one case; each at its place in the suite.
    assert sorted(len(p) for p in parts) == [10, 10, 10, 11]
    assert sorted(r for p in parts for r in p) == [(n, f"case-{n}") for n in range(41)]

    sources = [str(h / "trialrun.db") for h in homes]
    merged = run_in(whole, ["merge", *sources], subprocess_env, whole.parent)
    assert merged.returncode == 0, merged.stderr
    assert "sharded: 4 shards, 41 cases, completed" in merged.stdout
    merged_id = merged.stdout.split()[0]

    # The merged run compares with the whole run as the same run again.
    whole_id = rows(whole / "trialrun.db", "SELECT id FROM runs WHERE shard IS NULL ORDER BY seq")
    compare = run_in(
        whole,
        ["compare", "--json", "--removed", whole_id[0][0], merged_id],
        subprocess_env,
        whole,
    )
    assert compare.returncode == 0, compare.stdout + compare.stderr
    report = json.loads(compare.stdout)
    assert report["regressions"] == [] and report["added"] == report["removed"] == []
    assert len(report["cases"]) == 41
    changes = {
        (e["change"], e["base"]["score"] == e["head"]["score"])
        for c in report["cases"]
        for e in c["evaluations"]
    }
    assert changes == {("same", True)}, report["cases"][:2]
    # In the suite's order, with the same outputs and verdicts, and counted as failed.
    same = "SELECT idx, hash, output FROM case_results WHERE run_id = ? ORDER BY idx"
    db = whole / "trialrun.db"
    assert rows(db, same.replace("?", repr(merged_id))) == rows(
        db, same.replace("?", repr(whole_id[0][0]))
    )
    show = run_in(whole, ["show", merged_id], subprocess_env, whole)
    assert show.returncode == 0 and "case-0" in show.stdout


def test_exported_shards_merge_and_bad_sets_are_refused_by_name(shards, subprocess_env, tmp_path):
    _, _, homes = shards
    exports = []
    for i, home in enumerate(homes, 1):
        path = tmp_path / f"shard{i}.json"
        proc = run_in(home, ["export", "-o", str(path)], subprocess_env, tmp_path)
        assert proc.returncode == 0, proc.stderr
        exports.append(path)
    target = tmp_path / "merged"

    def merge(*sources: Path, flags: tuple[str, ...] = ()):
        return run_in(target, ["merge", *flags, *map(str, sources)], subprocess_env, tmp_path)

    missing = merge(exports[0], exports[1], exports[3])
    assert missing.returncode == 2
    assert 'suite "sharded": shard 3/4 missing' in missing.stderr, missing.stderr
    twice = merge(*exports, exports[2])
    assert twice.returncode == 2 and "shard 3/4 is given twice" in twice.stderr
    assert twice.stderr.count("shard3.json") == 2

    moved = json.loads(exports[1].read_text())
    moved["run"]["git_commit"] = "0" * 40
    exports[1].write_text(json.dumps(moved))
    mixed = merge(*exports)
    assert mixed.returncode == 2 and "different commits" in mixed.stderr
    assert "--allow-mixed-commits" in mixed.stderr and "2/4 at 0000000" in mixed.stderr
    assert not (target / "trialrun.db").exists()  # nothing is written when refused

    allowed = merge(*exports, flags=("--allow-mixed-commits",))
    assert allowed.returncode == 0, allowed.stderr
    assert "41 cases" in allowed.stdout
    outputs = rows(target / "trialrun.db", "SELECT idx, output FROM case_results ORDER BY idx")
    assert outputs == [(n, str(n)) for n in range(41)]
    evaluations = rows(
        target / "trialrun.db", "SELECT count(*), sum(verdict = 'failed') FROM evaluation_results"
    )
    assert evaluations == [(41, 5)]

    not_a_shard = tmp_path / "plain.json"
    not_a_shard.write_text(json.dumps({**moved, "run": {**moved["run"], "shard": None}}))
    plain = merge(not_a_shard)
    assert plain.returncode == 2 and "plain.json" in plain.stderr and "not a shard" in plain.stderr
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("hello")
    bad = merge(garbage)
    assert bad.returncode == 2 and "garbage.txt: neither a run store nor" in bad.stderr


@dataclasses.dataclass
class Case(BaseTestCase):
    n: int

    def hash(self) -> str:
        return f"case-{self.n}"


def hashes_run(shard=None) -> list[str]:
    result = run_test_suite(
        "by-api", [Case(n) for n in range(12)], lambda c: c.n, [], quiet=True, shard=shard
    )
    return sorted((c.hash for c in result.cases), key=lambda h: int(h.split("-")[1]))


def test_shard_argument_and_variable_choose_the_same_part(monkeypatch, store_rows):
    by_tuple = hashes_run((2, 3))
    by_text = hashes_run("2/3")
    monkeypatch.setenv("TRIALRUN_SHARD", "2/3")
    by_variable = hashes_run()
    assert by_tuple == by_text == by_variable and len(by_tuple) == 4
    assert hashes_run((1, 1)) == [f"case-{n}" for n in range(12)]  # the argument wins
    tags = [r["shard"] for r in store_rows("SELECT shard FROM runs ORDER BY seq")]
    assert tags == ["2/3", "2/3", "2/3", "1/1"]
    # The split is fixed: the same cases on every machine, build and Python version.
    assert by_tuple == ["case-5", "case-6", "case-7", "case-9"]


@pytest.mark.parametrize(
    ("shard", "env", "named"),
    [
        ((0, 3), None, r"shard must be i/n .*\(0, 3\)"),
        ("5/4", None, r"shard must be i/n .*'5/4'"),
        ((True, 2), None, r"shard must be"),
        (None, "x", r"TRIALRUN_SHARD must be i/n .*'x'"),
        (None, "2/1", r"TRIALRUN_SHARD must be"),
    ],
)
def test_bad_shards_are_refused_naming_where_they_came_from(monkeypatch, shard, env, named):
    if env is not None:
        monkeypatch.setenv("TRIALRUN_SHARD", env)
    with pytest.raises(SuiteValidationError, match=r"\[by-api\] " + named):
        hashes_run(shard)


def test_run_refuses_a_bad_shard_before_running_the_file(tmp_path, subprocess_env):
    script = write_script(tmp_path, "raise SystemExit('the file ran')")
    proc = trialrun_cli(["run", "--shard", "5/4", str(script)], subprocess_env, tmp_path)
    assert proc.returncode == 2
    assert "--shard: shard must be i/n" in proc.stderr and "the file ran" not in proc.stderr


def test_a_shard_of_no_cases_is_still_a_run_to_merge(tmp_path, subprocess_env):
    script = write_script(
        tmp_path,
        'run_test_suite(id="tiny", test_cases=[Case(1)], evaluators=[], fn=lambda c: c.n)',
    )
    homes = [tmp_path / f"s{i}" for i in (1, 2)]
    for i, home in enumerate(homes, 1):
        proc = run_in(home, ["run", "--shard", f"{i}/2", str(script)], subprocess_env, tmp_path)
        assert proc.returncode == 0, proc.stderr
    merged = run_in(
        tmp_path / "m",
        ["merge", *(str(h / "trialrun.db") for h in homes)],
        subprocess_env,
        tmp_path,
    )
    assert merged.returncode == 0, merged.stderr
    assert "tiny: 2 shards, 1 cases, completed" in merged.stdout


def test_compare_takes_runs_exported_as_json(shards, subprocess_env, tmp_path):
    """Issue 19: compare against a run exported as JSON, without the store it came from."""
    script, whole, _ = shards
    base = tmp_path / "base.json"
    assert run_in(whole, ["export", "-o", str(base)], subprocess_env, tmp_path).returncode == 0
    worse = run_in(whole, ["run", str(script)], subprocess_env, tmp_path, MINIMUM="7")
    assert worse.returncode == 1
    head = tmp_path / "head.json"
    assert run_in(whole, ["export", "-o", str(head)], subprocess_env, tmp_path).returncode == 0

    elsewhere = tmp_path / "no-store-here"
    files = run_in(elsewhere, ["compare", "--json", str(base), str(head)], subprocess_env, tmp_path)
    assert files.returncode == 1, files.stderr  # case-5 and case-6 newly fail
    regressed = sorted(r["hash"] for r in json.loads(files.stdout)["regressions"])
    assert regressed == ["case-5", "case-6"]
    assert not (elsewhere / "trialrun.db").exists()
    mixed = run_in(whole, ["compare", "--json", str(base), "latest"], subprocess_env, tmp_path)
    assert json.loads(mixed.stdout)["regressions"] == json.loads(files.stdout)["regressions"]

    junk = tmp_path / "junk.json"
    junk.write_text('{"format": "other"}')
    bad = run_in(whole, ["compare", str(junk), "latest"], subprocess_env, tmp_path)
    assert bad.returncode == 2 and "junk.json" in bad.stderr
