"""Concurrent calls over the loopback carrier, audio streaming both ways in real time.

Run it from the repository root after building the extension in release mode::

    maturin develop --release      # or: pip install .
    python benches/telephony_calls.py                      # 500 calls for 30 s
    python benches/telephony_calls.py --calls 100 --seconds 10

trialrun: one call server places N calls through the loopback carrier's REST API to a
number that rings the same server, so every call has two Media Streams (caller and callee),
both streaming audio from trialrun's 20 ms clock, bridged by the carrier's own 20 ms clock:
per call, two WebSocket streams each way, 200 frames per second through the engine. The
figures, over the 30 s when all N calls are streaming: CPU per call (share of one core),
and the lateness of every frame the server sent against its 20 ms deadline (p50 and p99
over all frames of all calls, from `CallServer.pacing`). Target: 500 calls on 2 cores with
p99 under 10 ms. Also printed: each call's own p99 over its whole life, which includes
setting up and hanging up all N calls at once (the median call and the worst).

Baseline, in the same run: bare Python doing the same pacing job with asyncio and the
`websockets` package (what a FastAPI/fixa-style stack rests on): N client streams and N
server streams on loopback, each sending a 160-byte mu-law frame every 20 ms on absolute
deadlines, both ways; no carrier in between (less work than trialrun does).

This is not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import math
import os
import statistics
import sys
import time

NUMBER = "+15550100"
FRAME_S = 0.020


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return (
        ordered[min(len(ordered) - 1, round((len(ordered) - 1) * q))] if ordered else float("nan")
    )


def tone_pcm(seconds: float) -> bytes:
    n = int(seconds * 8000)
    return array.array(
        "h", (int(6000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(n))
    ).tobytes()


async def trialrun_calls(calls: int, seconds: float) -> dict[str, float]:
    from trialrun.telephony import CallServer, LoopbackCarrier

    carrier = LoopbackCarrier(max_call_duration=seconds + 60)
    server = CallServer(
        carrier=carrier,
        phone_number="+15550199",
        silence_timeout=None,
        max_call_duration=seconds + 60,
        audio_events=False,
    )
    carrier.set_number(NUMBER, server.inbound_voice_url)
    audio = tone_pcm(seconds + 5)
    try:
        inbound = [server.expect_call() for _ in range(calls)]
        outbound = [await server.place_call(NUMBER) for _ in range(calls)]

        # Each side speaks once its stream has started.
        async def started(call) -> None:
            while (await call.next_event()).kind != "started":
                pass
            call.send_audio(audio)

        await asyncio.wait_for(asyncio.gather(*(started(c) for c in inbound + outbound)), 60)
        server.pacing(reset=True)  # from here on, all N calls are streaming
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        window = server.pacing()
        for call in outbound:
            call.hang_up()

        async def ended(call):
            while (event := await call.next_event()).kind != "ended":
                pass
            return event

        ends = await asyncio.wait_for(asyncio.gather(*(ended(c) for c in inbound + outbound)), 60)
    finally:
        server.stop()
        carrier.stop()
    reasons = {e.reason for e in ends}
    details = {e.detail for e in ends if e.reason == "protocol_error"}
    if details:
        print("protocol errors:", sorted(details)[:5], file=sys.stderr)
    per_call_p99 = [e.pacing["p99_ms"] for e in ends]
    return {
        "cpu_share": cpu / wall / calls,
        "p50_ms": window["p50_ms"],
        "p99_ms": window["p99_ms"],
        "max_ms": window["max_ms"],
        "frames": window["frames"],
        "reasons": ",".join(sorted(reasons)),
        "call_p99_median_ms": statistics.median(per_call_p99),
        "call_p99_worst_ms": max(per_call_p99),
    }


async def baseline_calls(calls: int, seconds: float) -> dict[str, float]:
    import websockets

    lateness: list[float] = []
    frame = json.dumps({"event": "media", "streamSid": "MZ", "media": {"payload": "/" * 216}})
    stop_at = 0.0

    async def pace(socket) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += FRAME_S
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            if now >= stop_at:
                return
            lateness.append(now - deadline)
            try:
                await socket.send(frame)
            except websockets.ConnectionClosed:
                return

    async def handler(socket) -> None:
        async def drain():
            async for _ in socket:
                pass

        reader = asyncio.ensure_future(drain())
        await pace(socket)
        await reader  # until the client closes

    async with websockets.serve(handler, "127.0.0.1", 0, max_queue=None) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        clients = [
            await websockets.connect(f"ws://127.0.0.1:{port}", max_queue=None) for _ in range(calls)
        ]
        loop = asyncio.get_running_loop()
        stop_at = loop.time() + seconds + 0.5
        cpu0, wall0 = time.process_time(), time.perf_counter()

        async def client(socket) -> None:
            async def drain():
                async for _ in socket:
                    pass

            reader = asyncio.ensure_future(drain())
            await pace(socket)
            reader.cancel()

        await asyncio.gather(*(client(c) for c in clients))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        for c in clients:
            await c.close()
    ms = [x * 1000 for x in lateness]
    return {
        "cpu_share": cpu / wall / calls,
        "p50_ms": percentile(ms, 0.5),
        "p99_ms": percentile(ms, 0.99),
        "max_ms": max(ms),
        "frames": len(ms),
        "reasons": "-",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    import trialrun

    print(
        f"python {sys.version.split()[0]}, trialrun {trialrun.__version__}, {os.cpu_count()} cpus, "
        f"{args.calls} calls x {args.seconds:g} s"
    )
    rows = [
        (
            "trialrun (server + loopback carrier)",
            asyncio.run(trialrun_calls(args.calls, args.seconds)),
        )
    ]
    if not args.skip_baseline:
        rows.append(
            (
                "bare asyncio + websockets (pacing only)",
                asyncio.run(baseline_calls(args.calls, args.seconds)),
            )
        )
    print()
    print(
        f"{'':<42} {'CPU/call':>9} {'p50 late':>9} {'p99 late':>9} {'max late':>9} {'frames':>10}  ends"
    )
    for name, r in rows:
        print(
            f"{name:<42} {r['cpu_share']:>8.2%} {r['p50_ms']:>7.2f}ms {r['p99_ms']:>7.2f}ms {r['max_ms']:>7.1f}ms "
            f"{r['frames']:>10,}  {r['reasons']}"
        )
    whole = rows[0][1]
    print(
        f"\ntrialrun per call, from setting up to hanging up (all {args.calls} calls at once): "
        f"p99 {whole['call_p99_median_ms']:.2f} ms for the median call, {whole['call_p99_worst_ms']:.1f} ms for the worst"
    )
    ok = rows[0][1]["p99_ms"] < 10
    print(f"\ntarget: {args.calls} calls with p99 lateness under 10 ms: {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
