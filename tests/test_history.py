"""Run history: listing, showing, comparing and exporting stored runs, from Python and
the CLI; JUnit XML; notebook HTML; the store shared by two processes."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import trialrun
from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, history, run_test_suite


@dataclasses.dataclass
class Case(BaseTestCase):
    name: str
    expected: int

    def hash(self) -> str:
        return self.name


class Exact(BaseTestEvaluator):
    id = "exact"

    def evaluate_test_case(self, test_case: Case, output: int) -> Evaluation:
        ok = output == test_case.expected
        return Evaluation(
            score=1 if ok else 0,
            threshold=Threshold(gte=1),
            metadata=None if ok else {"got": output},
        )


class Closeness(BaseTestEvaluator):
    id = "closeness"

    def evaluate_test_case(self, test_case: Case, output: int) -> Evaluation:
        return Evaluation(score=max(0.0, 1 - abs(output - test_case.expected) / 10))


def run_suite(answers: dict[str, int], suite: str = "history", **kwargs) -> trialrun.SuiteResult:
    """A suite whose fn answers from `answers`; every case expects 1."""
    cases = [Case(name, 1) for name in answers]
    return run_test_suite(
        suite, cases, [Exact(), Closeness()], lambda case: answers[case.name], quiet=True, **kwargs
    )


@pytest.fixture
def two_runs():
    """base: a, b, c, gone pass; head: b newly fails (got 5), c still passes, new added, gone removed."""
    base = run_suite({"a": 1, "b": 1, "c": 1, "gone": 1})
    head = run_suite({"a": 1, "b": 5, "c": 1, "new": 1})
    return base, head


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trialrun", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- Python API ---------------------------------------------------------------------------


def test_runs_lists_newest_first(two_runs):
    base, head = two_runs
    runs = history.runs()
    assert runs.ids == [head.run_ids[0], base.run_ids[0]]
    assert (
        runs[0]["suite_id"] == "history"
        and runs[0]["status"] == "completed"
        and runs[0]["cases"] == 4
    )
    assert history.runs(suite="other").ids == []
    assert len(history.runs(limit=1)) == 1


def test_run_by_latest_id_and_prefix(two_runs):
    base, head = two_runs
    latest = history.run("latest")
    assert latest.run_id == head.run_ids[0]
    assert history.run(base.run_ids[0][:20]).run_id == base.run_ids[0]
    cases = {c["hash"]: c for c in latest.cases}
    assert cases["b"]["output"] == 5
    assert {e["evaluator_id"]: e["verdict"] for e in cases["b"]["evaluations"]} == {
        "exact": "failed",
        "closeness": "no_threshold",
    }
    assert cases["b"]["test_case"] == {"name": "b", "expected": 1}


def test_unknown_and_ambiguous_references_raise_lookup_error(two_runs):
    with pytest.raises(LookupError, match='no run matches "nope"'):
        history.run("nope")
    with pytest.raises(LookupError, match="matches 2 runs"):
        history.run(two_runs[0].run_ids[0][:1])


def test_compare_defaults_to_previous_against_latest(two_runs):
    base, head = two_runs
    c = history.compare()
    assert (c.base_id, c.head_id) == (base.run_ids[0], head.run_ids[0])
    assert c.added == ["new"] and c.removed == ["gone"]
    exact = {e["id"]: e for e in c.evaluators}["exact"]
    assert exact["newly_failing"] == ["b"] and exact["newly_passing"] == []
    closeness = {e["id"]: e for e in c.evaluators}["closeness"]
    assert closeness["mean_delta"] == pytest.approx(-0.4 / 3)
    # The case's `name` field labels it.
    assert c.regressions() == [
        {"hash": "b", "label": "b", "evaluator_id": "exact", "reason": "passed -> failed"}
    ]
    assert c.regressions(newly_failing=False) == []
    assert [r["hash"] for r in c.regressions(removed_cases=True)] == ["b", "gone"]
    # b's scores fell by 1 (exact) and 0.4 (closeness); only drops over the limit count
    assert [r["evaluator_id"] for r in c.regressions(newly_failing=False, max_score_drop=0.2)] == [
        "closeness",
        "exact",
    ]
    assert [r["evaluator_id"] for r in c.regressions(newly_failing=False, max_score_drop=0.5)] == [
        "exact"
    ]


def test_top_level_compare_takes_suite_results(two_runs):
    base, head = two_runs
    c = trialrun.compare(base, head)
    assert (c.base_id, c.head_id) == (base.run_ids[0], head.run_ids[0])
    reverse = trialrun.compare(head, base)
    assert {e["id"]: e for e in reverse.evaluators}["exact"]["newly_passing"] == ["b"]


def test_compare_of_a_grid_suite_asks_for_a_run_id():
    gridded = run_suite({"a": 1}, grid_search_params={"model": ["x", "y"]})
    with pytest.raises(ValueError, match="2 grid combinations"):
        trialrun.compare(gridded, gridded)


def test_compare_matches_the_same_grid_combination():
    first = run_suite({"a": 1}, grid_search_params={"model": ["x", "y"]})
    second = run_suite({"a": 1}, grid_search_params={"model": ["x", "y"]})
    c = history.compare(head=second.run_ids[0])
    assert c.base_id == first.run_ids[0]
    c = history.compare(head=second.run_ids[1])
    assert c.base_id == first.run_ids[1]


def test_first_run_has_nothing_to_compare_with():
    run_suite({"a": 1})
    with pytest.raises(LookupError, match="nothing to compare it with"):
        history.compare()


def test_gc_keeps_the_newest_runs(two_runs, store_rows):
    assert history.gc(1) == 1
    assert history.runs().ids == [two_runs[1].run_ids[0]]
    assert (
        store_rows(
            "SELECT count(*) AS n FROM case_results WHERE run_id = ?", two_runs[0].run_ids[0]
        )[0]["n"]
        == 0
    )


def test_exports(two_runs):
    run = history.run("latest")
    doc = json.loads(run.to_json())
    assert doc["format"] == "trialrun.run/1" and doc["run"]["id"] == run.run_id
    assert [c["hash"] for c in doc["cases"]] == ["a", "b", "c", "new"]
    rows = list(csv.DictReader(io.StringIO(run.to_csv())))
    assert len(rows) == 8  # 4 cases x 2 evaluators
    failed = [r for r in rows if r["verdict"] == "failed"]
    assert [(r["case_hash"], r["evaluator_id"], json.loads(r["metadata"])) for r in failed] == [
        ("b", "exact", {"got": 5})
    ]


def test_junit_xml_has_a_testcase_per_case_and_evaluator(two_runs):
    root = ET.fromstring(history.run("latest").junit_xml())
    cases = root.iter("testcase")
    names = [c.get("name") for c in cases]
    assert len(names) == 8 and "b / exact" in names
    failing = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failing] == ["b / exact"]
    assert '"got": 5' in failing[0].find("failure").text


def test_notebook_html(two_runs):
    base, head = two_runs
    for html in (
        head._repr_html_(),
        history.run("latest")._repr_html_(),
        history.runs()._repr_html_(),
        trialrun.compare(base, head)._repr_html_(),
    ):
        assert "<table" in html and "<html" not in html.lower()[:200]
    assert (
        "b" in head._repr_html_()
        and "&quot;got&quot;" in head._repr_html_()
        or '"got"' in head._repr_html_()
    )
    standalone = history.run("latest").html()
    assert standalone.lower().startswith("<!doctype html>")


def svg_charts(html: str, kind: str) -> dict[str, ET.Element]:
    """The report's SVG charts of one kind (histogram, pass-rates), parsed as XML, by
    their evaluator (histograms) or position."""
    found = {}
    for i, text in enumerate(re.findall(r"<svg .*?</svg>", html, re.S)):
        svg = ET.fromstring(text)
        if svg.get("class") == kind:
            found[svg.get("data-evaluator") or str(i)] = svg
    return found


def bar_counts(svg: ET.Element, series: str = "") -> list[int]:
    bars = [
        r
        for r in svg.iter("{http://www.w3.org/2000/svg}rect")
        if r.get("class") == "bar" and r.get("data-series") == series
    ]
    return [int(b.get("data-count")) for b in sorted(bars, key=lambda b: int(b.get("data-bin")))]


def test_reports_draw_score_histograms_and_grid_pass_rates(two_runs):
    base, head = two_runs
    # head: a, c and new answer 1 (exact 1, closeness 1); b answers 5 (exact 0, closeness 0.6)
    for html in (history.run(head.run_ids[0]).html(), head._repr_html_()):
        charts = svg_charts(html, "histogram")
        assert sorted(charts) == ["closeness", "exact"]
        assert bar_counts(charts["exact"]) == [1, 0, 0, 0, 0, 0, 0, 0, 0, 3]
        assert bar_counts(charts["closeness"]) == [0, 0, 0, 0, 0, 0, 1, 0, 0, 3]
    standalone = history.run(head.run_ids[0]).html()
    assert not re.search(r"(src|href)=\"?https?:", standalone)  # nothing fetched

    # The comparison overlays base and head over the cases both hold (a, b, c).
    charts = svg_charts(trialrun.compare(base, head).html(), "histogram")
    assert bar_counts(charts["exact"], "base") == [0, 0, 0, 0, 0, 0, 0, 0, 0, 3]
    assert bar_counts(charts["exact"], "head") == [1, 0, 0, 0, 0, 0, 0, 0, 0, 2]

    # A grid search's result in a notebook, and the runs list: pass rates as bars.
    grid = run_suite({"a": 1, "b": 5}, suite="grid-history", grid_search_params={"m": ["x", "y"]})
    for html in (grid._repr_html_(), history.runs()._repr_html_()):
        (bars,) = svg_charts(html, "pass-rates").values()
        rows = [
            g for g in bars.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "bar-row"
        ]
        assert [g.get("data-run-id") for g in rows] == sorted(grid.run_ids)
        assert "m=x" in ET.tostring(bars, encoding="unicode")
        for g in rows:
            (bar,) = [r for r in g if r.get("class") == "bar"]
            assert (bar.get("data-passed"), bar.get("data-total")) == ("1", "2")
    assert svg_charts(history.run(head.run_ids[0]).html(), "pass-rates") == {}


def test_a_corrupted_store_is_a_clear_error(trialrun_home):
    trialrun_home.mkdir(parents=True)
    (trialrun_home / "trialrun.db").write_bytes(b"not a database, not at all" * 100)
    with pytest.raises(trialrun.StoreError, match="trialrun.db"):
        history.runs()
    with pytest.raises(trialrun.StoreError, match="trialrun.db"):
        run_suite({"a": 1})


# --- CLI --------------------------------------------------------------------------------


def test_cli_runs_show_and_export(two_runs, subprocess_env, tmp_path):
    base, head = two_runs
    out = cli(["runs"], subprocess_env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.index(head.run_ids[0]) < out.stdout.index(base.run_ids[0])

    out = cli(["show"], subprocess_env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.index("FAIL b") < out.stdout.index("ok   a"), out.stdout  # failures first
    assert '{"got":5}' in out.stdout

    target = tmp_path / "run.csv"
    out = cli(
        ["export", base.run_ids[0], "--format", "csv", "-o", str(target)], subprocess_env, tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert next(csv.reader(target.open()))[0] == "run_id"
    out = cli(["export", "--format", "junit"], subprocess_env, tmp_path)
    assert ET.fromstring(out.stdout).tag == "testsuites"
    out = cli(
        ["export", "--format", "html", "-o", str(tmp_path / "r.html")], subprocess_env, tmp_path
    )
    assert (tmp_path / "r.html").read_text().lower().startswith("<!doctype html>")


def test_cli_compare_exit_codes_and_options(two_runs, subprocess_env, tmp_path):
    out = cli(["compare"], subprocess_env, tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "b / exact: passed -> failed" in out.stdout
    assert cli(["compare", "--ignore-newly-failing"], subprocess_env, tmp_path).returncode == 0
    assert (
        cli(["compare", "--ignore-newly-failing", "--removed"], subprocess_env, tmp_path).returncode
        == 1
    )
    out = cli(["compare", "--json", "--html", str(tmp_path / "c.html")], subprocess_env, tmp_path)
    doc = json.loads(out.stdout)
    assert doc["added"] == ["new"] and doc["regressions"][0]["hash"] == "b"
    assert "newly" in (tmp_path / "c.html").read_text()
    reverse = cli(
        ["compare", two_runs[1].run_ids[0], two_runs[0].run_ids[0]], subprocess_env, tmp_path
    )
    assert reverse.returncode == 0 and "no regressions" in reverse.stdout


def test_cli_lookup_errors_exit_2(subprocess_env, tmp_path):
    out = cli(["show"], subprocess_env, tmp_path)
    assert out.returncode == 2 and "no run store here or in a parent folder yet" in out.stderr
    run_suite({"a": 1})
    out = cli(["show", "nope"], subprocess_env, tmp_path)
    assert out.returncode == 2 and 'no run matches "nope"' in out.stderr
    out = cli(["compare"], subprocess_env, tmp_path)
    assert out.returncode == 2 and "nothing to compare" in out.stderr


def test_cli_gc(two_runs, subprocess_env, tmp_path):
    out = cli(["gc", "--keep", "1"], subprocess_env, tmp_path)
    assert out.returncode == 0 and "deleted 1 run" in out.stdout
    assert history.runs().ids == [two_runs[1].run_ids[0]]


def test_cli_run_writes_junit(subprocess_env, tmp_path):
    script = tmp_path / "suite.py"
    script.write_text(
        textwrap.dedent(
            """
            import dataclasses
            from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, run_test_suite

            @dataclasses.dataclass
            class C(BaseTestCase):
                n: int
                def hash(self): return f"n{self.n}"

            class Even(BaseTestEvaluator):
                id = "even"
                def evaluate_test_case(self, case, output):
                    return Evaluation(score=1 - output % 2, threshold=Threshold(gte=1), metadata={"n": output})

            def boom(case):
                if case.n == 3:
                    raise RuntimeError("three")
                return case.n

            run_test_suite("junit-suite", [C(n) for n in range(4)], [Even()], boom)
            """
        )
    )
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    out = cli(["run", "--junit", str(junit), str(script)], subprocess_env, tmp_path)
    assert out.returncode == 1, out.stderr
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "4" and root.get("failures") == "1" and root.get("errors") == "1"
    by_name = {c.get("name"): c for c in root.iter("testcase")}
    assert by_name["n1 / even"].find("failure") is not None
    assert "RuntimeError: three" in by_name["n3 / fn"].find("error").text


def test_pytest_plugin_writes_junit(pytester, trialrun_home):
    pytester.makeconftest(
        f"""
        import pytest
        @pytest.fixture(autouse=True)
        def _home(monkeypatch):
            monkeypatch.setenv("TRIALRUN_HOME", {str(trialrun_home)!r})
        """
    )
    pytester.makepyfile(
        """
        import dataclasses
        from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold

        @dataclasses.dataclass
        class C(BaseTestCase):
            n: int
            def hash(self): return f"n{self.n}"

        class Small(BaseTestEvaluator):
            id = "small"
            def evaluate_test_case(self, case, output):
                return Evaluation(score=1 if output < 2 else 0, threshold=Threshold(gte=1))

        def test_suite(trialrun):
            trialrun.run("plugin-junit", [C(n) for n in range(3)], [Small()], lambda c: c.n, check=False)
        """
    )
    target = pytester.path / "suites.xml"
    result = pytester.runpytest_subprocess(f"--trialrun-junit={target}")
    result.assert_outcomes(passed=1)
    root = ET.parse(target).getroot()
    assert root.get("tests") == "3" and root.get("failures") == "1"


# --- store hygiene ------------------------------------------------------------------------


def test_two_processes_writing_at_once_lose_no_rows(subprocess_env, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(
        textwrap.dedent(
            """
            import dataclasses, sys
            from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, run_test_suite

            @dataclasses.dataclass
            class C(BaseTestCase):
                n: int
                def hash(self): return f"n{self.n}"

            class One(BaseTestEvaluator):
                id = "one"
                def evaluate_test_case(self, case, output):
                    return Evaluation(score=1)

            async def fn(case):
                return case.n

            run_test_suite(sys.argv[1], [C(n) for n in range(3000)], [One()], fn, max_test_case_concurrency=100, quiet=True)
            """
        )
    )
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), f"writer-{i}"], env=subprocess_env, cwd=tmp_path
        )
        for i in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    for i in range(2):
        run = history.run("latest", suite=f"writer-{i}")
        assert run.status == "completed"
        assert len(run.cases) == 3000
        assert sum(len(c["evaluations"]) for c in run.cases) == 3000


def test_record_false_leaves_the_store_alone(trialrun_home):
    result = run_suite({"a": 1}, record=False)
    assert result.passed and result.store_path is None
    assert not (trialrun_home / "trialrun.db").exists()


def test_cli_ui_serves_the_store_until_ctrl_c(two_runs, subprocess_env, tmp_path):
    import signal
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "trialrun", "ui", "--port", "0", "--no-browser"],
        env=subprocess_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("trialrun viewer on http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[3]
        with urllib.request.urlopen(url + "api/runs", timeout=10) as response:
            listed = json.load(response)
        assert [r["id"] for r in listed] == [two_runs[1].run_ids[0], two_runs[0].run_ids[0]]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_junit_leaves_out_unrecorded_suites(two_runs):
    from trialrun.history import _junit

    unrecorded = run_suite({"a": 1}, record=False)
    root = ET.fromstring(_junit([two_runs[1], unrecorded]))
    assert root.get("tests") == "8"  # head's 4 cases x 2 evaluators only


def test_junit_of_only_unrecorded_suites_is_empty(trialrun_home):
    from trialrun.history import _junit

    root = ET.fromstring(_junit([run_suite({"a": 1}, record=False)]))
    assert root.tag == "testsuites" and root.get("tests") == "0"
    assert not (trialrun_home / "trialrun.db").exists()


def grid_answers(case: Case) -> int:
    """Model "good" answers every case right; "bad" gets case b wrong and raises on c."""
    model = trialrun.grid_search_ctx()["model"]
    if model == "bad" and case.name == "c":
        raise ValueError("bad model broke on c")
    return 5 if model == "bad" and case.name == "b" else 1


def matrix_rows(text: str) -> dict[str, dict[str, str]]:
    """The grid matrix's rows by combination, each its cells by column name."""
    block = text[text.index("grid search: 2 combinations") :].splitlines()[1:4]
    header, *rows = [re.split(r" {2,}", row.strip()) for row in block]
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in rows}


def test_a_grid_search_summary_ends_with_a_row_per_combination(capsys, subprocess_env, tmp_path):
    result = run_test_suite(
        "grid-matrix",
        [Case("a", 1), Case("b", 1), Case("c", 1)],
        [Exact(), Closeness()],
        grid_answers,
        grid_search_params={"model": ["good", "bad"], "temp": [0]},
        quiet=False,
    )
    printed = capsys.readouterr().out
    assert printed == result.summary()
    rows = matrix_rows(printed)
    # good: 3 passed, exact 1 / 100% (the best); bad: a passed, b failed, c raised.
    # Cells of exact: mean score / pass rate; closeness has no threshold: its mean.
    assert rows == {
        "model=good, temp=0": dict(
            passed="3 *", failed="0", errored="0", exact="1 / 100% *", closeness="1"
        ),
        "model=bad, temp=0": dict(
            passed="1", failed="1", errored="1", exact="0.5 / 50%", closeness="0.8"
        ),
    }

    # trialrun show of either combination shows the same matrix from the store.
    out = cli(["show", result.run_ids[1]], subprocess_env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert matrix_rows(out.stdout) == rows, out.stdout
    assert out.stdout.index("grid search: 2 combinations") < out.stdout.index("FAIL c")

    # The HTML export of a combination has the matrix as a table.
    page = history.run(result.run_ids[0]).html()
    assert "<h3>Grid search: 2 combinations</h3>" in page
    assert '<td class="num">1 / 100% *</td>' in page
    assert "<h3>Grid search" not in history.run(run_suite({"a": 1}).run_ids[0]).html()
