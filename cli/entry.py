"""The console script's entry point: a Ctrl-C while the command line is still loading is one
line too, not a traceback from deep inside an import (cli.main catches it after that).

Loading is also where the first seconds go: the command's modules build thousands of
objects (SQLAlchemy declaring the ledger's mapped classes, pydantic's validators) and the
cyclic garbage collector, at its default thresholds, scans them again and again while
nothing is garbage yet. So the collector is off while the command line and the command's
module load, and on again, with everything loaded frozen out of its scans
(:func:`loaded`), before the command runs (bench/cli_start.py).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from types import FrameType

STARTING = "error: interrupted (Ctrl-C) while starting; nothing was done\n"


def _interrupted_while_loading(signum: int, frame: FrameType | None) -> None:
    """Leave at once: a KeyboardInterrupt raised inside an import's clean-up callback is
    printed as "Exception ignored" and lost, and the command would then run."""
    sys.stderr.write(STARTING)
    sys.stderr.flush()
    os._exit(1)


def loaded() -> None:
    """The command is loaded: Ctrl-C is Python's KeyboardInterrupt again (cli.main says
    what it left), and the collector is on if :func:`main` turned it off, leaving what is
    loaded (modules, classes, mappers) out of its scans; long commands (the worker, the
    bot, a seed or a close) collect their own garbage. A no-op where the collector is on
    (tests that call ``cli.main.run``)."""
    if not gc.isenabled():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        gc.freeze()
        gc.enable()


def main() -> None:
    """Load the command line and run it; loading is where the first seconds go."""
    gc.disable()  # on again in cli.main before the command runs: loaded()
    signal.signal(signal.SIGINT, _interrupted_while_loading)
    from cli.main import main as run

    run()
