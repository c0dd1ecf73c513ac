"""The embedded Temporal server belongs to one data dir's worker (issue 18, item 13).

Real dev servers on free ports: a second worker refuses a server it did not start,
a killed worker's server is stopped by the next one, CLI commands find the server
through the data dir, a dead server stops the worker, and SIGHUP stops both.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from activities.settings import Settings
from activities.temporal_runtime import (
    EmbeddedDevServer,
    TemporalUnavailable,
    connect,
    read_server_record,
    temporal_client,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def settings_for(data_dir: Path, port: int) -> Settings:
    return Settings(data_dir=data_dir, temporal_embedded_port=port, _env_file=None)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of this process still answers kill(0); its state says it is gone
    status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    return status != "Z"


async def test_a_second_data_dir_refuses_the_first_ones_server(tmp_path: Path) -> None:
    port = free_port()
    first, second = settings_for(tmp_path / "a", port), settings_for(tmp_path / "b", port)
    async with temporal_client(first, embed=True) as client:
        assert client.service_client.config.target_host == f"127.0.0.1:{port}"
        with pytest.raises(TemporalUnavailable, match="not started for DATA_DIR"):
            async with temporal_client(second, embed=True):
                pass
        with pytest.raises(TemporalUnavailable, match="no billing-ops worker is running"):
            await connect(second)
        found = await connect(first)  # what a CLI command of the first checkout does
        assert found.service_client.config.target_host == f"127.0.0.1:{port}"
    assert read_server_record(tmp_path / "a") is None  # stopped and unrecorded


async def test_a_killed_workers_server_is_stopped_by_the_next_worker(tmp_path: Path) -> None:
    config = settings_for(tmp_path, free_port())
    orphan = EmbeddedDevServer(tmp_path, port=config.temporal_embedded_port,
                               ui_port=free_port())
    orphan.start()  # and never stopped: its worker was SIGKILLed
    await orphan.wait_until_ready(config)
    left = read_server_record(tmp_path)
    assert left is not None
    async with temporal_client(config, embed=True):
        now = read_server_record(tmp_path)
        assert now is not None and now.pid != left.pid
        assert not alive(left.pid)


async def test_the_worker_hears_when_its_server_dies(tmp_path: Path) -> None:
    config = settings_for(tmp_path, free_port())
    died: list[str] = []
    async with temporal_client(config, embed=True, on_server_exit=died.append):
        record = read_server_record(tmp_path)
        assert record is not None
        os.kill(record.pid, signal.SIGKILL)
        for _ in range(50):
            if died:
                break
            await asyncio.sleep(0.1)
    assert died and "embedded Temporal server stopped" in died[0]


def test_sighup_stops_the_worker_and_its_server(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "TEMPORAL_EMBEDDED_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("TEMPORAL_ADDRESS", "DATABASE_URL", "SLACK_BOT_TOKEN", "SMTP_HOST"):
        env.pop(name, None)
    cli = [str(Path(sys.executable).parent / "billing-ops")]
    subprocess.run([*cli, "init-db"], env=env, check=True, capture_output=True, timeout=240)
    worker = subprocess.Popen([*cli, "worker"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        assert worker.stdout is not None
        deadline = time.monotonic() + 240
        for line in worker.stdout:
            if "billing-ops worker running" in line or time.monotonic() > deadline:
                break
        record = read_server_record(tmp_path)
        assert record is not None, "the worker recorded no server"
        worker.send_signal(signal.SIGHUP)
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    assert read_server_record(tmp_path) is None
    assert not alive(record.pid)
