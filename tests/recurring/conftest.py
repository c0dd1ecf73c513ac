"""The command-line fixtures (tests/cli/conftest.py) for the recurring-billing commands."""

from tests.cli.conftest import cli, ledger_env

__all__ = ["cli", "ledger_env"]
