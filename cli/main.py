"""The `billing-ops` command line: one Typer app; each command group lives in its own module.

User mistakes (bad input, unknown records, wrong configuration) print one
line to stderr and exit non-zero without a traceback.
"""

from __future__ import annotations

import os
import re
import sys
from decimal import InvalidOperation
from typing import Annotated

import typer
from rich.text import Text
from sqlalchemy.exc import DBAPIError

from activities.ledger.db import SchemaError
from activities.ledger.errors import LedgerBusy, LedgerError, LedgerUnavailable, from_database
from activities.settings import SettingsError
from activities.temporal_runtime import TemporalUnavailable
from cli import approvals as approval_commands
from cli import cash as cash_commands
from cli import close as close_commands
from cli import collections as collections_commands
from cli import disputes as dispute_commands
from cli import documents as document_commands
from cli import ledger as ledger_commands
from cli import orders as order_commands
from cli import recurring as recurring_commands
from cli.output import errors
from cli.preview import preview
from cli.sop import sop

app = typer.Typer(
    name="billing-ops",
    help="Order-to-cash automation for a SaaS billing-operations team.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
ledger_commands.register(app)
document_commands.register(ledger_commands.invoices_app)
order_commands.register(app)
approval_commands.register(app)
dispute_commands.register(app)
close_commands.register(app)
collections_commands.register(app)
cash_commands.register(app)
recurring_commands.register(app)
app.command("preview")(preview)
app.command("sop")(sop)


@app.command("worker")
def worker() -> None:
    """Run the Temporal worker; with no TEMPORAL_ADDRESS it embeds a dev server (UI on :8233)."""
    from worker import run_worker

    raise typer.Exit(run_worker())


@app.command("bot")
def bot(
    host: Annotated[
        str, typer.Option(help="Listen address (0.0.0.0 behind a proxy)")
    ] = "localhost",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 3000,
) -> None:
    """Run the Slack bot (HTTP, or Socket Mode with SLACK_APP_TOKEN) and the webhooks."""
    from bot.server import run_bot

    raise typer.Exit(run_bot(host=host, port=port))


#: Errors that mean "the input, the configuration or the moment is wrong", not "the code is
#: wrong": each is one line that says what to do. Busy and unavailable mean "try again".
USER_ERRORS = (
    LedgerError,
    SchemaError,
    SettingsError,
    TemporalUnavailable,
    ValueError,
    LedgerBusy,
    LedgerUnavailable,
)


def run(args: list[str] | None = None) -> int:
    """Run one command and return its exit status, printing user errors as one line."""
    try:
        app(args=args)  # usage errors are printed by Typer and leave as SystemExit
    except SystemExit as done:
        if done.code == TYPER_INTERRUPTED:
            return _refused(INTERRUPTED)
        return done.code if isinstance(done.code, int) else int(done.code is not None)
    except USER_ERRORS as error:
        return _refused(str(error))
    except DBAPIError as error:  # never the statement or its parameters: only what to do
        return _refused(str(from_database(error)))
    except InvalidOperation:
        return _refused(
            "a number is out of range or not a number: amounts must be finite and below "
            "1,000,000,000,000,000"
        )
    return 0


#: ``LedgerError: `` or ``DecisionRefused: `` inside a message: our class names, not words.
_CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Refused|Exception|Failure): ")


#: Typer turns Ctrl-C inside a command into a silent exit 130; we say what it left.
TYPER_INTERRUPTED = 130
INTERRUPTED = "interrupted (Ctrl-C); a ledger change that had not committed was rolled back"


def _refused(message: str) -> int:
    """One line on stderr: a message of several lines (YAML's, Temporal's) is joined, and
    internal class names are left out. The message quotes what was typed: text, never markup
    (a "[/x]" in an id is data)."""
    line = "; ".join(part.strip() for part in message.splitlines() if part.strip())
    errors.print(Text.assemble(("error:", "red"), " ", _CLASS_NAME.sub("", line)))
    return 1


def main() -> None:
    """Entry point of the console script.

    Leaves with ``os._exit`` after flushing: temporalio's native bridge can
    abort the interpreter during finalisation (DESIGN.md, known pitfalls).
    """
    status = run()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
