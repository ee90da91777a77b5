"""Test step definitions."""

from functools import partial

from trialrun.steps import TestStep

from .stages import worker_audit, worker_submission, worker_task

steps = [
    TestStep(
        name="worker1_task",
        description="Worker 1 executes the round's todo",
        prepare=worker_task.prepare,
        execute=worker_task.execute,
        worker="worker1",
    ),
    TestStep(
        name="worker2_task",
        description="Worker 2 executes the round's todo",
        prepare=worker_task.prepare,
        execute=worker_task.execute,
        worker="worker2",
    ),
    TestStep(
        name="worker1_submission",
        description="Worker 1 submits its PR",
        prepare=worker_submission.prepare,
        execute=worker_submission.execute,
        worker="worker1",
    ),
    TestStep(
        name="worker2_audit",
        description="Worker 2 audits Worker 1",
        prepare=partial(worker_audit.prepare, target_name="worker1"),
        execute=worker_audit.execute,
        validate=worker_audit.validate,
        worker="worker2",
    ),
]
