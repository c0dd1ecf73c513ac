"""A local stand-in for Slack's Web API and response URLs, on 127.0.0.1.

The bot talks to it through the real ``slack_sdk`` clients (``base_url``
points here), so every call goes over HTTP exactly as it would to Slack.
It records what it receives and answers the way Slack does: ``ok`` with the
fields the SDK and Bolt read, ``not_authed``/``invalid_auth`` for a missing
or wrong token, and the errors Slack gives for a missing argument.

It runs uvicorn in a thread with its own event loop, so tests, the
benchmark and a bot in another process can all use it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
TEAM_ID = "T0BILLING"
BOT_USER_ID = "U0BOT"

#: Arguments Slack insists on, per method; a call without one gets Slack's error.
_REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "chat.postMessage": (("channel", "channel_not_found"), ("text|blocks", "no_text")),
    "chat.update": (("channel", "channel_not_found"), ("ts", "message_not_found")),
    "chat.postEphemeral": (
        ("channel", "channel_not_found"),
        ("user", "user_not_found"),
        ("text|blocks", "no_text"),
    ),
    "views.open": (("trigger_id", "invalid_trigger_id"), ("view", "invalid_arguments")),
    "views.publish": (("user_id", "user_not_found"), ("view", "invalid_arguments")),
    "files.getUploadURLExternal": (("filename", "invalid_arguments"), ("length", "invalid_length")),
    "files.completeUploadExternal": (("files", "invalid_arguments"),),
}


@dataclass(frozen=True, slots=True)
class Call:
    """One request the fake received: a Web API method or a response URL."""

    method: str
    args: dict[str, Any]
    token: str | None


@dataclass
class FakeSlack:
    """Start with :meth:`start`; read :attr:`calls` or wait with :meth:`wait_for`."""

    token: str = BOT_TOKEN
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _envelopes: asyncio.Queue[dict[str, Any]] | None = None
    _socket_loop: asyncio.AbstractEventLoop | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    port: int = 0

    @property
    def api_url(self) -> str:
        """The ``base_url`` for ``slack_sdk`` clients (ends with a slash, as the SDK expects)."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str) -> str:
        """A response URL like the one Slack puts in slash commands and interactions."""
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def start(self) -> FakeSlack:
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
        # and without it every answer in two writes waits 40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["POST", "GET"]),
                Route("/response/{name}", self._response_url, methods=["POST"]),
                Route("/upload/{file_id}", self._upload, methods=["POST"]),
                Route("/_calls", self._call_counts, methods=["GET"]),
                WebSocketRoute("/socket", self._socket_mode),
            ]
        )
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="fake-slack"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake Slack did not start within 10 s")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        where: Callable[[Call], bool] = lambda _call: True,
        within: float = 10.0,
    ) -> list[Call]:
        """Wait until ``count`` matching calls arrived (work after the ack is asynchronous)."""
        deadline = time.monotonic() + within
        while True:
            found = [call for call in self.calls_to(method) if where(call)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = [call.method for call in self.calls]
                raise AssertionError(f"expected {count} call(s) to {method}, got {seen}")
            await asyncio.sleep(0.01)

    async def send_envelope(self, envelope: dict[str, Any], within: float = 10.0) -> None:
        """Push a Socket Mode envelope to the connected app (waits for it to connect)."""
        deadline = time.monotonic() + within
        while self._socket_loop is None or self._envelopes is None:
            if time.monotonic() > deadline:
                raise AssertionError("no app connected over Socket Mode")
            await asyncio.sleep(0.01)
        queue = self._envelopes
        asyncio.run_coroutine_threadsafe(queue.put(envelope), self._socket_loop).result(within)

    async def _socket_mode(self, socket: WebSocket) -> None:
        """Slack's Socket Mode: ``hello``, then envelopes; the app's acks are recorded."""
        await socket.accept()
        await socket.send_json({"type": "hello", "num_connections": 1})
        self._envelopes = asyncio.Queue()
        self._socket_loop = asyncio.get_running_loop()

        async def push() -> None:
            assert self._envelopes is not None
            while True:
                await socket.send_json(await self._envelopes.get())

        pushing = asyncio.ensure_future(push())
        try:
            while True:
                ack = json.loads(await socket.receive_text())
                with self._lock:
                    self.calls.append(Call("socket_mode:ack", ack, None))
        except WebSocketDisconnect:
            pass
        finally:
            pushing.cancel()

    async def _api(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        args = await _arguments(request)
        token = _bearer(request) or args.pop("token", None)
        with self._lock:
            self.calls.append(Call(method, args, token))
        if token is None:
            return JSONResponse({"ok": False, "error": "not_authed"})
        if token != (APP_TOKEN if method == "apps.connections.open" else self.token):
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        for names, error in _REQUIRED.get(method, ()):
            if not any(args.get(name) for name in names.split("|")):
                return JSONResponse({"ok": False, "error": error})
        return JSONResponse({"ok": True, **self._answer(method, args)})

    async def _response_url(self, request: Request) -> PlainTextResponse:
        with self._lock:
            self.calls.append(
                Call(f"response_url:{request.path_params['name']}", await request.json(), None)
            )
        return PlainTextResponse("ok")

    async def _upload(self, request: Request) -> PlainTextResponse:
        """The upload URL ``files.getUploadURLExternal`` hands out; records the size received
        and the SHA-256 of the bytes, so a test can tell which file arrived."""
        body = await request.body()
        size = len(body)
        received = {"bytes": size, "sha256": hashlib.sha256(body).hexdigest()}
        with self._lock:
            self.calls.append(Call(f"upload:{request.path_params['file_id']}", received, None))
        return PlainTextResponse(f"OK - {size}")

    async def _call_counts(self, request: Request) -> JSONResponse:
        """How many calls of each kind arrived (response URLs counted together), for a
        fake running in another process (the benchmark)."""
        counts: dict[str, int] = {}
        with self._lock:
            for call in self.calls:
                kind = call.method.partition(":")[0]
                counts[kind] = counts.get(kind, 0) + 1
        return JSONResponse(counts)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """The fields of Slack's answer that callers read."""
        if method == "auth.test":
            return {
                "url": "https://billing-ops.slack.com/",
                "team": "billing-ops",
                "user": "billing-bot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": "B0BOT",
                "is_enterprise_install": False,
            }
        if method == "apps.connections.open":
            return {"url": f"ws://127.0.0.1:{self.port}/socket"}
        if method == "chat.postMessage":
            ts = f"{1_790_000_000 + next(self._ts)}.000100"
            message = {"type": "message", "user": BOT_USER_ID, "ts": ts, **_message(args)}
            return {"channel": args["channel"], "ts": ts, "message": message}
        if method == "chat.update":
            return {"channel": args["channel"], "ts": args["ts"], "text": args.get("text", "")}
        if method == "chat.postEphemeral":
            return {"message_ts": f"{1_790_000_000 + next(self._ts)}.000200"}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):08d}"
            return {
                "file_id": file_id,
                "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}",
            }
        if method == "files.completeUploadExternal":
            files = json.loads(args["files"])
            return {"files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}
        if method in ("views.open", "views.publish"):
            view = _json_field(args["view"])
            return {"view": {"id": f"V{next(self._ts):08d}", "team_id": TEAM_ID, **view}}
        return {}


def _message(args: dict[str, Any]) -> dict[str, Any]:
    return {key: args[key] for key in ("text", "blocks") if key in args}


def _json_field(value: Any) -> dict[str, Any]:
    """Form-encoded calls carry nested objects as JSON strings."""
    return json.loads(value) if isinstance(value, str) else dict(value)


async def _arguments(request: Request) -> dict[str, Any]:
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        return dict(json.loads(body or b"{}"))
    args: dict[str, Any] = dict(parse_qsl(body.decode()))
    args.update(request.query_params)
    for key in ("blocks", "view"):
        if isinstance(args.get(key), str):
            args[key] = json.loads(args[key])
    return args


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer "):
        return None
    return header.removeprefix("Bearer ").strip() or None
