"""The builder sequence with its stages in the two other dialects (same steps, workers
and calls as steps.py)."""

from functools import partial

from trialrun.steps import TestStep

from . import stages_context, stages_documented


def _steps(stages):
    return [
        TestStep("worker1_task", "", stages.task_prepare, stages.task_execute, "worker1"),
        TestStep("worker2_task", "", stages.task_prepare, stages.task_execute, "worker2"),
        TestStep(
            "worker1_submission",
            "",
            stages.submission_prepare,
            stages.submission_execute,
            "worker1",
        ),
        TestStep(
            "worker2_audit",
            "",
            partial(stages.audit_prepare, target_name="worker1"),
            stages.audit_execute,
            "worker2",
        ),
    ]


context_steps = _steps(stages_context)
documented_steps = _steps(stages_documented)
