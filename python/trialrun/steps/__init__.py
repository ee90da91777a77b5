"""Step sequences: prometheus-test's API on trialrun's engine.

    from trialrun.steps import TestRunner, TestStep

    steps = [TestStep(name="create", description="...", prepare=prep, execute=run, worker="worker1")]
    result = TestRunner(steps=steps, config_file=Path(__file__).parent / "config.yaml").run()

The Rust core (trialrun._core.StepSession) checks the configuration, starts MongoDB and
the workers, decides which step runs next, and keeps the state file and the run store.
This package calls prepare/execute (sync or async) on an asyncio loop and builds the
context they receive:

- ``step``: ``TestStep``, one step and its functions; ``dialects``: which of
  prometheus-test's APIs they are written against, read from their signatures;
- ``context``: ``StepContext`` (alias ``Context``) and ``WorkerInfo``, what the step
  functions of the documented API receive; ``config``: ``Config``, the configuration;
- ``workers``: ``Worker``, a worker with the package's surface (keys, HTTP helpers);
  ``live``: the runner's surface for the real API (get/set, state, current_round);
  ``utils``: create_signature and keypairs (signed in Rust);
- ``attempt``: one try of a step's functions, sync or async, within its timeout;
- ``runner``: ``TestRunner``, the sequence run through the core's session;
- ``results``: ``StepResult``, ``SequenceResult`` and the exit codes;
- ``errors``: ``SkipStep``, ``StepsConfigWarning`` and the core's errors.
"""

# Config and StoreError were importable from trialrun.steps before it became a package;
# kept so, outside __all__ as then.
from trialrun.steps.config import Config as Config
from trialrun.steps.context import Context, StepContext, WorkerInfo
from trialrun.steps.errors import (
    SkipStep,
    StepsConfigError,
    StepsConfigWarning,
    StepsDataError,
    WorkerError,
)
from trialrun.steps.errors import StoreError as StoreError
from trialrun.steps.results import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_PASSED,
    EXIT_STEP_FAILED,
    EXIT_WORKER,
    SequenceResult,
    StepResult,
)
from trialrun.steps.runner import TestRunner
from trialrun.steps.step import TestStep
from trialrun.steps.workers import Worker

__all__ = [
    "Context",
    "EXIT_CONFIG",
    "EXIT_INTERRUPTED",
    "EXIT_PASSED",
    "EXIT_STEP_FAILED",
    "EXIT_WORKER",
    "SequenceResult",
    "SkipStep",
    "StepContext",
    "StepResult",
    "StepsConfigError",
    "StepsConfigWarning",
    "StepsDataError",
    "TestRunner",
    "TestStep",
    "Worker",
    "WorkerError",
    "WorkerInfo",
]
