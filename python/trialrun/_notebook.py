"""Suites in Jupyter: a live progress line while a suite runs (the terminal's progress bar
needs a terminal, which a notebook is not), updated in place a few times a second."""

from __future__ import annotations

import asyncio
import html
import sys
import time
from typing import Any

# How often the line is redrawn: often enough to look live, rarely enough to cost nothing.
_REFRESH_S = 0.5


def in_notebook() -> bool:
    """Running in a Jupyter kernel (IPython's ZMQ shell), where output is HTML."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def _line(suite_id: str, done: int, total: int, failing: int, elapsed: float) -> str:
    rate = done / elapsed if elapsed > 0 else 0.0
    left = (total - done) / rate if rate > 0 else None
    eta = f", about {left:.0f} s left" if left is not None and done < total else ""
    return (
        f'<div class="trialrun-progress"><code>{html.escape(suite_id)}</code> '
        f'<progress value="{done}" max="{max(total, 1)}"></progress> '
        f"{done}/{total} cases, {failing} failing, {rate:.0f}/s{eta}</div>"
    )


async def show_progress(suite_id: str, run: Any, done: asyncio.Future[Any]) -> None:
    """Shows the suite's progress in the cell until `done` resolves, then its last count."""
    from IPython.display import HTML, display

    started = time.monotonic()
    handle = display(HTML(_line(suite_id, 0, 0, 0, 0.0)), display_id=True)
    while True:
        counts = run.progress()
        handle.update(HTML(_line(suite_id, *counts, time.monotonic() - started)))
        if done.done():
            return
        # Wakes at the end at once; the suite's own error is its caller's to raise.
        await asyncio.wait({done}, timeout=_REFRESH_S)
