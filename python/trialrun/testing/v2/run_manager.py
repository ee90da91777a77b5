"""Autoblocks' v2 `RunManager` (`autoblocks._impl.testing.v2.run_manager`) under trialrun:
a run of an app whose results you add by hand, evaluated by the evaluators you pass.

    manager = RunManager(app_slug="my-app", run_message="nightly")
    manager.start()
    manager.add_result(test_case=case, output=output, duration_ms=120, evaluators=[MyEval()])
    manager.end()
    manager.create_human_review(name="check", assignee_email_addresses=["me@example.com"])

Results go into the run store (suite id: the app slug) as they are added, like the suite
engine's runs; an evaluator that raises is stored as an errored evaluation (the SDK logs
it and leaves it out); a review goes into the local review queue.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import functools
import inspect
import logging
import traceback
from collections.abc import Sequence
from typing import Any

from trialrun import _core, _review
from trialrun._core import Evaluation
from trialrun._loop import run_blocking
from trialrun._models import BaseTestCase, BaseTestEvaluator, EvaluationWithId
from trialrun.testing.run_manager import store_review_fields

__all__ = ["RunManager"]

log = logging.getLogger(__name__)


def _now_rfc3339() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class RunManager:
    """Starts a run, takes results one by one, ends it (Autoblocks' v2 RunManager).

    ``environment`` and ``run_message`` are accepted for compatibility; the run store has
    no place for them. ``run_id`` is the stored run's id from the start."""

    def __init__(self, app_slug: str, environment: str = "test", run_message: str | None = None):
        self.app_slug = app_slug
        self.environment = environment
        self.run_message = run_message
        self._run = _core.ManualRun(app_slug)
        self.run_id: str = self._run.run_id
        self.started_at: str | None = None
        self.ended_at: str | None = None
        self.can_create_human_review: bool = False
        self._semaphores: dict[tuple[int, str], asyncio.Semaphore] = {}

    def _open(self) -> None:
        # The stored run begins with start(), or with the first result or end() without it.
        if not self._run.started:
            self._run.start()

    async def async_start(self) -> None:
        self.start()

    def start(self) -> None:
        self.started_at = _now_rfc3339()
        self._open()

    def _semaphore(self, evaluator: BaseTestEvaluator) -> asyncio.Semaphore:
        # Each evaluator's max_concurrency, per event loop (a semaphore belongs to one).
        key = (id(asyncio.get_running_loop()), evaluator.id)
        if key not in self._semaphores:
            self._semaphores[key] = asyncio.Semaphore(evaluator.max_concurrency)
        return self._semaphores[key]

    async def _evaluate(
        self, evaluator: BaseTestEvaluator, test_case: BaseTestCase, output: Any
    ) -> EvaluationWithId | str | None:
        """As the SDK's run_evaluator: an async evaluate_test_case is awaited, a sync one
        runs in the loop's executor in a copy of the context. Returns the evaluation, None
        when the evaluator skipped the case, or the error text when it failed."""
        try:
            async with self._semaphore(evaluator):
                method = evaluator.evaluate_test_case
                if inspect.iscoroutinefunction(method):
                    evaluation = await method(test_case, output)
                else:
                    ctx = contextvars.copy_context()
                    call = functools.partial(method, test_case, output)
                    loop = asyncio.get_running_loop()
                    evaluation = await loop.run_in_executor(None, ctx.run, call)
                if inspect.isawaitable(evaluation):
                    evaluation = await evaluation
        except Exception as err:
            log.error(
                f"Error running evaluator '{evaluator.id}' for test case '{test_case.hash()}'",
                exc_info=err,
            )
            return "".join(traceback.format_exception(err)).rstrip()
        if evaluation is None:
            return None
        if not isinstance(evaluation, Evaluation):
            return (
                f"evaluate_test_case returned {type(evaluation).__name__} ({evaluation!r:.80}), "
                "expected Evaluation or None"
            )
        return EvaluationWithId(
            id=evaluator.id,
            score=evaluation.score,
            threshold=evaluation.threshold,
            metadata=evaluation.metadata,
            assertions=evaluation.assertions,
        )

    async def async_add_result(
        self,
        *,
        test_case: BaseTestCase,
        output: Any,
        duration_ms: float,
        evaluators: Sequence[BaseTestEvaluator] | None = None,
        status: str = "SUCCESS",
        started_at: str | None = None,
    ) -> str:
        """Evaluates the output with `evaluators` (concurrently), then stores the case, its
        output and the evaluations. A status other than "SUCCESS" marks the case failed.
        Returns the stored case's hash (where the SDK returns Autoblocks' execution id)."""
        if self.ended_at:
            raise ValueError("You cannot add results to an ended run.")
        evaluators = list(evaluators or [])
        outcomes = await asyncio.gather(*(self._evaluate(e, test_case, output) for e in evaluators))
        evaluations = [o for o in outcomes if isinstance(o, EvaluationWithId)]
        errors = [(e.id, o) for e, o in zip(evaluators, outcomes) if isinstance(o, str)]
        fields = _review.case_fields(test_case), _review.output_fields(output)
        self._open()
        case_hash = self._run.add_result(
            test_case,
            output,
            duration_ms / 1000,
            evaluations,
            error=None if status == "SUCCESS" else f"add_result status {status!r}",
            evaluation_errors=errors,
        )
        store_review_fields(self._run, case_hash, *fields)
        return case_hash

    def add_result(
        self,
        *,
        test_case: BaseTestCase,
        output: Any,
        duration_ms: float,
        evaluators: Sequence[BaseTestEvaluator] | None = None,
        status: str = "SUCCESS",
        metadata: dict[str, str] | None = None,
        started_at: str | None = None,
    ) -> str:
        """`async_add_result` from sync code (also inside a running event loop)."""
        return run_blocking(
            self.async_add_result(
                test_case=test_case,
                output=output,
                duration_ms=duration_ms,
                evaluators=evaluators,
                status=status,
                started_at=started_at,
            ),
            thread_name="trialrun-run-manager",
        )

    async def async_end(self) -> None:
        self.end()

    def end(self) -> None:
        """Marks the run completed; a review can be created from then on."""
        if not self.started_at:
            self.started_at = _now_rfc3339()
        self.ended_at = _now_rfc3339()
        self.can_create_human_review = True
        self._open()
        if not self._run.ended:
            self._run.end()

    async def async_create_human_review(
        self,
        *,
        name: str,
        assignee_email_addresses: list[str],
        rubric_id: str | None = None,
    ) -> None:
        self.create_human_review(
            name=name, assignee_email_addresses=assignee_email_addresses, rubric_id=rubric_id
        )

    def create_human_review(
        self,
        *,
        name: str,
        assignee_email_addresses: list[str],
        rubric_id: str | None = None,
    ) -> None:
        """Adds a review job for the run's results to the local review queue."""
        if not self.can_create_human_review or not self.started_at or not self.ended_at:
            raise ValueError(
                "Run has not ended or timestamps missing; call end() before creating human review."
            )
        _core.save_review(
            self.run_id,
            (name, list(assignee_email_addresses), rubric_id),
            [],
            store_path=str(self._run.store_path),
        )
