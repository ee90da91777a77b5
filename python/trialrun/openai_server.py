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

Calls of a voice agent: an agent that puts its call's sid in the base URL
(``{server.url without /v1}/calls/{CallSid}/v1``) or in an ``X-Call-Sid`` header has its
model traffic tagged with that call; ``exchanges`` keeps every request with its time, call
and answer, and ``tool_calls(call=...)`` lists the tool calls the model answered with (what
the agent was told to do). ``TestRunner(model_server=server)`` puts them on each call's
``TestResult.tool_calls`` (``ToolCalled`` asserts them). OpenAI's Realtime call control,
``POST /v1/realtime/calls/{call_id}/accept|reject|refer|hangup`` (a SIP agent's transfer is
a ``refer`` with ``target_uri``), is answered 200 (or a scripted error,
``fail_call_control``) and kept in ``call_control``, tagged with a call as chat requests
are; ``TestRunner(model_server=server)`` puts a call's refers on its ``TestResult.transfers``.
"""

from __future__ import annotations

import json as _json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

__all__ = [
    "CallControl",
    "Exchange",
    "ModelToolCall",
    "OpenAIServer",
    "Received",
    "chat_completion",
]

Answer = Callable[[dict[str, Any]], "dict[str, Any] | str"]


class _Failure(NamedTuple):
    status: int
    message: str


class Received(NamedTuple):
    """One request: its headers (names lower-cased) and JSON body."""

    headers: dict[str, str]
    body: Any


class Exchange(NamedTuple):
    """One chat request and what the server answered: ``at`` (Unix time it arrived),
    ``call`` (the call sid the request was tagged with, or None), its JSON ``body``, and
    the completion sent (None when it answered with an error)."""

    at: float
    call: str | None
    body: Any
    answer: dict[str, Any] | None


class ModelToolCall(NamedTuple):
    """A tool call the model answered with: ``name``, ``arguments`` (parsed JSON when they
    are JSON, else the text), the ``call`` it was tagged with and ``at`` (Unix time)."""

    name: str
    arguments: Any
    call: str | None
    at: float


class CallControl(NamedTuple):
    """A Realtime call-control request: ``call_id``, ``action`` (accept, reject, refer,
    hangup), its JSON ``body`` (a refer's ``target_uri``), ``at`` (Unix time), the ``call``
    sid it was tagged with (or None) and the HTTP ``status`` it was answered with."""

    call_id: str
    action: str
    body: Any
    at: float
    call: str | None = None
    status: int = 200


# "/calls/{sid}" before the API path tags a request with a call.
_CALL_PREFIX = re.compile(r"^/calls/([^/]+)(/.*)$")
_CONTROL_ACTIONS = ("accept", "reject", "refer", "hangup")
_REALTIME_CONTROL = re.compile(rf"^(?:/v1)?/realtime/calls/([^/]+)/({'|'.join(_CONTROL_ACTIONS)})$")


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
        self.exchanges: list[Exchange] = []
        self.call_control: list[CallControl] = []
        self.other_requests: list[tuple[str, str]] = []  # (method, path) of anything else
        self._replies: deque[dict[str, Any] | _Failure] = deque()
        self._control_failures: dict[str, deque[_Failure]] = {}
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

    def fail_call_control(
        self, action: str, status: int = 500, message: str = "scripted failure"
    ) -> OpenAIServer:
        """Queues an HTTP error as the answer to the next Realtime call-control request
        with ``action`` (accept, reject, refer, hangup), e.g. a refer OpenAI refuses, to
        test what the agent does when its transfer fails."""
        if action not in _CONTROL_ACTIONS:
            raise ValueError(
                f"fail_call_control: action must be one of {', '.join(_CONTROL_ACTIONS)}, "
                f"not {action!r}"
            )
        if not 400 <= status <= 599:
            raise ValueError(
                f"fail_call_control: status must be an HTTP error (400-599), not {status}"
            )
        with self._lock:
            self._control_failures.setdefault(action, deque()).append(_Failure(status, message))
        return self

    def refers(
        self, call: str | None = None, *, start: float | None = None, end: float | None = None
    ) -> list[CallControl]:
        """The Realtime refers (a SIP agent's transfers) received, in order: those tagged
        with ``call`` when given, and (by Unix time) from ``start`` to ``end`` when given."""
        with self._lock:
            controls = list(self.call_control)
        return [
            c
            for c in controls
            if c.action == "refer"
            and (call is None or c.call == call)
            and (start is None or c.at >= start)
            and (end is None or c.at <= end)
        ]

    @property
    def pending(self) -> int:
        """Scripted replies not yet given."""
        return len(self._replies)

    @property
    def bodies(self) -> list[Any]:
        """The JSON bodies of the chat requests received, in order."""
        return [r.body for r in self.requests]

    def tool_calls(
        self, call: str | None = None, *, start: float | None = None, end: float | None = None
    ) -> list[ModelToolCall]:
        """The tool calls the model answered with, in order: those of requests tagged with
        ``call`` when given, and (by Unix time) from ``start`` to ``end`` when given."""
        found = []
        with self._lock:
            exchanges = list(self.exchanges)
        for e in exchanges:
            if call is not None and e.call != call:
                continue
            if (start is not None and e.at < start) or (end is not None and e.at > end):
                continue
            for choice in (e.answer or {}).get("choices", [])[:1]:
                for tool_call in (choice.get("message") or {}).get("tool_calls") or []:
                    function = tool_call.get("function", {})
                    text = function.get("arguments", "")
                    try:
                        arguments = _json.loads(text) if text else {}
                    except ValueError:
                        arguments = text
                    found.append(ModelToolCall(function.get("name", ""), arguments, e.call, e.at))
        return found

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        send = handler._send  # type: ignore[attr-defined]
        arrived = time.time()
        path = handler.path.split("?")[0].rstrip("/")
        call = handler.headers.get("X-Call-Sid")
        tagged = _CALL_PREFIX.match(path)
        if tagged:
            call, path = tagged.group(1), tagged.group(2)
        control = _REALTIME_CONTROL.match(path)
        if control:
            try:
                body = _json.loads(raw) if raw else {}
            except ValueError:
                body = raw.decode(errors="replace")
            action = control.group(2)
            with self._lock:
                failures = self._control_failures.get(action)
                failure = failures.popleft() if failures else None
                status = failure.status if failure else 200
                self.call_control.append(
                    CallControl(control.group(1), action, body, arrived, call, status)
                )
            if failure:
                send(status, {"error": {"message": failure.message, "type": "server_error"}})
            else:
                send(200, {})
            return
        if path not in (
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
            self._exchange(arrived, call, body, None)
            send(scripted.status, {"error": {"message": scripted.message, "type": "server_error"}})
            return
        if scripted is None and self._answer is not None:
            answered = self._answer(body)
            scripted = (
                chat_completion(answered, model=self._model)
                if isinstance(answered, str)
                else answered
            )
        self._exchange(arrived, call, body, scripted)
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

    def _exchange(self, at: float, call: str | None, body: Any, answer: Any) -> None:
        with self._lock:
            self.exchanges.append(Exchange(at, call, body, answer))

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OpenAIServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenAIServer(url={self.url!r})"
