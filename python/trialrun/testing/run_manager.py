"""`autoblocks.testing.run.RunManager` under trialrun: a run whose results you add by hand.

    manager = RunManager[MyCase, MyOutput]("my-suite")
    manager.start()
    manager.add_result(case, output, test_case_duration_ms=120, evaluations=[...])
    manager.end()
    manager.create_human_review_job(assignee_email_address="me@example.com", name="check")

Each result goes into the run store as it is added, in the shape the suite engine stores
(so ``trialrun show``, ``compare`` and the viewer read it like any run), with the human
review fields of the case and output; a review job goes into the local review queue.
"""

from __future__ import annotations

from typing import Generic

from trialrun import _core, _review
from trialrun._models import EvaluationWithId, OutputType, TestCaseType

__all__ = ["RunManager"]


class RunManager(Generic[TestCaseType, OutputType]):
    """Starts a run, takes results one by one, ends it (Autoblocks' v1 RunManager).

    ``message`` is accepted for compatibility; the run store has no place for run
    messages, so it is not kept.
    """

    def __init__(self, test_id: str, message: str | None = None):
        self.test_external_id = test_id
        self.message = message
        self.run_id: str | None = None
        self.ended = False
        self._run: _core.ManualRun | None = None

    def start(self) -> None:
        """Starts the run (stored with status "running"); call it before adding results.

        As in Autoblocks, starting again starts a new run."""
        run = _core.ManualRun(self.test_external_id)
        self.run_id = run.start()
        self._run = run
        self.ended = False

    async def async_start(self) -> None:
        self.start()

    def add_result(
        self,
        test_case: TestCaseType,
        output: OutputType,
        test_case_duration_ms: float | None = None,
        evaluations: list[EvaluationWithId] | None = None,
    ) -> None:
        """Stores a test case, its output and its evaluations in the run, at once."""
        if self._run is None:
            raise ValueError("You must start the run with `start()` before adding results.")
        if self.ended:
            raise ValueError("You cannot add results to an ended run.")
        # Computed first: a case whose fields cannot be made is not stored (as in Autoblocks).
        fields = _review.case_fields(test_case), _review.output_fields(output)
        case_hash = self._run.add_result(
            test_case, output, (test_case_duration_ms or 0) / 1000, evaluations or []
        )
        store_review_fields(self._run, case_hash, *fields)

    async def async_add_result(
        self,
        test_case: TestCaseType,
        output: OutputType,
        test_case_duration_ms: float | None = None,
        evaluations: list[EvaluationWithId] | None = None,
    ) -> None:
        self.add_result(test_case, output, test_case_duration_ms, evaluations)

    def create_human_review_job(self, assignee_email_address: str, name: str) -> None:
        """Adds a review job for the run's results to the local review queue (``trialrun
        ui``, ``trialrun review``)."""
        if self._run is None:
            raise ValueError(
                "You must start the run with `start()` before creating a human review job."
            )
        _core.save_review(
            self._run.run_id,
            (name, [assignee_email_address], None),
            [],
            store_path=str(self._run.store_path),
        )

    async def async_create_human_review_job(self, assignee_email_address: str, name: str) -> None:
        self.create_human_review_job(assignee_email_address, name)

    def end(self) -> None:
        """Marks the run completed. Ending an ended run does nothing."""
        if self._run is None:
            raise ValueError("You must start the run with `start()` before ending it.")
        if not self._run.ended:
            self._run.end()
        self.ended = True

    async def async_end(self) -> None:
        self.end()


def store_review_fields(
    run: _core.ManualRun,
    case_hash: str,
    input_fields: _review.Fields,
    output_fields: _review.Fields,
) -> None:
    """Stores one case's review fields (Autoblocks sends them with every result; a case
    with neither gets no row)."""
    if input_fields is not None or output_fields is not None:
        _core.save_review(
            run.run_id,
            None,
            [(case_hash, input_fields, output_fields)],
            store_path=str(run.store_path),
        )
