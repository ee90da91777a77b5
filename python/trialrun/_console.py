"""Whether a run talks on the console: quiet=, TRIALRUN_QUIET, and whether stderr is a terminal.

Suites (progress bar and summary) and step sequences (progress lines) decide the same way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from trialrun._notebook import in_notebook


def is_terminal() -> bool:
    """stderr is a terminal (False when it is closed, replaced or has no isatty)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def is_quiet(quiet: bool | None, *, loud: bool = False) -> bool:
    """quiet=True/False wins. quiet=None follows TRIALRUN_QUIET ("0": talk even without a
    terminal, any other value: quiet), else talks on a terminal or in a notebook, or when
    `loud` (the CLI or a script run as __main__, where nobody else reports)."""
    if quiet is not None:
        return quiet
    env = os.environ.get("TRIALRUN_QUIET", "")
    if env:
        return env != "0"
    # A notebook is as interactive as a terminal: it shows progress and summaries too.
    return not (loud or is_terminal() or in_notebook())


def printer(quiet: bool | None, loud: bool) -> Callable[..., None]:
    """show(line, error=False) printing to stderr: progress unless quiet; errors also when
    quiet if `loud` (the CLI or a script), where nobody else reports them."""
    silent = is_quiet(quiet, loud=loud)

    def show(line: str, error: bool = False) -> None:
        if not silent or (error and loud):
            print(line, file=sys.stderr, flush=True)

    return show
