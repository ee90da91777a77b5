"""The local web viewer (trialrun._core.Viewer): its JSON API over plain HTTP, and the page
end to end in headless Chromium (Debian's chromium and chromedriver, driven by selenium;
scripts/install_browser.sh installs them)."""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, run_test_suite
from trialrun._core import Viewer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SUITE = "qa-suite"

# --- a small suite, run twice ----------------------------------------------------------


@dataclasses.dataclass
class Question(BaseTestCase):
    n: int
    text: str
    expected: str

    def hash(self) -> str:
        return f"q-{self.n}"


QUESTIONS = [
    Question(0, "<b>first</b> question", "alpha answer"),
    Question(1, "second question", "beta answer"),
    Question(2, "third question", "gamma answer"),
    Question(3, "fourth question", "tiny"),
    Question(4, "fifth question", "delta answer"),
]


class Exact(BaseTestEvaluator):
    id = "exact"

    def evaluate_test_case(self, test_case: Question, output: str) -> Evaluation:
        return Evaluation(
            score=1.0 if output == test_case.expected else 0.0,
            threshold=Threshold(gte=1),
            metadata={"expected": test_case.expected, "got": output},
        )


class Length(BaseTestEvaluator):
    id = "length"

    def evaluate_test_case(self, test_case: Question, output: str) -> Evaluation:
        return Evaluation(
            score=min(len(output) / 10, 1.0),
            threshold=Threshold(gte=0.5),
            metadata={"chars": len(output)},
        )


def run_suite(answers: dict[int, str]) -> str:
    """One run of the suite; fn answers the expected text unless `answers` overrides it
    (an Exception value is raised). Returns the run id."""

    def fn(question: Question) -> str:
        answer = answers.get(question.n, question.expected)
        if isinstance(answer, Exception):
            raise answer
        return answer

    result = run_test_suite(SUITE, QUESTIONS, [Exact(), Length()], fn, quiet=True)
    (run_id,) = result.run_ids
    return run_id


@pytest.fixture
def runs(trialrun_home: Path) -> tuple[str, str]:
    """Two runs in the test's own store (TRIALRUN_HOME, set by conftest): in the second,
    q-2 newly fails `exact`, q-4's fn raises; q-3 fails `length` in both."""
    assert os.environ["TRIALRUN_HOME"] == str(trialrun_home)
    base = run_suite({})
    head = run_suite({2: "wrong", 4: ValueError("the model is down")})
    return base, head


@pytest.fixture
def viewer(runs: tuple[str, str], trialrun_home: Path) -> Iterator[Viewer]:
    with Viewer(store_path=str(trialrun_home / "trialrun.db"), port=0) as v:
        yield v


# --- the API over plain HTTP ------------------------------------------------------------


def fetch(url: str) -> tuple[int, Message, bytes]:
    """Status, headers (names in any case) and body, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def fetch_json(url: str) -> tuple[int, Any]:
    status, headers, body = fetch(url)
    assert headers["Content-Type"] == "application/json"
    return status, json.loads(body)


def test_api_over_http(viewer: Viewer, runs: tuple[str, str]) -> None:
    base, head = runs
    assert viewer.url == f"http://127.0.0.1:{viewer.port}/"
    api = viewer.url + "api/"

    status, listed = fetch_json(api + "runs")
    assert status == 200
    assert [r["id"] for r in listed] == [head, base]
    assert listed[0]["suite_id"] == SUITE and listed[0]["status"] == "completed"
    assert (listed[0]["cases"], listed[0]["errored_cases"]) == (5, 1)
    # q-2 and q-3 fail an evaluation, q-4 raised: the stored status stays completed, the
    # verdict people read is failed, with 2 of 5 passing.
    assert (listed[0]["verdict"], listed[0]["failed_cases"], listed[0]["pass_rate"]) == (
        "failed",
        2,
        0.4,
    )
    assert (listed[1]["verdict"], listed[1]["failed_cases"], listed[1]["pass_rate"]) == (
        "failed",
        1,
        0.8,
    )
    assert [r["id"] for r in fetch_json(api + "runs?limit=1")[1]] == [head]
    assert fetch_json(api + f"runs?suite={SUITE}")[1] == listed

    status, data = fetch_json(api + "runs/" + head[:-4])  # a unique prefix
    assert status == 200 and data["run"]["id"] == head
    assert data["previous"] == base  # the page offers "compare with previous" from this
    # Each case carries its label: here its first two short text fields.
    assert data["cases"][2]["label"] == "third question · gamma answer"
    assert fetch_json(api + "runs/" + base)[1]["previous"] is None
    assert [c["hash"] for c in data["cases"]] == [f"q-{n}" for n in range(5)]
    assert data["cases"][0]["test_case"]["text"] == "<b>first</b> question"
    assert "ValueError: the model is down" in data["cases"][4]["error"]
    q2 = [e for e in data["evaluations"] if e["case_hash"] == "q-2"]
    assert [(e["evaluator_id"], e["verdict"]) for e in q2] == [
        ("exact", "failed"),
        ("length", "passed"),
    ]
    assert q2[0]["metadata"] == {"expected": "gamma answer", "got": "wrong"}
    assert fetch_json(api + "runs/latest")[1]["run"]["id"] == head

    status, answer = fetch_json(api + "compare")
    assert status == 200
    comparison = answer["comparison"]
    assert (comparison["base"]["id"], comparison["head"]["id"]) == (base, head)
    assert comparison["evaluators"][0]["newly_failing"] == ["q-2"]
    reasons = [(r["hash"], r["evaluator_id"], r["reason"]) for r in answer["regressions"]]
    assert reasons == [("q-2", "exact", "passed -> failed"), ("q-4", None, "fn newly raised")]

    status, error = fetch_json(api + "runs/no-such-run")
    assert status == 404 and error == {"error": 'no run matches "no-such-run"'}
    status, error = fetch_json(api + "runs/")  # "" is no run reference: a page that does not exist
    assert status == 404
    common = os.path.commonprefix([base, head])
    status, error = fetch_json(api + "runs/" + common)
    assert status == 400 and "matches 2 runs" in error["error"]
    status, error = fetch_json(api + f"compare?head={base}")
    assert status == 404 and "nothing to compare it with" in error["error"]
    status, error = fetch_json(api + "runs?limit=-1")
    assert status == 400 and "limit" in error["error"]

    status, headers, body = fetch(viewer.url)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert b'<script src="/app.js"' in body
    assert fetch(viewer.url + "app.js")[1]["Content-Type"] == "text/javascript; charset=utf-8"
    assert fetch(viewer.url + "style.css")[1]["Content-Type"] == "text/css; charset=utf-8"


def test_case_pages_sort_search_filter_and_errors(viewer: Viewer, runs: tuple[str, str]) -> None:
    base, head = runs
    api = viewer.url + f"api/runs/{head}/"

    def page(query: str) -> tuple[int, list[str]]:
        status, answer = fetch_json(api + "cases" + query)
        assert status == 200, answer
        return answer["total"], [c["hash"] for c in answer["cases"]]

    status, answer = fetch_json(api + "cases?limit=2")
    assert (status, answer["total"], answer["offset"], answer["limit"]) == (200, 5, 0, 2)
    first = answer["cases"][0]
    assert first["hash"] == "q-0" and first["test_case"]["text"] == "<b>first</b> question"
    assert [e["evaluator_id"] for e in first["evaluations"]] == ["exact", "length"]
    assert page("?offset=2&limit=2") == (5, ["q-2", "q-3"])
    assert page("?offset=5") == (5, [])
    # By length's score, lowest first: q-3 ("tiny", 0.4) first; q-4 raised, has no
    # score, and comes last in either direction.
    assert page("?sort=score:length")[1][0] == "q-3"
    assert page("?sort=score:length&dir=desc")[1][-1] == "q-4"
    # by label: "<b>first…", "fifth…", "fourth…", "second…", "third…"
    assert page("?sort=case")[1] == ["q-0", "q-4", "q-3", "q-1", "q-2"]
    assert page("?sort=status&dir=desc")[1][:3] == ["q-4", "q-2", "q-3"]
    # Search looks in the test case, the output, the traceback and evaluation metadata,
    # ASCII case-insensitively.
    assert page("?q=GAMMA") == (1, ["q-2"])
    assert page("?q=model%20is%20down") == (1, ["q-4"])
    assert page("?q=%22got%22") == (4, ["q-0", "q-1", "q-2", "q-3"])  # exact's metadata
    assert page("?q=100%25") == (0, [])  # % is looked for, not a wildcard
    assert page("?status=failed") == (2, ["q-2", "q-3"])
    assert page("?status=failed&evaluator=exact") == (1, ["q-2"])
    assert page("?status=errored") == (1, ["q-4"])
    assert page("?status=passed") == (2, ["q-0", "q-1"])

    for query, needle in [
        ("?sort=colour", 'cannot sort by "colour"'),
        ("?sort=score:nope", f'sort: run {head} has no evaluator "nope" (it has: exact, length)'),
        ("?evaluator=nope", f'evaluator: run {head} has no evaluator "nope"'),
        ("?dir=sideways", "dir must be asc or desc"),
        ("?limit=0", "limit must be from 1 to 500"),
        ("?offset=x", 'offset must be a whole number, got "x"'),
        ("?status=green", "status must be all, passed, failed or errored"),
        ("?page=2", "unknown parameter page"),
    ]:
        status, error = fetch_json(api + "cases" + query)
        assert status == 400 and needle in error["error"], (query, error)
    assert fetch_json(viewer.url + "api/runs/no-such-run/cases")[0] == 404

    status, summary = fetch_json(api + "summary")
    assert status == 200 and summary["run"]["id"] == head and summary["previous"] == base
    exact, length = summary["evaluators"]
    assert (exact["id"], exact["passed"], exact["failed"], exact["scored"]) == ("exact", 3, 1, 4)
    assert exact["range"] == [0.0, 1.0]
    assert exact["histogram"] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 3]  # one 0.0, three 1.0
    assert exact["svg"].count('<rect class="bar"') == 10
    assert 'data-bin="9" data-count="3"' in exact["svg"]
    assert length["histogram"][4] == 1  # "tiny": 0.4
    assert summary["grid"] is None  # not a grid search

    status, answer = fetch_json(viewer.url + "api/compare")
    assert status == 200
    exact = next(h for h in answer["histograms"] if h["evaluator"] == "exact")
    assert (exact["base"], exact["head"]) == ([0] * 9 + [5], [1] + [0] * 8 + [3])
    assert exact["svg"].count('<rect class="bar"') == 20


def test_default_store_port_errors_and_stop(runs: tuple[str, str]) -> None:
    with Viewer() as v:  # the store of TRIALRUN_HOME
        assert [r["id"] for r in fetch_json(v.url + "api/runs")[1]] == list(reversed(runs))
        with pytest.raises(OSError, match=f"127.0.0.1:{v.port}: port {v.port} is already in use"):
            Viewer(port=v.port)
        assert v.running
    assert not v.running
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(v.url, timeout=5)
    v.stop()  # twice is harmless
    assert repr(v) == f"<trialrun Viewer {v.url} (stopped)>"


# --- the page in headless Chromium ------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = CHROMIUM
    for arg in [
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        # Everything but loopback goes to a closed loopback port: the page (and the
        # browser) cannot reach anything else.
        "--proxy-server=http://127.0.0.1:9",
    ]:
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver's path is given, so selenium never looks for (or downloads) one.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_page(driver: WebDriver, page: str) -> None:
    WebDriverWait(driver, 15).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, f"body[data-page='{page}']"))
    )


def wait_cases(driver: WebDriver) -> None:
    """Waits for the run page's cases table to show the view state in the URL: a change
    of filter, sort, search or page marks it loading until its page of cases is shown."""
    WebDriverWait(driver, 15).until(
        lambda d: d.execute_script("return document.body.dataset.cases") == "ready"
    )


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def visible_hashes(driver: WebDriver) -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#cases-table tr.case-row")
    return [row.get_attribute("data-hash") for row in rows]


def texts(elements: list[WebElement]) -> list[str]:
    return [e.text for e in elements]


@pytest.fixture
def page(browser: WebDriver, viewer: Viewer) -> Iterator[WebDriver]:
    """The browser on the viewer's front page; fails the test on any console error."""
    console_errors(browser)  # drop what earlier tests left
    browser.get(viewer.url)
    wait_page(browser, "runs")
    yield browser
    assert console_errors(browser) == []


def test_runs_list_shows_both_runs(page: WebDriver, runs: tuple[str, str]) -> None:
    base, head = runs
    rows = page.find_elements(By.CSS_SELECTOR, "#runs-table tbody tr.run-row")
    assert [r.get_attribute("data-run-id") for r in rows] == [head, base]
    cells = texts(rows[0].find_elements(By.TAG_NAME, "td"))
    assert cells[1] == SUITE
    assert cells[3] == "failed"  # stored as completed, but cases failed
    assert cells[5:9] == ["5", "40%", "2", "1"]  # cases, passed, failed, errored
    assert page.find_element(By.ID, "compare-button").get_attribute("disabled") is not None
    assert page.title == "trialrun"


def test_the_first_run_offers_no_comparison(page: WebDriver, runs: tuple[str, str]) -> None:
    base, head = runs
    page.find_element(By.CSS_SELECTOR, f"tr.run-row[data-run-id='{base}'] a.run-link").click()
    wait_page(page, "run")
    assert page.find_elements(By.ID, "compare-previous") == []
    assert "nothing before it" in page.find_element(By.ID, "no-previous").text


def test_run_view_filters_and_case_details(page: WebDriver, runs: tuple[str, str]) -> None:
    base, head = runs
    page.find_element(By.CSS_SELECTOR, f"tr.run-row[data-run-id='{head}'] a.run-link").click()
    wait_page(page, "run")
    assert page.current_url.endswith(f"#/run/{head}")
    assert page.find_element(By.ID, "run-header").get_attribute("data-run-id") == head
    assert page.find_element(By.ID, "run-suite").text == SUITE
    facts = {
        dd.get_attribute("data-fact"): dd.text
        for dd in page.find_elements(By.CSS_SELECTOR, "#run-header dd[data-fact]")
    }
    assert (facts["run"], facts["suite"], facts["status"]) == (head, SUITE, "failed (completed)")
    assert facts["cases"] == "5 (1 where fn raised)"
    exact = page.find_element(By.CSS_SELECTOR, "#evaluator-summary tr[data-evaluator='exact']")
    assert exact.find_element(By.CSS_SELECTOR, "[data-count='passed']").text == "3"
    assert exact.find_element(By.CSS_SELECTOR, "[data-count='failed']").text == "1"

    all_cases = [f"q-{n}" for n in range(5)]
    assert visible_hashes(page) == all_cases
    status = Select(page.find_element(By.ID, "filter-status"))
    evaluator = Select(page.find_element(By.ID, "filter-evaluator"))

    status.select_by_value("failed")

    wait_cases(page)
    assert visible_hashes(page) == ["q-2", "q-3"]  # exact fails q-2, length fails q-3
    assert page.find_element(By.ID, "case-count").text == "2 of 5 cases"
    for row in page.find_elements(By.CSS_SELECTOR, "#cases-table tr.case-row"):
        verdicts = [
            v.get_attribute("data-verdict")
            for v in row.find_elements(By.CSS_SELECTOR, "[data-verdict]")
        ]
        assert "failed" in verdicts

    evaluator.select_by_value("exact")

    wait_cases(page)
    assert visible_hashes(page) == ["q-2"]
    headers = texts(page.find_elements(By.CSS_SELECTOR, "#cases-table thead th[data-evaluator]"))
    assert headers == ["exact"]
    evaluator.select_by_value("length")
    wait_cases(page)
    assert visible_hashes(page) == ["q-3"]

    status.select_by_value("errored")

    wait_cases(page)
    assert visible_hashes(page) == ["q-4"]
    status.select_by_value("all")
    wait_cases(page)
    evaluator.select_by_value("")
    wait_cases(page)
    assert visible_hashes(page) == all_cases

    # A case opens to its test case, output and evaluations; data stays text.
    page.find_element(By.CSS_SELECTOR, "tr.case-row[data-hash='q-2']").click()
    detail = page.find_element(By.CSS_SELECTOR, "tr.detail[data-hash='q-2']")
    assert detail.is_displayed()
    assert (
        detail.find_element(By.CSS_SELECTOR, "pre.output").text == "wrong"
    )  # a str output, unquoted
    evaluation = detail.find_element(By.CSS_SELECTOR, "tr[data-evaluator='exact']")
    assert json.loads(evaluation.find_element(By.CSS_SELECTOR, "pre.metadata").text) == {
        "expected": "gamma answer",
        "got": "wrong",
    }
    assert "≥ 1" in evaluation.text and "failed" in evaluation.text
    page.find_element(By.CSS_SELECTOR, "tr.case-row[data-hash='q-2']").click()
    assert not detail.is_displayed()

    page.find_element(By.CSS_SELECTOR, "tr.case-row[data-hash='q-0']").click()
    test_case = page.find_element(By.CSS_SELECTOR, "tr.detail[data-hash='q-0'] pre.test-case")
    assert json.loads(test_case.text)["text"] == "<b>first</b> question"
    assert test_case.find_elements(By.TAG_NAME, "b") == []  # shown as text, not markup

    page.find_element(By.CSS_SELECTOR, "tr.case-row[data-hash='q-4']").click()
    traceback = page.find_element(By.CSS_SELECTOR, "tr.detail[data-hash='q-4'] pre.traceback")
    assert "ValueError: the model is down" in traceback.text


def test_compare_view_puts_the_newly_failing_case_first(
    page: WebDriver, runs: tuple[str, str]
) -> None:
    base, head = runs
    for run_id in (base, head):
        page.find_element(By.CSS_SELECTOR, f"input.pick[data-run-id='{run_id}']").click()
    button = page.find_element(By.ID, "compare-button")
    assert button.get_attribute("disabled") is None
    button.click()
    wait_page(page, "compare")
    assert page.current_url.endswith(f"#/compare/{base}/{head}")
    for side, run_id in (("base", base), ("head", head)):
        facts = page.find_element(By.CSS_SELECTOR, f"#compare-{side} dd[data-fact='run']")
        assert facts.text == run_id

    rows = page.find_elements(By.CSS_SELECTOR, "#compare-table tr.compare-row")
    first = rows[0]
    assert (first.get_attribute("data-hash"), first.get_attribute("data-evaluator")) == (
        "q-2",
        "exact",
    )
    assert first.get_attribute("data-change") == "newly_failing"
    assert first.find_element(By.CSS_SELECTOR, ".base-side [data-verdict]").text == "passed"
    assert first.find_element(By.CSS_SELECTOR, ".head-side [data-verdict]").text == "failed"
    base_metadata = json.loads(
        first.find_element(By.CSS_SELECTOR, ".base-metadata pre.metadata").text
    )
    head_metadata = json.loads(
        first.find_element(By.CSS_SELECTOR, ".head-metadata pre.metadata").text
    )
    assert base_metadata == {"expected": "gamma answer", "got": "gamma answer"}
    assert head_metadata == {"expected": "gamma answer", "got": "wrong"}
    assert first.find_elements(By.TAG_NAME, "td")[5].text == "-1"  # score delta

    changes = [r.get_attribute("data-change") for r in rows]
    assert changes[:2] == ["newly_failing", "newly_errored"]
    assert set(changes[2:]) <= {"same", "removed"}
    assert (
        page.find_element(
            By.CSS_SELECTOR, "tr.compare-row[data-change='newly_errored']"
        ).get_attribute("data-hash")
        == "q-4"
    )
    regressions = texts(page.find_elements(By.CSS_SELECTOR, "#regressions li"))
    # Cases read by their label (their first short text fields), the hash beside.
    assert regressions == [
        "third question · gamma answer q-2 · exact: passed -> failed",
        "fifth question · delta answer q-4: fn newly raised",
    ]
    exact = page.find_element(By.CSS_SELECTOR, "#compare-evaluators tr[data-evaluator='exact']")
    assert exact.find_element(By.CSS_SELECTOR, "[data-count='newly_failing']").text == "1"
    # exact's scores overlaid: base scored all 5 cases 1.0; head scored q-2 0.0, q-4 raised.
    chart = "#compare-charts svg.histogram[data-evaluator='exact']"
    for series, expected in (("base", [0] * 9 + [5]), ("head", [1] + [0] * 8 + [3])):
        bars = page.find_elements(By.CSS_SELECTOR, f"{chart} rect.bar[data-series='{series}']")
        assert [int(b.get_attribute("data-count")) for b in bars] == expected
    assert page.find_element(By.ID, "added-cases").text == "None."
    assert page.find_element(By.ID, "removed-cases").text == "None."

    # Back to a run, then its "compare with the run before it" link gives the same pair.
    page.find_element(By.CSS_SELECTOR, "#compare-head h2 a").click()
    wait_page(page, "run")
    page.find_element(By.ID, "compare-previous").click()
    wait_page(page, "compare")
    first = page.find_element(By.CSS_SELECTOR, "#compare-table tr.compare-row")
    assert (first.get_attribute("data-hash"), first.get_attribute("data-change")) == (
        "q-2",
        "newly_failing",
    )
    assert head[:8] in page.find_element(By.ID, "compare-head").text


# --- a larger run: paging, sort, search and the view state in the URL --------------------


@dataclasses.dataclass
class Numbered(BaseTestCase):
    n: int

    def hash(self) -> str:
        return f"n-{self.n:03}"


class Grade(BaseTestEvaluator):
    id = "grade"

    def evaluate_test_case(self, test_case: Numbered, output: str) -> Evaluation:
        return Evaluation(
            score=(test_case.n * 37 % 100) / 100,
            threshold=Threshold(gte=0.2),
            metadata={"tag": f"tag{test_case.n:03}x"},
        )


def numbered_fn(case: Numbered) -> str:
    if case.n % 50 == 7:
        raise RuntimeError(f"case {case.n} broke")
    return f"out {case.n}"


def row_scores(driver: WebDriver) -> list[float]:
    cells = driver.find_elements(
        By.CSS_SELECTOR, "#cases-table tr.case-row td[data-evaluator='grade']"
    )
    return [float(c.get_attribute("data-score")) for c in cells]


def test_compare_of_large_runs_shows_what_changed_and_the_rest_on_demand(
    browser: WebDriver, trialrun_home: Path
) -> None:
    """Two runs of 600 cases, 3 changed: the comparison shows the 3 and keeps the 597
    unchanged rows behind a button (200 at a time), instead of one very tall page."""
    cases = [Numbered(n) for n in range(600)]
    (base,) = run_test_suite("compared", cases, [Grade()], lambda c: "x", quiet=True).run_ids

    class Worse(Grade):
        def evaluate_test_case(self, test_case: Numbered, output: str) -> Evaluation:
            e = super().evaluate_test_case(test_case, output)
            if test_case.n in (10, 20, 30):
                return Evaluation(score=0.0, threshold=Threshold(gte=0.2))
            return e

    (head,) = run_test_suite("compared", cases, [Worse()], lambda c: "x", quiet=True).run_ids
    console_errors(browser)
    with Viewer(store_path=str(trialrun_home / "trialrun.db"), port=0) as viewer:
        browser.get(viewer.url + f"#/compare/{base}/{head}")
        wait_page(browser, "compare")
        rows = browser.find_elements(By.CSS_SELECTOR, "#compare-table tr.compare-row")
        changed = {r.get_attribute("data-hash") for r in rows}
        # n 10, 20, 30 newly fail, unless their base score was under 0.2 already
        expected = {f"n-{n:03}" for n in (10, 20, 30) if (n * 37 % 100) / 100 >= 0.2}
        assert changed == expected and expected
        more = browser.find_element(By.ID, "compare-more")
        assert more.text == f"Show 200 of the {600 - len(expected)} unchanged rows"
        height = browser.execute_script("return document.body.scrollHeight")
        assert height < 4000, height
        more.click()  # the next page of rows is read from the server
        WebDriverWait(browser, 10).until(
            lambda d: (
                len(d.find_elements(By.CSS_SELECTOR, "#compare-table tr.compare-row"))
                == len(expected) + 200
            )
        )
        rows = browser.find_elements(By.CSS_SELECTOR, "#compare-table tr.compare-row")
        assert more.text == f"Show 200 of the {600 - len(expected) - 200} unchanged rows"
        assert {r.get_attribute("data-change") for r in rows[len(expected) :]} == {"same"}
        assert console_errors(browser) == []


def test_run_page_pages_sorts_searches_and_keeps_its_view_in_the_url(
    browser: WebDriver, trialrun_home: Path
) -> None:
    cases = [Numbered(n) for n in range(300)]
    (run_id,) = run_test_suite("numbered", cases, [Grade()], numbered_fn, quiet=True).run_ids
    console_errors(browser)
    with Viewer(store_path=str(trialrun_home / "trialrun.db"), port=0) as viewer:
        browser.get(viewer.url + f"#/run/{run_id}")
        wait_page(browser, "run")
        wait_cases(browser)
        assert visible_hashes(browser) == [f"n-{n:03}" for n in range(50)]
        info = browser.find_element(By.ID, "page-info")
        assert info.text == "1–50 · page 1 of 6"
        assert browser.find_element(By.ID, "page-prev").get_attribute("disabled") is not None

        # The score histogram: 10 bins holding the 294 scores (6 cases raised).
        bars = browser.find_elements(
            By.CSS_SELECTOR, "#score-charts svg.histogram[data-evaluator='grade'] rect.bar"
        )
        assert len(bars) == 10
        assert sum(int(b.get_attribute("data-count")) for b in bars) == 294

        browser.find_element(By.ID, "page-next").click()
        wait_cases(browser)
        assert browser.current_url.endswith(f"#/run/{run_id}?page=2")
        assert visible_hashes(browser)[0] == "n-050"

        # Sorting by the score starts with the best and goes back to page 1.
        browser.find_element(By.CSS_SELECTOR, "th[data-sort='score:grade'] button").click()
        wait_cases(browser)
        assert browser.current_url.endswith("?sort=score%3Agrade&dir=desc")
        scores = row_scores(browser)
        assert scores[0] == 0.99 and scores == sorted(scores, reverse=True) and len(scores) == 50
        header = browser.find_element(By.CSS_SELECTOR, "th[data-sort='score:grade']")
        assert header.get_attribute("aria-sort") == "descending"
        browser.find_element(By.CSS_SELECTOR, "th[data-sort='score:grade'] button").click()
        wait_cases(browser)
        scores = row_scores(browser)
        assert scores[0] == 0.0 and scores == sorted(scores)

        # Search reaches evaluation metadata; the view survives a reload.
        search = browser.find_element(By.ID, "case-search")
        search.send_keys("TAG123X\n")
        wait_cases(browser)
        assert "q=TAG123X" in browser.current_url
        assert visible_hashes(browser) == ["n-123"]
        assert browser.find_element(By.ID, "case-count").text == "1 of 300 cases"
        browser.refresh()
        wait_page(browser, "run")
        wait_cases(browser)
        assert visible_hashes(browser) == ["n-123"]
        assert browser.find_element(By.ID, "case-search").get_attribute("value") == "TAG123X"
        assert (
            browser.find_element(By.CSS_SELECTOR, "th[data-sort='score:grade']").get_attribute(
                "aria-sort"
            )
            == "ascending"
        )

        # A shared link opens its view: the cases whose fn raised, by duration.
        browser.get(viewer.url + f"#/run/{run_id}?status=errored&sort=hash&dir=desc")
        wait_cases(browser)
        assert visible_hashes(browser) == [f"n-{n:03}" for n in (257, 207, 157, 107, 57, 7)]
        assert Select(browser.find_element(By.ID, "filter-status")).first_selected_option.text == (
            "errored"
        )
        browser.back()  # history holds each view
        wait_cases(browser)
        assert visible_hashes(browser) == ["n-123"]

        # A link naming an evaluator the run does not have: the page says so in the table.
        browser.get(viewer.url + f"#/run/{run_id}?sort=score%3Anope")
        error = WebDriverWait(browser, 10).until(
            EC.presence_of_element_located((By.ID, "cases-error"))
        )
        assert 'no evaluator "nope"' in error.text
        assert browser.find_element(By.ID, "run-suite").text == "numbered"
        console_errors(browser)  # the refused request is logged as a 400
        assert console_errors(browser) == []


def test_grid_search_pass_rates_as_bars(browser: WebDriver, trialrun_home: Path) -> None:
    def fn(case: Numbered) -> str:
        from trialrun import grid_search_ctx

        grid = grid_search_ctx() or {}
        if grid.get("model") == "small" and case.n % 2:
            raise RuntimeError("too small")
        return "ok"

    result = run_test_suite(
        "grid",
        [Numbered(n) for n in range(4)],
        [Grade()],
        fn,
        grid_search_params={"model": ["small", "large"]},
        quiet=True,
    )
    small, large = result.run_ids
    console_errors(browser)
    with Viewer(store_path=str(trialrun_home / "trialrun.db"), port=0) as viewer:
        status, summary = fetch_json(viewer.url + f"api/runs/{small}/summary")
        # grade's scores: n=0 0.0 (fails), n=1 0.37, n=2 0.74, n=3 0.11 (fails); with the
        # small model fn raises for n=1 and n=3.
        assert status == 200
        assert [(r["id"], r["grid"], r["passed"], r["cases"]) for r in summary["grid"]["runs"]] == [
            (small, "model=small", 1, 4),
            (large, "model=large", 2, 4),
        ]
        assert summary["grid"]["svg"].count('<rect class="bar"') == 2
        browser.get(viewer.url + f"#/run/{large}")
        wait_page(browser, "run")
        bars = browser.find_elements(By.CSS_SELECTOR, "#grid-chart svg.pass-rates rect.bar")
        assert len(bars) == 2
        rows = browser.find_elements(By.CSS_SELECTOR, "#grid-chart g.bar-row")
        assert [r.get_attribute("data-run-id") for r in rows] == [small, large]
        assert rows[1].get_attribute("data-current") == "true"
        totals = [(b.get_attribute("data-passed"), b.get_attribute("data-total")) for b in bars]
        assert totals == [("1", "4"), ("2", "4")]
        assert "50% (2/4)" in rows[1].text
        assert console_errors(browser) == []


# --- a voice call: its timeline and recording -------------------------------------------


@dataclasses.dataclass
class CallCase(BaseTestCase):
    name: str

    def hash(self) -> str:
        return self.name


def write_wav(path: Path, seconds: float) -> None:
    """A two-channel 8 kHz WAV (caller left, agent right) of silence."""
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00\x00\x00" * int(8000 * seconds))


def a_call(recording: Path) -> Any:
    """A call as trialrun.voice's TestRunner stores it (its TestResult is the output)."""
    from trialrun.voice.results import (
        CallMetrics,
        Interruption,
        KeyPress,
        TestResult,
        Utterance,
    )

    return TestResult(
        test={"scenario": "refund", "agent": "support"},
        transcript=[
            Utterance("agent", "Hello, how can I help you today?", 0.2, 1.4),
            Utterance("caller", "I want a refund for my order", 1.8, 3.0),
            Utterance("agent", "Sure, press 5 to confirm your order number", 3.6, 5.2),
            Utterance("caller", "okay", 5.0, 5.4, cut_off=True),
        ],
        metrics=CallMetrics(
            duration=6.0,
            time_to_first_word=0.2,
            response_latencies=[0.6],
            latency_p50=0.6,
            latency_p95=0.6,
            interruptions=[Interruption(by="caller", at=5.0, overlap=0.2)],
            silences=[],
            ended_by="caller",
            end_reason="goodbye",
            dtmf_sent="5",
            dtmf_heard="",
            turns=2,
        ),
        keys=[KeyPress(role="caller", digit="5", at=5.6)],
        recording_path=str(recording),
        call_sid="CA0001",
    )


def test_call_timeline_lanes_and_recording(browser: WebDriver, trialrun_home: Path) -> None:
    recording = trialrun_home / "recordings" / "CA0001.wav"
    write_wav(recording, 6.0)
    call = a_call(recording)
    (run_id,) = run_test_suite(
        "calls", [CallCase("refund")], [], lambda c: call, quiet=True
    ).run_ids
    (trialrun_home / "secret.wav").write_bytes(b"RIFF not yours")
    (trialrun_home / "recordings" / "leak.wav").symlink_to(trialrun_home / "secret.wav")
    console_errors(browser)
    with Viewer(store_path=str(trialrun_home / "trialrun.db"), port=0) as viewer:
        api = viewer.url + "api/recordings/"
        status, headers, body = fetch(api + "CA0001.wav")
        assert (status, headers["Content-Type"]) == (200, "audio/wav")
        assert body == recording.read_bytes()
        request = urllib.request.Request(api + "CA0001.wav", headers={"Range": "bytes=0-3"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert (response.status, response.read()) == (206, b"RIFF")
            assert response.headers["Content-Range"] == f"bytes 0-3/{len(body)}"
        # Only the store's recordings folder is served.
        assert fetch(api + "..%2Ftrialrun.db")[0] == 400
        assert fetch(api + "..%2Fsecret.wav")[0] == 400
        status, _, body = fetch(api + "leak.wav")  # a link out of the folder
        assert status == 403 and b"leads outside" in body
        assert fetch(api + "missing.wav")[0] == 404

        browser.get(viewer.url + f"#/run/{run_id}")
        wait_page(browser, "run")
        browser.find_element(By.CSS_SELECTOR, "tr.case-row[data-hash='refund']").click()
        timeline = browser.find_element(By.CSS_SELECTOR, "tr.detail .call svg.call-timeline")

        def lane(role: str) -> list[str]:
            items = timeline.find_elements(By.CSS_SELECTOR, f".lane[data-role='{role}'] .utterance")
            return [u.get_attribute("data-text") for u in items]

        assert lane("caller") == ["I want a refund for my order", "okay"]
        assert lane("agent") == [
            "Hello, how can I help you today?",
            "Sure, press 5 to confirm your order number",
        ]
        assert (
            timeline.find_elements(By.CSS_SELECTOR, ".utterance.cut-off")[0].get_attribute(
                "data-start"
            )
            == "5"
        )
        (gap,) = timeline.find_elements(By.CSS_SELECTOR, ".latency")
        assert abs(float(gap.get_attribute("data-gap")) - 0.6) < 1e-9
        (cut,) = timeline.find_elements(By.CSS_SELECTOR, ".interruption")
        assert (cut.get_attribute("data-by"), cut.get_attribute("data-at")) == ("caller", "5")
        (key,) = timeline.find_elements(By.CSS_SELECTOR, ".dtmf")
        assert (key.get_attribute("data-digit"), key.get_attribute("data-at")) == ("5", "5.6")
        hangup = timeline.find_element(By.CSS_SELECTOR, ".hangup")
        assert (hangup.get_attribute("data-at"), hangup.get_attribute("data-ended-by")) == (
            "6",
            "caller",
        )

        audio = browser.find_element(By.CSS_SELECTOR, "tr.detail .call audio.call-audio")
        assert audio.get_attribute("src") == api + "CA0001.wav"
        WebDriverWait(browser, 10).until(
            lambda d: d.execute_script("return arguments[0].readyState", audio) >= 1
        )
        assert abs(browser.execute_script("return arguments[0].duration", audio) - 6.0) < 0.01
        cursor = timeline.find_element(By.CSS_SELECTOR, "line.cursor")
        start_x = float(cursor.get_attribute("x1"))
        browser.execute_script("arguments[0].currentTime = 3", audio)
        WebDriverWait(browser, 10).until(lambda d: cursor.get_attribute("data-time") == "3")
        # halfway through the call, the cursor is halfway across the lanes
        lanes = timeline.find_element(By.CSS_SELECTOR, ".lane[data-role='caller'] .lane-bg")
        middle = float(lanes.get_attribute("x")) + float(lanes.get_attribute("width")) / 2
        assert float(cursor.get_attribute("x1")) == pytest.approx(middle) and start_x < middle
        assert console_errors(browser) == []


# --- the review queue in the browser ------------------------------------------------------


@dataclasses.dataclass
class Reviewed(BaseTestCase):
    n: int

    def hash(self) -> str:
        return f"r-{self.n}"

    def serialize_for_human_review(self) -> list[Any]:
        from trialrun.testing.models import HumanReviewField, HumanReviewFieldContentType

        kind = HumanReviewFieldContentType
        return [
            HumanReviewField(name="question", value=f"<i>question {self.n}</i>"),
            HumanReviewField(name="doc", value="https://example.com/doc", content_type=kind.LINK),
            HumanReviewField(name="trap", value="javascript:alert(1)", content_type=kind.LINK),
            HumanReviewField(name="notes", value="# Heading\n*stars*", content_type=kind.MARKDOWN),
            # Scripts in an HTML field must not run: the page would change its own title.
            HumanReviewField(
                name="rendered",
                value="<p id='inner'>shown</p><script>parent.document.title='pwned'</script>"
                "<img src=x onerror=\"parent.document.title='pwned'\">",
                content_type=kind.HTML,
            ),
        ]


def test_review_queue_renders_fields_safely_and_saves_a_grade(
    browser: WebDriver, trialrun_home: Path
) -> None:
    from trialrun import history
    from trialrun.testing.models import CreateHumanReviewJob

    job = CreateHumanReviewJob(assignee_email_address="ana@example.com", name="UI review")
    base_id, run_id = (
        run_test_suite(
            "ui-review",
            [Reviewed(0), Reviewed(1)],
            [Exact()],
            str,
            human_review_job=job,
            quiet=True,
        ).run_ids[0]
        for _ in range(2)
    )
    console_errors(browser)
    with Viewer(store_path=str(trialrun_home / "trialrun.db"), port=0) as viewer:
        browser.get(viewer.url + f"#/run/{run_id}")
        wait_page(browser, "run")
        assert "UI review for ana@example.com" in browser.find_element(By.ID, "review-jobs").text
        assert browser.find_element(By.ID, "review-progress").text.startswith("0 of 2 cases graded")
        grade_cell = browser.find_element(By.CSS_SELECTOR, "td.human-grade[data-hash='r-1']")
        assert grade_cell.text == "ungraded"

        browser.find_element(By.CSS_SELECTOR, "tr.case-row[data-hash='r-1']").click()
        review = browser.find_element(By.CSS_SELECTOR, "div.review[data-hash='r-1']")
        field = lambda name: review.find_element(By.CSS_SELECTOR, f"dd[data-field='{name}']")  # noqa: E731
        assert field("question").text == "<i>question 1</i>"  # text, not markup
        assert field("question").find_elements(By.TAG_NAME, "i") == []
        link = field("doc").find_element(By.TAG_NAME, "a")
        assert link.get_attribute("href") == "https://example.com/doc"
        assert link.get_attribute("rel") == "noopener noreferrer"
        assert field("trap").find_elements(By.TAG_NAME, "a") == []  # not a link
        assert field("trap").text == "javascript:alert(1)"
        assert field("notes").find_element(By.CSS_SELECTOR, "pre.review-markdown").text == (
            "# Heading\n*stars*"
        )
        frame = field("rendered").find_element(By.CSS_SELECTOR, "iframe.review-html")
        assert frame.get_attribute("sandbox") == ""  # nothing allowed: no scripts
        browser.switch_to.frame(frame)
        assert browser.find_element(By.ID, "inner").text == "shown"
        browser.switch_to.default_content()
        assert browser.title == "trialrun"

        review.find_element(By.CSS_SELECTOR, "input.grade-fail").click()
        review.find_element(By.CSS_SELECTOR, "input.grade-score").send_keys("0.25")
        review.find_element(By.CSS_SELECTOR, "textarea.grade-note").send_keys("italics leak")
        review.find_element(By.CSS_SELECTOR, "button.grade-save").click()
        WebDriverWait(browser, 10).until(
            lambda d: review.find_element(By.CSS_SELECTOR, ".grade-status").text == "Saved."
        )
        grade_cell = browser.find_element(By.CSS_SELECTOR, "td.human-grade[data-hash='r-1']")
        assert grade_cell.text == "fail 0.25"
        assert browser.find_element(By.ID, "review-progress").text.startswith("1 of 2")
        assert browser.title == "trialrun"

        # The comparison lists the human grades of both runs.
        browser.get(viewer.url + f"#/compare/{base_id}/{run_id}")
        wait_page(browser, "compare")
        row = browser.find_element(By.CSS_SELECTOR, "#compare-reviews tr[data-hash='r-1']")
        assert row.find_element(By.CSS_SELECTOR, ".base-grade").text == "—"
        assert row.find_element(By.CSS_SELECTOR, ".head-grade").text == "fail 0.25\nitalics leak"
        assert console_errors(browser) == []

    (item,) = [i for i in history.run(run_id).review["items"] if i["case_hash"] == "r-1"]
    assert (item["grade"], item["score"], item["note"]) == ("fail", 0.25, "italics leak")


def text_by_id(driver: WebDriver, id: str) -> str | None:
    """An element's text read in one step (a page being redrawn has no stale element)."""
    return driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.textContent : null", id
    )


def test_grid_view_shows_the_combinations_side_by_side_with_a_diff(
    browser: WebDriver, trialrun_home: Path
) -> None:
    """A grid search of 2 models over 30 cases; model b answers differently on every fifth
    case. The grid view pages the cases (20 a page), diffs b's outputs against a's word by
    word, keeps only the differing cases on demand, and diffs against b when asked."""

    def fn(case: Numbered) -> str:
        from trialrun import grid_search_ctx

        model = (grid_search_ctx() or {})["model"]
        n = case.n + 1 if model == "b" and case.n % 5 == 0 else case.n
        return f"the answer is {n} for sure"

    result = run_test_suite(
        "grid-side-by-side",
        [Numbered(n) for n in range(30)],
        [Grade()],
        fn,
        grid_search_params={"model": ["a", "b"]},
        quiet=True,
    )
    a, b = result.run_ids
    console_errors(browser)
    with Viewer(store_path=str(trialrun_home / "trialrun.db"), port=0) as viewer:
        browser.get(viewer.url + f"#/run/{b}")
        wait_page(browser, "run")
        browser.find_element(By.ID, "grid-view-link").click()
        wait_page(browser, "grid")
        heads = browser.find_elements(By.CSS_SELECTOR, "#grid-table thead th[data-run-id]")
        assert [(h.get_attribute("data-run-id"), h.text.splitlines()[0]) for h in heads] == [
            (a, "model=a"),
            (b, "model=b"),
        ]
        rows = browser.find_elements(By.CSS_SELECTOR, "#grid-table tr.grid-row")
        assert [r.get_attribute("data-hash") for r in rows] == [f"n-{n:03}" for n in range(20)]
        assert browser.find_element(By.ID, "grid-page-info").text == "1–20 · page 1 of 2"

        # n-005: b said 6 where a said 5, shown as a word diff in b's column.
        row = rows[5]
        assert row.get_attribute("data-differ") == "true"
        side_a, side_b = row.find_elements(By.CSS_SELECTOR, "td.grid-side")
        assert side_a.find_element(By.CSS_SELECTOR, "pre.grid-output").text == (
            "the answer is 5 for sure"
        )
        assert texts(side_b.find_elements(By.CSS_SELECTOR, "pre.grid-output del")) == ["5"]
        assert texts(side_b.find_elements(By.CSS_SELECTOR, "pre.grid-output ins")) == ["6"]
        assert side_b.find_element(By.CSS_SELECTOR, "pre.grid-output").text == (
            "the answer is 56 for sure"
        )
        # grade's score of n=5 is 0.85 in both; its verdict is shown per combination.
        score = side_b.find_element(By.CSS_SELECTOR, ".grid-score[data-evaluator='grade']")
        assert score.text == "passed 0.85"
        same = rows[6].find_elements(By.CSS_SELECTOR, "td.grid-side")[1]
        assert same.get_attribute("data-same") == "true"
        assert same.find_elements(By.CSS_SELECTOR, "pre.grid-output ins") == []

        # Only the cases where the combinations differ, kept in the URL.
        browser.find_element(By.ID, "grid-differ").click()
        WebDriverWait(browser, 10).until(lambda d: "differ=1" in d.current_url)
        wait_page(browser, "grid")
        WebDriverWait(browser, 10).until(lambda d: text_by_id(d, "grid-count") == "6 cases")
        rows = browser.find_elements(By.CSS_SELECTOR, "#grid-table tr.grid-row")
        assert [r.get_attribute("data-hash") for r in rows] == [
            f"n-{n:03}" for n in range(0, 30, 5)
        ]

        # Diffed against b instead: a's column now shows what a says differently.
        Select(browser.find_element(By.ID, "grid-base")).select_by_visible_text("model=b")
        WebDriverWait(browser, 10).until(lambda d: f"base={b}" in d.current_url)
        WebDriverWait(browser, 10).until(
            lambda d: d.find_elements(
                By.CSS_SELECTOR, f"#grid-table tr.grid-row td.grid-side[data-run-id='{a}'] del"
            )
        )
        side_a = browser.find_elements(By.CSS_SELECTOR, "#grid-table tr.grid-row")[1]
        side_a = side_a.find_element(By.CSS_SELECTOR, f"td.grid-side[data-run-id='{a}']")
        assert texts(side_a.find_elements(By.CSS_SELECTOR, "del")) == ["6"]
        assert texts(side_a.find_elements(By.CSS_SELECTOR, "ins")) == ["5"]

        # A search, and the second page of all cases.
        browser.get(viewer.url + f"#/grid/{a}?q=is%2027")
        wait_page(browser, "grid")
        WebDriverWait(browser, 10).until(lambda d: text_by_id(d, "grid-count") == "1 case")
        browser.get(viewer.url + f"#/grid/{a}?page=2")
        WebDriverWait(browser, 10).until(
            lambda d: text_by_id(d, "grid-page-info") == "21–30 · page 2 of 2"
        )
        assert console_errors(browser) == []
