"""The `billing-ops` command line: one Typer app; each command group lives in its own module.

User mistakes (bad input, unknown records, wrong configuration) print one
line to stderr and exit non-zero without a traceback.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import InvalidOperation
from functools import cache
from typing import Annotated, Any

import typer
from rich.text import Text
from sqlalchemy.exc import DBAPIError
from typer._click import Command, Context  # typer 0.29 carries its own click
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperCommand, TyperGroup

from cli import coercion
from cli.entry import loaded

#: Commands whose module is imported only when one of them runs, with the help line that
#: `billing-ops --help` shows for each (a test checks it against the loaded command). The
#: modules pull in what their commands need (Temporal, LangChain, matplotlib, fpdf...):
#: seconds of imports that `--help` and every other command must not pay
#: (bench/cli_start.py). A module's ``register(app)`` adds the names listed for it.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "init-db": ("cli.ledger", "Create the ledger or migrate it to the newest schema."),
    "seed-demo": (
        "cli.ledger",
        "Fill the ledger with a realistic demo book (customers, subscriptions, invoices, "
        "payments).",
    ),
    "aging": (
        "cli.ledger",
        "AR aging by bucket, per currency (and per customer with --by customer).",
    ),
    "preview": (
        "cli.preview",
        "Preview the invoice for a subscription change (see docs/invoicing.md).",
    ),
    "customer": ("cli.customers", "Look up and annotate customer accounts."),
    "invoices": ("cli.documents", "Find invoices."),
    "payments": ("cli.ledger", "Record payments and refunds."),
    "order": ("cli.orders", "Validate, submit and follow sales orders (docs/orders.md)."),
    "approvals": ("cli.approvals", "Approval requests: list them, approve or reject them."),
    "dispute": ("cli.disputes", "Billing disputes: open, triage, status, withdraw."),
    "close": (
        "cli.close",
        "Month-end close: run a period's reports, tick the checklist, sign off.",
    ),
    "collections": (
        "cli.collections",
        "Collections cadences: status, promises to pay, pause and resume "
        "(approvals: billing-ops approvals).",
    ),
    "cash": ("cli.cash", "Bank statements: import, match, review."),
    "stripe": (
        "cli.cash",
        "Stripe: link customers, replay saved events, list what the ledger refused or parked.",
    ),
    "subscription": ("cli.recurring", "See and change subscriptions."),
    "usage": ("cli.recurring", "Metered usage."),
    "bill-run": (
        "cli.recurring",
        "The bill run: invoice every subscription whose period ends by a date.",
    ),
    "sop": (
        "cli.sop",
        "Write the team's SOPs (dunning, approvals, close, billing queue) from CONFIG_DIR.",
    ),
}


def _register_invoices(app: typer.Typer) -> None:
    from cli import documents, ledger

    documents.register(ledger.invoices_app)  # PDF and e-invoice imports: `invoices` only
    app.add_typer(ledger.invoices_app, name="invoices")


def _register_preview(app: typer.Typer) -> None:
    from cli.preview import preview

    app.command("preview")(preview)


def _register_sop(app: typer.Typer) -> None:
    from cli.sop import sop

    app.command("sop")(sop)


#: Modules registered by something other than their own ``register``.
_REGISTER: dict[str, Callable[[typer.Typer], None]] = {
    "cli.documents": _register_invoices,
    "cli.preview": _register_preview,
    "cli.sop": _register_sop,
}


@cache
def loaded_commands(module: str) -> dict[str, Command]:
    """The commands ``module`` registers, built once per process (tests build the app often)."""
    holder = typer.Typer()
    register = _REGISTER.get(module) or importlib.import_module(module).register
    register(holder)
    return dict(typer.main.get_group(holder).commands)


class LazyGroup(TyperGroup):
    """The top-level group: lists the lazy commands from their help lines, and imports a
    command's module only when the command line names it."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*LAZY_COMMANDS, *(name for name in self.commands if name not in LAZY_COMMANDS)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in self.commands or cmd_name not in LAZY_COMMANDS:
            return self.commands.get(cmd_name)
        return TyperCommand(cmd_name, help=LAZY_COMMANDS[cmd_name][1])  # listed, not run

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        if args and args[0] in LAZY_COMMANDS:
            name = args[0]
            self.commands[name] = loaded_commands(LAZY_COMMANDS[name][0])[name]
        loaded()  # the command runs with the collector on and Ctrl-C as usual (cli/entry.py)
        return super().resolve_command(ctx, args)

    def make_context(
        self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any
    ) -> Context:
        with _one_line_usage_errors():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Context) -> Any:
        with _one_line_usage_errors():
            return super().invoke(ctx)


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    """Typer prints a usage error (an unknown option, a missing argument, a value out of
    range) as a box under the usage line; every other refusal of the command line is one
    line, so this one is too, naming the ``--help`` to read. Exit status 2, as before."""
    try:
        yield
    except NoArgsIsHelpError:  # the group's help is already printed
        raise
    except UsageError as error:
        where = f" (see {error.ctx.command_path} --help)" if error.ctx is not None else ""
        _refused(error.format_message() + where)
        raise typer.Exit(error.exit_code) from None


coercion.install()  # no pydantic for values that need no coercion: see cli/coercion.py

app = typer.Typer(
    name="billing-ops",
    help="Order-to-cash automation for a SaaS billing-operations team.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=LazyGroup,
)


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


def user_errors() -> tuple[type[Exception], ...]:
    """Errors that mean "the input, the configuration or the moment is wrong", not "the code
    is wrong": each is one line that says what to do. Busy and unavailable mean "try again".

    Imported when an error is caught, not at start: the ledger's and Temporal's modules
    are most of a command's start-up time.
    """
    from activities.ledger.engine import SchemaError
    from activities.ledger.errors import LedgerBusy, LedgerError, LedgerUnavailable
    from activities.settings import SettingsError

    caught: tuple[type[Exception], ...] = (
        LedgerError,
        SchemaError,
        SettingsError,
        ValueError,
        LedgerBusy,
        LedgerUnavailable,
    )
    # Only a command that loaded the Temporal runtime can have raised its error; importing it
    # to catch a ledger error would cost a refused ledger read a second of Temporal's SDK.
    runtime = sys.modules.get("activities.temporal_runtime")
    return caught if runtime is None else (*caught, runtime.TemporalUnavailable)


def run(args: list[str] | None = None) -> int:
    """Run one command and return its exit status, printing user errors as one line."""
    try:
        app(args=args, prog_name="billing-ops")  # usage errors leave as SystemExit
    except SystemExit as done:
        if done.code == TYPER_INTERRUPTED:
            return _refused(INTERRUPTED)
        return done.code if isinstance(done.code, int) else int(done.code is not None)
    except user_errors() as error:
        return _refused(str(error))
    except DBAPIError as error:  # never the statement or its parameters: only what to do
        from activities.ledger.errors import from_database

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
    from cli.output import errors

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
