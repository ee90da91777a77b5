"""Human review, locally: where Autoblocks sends a run's cases to its cloud for people to
grade (``human_review_job=CreateHumanReviewJob(...)``), trialrun keeps a review queue in the
run store. The viewer (``trialrun ui``) and ``trialrun review`` show it and save grades.

A reviewer sees, per case, the fields of ``test_case.serialize_for_human_review()`` and of
the output's ``serialize_for_human_review()`` (when the output has one), each a list of
``HumanReviewField`` stored as ``{"name", "value", "contentType"}``, as Autoblocks sends
them; a case whose fields are None is shown as stored (its test case and output).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any

from trialrun import _core
from trialrun._core import SuiteResult

# (name, assignees, rubric id): a job as the store keeps it.
Job = tuple[str, list[str], str | None]
Fields = list[dict[str, Any]] | None


def check_job(job: Any) -> Job:
    """A CreateHumanReviewJob (or an object with its attributes) as the store keeps it;
    raises SuiteValidationError naming the bad attribute, before the suite starts."""

    def bad(what: str) -> _core.SuiteValidationError:
        return _core.SuiteValidationError(
            f"human_review_job {what}, got {job!r} (expected CreateHumanReviewJob("
            "assignee_email_address=..., name=..., rubric_id=None))"
        )

    name = getattr(job, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise bad("needs a non-empty str name")
    assignees = getattr(job, "assignee_email_address", None)
    if isinstance(assignees, str):
        assignees = [assignees]
    if (
        not isinstance(assignees, (list, tuple))
        or not assignees
        or not all(isinstance(a, str) and a.strip() for a in assignees)
    ):
        raise bad("needs assignee_email_address: a str or a non-empty list of str")
    rubric_id = getattr(job, "rubric_id", None)
    if rubric_id is not None and not isinstance(rubric_id, str):
        raise bad("rubric_id must be a str or None")
    return (name, list(assignees), rubric_id)


def _serialized(fields: Any) -> Fields:
    # As Autoblocks' serialize_human_review_fields: each field's own serialize().
    if fields is None:
        return None
    return [field.serialize() for field in fields]


def case_fields(test_case: Any) -> Fields:
    """The case's review fields (None when it has none), as Autoblocks serializes them."""
    method = getattr(test_case, "serialize_for_human_review", None)
    return _serialized(method()) if callable(method) else None


def output_fields(output: Any) -> Fields:
    """The output's review fields: only outputs with a serialize_for_human_review() have
    them."""
    method = getattr(output, "serialize_for_human_review", None)
    return _serialized(method()) if callable(method) else None


class Capture:
    """fn wrapped to take each case's review fields as fn returns, so a case whose
    serialize_for_human_review raises fails like one whose fn raises (Autoblocks sends no
    result for it). Fields are looked up after the run by the case and output objects,
    which the SuiteResult keeps alive (references are held here too)."""

    def __init__(self) -> None:
        self._fields: dict[tuple[int, int], tuple[Any, Any, Fields, Fields]] = {}

    def _take(self, test_case: Any, output: Any) -> None:
        fields = (test_case, output, case_fields(test_case), output_fields(output))
        self._fields[(id(test_case), id(output))] = fields

    def wrap(self, fn: Any) -> Any:
        if not callable(fn):
            return fn  # the engine names the problem
        if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)
        ):

            @functools.wraps(fn)
            async def captured_async(test_case: Any) -> Any:
                output = await fn(test_case)
                self._take(test_case, output)
                return output

            return captured_async

        @functools.wraps(fn)
        def captured(test_case: Any) -> Any:
            output = fn(test_case)
            if inspect.isawaitable(output):
                return self._after(test_case, output)
            self._take(test_case, output)
            return output

        return captured

    async def _after(self, test_case: Any, awaitable: Any) -> Any:
        output = await awaitable
        self._take(test_case, output)
        return output

    def items(self, result: SuiteResult, run_id: str) -> list[tuple[str, Fields, Fields]]:
        """(case hash, input fields, output fields) of each case of run_id whose fn
        returned."""
        out = []
        for case in result.cases:
            if case.run_id != run_id or case.error is not None:
                continue
            taken = self._fields.get((id(case.test_case), id(case.output)))
            if taken is not None:
                out.append((case.hash, taken[2], taken[3]))
        return out


def save(result: SuiteResult, job: Job, capture: Capture) -> None:
    """Stores the job and the captured fields for each run (grid combination) of result."""
    for run in result.runs:
        _core.save_review(
            run.run_id, job, capture.items(result, run.run_id), store_path=result.store_path
        )


def reviewing(
    fn: Any, human_review_job: Any, record: bool
) -> tuple[Any, Callable[[Coroutine[Any, Any, SuiteResult]], Coroutine[Any, Any, SuiteResult]]]:
    """For run_test_suite: fn wrapped to capture review fields, and a wrapper of the suite's
    coroutine that stores the queue once the run has ended. Checks the job now."""
    job = check_job(human_review_job)
    if not record:
        raise _core.SuiteValidationError(
            "human_review_job needs the run store, but record=False keeps this run out of it"
        )
    capture = Capture()

    async def then_save(coro: Coroutine[Any, Any, SuiteResult]) -> SuiteResult:
        result = await coro  # a cancelled async run stores no queue: it raises here
        if result.store_path is not None:
            save(result, job, capture)
        return result

    return capture.wrap(fn), then_save


def _short(text: str, limit: int = 100) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _field_lines(label: str, fields: Fields) -> list[str]:
    if not fields:
        return []
    lines = [f"    {label}:"]
    for field in fields:
        kind = field.get("contentType") or "text"
        suffix = "" if kind == "text" else f"  [{kind}]"
        lines.append(f"      {field.get('name')}: {_short(field.get('value', ''))}{suffix}")
    return lines


def queue_text(run: Any) -> str:
    """A stored run's review queue as text (``trialrun review RUN``): its jobs, then each
    case with its grade, its evaluations and what a reviewer sees."""
    review = run.review
    items = {item["case_hash"]: item for item in review["items"]}
    cases = run.cases
    graded = sum(1 for item in items.values() if item["grade"])
    out = [f"run {run.run_id} of {run.suite_id}: {graded} of {len(cases)} cases graded"]
    if review["jobs"]:
        out.append("review jobs:")
        for job in review["jobs"]:
            rubric = f", rubric {job['rubric_id']}" if job["rubric_id"] else ""
            out.append(f"  {job['name']} (for {', '.join(job['assignees'])}{rubric})")
    else:
        out.append("no review job (grades can still be given)")
    for case in cases:
        item = items.get(case["hash"], {})
        grade = item.get("grade") or "ungraded"
        if item.get("score") is not None:
            grade += f" {item['score']:g}"
        out.append(f"\n  {case['hash']}  {grade}")
        if item.get("note"):
            out.append(f"    note: {_short(item['note'], 200)}")
        scores = [
            f"{e['evaluator_id']} {e['verdict']}"
            + (f" {e['score']:g}" if e["score"] is not None else "")
            for e in case["evaluations"]
        ]
        if scores:
            out.append(f"    evaluators: {', '.join(scores)}")
        if case["error"]:
            out.append(f"    fn raised: {_short(case['error'].splitlines()[-1])}")
        shown = _field_lines("input", item.get("input_fields")) + _field_lines(
            "output", item.get("output_fields")
        )
        if shown:
            out.extend(shown)
        else:
            out.append(f"    test case: {_short(json.dumps(case['test_case']))}")
            if case["output"] is not None:
                out.append(f"    output: {_short(json.dumps(case['output']))}")
    return "\n".join(out) + "\n"
