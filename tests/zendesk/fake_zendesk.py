"""A fake Zendesk on 127.0.0.1 that the real ``zenpy`` client talks to over HTTP.

zenpy builds its URLs from ``ZENPY_FORCE_NETLOC`` and ``ZENPY_FORCE_SCHEME``
when they are set, so pointing those at this server is all a test needs. It
keeps tickets, users, organizations and comments in memory, answers the
endpoints the billing queue uses the way Zendesk does, checks the API-token
basic auth, records every request, and can be told to fail: a 429 with or
without ``Retry-After``, a 5xx, a 5xx *after* applying an update (the
reply landed but the client never heard), or a slow answer. Like Zendesk, an
update with ``safe_update`` and an ``updated_stamp`` older than the ticket's
``updated_at`` is refused with 409.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

AGENT_ID = 900


@dataclass(frozen=True)
class Failure:
    method: str
    status: int
    retry_after: int | None = None
    #: Apply the request, then answer with ``status`` anyway (the response was lost).
    after_applying: bool = False
    #: Hold the request this many seconds before handling it (a slow Zendesk: the client may
    #: time out and try again while it is still on its way).
    delay: float = 0.0


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    body: dict[str, Any] | None
    status: int


@dataclass
class FakeZendesk:
    email: str = "bot@example.com"
    token: str = "zd-token"
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    failures: deque[Failure] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    #: Files uploaded through /api/v2/uploads.json, by token: (file name, bytes).
    uploads: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    netloc: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _updates: int = 0

    def add_ticket(
        self,
        ticket_id: int,
        *,
        subject: str,
        body: str,
        requester: tuple[str, str],
        organization: tuple[str, str | None] | None = None,
        tags: tuple[str, ...] = (),
    ) -> None:
        """A new ticket from ``requester`` (name, email), whose first comment is ``body``."""
        name, email = requester
        user_id = 100 + len(self.users)
        org_id = None
        if organization is not None:
            org_id = 500 + len(self.organizations)
            org_name, external_id = organization
            self.organizations[org_id] = {
                "id": org_id,
                "name": org_name,
                "external_id": external_id,
            }
        self.users[user_id] = {
            "id": user_id,
            "name": name,
            "email": email,
            "organization_id": org_id,
        }
        self.tickets[ticket_id] = {
            "id": ticket_id,
            "subject": subject,
            "description": body,
            "status": "new",
            "tags": list(tags),
            "requester_id": user_id,
            "organization_id": org_id,
            "created_at": "2026-11-02T15:00:00Z",
            "updated_at": "2026-11-02T15:00:00Z",
        }
        self.comments[ticket_id] = [self._comment(ticket_id, user_id, body, public=True)]

    def requester_writes(self, ticket_id: int, body: str) -> None:
        """The requester adds a public comment (Zendesk then calls the webhook again)."""
        with self._lock:
            ticket = self.tickets[ticket_id]
            comment = self._comment(ticket_id, ticket["requester_id"], body, public=True)
            self.comments[ticket_id].append(comment)
            self._update(ticket, {"status": "open"})

    def fail_next(self, *failures: Failure) -> None:
        self.failures.extend(failures)

    def replies(self, ticket_id: int) -> list[dict[str, Any]]:
        """The comments our agent posted on a ticket."""
        return [c for c in self.comments[ticket_id] if c["author_id"] == AGENT_ID]

    def _comment(self, ticket_id: int, author: int, body: str, public: bool) -> dict[str, Any]:
        return {
            "id": 1000 * ticket_id + len(self.comments.get(ticket_id, [])),
            "type": "Comment",
            "author_id": author,
            "body": body,
            "plain_body": body,
            "public": public,
            "created_at": "2026-11-02T15:00:00Z",
        }

    # --- HTTP ---------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, body: dict[str, Any] | None, auth: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            slow = self.failures[0] if self.failures else None
            if slow is not None and slow.method == method and slow.delay:
                self.failures.popleft()
        if slow is not None and slow.method == method and slow.delay:
            time.sleep(slow.delay)  # outside the lock: other requests go on meanwhile
        with self._lock:
            status, payload, headers = self._route(method, path, body, auth)
            self.requests.append(Recorded(method, path, body, status))
            return status, payload, headers

    def _route(
        self, method: str, path: str, body: dict[str, Any] | None, auth: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        expected = "Basic " + base64.b64encode(f"{self.email}/token:{self.token}".encode()).decode()
        if auth != expected:
            return 401, {"error": "Couldn't authenticate you"}, {}
        failure = self.failures[0] if self.failures and self.failures[0].method == method else None
        if failure is not None:
            self.failures.popleft()
            if not failure.after_applying:
                return self._failure(failure)
        status, payload = self._answer(method, path.split("?", 1)[0], body)
        if failure is not None:
            return self._failure(failure)
        return status, payload, {}

    @staticmethod
    def _failure(failure: Failure) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
        return failure.status, {"error": "scripted failure", "status": failure.status}, headers

    def upload(self, path: str, content: bytes) -> tuple[int, dict[str, Any]]:
        """POST /api/v2/uploads.json?filename=…: keep the file, answer with its token."""
        query = parse_qs(urlsplit(path).query)
        name = query.get("filename", [""])[0]
        token = f"upload-{len(self.uploads) + 1}"
        self.uploads[token] = (name, content)
        attachment = {"id": len(self.uploads), "file_name": name, "size": len(content)}
        return 201, {
            "upload": {"token": token, "attachment": attachment, "attachments": [attachment]}
        }

    def _answer(
        self, method: str, path: str, body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        if match := re.fullmatch(r"/api/v2/tickets/(\d+)\.json", path):
            ticket = self.tickets.get(int(match[1]))
            if ticket is None:
                return 404, {"error": "RecordNotFound", "description": "Not found"}
            if method == "PUT":
                changes = (body or {}).get("ticket", {})
                if changes.get("safe_update") and changes.get("updated_stamp") != ticket.get(
                    "updated_at"
                ):
                    return 409, {
                        "error": "UpdateConflict",
                        "description": "Safe Update prevented the update due to outdated "
                        "ticket data. Please fetch the latest ticket data and try again.",
                    }
                self._update(ticket, changes)
                return 200, {"ticket": ticket, "audit": {"id": 1, "ticket_id": ticket["id"]}}
            return 200, {"ticket": ticket}
        if match := re.fullmatch(r"/api/v2/tickets/(\d+)/comments\.json", path):
            found = self.comments.get(int(match[1]))
            if found is None:
                return 404, {"error": "RecordNotFound", "description": "Not found"}
            return 200, {
                "comments": found,
                "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
                "links": {"next": None, "prev": None},
            }
        if match := re.fullmatch(r"/api/v2/users/(\d+)\.json", path):
            user = self.users.get(int(match[1]))
            return (200, {"user": user}) if user else (404, {"error": "RecordNotFound"})
        if match := re.fullmatch(r"/api/v2/organizations/(\d+)\.json", path):
            org = self.organizations.get(int(match[1]))
            return (200, {"organization": org}) if org else (404, {"error": "RecordNotFound"})
        return 404, {"error": "InvalidEndpoint", "description": f"{method} {path}"}

    def _update(self, ticket: dict[str, Any], changes: dict[str, Any]) -> None:
        if "comment" in changes:
            comment = changes["comment"]
            posted = self._comment(
                ticket["id"], AGENT_ID, comment["body"], comment.get("public", True)
            )
            posted["attachments"] = [
                {"file_name": self.uploads[token][0], "content": self.uploads[token][1]}
                for token in comment.get("uploads") or ()
            ]
            self.comments[ticket["id"]].append(posted)
        for tag in changes.get("additional_tags", []):
            if tag not in ticket["tags"]:
                ticket["tags"].append(tag)
        if "tags" in changes:
            ticket["tags"] = list(changes["tags"])
        if "status" in changes:
            ticket["status"] = changes["status"]
        self._updates += 1  # Zendesk's stamp has seconds; the fake's never repeats
        ticket["updated_at"] = f"2026-11-02T15:{self._updates // 60:02d}:{self._updates % 60:02d}Z"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length) if length else b""
        if self.path.startswith("/api/v2/uploads.json"):
            with self.server.fake._lock:
                status, payload = self.server.fake.upload(self.path, raw)
            headers: dict[str, str] = {}
        else:
            body = json.loads(raw) if raw else None
            status, payload, headers = self.server.fake.handle(
                method, self.path, body, self.headers.get("Authorization")
            )
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the recorded requests."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeZendesk) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@contextmanager
def serving(fake: FakeZendesk) -> Iterator[FakeZendesk]:
    """Serve ``fake`` on a free port; ``fake.netloc`` is the ``ZENPY_FORCE_NETLOC`` value."""
    server = _Server(fake)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.netloc = f"127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
