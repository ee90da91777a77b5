"""Human review, locally: `human_review_job=` keeps a review queue in the run store (the
fields of `serialize_for_human_review`, per case), grades are saved through the viewer's
HTTP API and `trialrun review`, and `compare` shows the grades of both runs."""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from trialrun import SuiteValidationError, history
from trialrun._core import Viewer, grade_case
from trialrun.cli import main
from trialrun.testing.models import (
    BaseTestCase,
    BaseTestEvaluator,
    CreateHumanReviewJob,
    Evaluation,
    HumanReviewField,
    HumanReviewFieldContentType,
    Threshold,
)
from trialrun.testing.run import run_test_suite, run_test_suite_async


@dataclasses.dataclass
class Question(BaseTestCase):
    question: str

    def hash(self) -> str:
        return self.question.split()[0].lower()

    def serialize_for_human_review(self) -> list[HumanReviewField]:
        return [
            HumanReviewField(name="question", value=self.question),
            HumanReviewField(
                name="source",
                value="https://example.com/faq",
                content_type=HumanReviewFieldContentType.LINK,
            ),
        ]


@dataclasses.dataclass
class Plain(BaseTestCase):
    """A case without serialize_for_human_review: the reviewer sees it as stored."""

    text: str

    def hash(self) -> str:
        return "plain"


@dataclasses.dataclass
class Answer:
    text: str

    def serialize_for_human_review(self) -> list[HumanReviewField]:
        return [
            HumanReviewField(
                name="answer",
                value=f"<b>{self.text}</b>",
                content_type=HumanReviewFieldContentType.HTML,
            ),
            HumanReviewField(
                name="notes", value="# ok", content_type=HumanReviewFieldContentType.MARKDOWN
            ),
        ]


class Short(BaseTestEvaluator):
    id = "short"

    def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
        text = output.text if isinstance(output, Answer) else str(output)
        return Evaluation(score=1.0 if len(text) < 20 else 0.0, threshold=Threshold(gte=1))


JOB = CreateHumanReviewJob(
    assignee_email_address=["ana@example.com", "bo@example.com"],
    name="Weekly review",
    rubric_id="rubric-7",
)

CASES: list[BaseTestCase] = [Question("Why is the sky blue?"), Question("Boom now"), Plain("x")]


def answer(case: Any) -> Any:
    if isinstance(case, Plain):
        return "plain answer"  # no serialize_for_human_review on a str
    if case.question.startswith("Boom"):
        raise RuntimeError("the model is down")
    return Answer("Rayleigh scattering")


def run_reviewed(**options: Any) -> str:
    result = run_test_suite(
        "reviewed", CASES, answer, [Short()], human_review_job=JOB, quiet=True, **options
    )
    (run_id,) = result.run_ids
    return run_id


def test_a_run_with_a_job_stores_its_queue_with_each_cases_fields():
    run_id = run_reviewed()
    review = history.run(run_id).review
    assert review["jobs"] == [
        {
            "name": "Weekly review",
            "assignees": ["ana@example.com", "bo@example.com"],
            "rubric_id": "rubric-7",
            "created_at": review["jobs"][0]["created_at"],
        }
    ]
    items = {item["case_hash"]: item for item in review["items"]}
    # The case whose fn raised has no result to review (Autoblocks sends none), and the
    # case without review fields whose output has none gets no row: it is shown as stored.
    assert sorted(items) == ["why"]
    why = items["why"]
    assert why["input_fields"] == [
        {"name": "question", "value": "Why is the sky blue?", "contentType": "text"},
        {"name": "source", "value": "https://example.com/faq", "contentType": "link"},
    ]
    assert why["output_fields"] == [
        {"name": "answer", "value": "<b>Rayleigh scattering</b>", "contentType": "html"},
        {"name": "notes", "value": "# ok", "contentType": "markdown"},
    ]
    assert (why["grade"], why["score"], why["note"], why["graded_at"]) == (None, None, None, None)


def test_a_case_without_fields_but_an_output_with_them_stores_none_for_the_case():
    @dataclasses.dataclass
    class Bare(BaseTestCase):
        n: int

        def hash(self) -> str:
            return f"bare-{self.n}"

    result = run_test_suite(
        "bare", [Bare(1)], lambda case: Answer("hi"), human_review_job=JOB, quiet=True
    )
    (item,) = history.run(result.run_ids[0]).review["items"]
    assert item["case_hash"] == "bare-1"
    assert item["input_fields"] is None
    assert [f["name"] for f in item["output_fields"]] == ["answer", "notes"]


def test_each_grid_run_gets_the_job_and_its_own_outputs_fields():
    async def fn(case: Question) -> Answer:
        from trialrun import grid_search_ctx

        return Answer(f"model {grid_search_ctx()['model']}")

    result = run_test_suite(
        "grid-review",
        [Question("Why not?")],
        fn,
        grid_search_params={"model": ["a", "b"]},
        human_review_job=CreateHumanReviewJob(assignee_email_address="c@example.com", name="g"),
        quiet=True,
    )
    assert len(result.run_ids) == 2
    for run, model in zip(result.runs, ["a", "b"]):
        review = history.run(run.run_id).review
        assert [j["assignees"] for j in review["jobs"]] == [["c@example.com"]]
        (item,) = review["items"]
        assert item["output_fields"][0]["value"] == f"<b>model {model}</b>"


async def test_the_async_entry_point_stores_the_queue_too():
    result = await run_test_suite_async(
        "async-review", [Question("Why async?")], answer, human_review_job=JOB, quiet=True
    )
    review = history.run(result.run_ids[0]).review
    assert review["jobs"][0]["name"] == "Weekly review"
    assert review["items"][0]["case_hash"] == "why"


def test_a_case_whose_review_fields_raise_fails_like_fn_raising():
    @dataclasses.dataclass
    class Broken(BaseTestCase):
        def hash(self) -> str:
            return "broken"

        def serialize_for_human_review(self) -> list[HumanReviewField]:
            raise KeyError("no field")

    result = run_test_suite(
        "broken-review", [Broken()], lambda case: "ok", human_review_job=JOB, quiet=True
    )
    (case,) = result.cases
    assert "KeyError: 'no field'" in case.error
    assert history.run(result.run_ids[0]).review["items"] == []


def test_without_a_job_nothing_is_queued():
    result = run_test_suite("unreviewed", [Question("Why?")], answer, quiet=True)
    assert history.run(result.run_ids[0]).review == {"jobs": [], "items": []}


@pytest.mark.parametrize(
    "job, needle",
    [
        (CreateHumanReviewJob(assignee_email_address="a@example.com", name=""), "name"),
        (CreateHumanReviewJob(assignee_email_address=[], name="n"), "assignee_email_address"),
        (CreateHumanReviewJob(assignee_email_address="a@x", name="n", rubric_id=3), "rubric_id"),  # type: ignore[arg-type]
        ("review please", "name"),
    ],
)
def test_a_bad_job_is_refused_before_the_suite_starts(job: Any, needle: str):
    calls = []
    with pytest.raises(SuiteValidationError, match=needle):
        run_test_suite("bad-job", [Question("Why?")], calls.append, human_review_job=job)
    assert calls == []


def test_a_job_needs_the_store():
    with pytest.raises(SuiteValidationError, match="record=False"):
        run_test_suite("no-store", [Question("Why?")], answer, human_review_job=JOB, record=False)


# --- grading ------------------------------------------------------------------------------


def post(url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_grades_saved_through_the_viewer_show_in_the_run_and_in_compare(
    trialrun_home: Path, capsys: pytest.CaptureFixture[str]
):
    base = run_reviewed()
    head = run_reviewed()
    json_type = {"Content-Type": "application/json"}
    with Viewer(store_path=str(trialrun_home / "trialrun.db"), port=0) as viewer:
        own = {**json_type, "Origin": viewer.url.rstrip("/"), "Sec-Fetch-Site": "same-origin"}
        status, queue = post(
            viewer.url + f"api/runs/{base}/review/why", {"grade": "pass", "score": 0.9}, own
        )
        assert status == 200, queue
        assert queue["items"][0]["grade"] == "pass"
        status, queue = post(
            viewer.url + f"api/runs/{head}/review/why",
            {"grade": "fail", "score": 0.2, "note": "cites no source"},
            own,
        )
        assert status == 200, queue
        # Grading a case without review fields works too (the reviewer saw it as stored).
        status, _ = post(viewer.url + f"api/runs/{head}/review/plain", {"grade": "pass"}, own)
        assert status == 200
        # Another site's page cannot grade (CSRF), nor can a form post.
        evil = {**json_type, "Origin": "http://attacker.example"}
        status, error = post(viewer.url + f"api/runs/{head}/review/why", {"grade": "pass"}, evil)
        assert status == 403 and "attacker.example" in error["error"]
        status, error = post(
            viewer.url + f"api/runs/{head}/review/why",
            {"grade": "pass"},
            {"Content-Type": "text/plain"},
        )
        assert status == 415
        status, error = post(viewer.url + f"api/runs/{head}/review/nope", {"grade": "pass"}, own)
        assert status == 404 and "no case" in error["error"]
        status, error = post(viewer.url + f"api/runs/{head}/review/why", {"grade": "meh"}, own)
        assert status == 400 and '"pass" or "fail"' in error["error"]

    items = {i["case_hash"]: i for i in history.run(head).review["items"]}
    assert (items["why"]["grade"], items["why"]["score"], items["why"]["note"]) == (
        "fail",
        0.2,
        "cites no source",
    )
    assert items["why"]["input_fields"][0]["value"] == "Why is the sky blue?"  # kept
    assert items["plain"]["grade"] == "pass" and items["plain"]["input_fields"] is None
    exported = json.loads(history.run(head).to_json())["review"]  # trialrun export --format json
    assert {i["case_hash"]: i["grade"] for i in exported["items"]} == {
        "why": "fail",
        "plain": "pass",
    }

    comparison = history.compare(base, head)
    reviews = comparison.to_dict()["reviews"]
    assert [(r["hash"], r["base"], r["head"]) for r in reviews] == [
        (
            "why",
            {"grade": "pass", "score": 0.9, "note": None},
            {"grade": "fail", "score": 0.2, "note": "cites no source"},
        ),
        ("plain", None, {"grade": "pass", "score": None, "note": None}),
    ]
    assert main(["compare", base, head]) == 0  # grades are shown, not regressions
    out = capsys.readouterr().out
    assert "human review grades (base -> head):" in out
    assert "  why  pass 0.9 -> fail 0.2 (cites no source)" in out
    assert "  plain  - -> pass" in out


def test_review_from_the_terminal_lists_and_grades(capsys: pytest.CaptureFixture[str]):
    run_id = run_reviewed()
    assert main(["review", run_id]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run {run_id} of reviewed: 0 of 3 cases graded\n")
    assert "  Weekly review (for ana@example.com, bo@example.com, rubric rubric-7)" in out
    assert "      question: Why is the sky blue?" in out
    assert "      source: https://example.com/faq  [link]" in out
    assert "      answer: <b>Rayleigh scattering</b>  [html]" in out
    assert "    fn raised: RuntimeError: the model is down" in out
    assert '    test case: {"text": "x"}' in out  # no fields: shown as stored

    assert main(["review", run_id[:-3], "why", "--grade", "fail", "--score", "0.4",
                 "--note", "too vague"]) == 0  # fmt: skip
    assert capsys.readouterr().out == "graded case why: fail\n"
    assert main(["review", "latest"]) == 0
    out = capsys.readouterr().out
    assert "1 of 3 cases graded" in out
    assert "\n  why  fail 0.4\n    note: too vague\n    evaluators: short passed 1\n" in out

    assert main(["review", run_id, "nope", "--grade", "pass"]) == 2
    assert "the run has no case with that hash" in capsys.readouterr().err
    assert main(["review", run_id, "why", "--grade", "pass", "--score", "3"]) == 2
    assert "score must be a number from 0 to 1, got 3" in capsys.readouterr().err
    assert main(["review", run_id, "why"]) == 2
    assert "--grade pass or --grade fail" in capsys.readouterr().err
    assert main(["review", run_id, "--grade", "pass"]) == 2
    assert "name the case to grade" in capsys.readouterr().err


def test_grade_case_from_python_names_the_unknown_run():
    run_reviewed()
    with pytest.raises(LookupError, match='no run matches "zzz"'):
        grade_case("zzz", "why", "pass")
    with pytest.raises(ValueError, match="note has 20001 characters"):
        grade_case("latest", "why", "pass", note="x" * 20_001)
