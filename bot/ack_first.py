"""Acks before answers: work after an ack waits while Slack requests keep arriving.

Slack gives an ack three seconds; an answer sent to a response URL may come
up to thirty minutes later. The ledger work behind an answer is CPU-bound
Python (the ORM), and a thread doing it holds the GIL that the event loop
needs for every socket call of an ack, so acks slow down tenfold while
answers are being computed. During a burst of commands the server therefore
acks first: the Slack route notes each request, and work after the ack
starts once no request has come in for ``quiet`` seconds (or after
``max_wait`` seconds, so that answers never starve under sustained load).
A lone command's answer waits ``quiet`` seconds, which nobody notices.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class AckFirst:
    def __init__(self, quiet: float = 0.02, max_wait: float = 5.0) -> None:
        self.quiet = quiet
        self.max_wait = max_wait
        self._in_flight = 0
        self._calm = asyncio.Event()
        self._calm.set()
        self._check: asyncio.TimerHandle | None = None

    @contextmanager
    def request(self) -> Iterator[None]:
        """Around the handling of one request from Slack, up to its acknowledgement."""
        self._in_flight += 1
        self._calm.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            # One pending check at a time, pushed back by every request: calm is declared
            # ``quiet`` seconds after the last request of a burst was acked.
            if self._check is not None:
                self._check.cancel()
            self._check = asyncio.get_running_loop().call_later(self.quiet, self._declare_calm)

    def _declare_calm(self) -> None:
        self._check = None
        if not self._in_flight:
            self._calm.set()

    async def wait(self) -> None:
        """Return once Slack's requests have paused for ``quiet`` seconds, or ``max_wait``."""
        if not self._calm.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(self._calm.wait(), self.max_wait)
