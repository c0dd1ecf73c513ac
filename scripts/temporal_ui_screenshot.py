"""A screenshot of the Temporal UI listing the workflows an analyst filtered by search
attribute: collections in final-notice stage over $10,000, into ``docs/``.

It runs the product as a new user would, in a throwaway data dir: ``init-db``, ``seed-demo`` (300
customers, seed 7, as of today unless ``--as-of``), then ``billing-ops worker``, which starts the
embedded dev server (its UI on the port 1000 above it) and the collections sweep; once the
list query finds cadences, headless Chromium opens the UI's list with that query and saves
the screenshot. Needs Chromium (``apt-get install -y chromium``); ``--list-only`` stops
after the query listed the cadences and needs no browser (the tests run it so).

Two things make the query list a cadence whenever the script runs. The demo book always
holds a key account in final notice (activities/ledger/seed.py, ``_key_account``), dated
from the seeding date. And the worker reads a copy of ``config/`` whose cadences may send at
any hour of any day: with the real send windows (09:00-17:00 on the customer's business
days) a final notice waits for its US customer's office hours, and at 10:00 UTC or on a
Saturday the list would stay empty. Nothing else in the copy differs.

    .venv/bin/python scripts/temporal_ui_screenshot.py [--out FILE.png] [--as-of YYYY-MM-DD]
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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import quote

import yaml
from temporalio.client import Client

from activities.paths import CONFIG_DIR, REPO_ROOT

#: The first query of docs/temporal.md, as the analyst types it.
QUERY = (
    "WorkflowType = 'Collections' AND CollectionsStage = 'final_notice' "
    "AND Currency = 'USD' AND AmountOverdueMinor > 1000000"
)
OUT = REPO_ROOT / "docs" / "temporal-ui-collections.png"
CLI = REPO_ROOT / ".venv" / "bin" / "billing-ops"
WINDOW = "1500,900"
#: A send window open at every hour of every day, holidays included.
ALWAYS_OPEN = {
    "hours": "00:00-24:00",
    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "public_holidays": False,
}


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


def open_window_config(folder: Path) -> Path:
    """A copy of ``config/`` in ``folder`` whose cadences' send windows never close, so that
    the steps already due are taken at once, at whatever hour the script runs."""
    copy = folder / "config"
    shutil.copytree(CONFIG_DIR, copy)
    cadences = copy / "cadences.yaml"
    book = yaml.safe_load(cadences.read_text(encoding="utf-8"))
    for cadence in book["cadences"].values():
        cadence["window"] = dict(ALWAYS_OPEN)
    cadences.write_text(yaml.safe_dump(book, sort_keys=False), encoding="utf-8")
    return copy


@contextmanager
def demo_worker(folder: Path, port: int, as_of: date | None, customers: int) -> Iterator[None]:
    """A fresh demo ledger in ``folder`` and ``billing-ops worker`` on it, with its embedded
    dev server on ``port``, until the block ends."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TEMPORAL_", "DATABASE_URL", "SLACK_", "OPENAI_", "SMTP_"))
    }
    env |= {
        "DATA_DIR": str(folder / "data"),
        "CONFIG_DIR": str(open_window_config(folder)),
        "TEMPORAL_EMBEDDED_PORT": str(port),
    }
    seed = ["seed-demo", "--customers", str(customers)]
    if as_of is not None:
        seed += ["--as-of", as_of.isoformat()]
    for command in (["init-db"], seed):
        subprocess.run([str(CLI), *command], env=env, check=True, capture_output=True)
    log_path = folder / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [str(CLI), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


async def wait_for_listed(address: str, within: float = 240.0) -> int:
    """How many workflows the query lists, once it lists any (the sweep and the cadences'
    first steps take a while on a busy machine); ``TimeoutError`` when none by ``within``."""
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
            raise TimeoutError(f"nothing listed for {QUERY!r} within {within:.0f} s")
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
    parser.add_argument(
        "--as-of", type=date.fromisoformat, default=None, help="seed the demo as of this date"
    )
    parser.add_argument("--customers", type=int, default=300, help="demo size (default: 300)")
    parser.add_argument(
        "--list-only", action="store_true", help="stop once the query lists cadences"
    )
    args = parser.parse_args()
    out: Path = args.out.resolve()
    if not args.list_only and shutil.which("chromium") is None:
        sys.exit("chromium is not installed: apt-get install -y chromium")
    port = free_port_pair()
    with tempfile.TemporaryDirectory(prefix="temporal-ui-") as name:
        folder = Path(name)
        with demo_worker(folder, port, args.as_of, args.customers):
            try:
                count = asyncio.run(wait_for_listed(f"127.0.0.1:{port}"))
            except TimeoutError as exc:
                log = (folder / "worker.log").read_text(errors="replace").splitlines()
                sys.exit(f"{exc}; the worker's last lines:\n" + "\n".join(log[-15:]))
            if not args.list_only:
                screenshot(f"http://127.0.0.1:{port + 1000}", out)
    where = "" if args.list_only else f"{out} "
    print(f"{where}({count} cadences listed for: {QUERY})", flush=True)
    os._exit(0)  # temporalio's native bridge can abort the interpreter at exit


if __name__ == "__main__":
    main()
