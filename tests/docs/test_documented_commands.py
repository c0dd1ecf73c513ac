"""Every `billing-ops` command the README and docs/ show (docs/sop/ too), run as a new user would.

A fresh demo ledger (`init-db`, `seed-demo`), the worker started the way `make run`
starts it (its own embedded Temporal server), then each documented command in the
order its page gives it, through the installed console script. A command fails the
test when it prints a traceback, says something was not found, or exits non-zero
where the page does not say it refuses.

Ids the product generates at run time (an approval's ``APR-…``) cannot be written in
the docs ahead of time. Each one the page writes stands for the request its deciding
person finds in ``approvals list --as PERSON`` (the ``--as`` of the page's commands that
name it), waited for as the analyst would, and the same written id stands for the same
request on every later line. Never "the newest id on the screen": the demo's own
collections cadences open requests of their own (suspensions) while the page runs.

A line with "…" in it is syntax to fill in, not an example, and is not run; nor are
``worker`` and ``bot``, which run until stopped (the fixture starts the worker itself).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BILLING_OPS = Path(sys.executable).with_name("billing-ops")
#: Long-running servers: the fixture starts the worker itself; the bot has its own tests.
NOT_RUN = ("worker", "bot")
GENERATED = re.compile(r"APR-[0-9A-F]{10}")
FAILURE = re.compile(r"Traceback \(most recent call last\)|not found|no such", re.IGNORECASE)


@dataclass(frozen=True)
class Documented:
    page: str
    line: int
    command: str
    refused: bool  # its comment says "refused": exit 1 is what the page documents

    @property
    def args(self) -> list[str]:
        return shlex.split(self.command)


def documented_commands(page: Path) -> list[Documented]:
    """The `billing-ops …` lines of the page's fenced code blocks, comments dropped."""
    found = []
    text = page.read_text(encoding="utf-8")
    for block in re.finditer(r"```[a-z]*\n(.*?)```", text, re.DOTALL):
        first_line = text.count("\n", 0, block.start(1)) + 1
        joined = block.group(1).replace("\\\n", " ")
        for offset, raw in enumerate(joined.splitlines()):
            match = re.match(r"\s*(?:\.venv/bin/)?billing-ops\s+(.*)", raw)
            if not match:
                continue
            command, _, comment = match.group(1).partition(" #")
            command = command.strip().rstrip("&").strip()
            if command.split()[0] in NOT_RUN or "..." in command or "…" in command:
                continue
            refused = "refused" in comment.lower()
            name = str(page.relative_to(REPO))
            found.append(Documented(name, first_line + offset, command, refused))
    return found


#: The README and every Markdown file under docs/, the SOPs `billing-ops sop` writes included.
MARKDOWN = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
#: The pages that show at least one command to run.
PAGES = [page for page in MARKDOWN if documented_commands(page)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh demo per page, as its reader has it: the ids a page creates (DSP-000001)
    do not depend on the pages before it."""
    home = tmp_path
    # The example files the docs name, copied: a command that writes (sop --out docs/sop,
    # invoices pdf -o FILE) writes here, never into the checkout.
    shutil.copytree(REPO / "docs" / "examples", home / "docs" / "examples")
    env = {
        **os.environ,
        "DATA_DIR": str(home / ".data"),
        "DATABASE_URL": f"sqlite:///{home / 'ledger.sqlite'}",
        "TEMPORAL_EMBEDDED_PORT": str(free_port()),
        "LOGNAME": "ana",
    }
    for name in ("TEMPORAL_ADDRESS", "TEST_DATABASE_URL", "SLACK_BOT_TOKEN", "CONFIG_DIR"):
        env.pop(name, None)
    for setup in (["init-db"], ["seed-demo"]):
        done = subprocess.run([BILLING_OPS, *setup], cwd=home, env=env, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()
    log = (home / "worker.log").open("wb")
    worker = subprocess.Popen(
        [BILLING_OPS, "worker"], cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    while b"billing-ops worker running" not in (home / "worker.log").read_bytes():
        assert worker.poll() is None, (home / "worker.log").read_text()
        assert time.monotonic() < deadline, "the worker did not start within 120 s"
        time.sleep(0.5)
    try:
        yield home, env
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()


def deciding_person(commands: list[Documented], written: str) -> str:
    """The ``--as`` of the page's commands that name the written approval id: the person
    whose ``approvals list`` shows the request."""
    for documented in commands:
        args = documented.args
        if written in args and "--as" in args[:-1]:
            return args[args.index("--as") + 1]
    raise AssertionError(f"{commands[0].page}: no command decides {written} --as someone")


def waited_for_approval(home: Path, env: dict[str, str], person: str, taken: set[str]) -> str:
    """The id of the newest open request ``person`` may decide that no earlier line of the
    page stood for, once ``approvals list --as PERSON`` shows it (a workflow opens it a
    moment after the command that started it returns)."""
    command = [str(BILLING_OPS), "approvals", "list", "--as", person]
    deadline = time.monotonic() + 90
    while True:
        listed = subprocess.run(command, cwd=home, env=env, capture_output=True, text=True).stdout
        fresh = [found for found in GENERATED.findall(listed) if found not in taken]
        if fresh:
            return str(fresh[-1])
        assert time.monotonic() < deadline, f"no request for {person} within 90 s:\n{listed}"
        time.sleep(1)


def test_the_sops_are_among_the_pages_run() -> None:
    """docs/sop/ is read like every other page: its close checklist shows the close as
    commands (cli/sop.py), run here on the demo like the pages the team wrote."""
    assert REPO / "docs" / "sop" / "close-checklist.md" in PAGES


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(REPO)) for page in PAGES])
def test_every_documented_command_runs_on_a_fresh_demo(
    page: Path, demo: tuple[Path, dict[str, str]]
) -> None:
    home, env = demo
    commands = documented_commands(page)
    stands_for: dict[str, str] = {}
    problems = []
    for documented in commands:
        args = documented.args
        for written in {found for arg in args for found in GENERATED.findall(arg)}:
            if written not in stands_for:
                person = deciding_person(commands, written)
                taken = set(stands_for.values())
                stands_for[written] = waited_for_approval(home, env, person, taken)
        args = [GENERATED.sub(lambda found: stands_for[found.group()], arg) for arg in args]
        done = subprocess.run(
            [BILLING_OPS, *args], cwd=home, env=env, capture_output=True, text=True, timeout=180
        )
        output = done.stdout + done.stderr
        where = f"{documented.page}:{documented.line} billing-ops {documented.command}"
        if documented.refused:
            if done.returncode == 0:
                problems.append(f"{where}: documented as refused, but exit 0")
            continue
        if done.returncode != 0 or FAILURE.search(output):
            problems.append(f"{where}: exit {done.returncode}\n{output[-1500:]}")
    assert not problems, "\n\n".join(problems)
