"""A voice call's timeline outside the viewer: in HTML reports (`trialrun export --format
html`, `StoredRun.html()`) and in notebooks (`TestResult._repr_html_`), drawn by the same
code as the viewer's (report/call_timeline.rs), with its look inside the SVG."""

from __future__ import annotations

import base64
from pathlib import Path

from test_viewer import CallCase, a_call, write_wav
from trialrun import history, run_test_suite


def test_a_report_of_a_call_run_shows_its_timeline_and_numbers(trialrun_home: Path) -> None:
    call = a_call(trialrun_home / "recordings" / "CA0001.wav")
    (run_id,) = run_test_suite(
        "calls", [CallCase("refund")], [], lambda c: call, quiet=True
    ).run_ids
    report = history.run(run_id).html()
    assert report.count('<svg xmlns="http://www.w3.org/2000/svg" class="call-timeline"') == 1
    assert "<style>svg.call-timeline{" in report  # its look travels with it
    assert 'data-text="I want a refund for my order"' in report
    assert '<g class="dtmf" data-digit="5" data-at="5.6">' in report
    assert "first word after 200 ms" in report and "ended by caller (goodbye)" in report


def test_a_call_in_a_notebook_shows_its_timeline_and_plays_its_recording(tmp_path: Path) -> None:
    recording = tmp_path / "CA0001.wav"
    write_wav(recording, 1.0)
    call = a_call(recording)
    page = call._repr_html_()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="call-timeline"' in page
    assert 'class="interruption" data-by="caller" data-at="5"' in page
    assert "1 interruption(s)" in page
    embedded = base64.b64encode(recording.read_bytes()).decode()
    assert f'<audio controls src="data:audio/wav;base64,{embedded}">' in page
    recording.unlink()
    assert "<audio" not in call._repr_html_()  # no file, no player
