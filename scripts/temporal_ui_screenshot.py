"""A screenshot of the Temporal UI listing the workflows an analyst filtered by search
attribute: collections in final-notice stage over $5,000, into ``docs/``.

It runs the product as a new user would, in a throwaway data dir: ``init-db``, ``seed-demo`` (300
customers, seed 7, as of today), then ``billing-ops worker``, which starts the embedded dev
server (its UI on the port 1000 above it) and the collections sweep; once the list query
finds cadences, headless Chromium opens the UI's list with that query and saves the
screenshot. Needs Chromium (``apt-get install -y chromium``); the tests do not.

    .venv/bin/python scripts/temporal_ui_screenshot.py [--out FILE.png]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from temporalio.client import Client

from activities.paths import REPO_ROOT

QUERY = (
    "WorkflowType = 'Collections' AND CollectionsStage = 'final_notice' "
    "AND Currency = 'USD' AND AmountOverdueMinor > 500000"
)
OUT = REPO_ROOT / "docs" / "temporal-ui-collections.png"
CLI = REPO_ROOT / ".venv" / "bin" / "billing-ops"
WINDOW = "1500,900"


def free_port_pair() -> int:
    """A port free for the server whose +1000 (its UI) is free too."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + 1000 > 65535:
            continue
        with socket.socket() as ui:
            try:
                ui.bind(("127.0.0.1", port + 1000))
            except OSError:
                continue
        return port
    sys.exit("no free pair of ports for the dev server and its UI")


async def wait_for_listed(address: str, within: float = 240.0) -> int:
    """How many workflows the query lists, once it lists any (the sweep and the cadences'
    first steps take a while on a busy machine)."""
    deadline = time.monotonic() + within
    while True:
        try:
            client = await Client.connect(address)
            found = [w.id async for w in client.list_workflows(QUERY)]
        except RuntimeError:  # the server is still starting
            found = []
        if found:
            return len(found)
        if time.monotonic() > deadline:
            sys.exit(f"nothing listed for {QUERY!r} within {within:.0f} s")
        await asyncio.sleep(2)


def screenshot(ui_url: str, out: Path) -> None:
    """Headless Chromium loads the list page; the virtual-time budget lets its scripts
    fetch and draw the list before the picture is taken."""
    url = f"{ui_url}/namespaces/default/workflows?query={quote(QUERY)}"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={profile}",
                f"--window-size={WINDOW}",
                "--virtual-time-budget=15000",
                f"--screenshot={out}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    out: Path = parser.parse_args().out.resolve()
    if shutil.which("chromium") is None:
        sys.exit("chromium is not installed: apt-get install -y chromium")
    port = free_port_pair()
    with tempfile.TemporaryDirectory(prefix="temporal-ui-") as name:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TEMPORAL_", "DATABASE_URL", "SLACK_", "OPENAI_", "SMTP_"))
        }
        env |= {"DATA_DIR": str(Path(name) / "data"), "TEMPORAL_EMBEDDED_PORT": str(port)}
        for command in ("init-db", "seed-demo"):
            subprocess.run([str(CLI), command], env=env, check=True, capture_output=True)
        log = (Path(name) / "worker.log").open("wb")
        worker = subprocess.Popen(
            [str(CLI), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            count = asyncio.run(wait_for_listed(f"127.0.0.1:{port}"))
            screenshot(f"http://127.0.0.1:{port + 1000}", out)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    print(f"{out} ({count} cadences listed for: {QUERY})")


if __name__ == "__main__":
    main()
