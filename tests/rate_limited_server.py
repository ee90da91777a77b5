"""A real HTTP server on a free loopback port that rate-limits like a model provider:
at most `rate` answered requests in any one second (a sliding window); above it, 429 with
a Retry-After (decimal seconds until a slot frees). GET /quota answers OpenAI's 429 for an
exhausted quota. Used by tests/test_rate_limits.py and benches/rate_limit.py.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class RateLimitedServer:
    def __init__(self, rate: int, latency_s: float = 0.0) -> None:
        self.rate = rate
        self.latency_s = latency_s
        self.lock = threading.Lock()
        self.accepted: collections.deque[float] = collections.deque()
        self.ok_times: list[float] = []
        self.limited = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/quota"):
                    self.answer(
                        429,
                        {
                            "error": {
                                "message": "You exceeded your current quota.",
                                "type": "insufficient_quota",
                                "code": "insufficient_quota",
                            }
                        },
                    )
                    return
                wait = server.admit()
                if wait is not None:
                    self.answer(429, {"error": {"code": "rate_limit_exceeded"}}, wait)
                    return
                with server.lock:
                    server.in_flight += 1
                    server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
                try:
                    time.sleep(server.latency_s)
                finally:
                    with server.lock:
                        server.in_flight -= 1
                        server.ok_times.append(time.monotonic())
                self.answer(200, {"ok": True})

            def answer(self, status: int, body: Any, retry_after: float | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", f"{retry_after:.3f}")
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that went away (a cancelled call) is not news

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def admit(self) -> float | None:
        """None when the request may be answered; else the seconds until it could be."""
        now = time.monotonic()
        with self.lock:
            while self.accepted and self.accepted[0] <= now - 1.0:
                self.accepted.popleft()
            if len(self.accepted) < self.rate:
                self.accepted.append(now)
                return None
            self.limited += 1
            return max(0.001, self.accepted[0] + 1.0 - now)

    def __enter__(self) -> RateLimitedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def ok_rate(self, start: float, end: float) -> float:
        """Answered requests per second between two monotonic times."""
        with self.lock:
            n = sum(1 for t in self.ok_times if start <= t < end)
        return n / (end - start)
