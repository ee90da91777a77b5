"""Screenshots of the viewer's views, taken with headless Chromium the way the browser tests
drive it (Debian's chromium and chromedriver, selenium; `bash scripts/install_browser.sh
.venv` installs them): the runs list, a run with its score histograms, a case opened, a
grid search's pass-rate bars and its combinations side by side, the comparison of two runs with overlaid histograms, and a
phone call's timeline with its audio player (a real call to examples/voice_agent over
the loopback carrier, offline speech).

    .venv/bin/python scripts/screenshots.py [OUT_DIR]     # default: target/screenshots

Everything runs on 127.0.0.1 in a run store of its own. For maintainers (the closing
notes and the README describe what they show); not a test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def suites() -> dict[str, list[str]]:
    """Two runs of a support suite (a prompt change between them) and a grid search."""
    from trialrun import (
        BaseTestCase,
        BaseTestEvaluator,
        Evaluation,
        Threshold,
        grid_search_ctx,
        run_test_suite,
    )

    @dataclasses.dataclass
    class Question(BaseTestCase):
        question: str
        expected: str

        def hash(self) -> str:
            return self.question[:40]

    class MentionsExpected(BaseTestEvaluator):
        id = "mentions-expected"

        def evaluate_test_case(self, test_case: Question, output: str) -> Evaluation:
            return Evaluation(
                score=float(test_case.expected in output),
                threshold=Threshold(gte=1),
                metadata={"expected": test_case.expected},
            )

    class Brevity(BaseTestEvaluator):
        id = "brevity"

        def evaluate_test_case(self, test_case: Question, output: str) -> Evaluation:
            return Evaluation(score=max(0.0, 1 - len(output) / 120), threshold=Threshold(gte=0.4))

    topics = ["refund", "invoice", "password", "delivery", "upgrade", "cancel", "address"]
    cases = [
        Question(f"How do I {verb} my {topic}? (ticket {n})", topic)
        for n, (verb, topic) in enumerate(
            (v, t) for v in ("change", "check", "fix") for t in topics
        )
    ]

    def v1(case: Question) -> str:
        topic = case.expected if len(case.question) % 3 else "account"
        return f"Thanks for asking. For your {topic}, open Settings and follow the steps."

    def v2(case: Question) -> str:
        return f"Go to Settings > {case.expected.title()}."

    base = run_test_suite("support", cases, v1, [MentionsExpected(), Brevity()], quiet=True)
    head = run_test_suite("support", cases, v2, [MentionsExpected(), Brevity()], quiet=True)

    def by_model(case: Question) -> str:
        """The large model answers as v2; the small one as v1, terser when it runs hot."""
        params = grid_search_ctx() or {}
        if params.get("model") == "large":
            return v2(case)
        answer = v1(case)
        return answer.replace("Thanks for asking. ", "") if params.get("temperature") else answer

    grid = run_test_suite(
        "support-grid",
        cases,
        by_model,
        [MentionsExpected()],
        grid_search_params={"model": ["small", "large"], "temperature": [0.0, 0.7]},
        quiet=True,
    )
    return {"base": base.run_ids, "head": head.run_ids, "grid": grid.run_ids}


async def a_call() -> str:
    """One real call to the example voice agent; returns its run id."""
    from trialrun.telephony import LoopbackCarrier
    from trialrun.voice import Agent, Scenario, Test, TestRunner
    from trialrun.voice.evaluators import EndedBy, MustSay
    from trialrun.voice.offline import Espeak, Whisper

    token = os.urandom(12).hex()
    agent = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "voice_agent" / "agent.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, TWILIO_AUTH_TOKEN=token),
    )
    try:
        url = re.search(r"listening on (\S+)", agent.stdout.readline()).group(1)  # type: ignore[union-attr]
        numbers = {"+15550100": f"{url}/voice"}
        async with LoopbackCarrier(numbers, auth_token=token, speech=Espeak()) as carrier:
            runner = TestRunner(
                carrier=carrier,
                suite_id="dental-calls",
                silence_turn=3.0,
                speech_to_text=Whisper(prompt="Acme Dental"),
                quiet=True,
            )
            script = [
                "Hi, I would like to book an appointment please.",
                "Tuesday morning would be great.",
                {"say": "Thank you, bye.", "hang_up": True},
            ]
            runner.add_test(
                Test(
                    Scenario(
                        "book",
                        "You want an appointment on Tuesday.",
                        script=script,
                        checks=[MustSay("confirmed"), EndedBy("caller")],
                    ),
                    Agent("alex", "A calm caller."),
                )
            )
            (result,) = await runner.run_tests(phone_number="+15550100")
            assert result.run_id is not None
            return result.run_id
    finally:
        agent.terminate()
        agent.wait()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "target" / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="trialrun-screens-"))
    os.environ["TRIALRUN_HOME"] = str(home)
    sys.path.insert(0, str(ROOT / "tests"))
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from test_viewer import CHROMEDRIVER, CHROMIUM  # the tests' own browser setup
    from trialrun._core import Viewer

    runs = suites()
    call_run = asyncio.run(a_call())
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--disable-gpu", "--window-size=1400,1100", "--no-sandbox"]:
        options.add_argument(arg)
    options.add_argument("--proxy-server=http://127.0.0.1:9")  # loopback only
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        with Viewer(store_path=str(home / "trialrun.db"), port=0) as viewer:

            def shot(
                name: str, route: str, click: str | None = None, show: str | None = None
            ) -> None:
                driver.get(viewer.url + route)
                time.sleep(1.5)
                driver.execute_script("window.scrollTo(0, 0)")
                if show:
                    element = driver.find_element(By.CSS_SELECTOR, show)
                    driver.execute_script("arguments[0].scrollIntoView()", element)
                    time.sleep(0.5)
                if click:
                    driver.find_element(By.CSS_SELECTOR, click).click()
                    time.sleep(1.0)
                    detail = driver.find_element(By.CSS_SELECTOR, "tr.detail")
                    driver.execute_script("arguments[0].scrollIntoView()", detail)
                    time.sleep(0.5)
                driver.save_screenshot(str(out / f"{name}.png"))
                print(out / f"{name}.png")

            shot("1-runs", "#/")
            shot("2-run-histograms", f"#/run/{runs['head'][0]}")
            shot("3-case-opened", f"#/run/{runs['base'][0]}?status=failed", "tr.case-row")
            shot("4-grid-bars", f"#/run/{runs['grid'][0]}", show="#grid-chart")
            shot("5-compare-overlay", f"#/compare/{runs['base'][0]}/{runs['head'][0]}")
            shot("6-call-timeline", f"#/run/{call_run}", "tr.case-row")
            shot("7-grid-view", f"#/grid/{runs['grid'][0]}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
