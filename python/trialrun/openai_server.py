"""A scripted OpenAI-compatible server on 127.0.0.1, for tests of code that calls a model:
point the code's ``base_url`` at ``server.url``, script what the model answers, and assert
what it was sent. A real HTTP server (in a thread), not a mock of a client library.

    server = OpenAIServer()
    server.reply(tool_calls=[("book", {"day": "Tuesday"})])   # first request: a tool call
    server.reply(json={"booked": True})                       # then structured output
    client = openai.OpenAI(base_url=server.url, api_key="test")
    ...
    (first, second) = server.requests                          # (headers, body) each
    assert second.body["messages"][-1]["role"] == "tool"
    server.close()

``POST /v1/chat/completions`` answers with the scripted replies in order (then with
``answer(body)`` if given: an OpenAI completion dict, or the text of one; ``fail(503)``
scripts an error answer, to test retries); requests with
``"stream": true`` get the same answer as server-sent events. A request with nothing left
to answer gets HTTP 500 with a message saying so, and is still recorded. Any other path is
a 404, recorded in ``other_requests``.
"""

from __future__ import annotations

import json as _json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

__all__ = ["OpenAIServer", "Received", "chat_completion"]

Answer = Callable[[dict[str, Any]], "dict[str, Any] | str"]


class _Failure(NamedTuple):
    status: int
    message: str


class Received(NamedTuple):
    """One request: its headers (names lower-cased) and JSON body."""

    headers: dict[str, str]
    body: Any


def chat_completion(
    content: str | None = None,
    tool_calls: Iterable[tuple[str, Any]] | None = None,
    *,
    model: str = "scripted-model",
) -> dict[str, Any]:
    """An OpenAI chat completion saying ``content`` and/or calling tools
    (``[(name, arguments)]``; arguments as a dict, or JSON text as the model writes it)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    calls = list(tool_calls or ())
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": args if isinstance(args, str) else _json.dumps(args),
                },
            }
            for i, (name, args) in enumerate(calls)
        ]
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _chunks(completion: dict[str, Any]) -> list[dict[str, Any]]:
    """A completion as the chunks of a stream: the role, the content, each tool call, the end."""
    choice = completion["choices"][0]
    message = choice["message"]
    base = {k: completion[k] for k in ("id", "created", "model") if k in completion}
    base["object"] = "chat.completion.chunk"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    if message.get("content"):
        out.append(chunk({"content": message["content"]}))
    for i, call in enumerate(message.get("tool_calls") or ()):
        out.append(chunk({"tool_calls": [{"index": i, **call}]}))
    out.append(chunk({}, choice.get("finish_reason", "stop")))
    return out


class OpenAIServer:
    """A scripted OpenAI-compatible chat server on 127.0.0.1 (see the module's doc).

    ``answer(body)`` answers requests the scripted replies do not; ``model`` names the
    model in scripted completions."""

    def __init__(self, answer: Answer | None = None, *, model: str = "scripted-model") -> None:
        self.requests: list[Received] = []
        self.other_requests: list[tuple[str, str]] = []  # (method, path) of anything else
        self._replies: deque[dict[str, Any] | _Failure] = deque()
        self._answer = answer
        self._model = model
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server._post(self)

            def do_GET(self) -> None:
                server.other_requests.append(("GET", self.path))
                self._send(404, {"error": {"message": f"no route GET {self.path}"}})

            def _send(self, status: int, payload: Any) -> None:
                data = _json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        #: The base URL to give an OpenAI client (``base_url``), ending in ``/v1``.
        self.url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def reply(
        self,
        content: str | None = None,
        *,
        tool_calls: Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        completion: dict[str, Any] | None = None,
    ) -> OpenAIServer:
        """Queues the answer to the next chat request: text, tool calls (``[(name,
        arguments)]``), structured output (``json=``: the object, sent as the message's JSON
        text) or a whole completion. Returns the server, so replies chain."""
        if completion is None:
            if json is not None:
                if content is not None:
                    raise ValueError("reply: give content or json, not both")
                content = _json.dumps(json)
            if content is None and not tool_calls:
                raise ValueError("reply: give content, tool_calls, json or completion")
            completion = chat_completion(content, tool_calls, model=self._model)
        with self._lock:
            self._replies.append(completion)
        return self

    def fail(self, status: int = 503, message: str = "scripted failure") -> OpenAIServer:
        """Queues an HTTP error (``status``, OpenAI's error body) as the answer to the next
        chat request, e.g. 429 or 503 to test that the client retries."""
        if not 400 <= status <= 599:
            raise ValueError(f"fail: status must be an HTTP error (400-599), not {status}")
        with self._lock:
            self._replies.append(_Failure(status, message))
        return self

    @property
    def pending(self) -> int:
        """Scripted replies not yet given."""
        return len(self._replies)

    @property
    def bodies(self) -> list[Any]:
        """The JSON bodies of the chat requests received, in order."""
        return [r.body for r in self.requests]

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        send = handler._send  # type: ignore[attr-defined]
        if handler.path.split("?")[0].rstrip("/") not in (
            "/v1/chat/completions",
            "/chat/completions",
        ):
            self.other_requests.append(("POST", handler.path))
            send(404, {"error": {"message": f"no route POST {handler.path}"}})
            return
        try:
            body = _json.loads(raw)
        except ValueError as e:
            send(400, {"error": {"message": f"the body is not JSON: {e}"}})
            return
        with self._lock:
            self.requests.append(Received({k.lower(): v for k, v in handler.headers.items()}, body))
            scripted = self._replies.popleft() if self._replies else None
        if isinstance(scripted, _Failure):
            send(scripted.status, {"error": {"message": scripted.message, "type": "server_error"}})
            return
        if scripted is None and self._answer is not None:
            answered = self._answer(body)
            scripted = (
                chat_completion(answered, model=self._model)
                if isinstance(answered, str)
                else answered
            )
        if scripted is None:
            message = (
                f"the scripted OpenAI server has no answer left for request {len(self.requests)} "
                "(script more with server.reply(...))"
            )
            send(500, {"error": {"message": message, "type": "server_error"}})
            return
        if isinstance(body, dict) and body.get("stream"):
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("Cache-Control", "no-cache")
            handler.end_headers()
            for chunk in _chunks(scripted):
                handler.wfile.write(f"data: {_json.dumps(chunk)}\n\n".encode())
            handler.wfile.write(b"data: [DONE]\n\n")
            handler.wfile.flush()
            handler.close_connection = True
            return
        send(200, scripted)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OpenAIServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenAIServer(url={self.url!r})"
