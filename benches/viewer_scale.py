"""Viewer at scale (issue 19): a stored run of 100,000 cases opened in the local viewer.

Stores one run of N cases (default 100,000) through `run_test_suite` with a trivial fn and
two evaluators, starts the viewer on 127.0.0.1, then times, each the best of R tries:

- the API: the run page's summary (counts, histograms), its first page of cases, a sort by
  an evaluator's score, a search of the cases' text, a status filter, and a late page;
- the comparison of that run with a second run of N cases (one case in 1,000 newly
  failing): its first page of changed rows, a page of unchanged rows deep in the table,
  and the whole comparison as the API sent it before it was paged;
- the page in headless Chromium (when /usr/bin/chromium and chromedriver are there): from
  navigating to the run until its first page of cases is shown, a sort by clicking a
  column header, and from navigating to the comparison until its changed rows are shown.
  Target: the pages open in under 2 s.

    python benches/viewer_scale.py [--cases N] [--repeat R] [--no-browser]

after `maturin develop --release` (or `pip install .`). Uses a temporary TRIALRUN_HOME.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

HOME = tempfile.mkdtemp(prefix="trialrun-bench-viewer-")
os.environ["TRIALRUN_HOME"] = HOME

from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, run_test_suite  # noqa: E402
from trialrun._core import Viewer  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@dataclasses.dataclass
class Case(BaseTestCase):
    x: int
    question: str

    def hash(self) -> str:
        return f"case-{self.x}"


class Closeness(BaseTestEvaluator):
    """A score spread over 0..1, so histograms and sorts have work to do."""

    id = "closeness"

    def evaluate_test_case(self, test_case: Case, output: str) -> Evaluation:
        return Evaluation(score=(test_case.x * 7919 % 1000) / 1000, threshold=Threshold(gte=0.1))


class Length(BaseTestEvaluator):
    id = "length"

    def evaluate_test_case(self, test_case: Case, output: str) -> Evaluation:
        return Evaluation(score=float(len(output)), metadata={"chars": len(output)})


def answer(case: Case) -> str:
    return f"answer {case.x}"


class WorseCloseness(Closeness):
    """Closeness of the second run: one case in 1,000 newly fails."""

    def evaluate_test_case(self, test_case: Case, output: str) -> Evaluation:
        if test_case.x % 1000 == 500:
            return Evaluation(score=0.0, threshold=Threshold(gte=0.1))
        return super().evaluate_test_case(test_case, output)


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def browser_times(
    viewer: Viewer, run_id: str, compared: tuple[str, str], repeat: int
) -> dict[str, float]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    options.binary_location = CHROMIUM
    for arg in [
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ]:
        options.add_argument(arg)
    options.add_argument("--proxy-server=http://127.0.0.1:9")  # nothing but loopback
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.005)

        def open_run() -> None:
            driver.get(viewer.url)  # a fresh page: the run page is built from nothing
            wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-page='runs']")))
            start = time.perf_counter()
            driver.execute_script("location.hash = arguments[0]", f"#/run/{run_id}")
            wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-page='run']")))
            wait.until(
                EC.presence_of_element_located((By.CSS_SELECTOR, "#cases-table tr.case-row"))
            )
            open_times.append(time.perf_counter() - start)

        def reload_run() -> None:
            start = time.perf_counter()
            driver.get(viewer.url + f"#/run/{run_id}?sort=score%3Acloseness&dir=desc&page=3")
            driver.refresh()
            wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-page='run']")))
            reload_times.append(time.perf_counter() - start)

        def sort_click() -> None:
            header = driver.find_element(By.CSS_SELECTOR, "th[data-sort='duration'] button")
            start = time.perf_counter()
            header.click()
            wait.until(lambda d: d.execute_script("return document.body.dataset.cases") == "ready")
            sort_times.append(time.perf_counter() - start)

        def open_compare() -> None:
            driver.get(viewer.url)
            wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-page='runs']")))
            start = time.perf_counter()
            driver.execute_script(
                "location.hash = arguments[0]", f"#/compare/{compared[0]}/{compared[1]}"
            )
            wait.until(
                EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-page='compare']"))
            )
            wait.until(
                EC.presence_of_element_located((By.CSS_SELECTOR, "#compare-table tr.compare-row"))
            )
            compare_times.append(time.perf_counter() - start)

        open_times: list[float] = []
        reload_times: list[float] = []
        sort_times: list[float] = []
        compare_times: list[float] = []
        for _ in range(repeat):
            open_run()
            sort_click()
        for _ in range(repeat):
            reload_run()
        for _ in range(repeat):
            open_compare()
        return {
            "page open (navigate to the run, first page shown)": min(open_times),
            "page load of a shared link (sort, page 3)": min(reload_times),
            "sort by clicking a column": min(sort_times),
            "compare page open (changed rows shown)": min(compare_times),
        }
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    try:
        cases = [Case(x, f"question number {x} about topic {x % 97}") for x in range(args.cases)]
        start = time.perf_counter()
        result = run_test_suite("viewer-scale", cases, [Closeness(), Length()], answer, quiet=True)
        (run_id,) = result.run_ids
        print(f"stored a run of {args.cases:,} cases in {time.perf_counter() - start:.1f} s")
        head = run_test_suite(
            "viewer-scale", cases, [WorseCloseness(), Length()], answer, quiet=True
        ).run_ids[0]

        with Viewer(store_path=str(Path(HOME) / "trialrun.db"), port=0) as viewer:
            api = f"{viewer.url}api/runs/{run_id}"
            figures = {
                "summary (counts, histograms)": api + "/summary",
                "first page (50 cases)": api + "/cases",
                "sort by score, descending": api + "/cases?sort=score:closeness&dir=desc",
                "sort by case label": api + "/cases?sort=case",
                "search the cases' text": api + "/cases?q=topic%2042%22",
                "search, no match": api + "/cases?q=no-such-text",
                "failed cases of one evaluator": api + "/cases?status=failed&evaluator=closeness",
                f"last page (offset {max(args.cases - 50, 0):,})": api
                + f"/cases?offset={max(args.cases - 50, 0)}",
            }
            print(f"API, best of {args.repeat}:")
            for label, url in figures.items():
                seconds = best_of(args.repeat, lambda url=url: get_json(url))
                print(f"  {label:<48} {seconds * 1000:8.1f} ms")
            total = get_json(api + "/cases?q=topic%2042%22")["total"]  # type: ignore[index]
            print(f"  (the search matched {total:,} cases)")
            whole = best_of(1, lambda: get_json(api))
            print(
                f"  {'the whole run (GET /api/runs/{id}, read before)':<48} {whole * 1000:8.1f} ms"
            )

            compare = f"{viewer.url}api/compare?base={run_id}&head={head}"
            deep = args.cases  # about the middle of the unchanged rows (2 per case)
            compare_figures = {
                "compare: first page of changed rows": compare + "&rows=changed&limit=500",
                f"compare: unchanged rows at offset {deep:,}": compare
                + f"&rows=unchanged&offset={deep}&limit=200",
            }
            print(f"compare of two runs of {args.cases:,} cases, best of {args.repeat}:")
            for label, url in compare_figures.items():
                seconds = best_of(args.repeat, lambda url=url: get_json(url))
                print(f"  {label:<48} {seconds * 1000:8.1f} ms")
            first = get_json(compare + "&rows=changed&limit=500")
            counts = first["counts"]  # type: ignore[index]
            print(f"  ({counts['changed']:,} changed rows, {counts['unchanged']:,} unchanged)")
            with urllib.request.urlopen(compare + "&rows=changed&limit=500", timeout=60) as r:
                paged_bytes = len(r.read())
            start = time.perf_counter()
            with urllib.request.urlopen(compare, timeout=120) as r:
                whole_bytes = len(r.read())
            whole = time.perf_counter() - start
            print(
                f"  {'the whole comparison (unpaged, read before)':<48} {whole * 1000:8.1f} ms"
                f"  ({whole_bytes / 1e6:.1f} MB, against {paged_bytes / 1e3:.0f} kB paged)"
            )

            if args.no_browser:
                pass
            elif not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
                print(
                    "headless Chromium not found (scripts/install_browser.sh): browser figures skipped"
                )
            else:
                print(f"headless Chromium, best of {args.repeat}:")
                times = browser_times(viewer, run_id, (run_id, head), args.repeat)
                for label, seconds in times.items():
                    print(f"  {label:<48} {seconds * 1000:8.1f} ms")
    finally:
        shutil.rmtree(HOME, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
