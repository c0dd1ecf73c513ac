"""Named crash points: the process kills itself (SIGKILL) where ``BILLING_OPS_CRASH_AT`` says.

The delivery crash tests (tests/outbox) start a real process with the
variable set to one point, let it die there exactly as a killed worker
would, and retry. Unset, as in production, a point costs one environment
lookup and does nothing.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "BILLING_OPS_CRASH_AT"


def crash_point(name: str) -> None:
    """Die here, at once and uncleanly, when ``BILLING_OPS_CRASH_AT`` is ``name``."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
