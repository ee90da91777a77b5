"""examples/notebook.ipynb, run as a user would: in a real Jupyter kernel (ipykernel,
driven by nbclient). Suites show live progress in the cell and, when large, a compact
display; a comparison and a phone call to the example voice agent render."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def outputs_of(cell) -> tuple[str, str]:
    """(the HTML the cell displayed, the text it printed or returned)."""
    html, text = [], []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            text.append(out["text"])
        data = out.get("data", {})
        html.append(data.get("text/html", ""))
        text.append(data.get("text/plain", ""))
    return "\n".join(html), "\n".join(text)


def test_the_example_notebook_runs_in_a_jupyter_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALRUN_HOME", str(tmp_path / "home"))
    notebook = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    client = NotebookClient(
        notebook,
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},  # the kernel inherits TRIALRUN_HOME
    )
    client.execute()
    code = [c for c in notebook.cells if c.cell_type == "code"]

    html, text = outputs_of(code[0])
    # The live progress line, last drawn as the suite ended, then the compact display:
    # the summary with its first failures and where to look, not 300 rows.
    assert '<progress value="300" max="300">' in html, html[:2000]
    assert "300/300 cases, 42 failing" in html
    assert "FAILED notebook-sums: 300/300 cases" in html
    assert "look closer: trialrun show" in html
    assert html.count("sum-") < 40, "every case was rendered"

    html, _ = outputs_of(code[1])
    assert "notebook-sums" in html and "newly pass" in html.lower(), html[:2000]

    html, text = outputs_of(code[2])
    assert "agent:" in text.lower() and "caller:" in text.lower(), text
    # The call displays as its timeline, its numbers and a player of its recording.
    assert 'class="call-timeline"' in html and "first word after" in html, html[:2000]
    assert '<audio controls src="data:audio/wav;base64,' in html
