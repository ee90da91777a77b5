"""The README's Python blocks run as written: each in a fresh interpreter, in an empty
folder with its own run store.

A block that cannot run here says so in an HTML comment on the line before it, which
this test reads: `<!-- readme-test: skip: why -->` (it needs something outside, such as a
voice agent listening or a step sequence's project folder). The README's text says the
same, so a reader knows which examples are not self-contained.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip:\s*(.+?)\s*-->")


def python_blocks() -> list[tuple[int, str, str | None]]:
    """(line of the opening fence, code, skip reason or None) for each ```python block."""
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i + 1
            end = next(j for j in range(start, len(lines)) if lines[j].strip() == "```")
            previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            skip = SKIP.search(previous)
            blocks.append((i + 1, "\n".join(lines[start:end]) + "\n", skip and skip.group(1)))
            i = end
        i += 1
    return blocks


BLOCKS = python_blocks()


def test_the_readme_has_python_blocks_and_few_are_skipped():
    assert len(BLOCKS) >= 10
    skipped = [line for line, _, reason in BLOCKS if reason]
    assert len(skipped) <= len(BLOCKS) // 2, skipped


@pytest.mark.parametrize(("line", "code", "skip"), BLOCKS, ids=[f"line{b[0]}" for b in BLOCKS])
def test_readme_block_runs(tmp_path, subprocess_env, line, code, skip):
    if skip:
        pytest.skip(f"README line {line}: {skip}")
    script = tmp_path / f"readme_line{line}.py"
    script.write_text(code, encoding="utf-8")
    env = dict(subprocess_env)
    env["TRIALRUN_QUIET"] = "1"
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"README block at line {line} failed:\n{proc.stderr[-3000:]}"
