"""One country's holidays without the other 250 (activities/holiday_calendar.py): the same
dates as ``holidays.country_holidays`` for every country, and a worker that loads its
approval matrix leaves the package's all-countries module unloaded (11 MiB of its idle
memory, bench/README.md), and the PDF fonts too. Each side runs in a fresh interpreter:
in this one, another test may already have imported every country."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from activities.holiday_calendar import country_calendar
from activities.paths import REPO_ROOT

#: Every country code the package knows, its holidays over four years by date, as JSON.
DUMP = """
import json, sys
from holidays.registry import COUNTRIES
codes = sorted(names[1] for names in COUNTRIES.values())
years = range(2024, 2028)
{setup}
dates = {{c: {{str(d): n for d, n in sorted(calendar(c, years).items())}} for c in codes}}
print(json.dumps(dates))
"""
PACKAGE = (
    "import holidays\ndef calendar(c, years): return holidays.country_holidays(c, years=years)"
)
ONE_BY_ONE = "from activities.holiday_calendar import country_calendar as calendar"


def run(probe: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_every_country_has_the_same_holidays_as_the_package_gives() -> None:
    package = json.loads(run(DUMP.format(setup=PACKAGE)))
    one_by_one = json.loads(run(DUMP.format(setup=ONE_BY_ONE)))
    assert len(package) > 200
    assert package["US"]["2026-07-04"] == "Independence Day"
    assert one_by_one == package


def test_a_country_loads_alone_and_the_worker_starts_without_the_others_or_fonts() -> None:
    """What the idle worker no longer holds: the other countries' calendars, and the PDF
    fonts (fontTools), which load with the first document (activities/documents/fonts.py)."""
    probe = (
        "import sys, worker\n"
        "from activities.approvals.matrix import load_matrix\n"
        "from activities.collections.send_window import public_holidays\n"
        "from activities.settings import settings\n"
        "load_matrix(settings().config_dir)\n"
        "assert public_holidays('DE', [2026])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('holidays.countries', 'fontTools'))))"
    )
    loaded = run(probe).strip()
    assert loaded == "['holidays.countries.germany', 'holidays.countries.united_states']"


def test_an_unknown_country_is_not_available() -> None:
    with pytest.raises(NotImplementedError, match="XX"):
        country_calendar("XX")
