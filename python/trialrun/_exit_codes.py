"""Exit codes of the `trialrun` command and of scripts that run a step sequence.

The CLI's docstring says what each means per command; `trialrun.steps` also names
EXIT_FAILED and EXIT_USAGE by what they mean for a sequence (EXIT_STEP_FAILED, EXIT_CONFIG).
"""

from __future__ import annotations

EXIT_PASSED = 0
# An evaluation failed or errored, fn raised, (compare) a case regressed, (steps) a step
# failed or errored.
EXIT_FAILED = 1
# Usage, validation or lookup error; (steps) a config or data error.
EXIT_USAGE = 2
# (steps) A worker failed to start or died.
EXIT_WORKER = 3
# Interrupted: Ctrl-C (128 + SIGINT), or SIGTERM to `trialrun steps`.
EXIT_INTERRUPTED = 130
