"""The command-line fixtures (a ledger in a temporary folder, in-process ``billing-ops``)."""

from tests.cli.conftest import cli, cli_process, ledger_env  # noqa: F401
