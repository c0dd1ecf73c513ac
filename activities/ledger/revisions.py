"""The ledger's schema versions, oldest first: what `open_ledger` checks a ledger against.

A constant, so that opening the ledger reads one row and imports no alembic (alembic
and its templates are about a second of every command's start, bench/cli_start.py).
tests/ledger/test_schema.py fails, printing the tuple to paste here, when a migration
script is added or re-chained without updating it.
"""

from __future__ import annotations

REVISIONS: tuple[str, ...] = (
    "0001",
    "0002",
    "0003",
    "0004",
    "0005",
    "0008",
    "0007",
    "0006",
    "0009",
    "0010",
    "0015",
    "0016",
    "0017",
    "0018",
    "0019",
    "0020",
    "0021",
    "0022",
    "0023",
    "0024",
    "0025",
)
#: The newest schema version this code knows.
HEAD = REVISIONS[-1]
