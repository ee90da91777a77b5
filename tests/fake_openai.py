"""The OpenAI-compatible chat server the tests use: trialrun's own scripted server
(trialrun.openai_server), under the names these tests were written with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trialrun.openai_server import OpenAIServer as FakeChatServer
from trialrun.openai_server import chat_completion

__all__ = ["FakeChatServer", "completion"]


def completion(
    content: str | None = None, tool_calls: Iterable[tuple[str, Any]] | None = None
) -> dict[str, Any]:
    return chat_completion(content, tool_calls, model="judge-model")
