"""A small Media Streams agent for tests of the loopback carrier (and ``Webhooks``, the TwiML
app it answers webhooks with, which other tests use alone): its voice webhook answers
with the TwiML given, its WebSocket takes the stream, and on the stream's ``start`` it runs
a script of actions a real agent takes, including calls to the carrier's REST API with its
own CallSid (GET and POST /Calls/{sid}.json, with urllib: a client other than trialrun's).

Everything it saw is kept for the test to check: webhook forms, stream messages, REST
answers."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import websockets

Action = Callable[["StreamAgent", Any], Awaitable[None]]


class Webhooks:
    """A tiny TwiML app on a free port: answers each path with the TwiML given (HTTP
    ``status``; ``{ws}`` in it becomes ``ws_url``), serves ``files`` to GET (audio for
    <Play>), and keeps what it was sent: (path, form, X-Twilio-Signature)."""

    def __init__(
        self,
        answers: dict[str, str],
        files: dict[str, bytes] | None = None,
        status: int = 200,
        on_post: Callable[[str, dict[str, str]], None] | None = None,
    ) -> None:
        """``on_post(path, form)`` runs before each POST is answered (the carrier waits)."""
        self.answers, self.files, self.status = answers, dict(files or {}), status
        self.requests: list[tuple[str, dict[str, str], str | None]] = []
        self.ws_url = ""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = owner.files[self.path]
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = dict(urllib.parse.parse_qsl(body))
                owner.requests.append((self.path, form, self.headers["X-Twilio-Signature"]))
                if on_post is not None:
                    on_post(self.path, form)
                answer = owner.answers.get(self.path, "").replace("{ws}", owner.ws_url).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


class StreamAgent:
    """``answers`` maps webhook paths to TwiML; ``{ws}`` in it becomes the agent's stream URL.
    ``on_start`` runs (as a task) when a stream starts, with the agent and the socket."""

    def __init__(
        self,
        answers: dict[str, str],
        *,
        api_base: str,
        account_sid: str,
        auth_token: str,
        on_start: Action | None = None,
        webhook_status: int = 200,
        ssl: Any = None,
        on_webhook: Callable[[str, dict[str, str]], None] | None = None,
    ) -> None:
        self.ssl = ssl  # an ssl.SSLContext: the stream is served over wss://
        self.api_base, self.account_sid, self.auth_token = api_base, account_sid, auth_token
        self.on_start = on_start
        self.http = Webhooks(answers, status=webhook_status, on_post=on_webhook)
        self.url, self.files = self.http.url, self.http.files
        self.webhooks = self.http.requests
        self.messages: list[dict[str, Any]] = []
        self.rest: list[tuple[str, int, dict[str, Any]]] = []
        self.tasks: list[asyncio.Task[None]] = []
        self._marks: dict[str, asyncio.Event] = {}
        self._ws_server: Any = None

    async def __aenter__(self) -> StreamAgent:
        self._ws_server = await websockets.serve(self._stream, "127.0.0.1", 0, ssl=self.ssl)
        port = self._ws_server.sockets[0].getsockname()[1]
        scheme = "wss" if self.ssl is not None else "ws"
        self.http.ws_url = f"{scheme}://127.0.0.1:{port}/stream"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self.tasks:
            task.cancel()
        self._ws_server.close()
        await self._ws_server.wait_closed()
        self.http.close()

    async def _stream(self, socket: Any) -> None:
        try:
            async for text in socket:
                message = json.loads(text)
                self.messages.append(message)
                if message["event"] == "start" and self.on_start is not None:
                    self.tasks.append(asyncio.create_task(self.on_start(self, socket)))
                if message["event"] == "mark":
                    self._marks.setdefault(message["mark"]["name"], asyncio.Event()).set()
        except websockets.ConnectionClosed:
            pass

    def call_sid(self) -> str:
        """The CallSid of the stream's ``start``."""
        return next(m["start"]["callSid"] for m in self.messages if m["event"] == "start")

    def stream_sid(self) -> str:
        return next(m["streamSid"] for m in self.messages if m["event"] == "start")

    async def say(self, socket: Any, mulaw: bytes) -> None:
        payload = base64.b64encode(mulaw).decode()
        await socket.send(
            json.dumps(
                {"event": "media", "streamSid": self.stream_sid(), "media": {"payload": payload}}
            )
        )

    async def played(self, socket: Any, name: str) -> None:
        """Returns once what was said before it has played to the caller: a ``mark`` sent,
        and its echo (the carrier sends it back when its playout reaches it) awaited."""
        reached = self._marks.setdefault(name, asyncio.Event())
        await socket.send(
            json.dumps({"event": "mark", "streamSid": self.stream_sid(), "mark": {"name": name}})
        )
        await reached.wait()

    async def rest_call(self, method: str, form: dict[str, str] | None = None) -> dict[str, Any]:
        """GET or POST this agent's own call on the carrier's REST API, as Twilio's SDKs do."""
        return await asyncio.to_thread(self.rest_call_blocking, method, form)

    def rest_call_blocking(self, method: str, form: dict[str, str] | None = None) -> dict[str, Any]:
        """``rest_call`` from a thread (a webhook's handler): its answer is kept in ``rest``."""
        url = f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/Calls/{self.call_sid()}.json"
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        request.add_header("Authorization", f"Basic {credentials}")
        try:
            with urllib.request.urlopen(request) as response:
                status, body = response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            status, body = error.code, json.loads(error.read())
        self.rest.append((method, status, body))
        return body
