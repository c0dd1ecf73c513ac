"""A scripted OpenAI-compatible server on 127.0.0.1 for tests and the drafting benchmark.

It answers ``POST /v1/chat/completions`` the way OpenAI does (an assistant
message with text or tool calls, a finish reason, token usage), so the real
``openai`` client inside ``langchain-openai`` talks to it over HTTP. Replies
come from a queue the test fills, or from a responder function that sees
the request. Every request is recorded. Token counts are an approximation
(one token per word or punctuation mark), enough to compare prompts.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """One scripted completion: text, tool calls, or an HTTP error."""

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    status: int = 200
    error: str = ""


def draft_reply(subject: str, body: str, summary: str) -> Reply:
    """The structured-output answer the drafting activity asks for (a DraftText tool call)."""
    arguments = {"subject": subject, "body": body, "approver_summary": summary}
    return Reply(tool_calls=(ToolCall("DraftText", arguments),))


Responder = Callable[[dict[str, Any]], Reply]

_REFERENCE = re.compile(
    r"REFERENCE DRAFT[^\n]*\nSubject: (?P<subject>[^\n]*)\n\n(?P<body>.*?)"
    r"(?:\n\nThe customer wrote the message below|\Z)",
    re.DOTALL,
)


def reference_of(request: dict[str, Any]) -> tuple[str, str]:
    """The subject and body of the reference draft (placeholders and all) in a draft prompt."""
    user = request["messages"][1]["content"]
    found = _REFERENCE.search(user)
    assert found is not None, "not a drafting prompt"
    return found.group("subject"), found.group("body")


def reference_reply(request: dict[str, Any]) -> Reply:
    """A model that copies the team's template, placeholders and all."""
    subject, body = reference_of(request)
    return draft_reply(subject, body, "The team's template, unchanged")


_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


@dataclass
class FakeOpenAI:
    responder: Responder | None = None
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def answer(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests.append(request)
        if self.replies:
            reply = self.replies.popleft()
        elif self.responder is not None:
            reply = self.responder(request)
        else:
            reply = Reply(status=500, error="the fake OpenAI server has no reply scripted")
        if reply.status != 200:
            return reply.status, {"error": {"message": reply.error, "type": "server_error"}}
        return 200, self._completion(request, reply)

    def _completion(self, request: dict[str, Any], reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{len(self.requests)}_{n}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for n, call in enumerate(reply.tool_calls)
            ]
        prompt = count_tokens(json.dumps(request.get("messages", [])))
        prompt += count_tokens(json.dumps(request.get("tools", [])))
        completion = count_tokens(json.dumps(message))
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": request.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            status, body = 404, {"error": {"message": f"no route {self.path}"}}
        else:
            status, body = self.server.fake.answer(request)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the recorded requests instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeOpenAI) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@contextmanager
def serving(fake: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """Serve ``fake`` on a free port for the block; ``fake.base_url`` ends in ``/v1``."""
    server = _Server(fake)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
