"""The console script's entry point: a Ctrl-C while the command line is still loading is one
line too, not a traceback from deep inside an import (cli.main catches it after that)."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Load the command line and run it; loading is where the first seconds go."""
    try:
        from cli.main import main as run
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted (Ctrl-C) while starting; nothing was done\n")
        sys.stderr.flush()
        os._exit(1)
    run()
