"""One country's public-holiday calendar from the ``holidays`` package, loading that country only.

``holidays.country_holidays("US")`` imports the package ``holidays.countries``, whose
``__init__`` imports all of its 250-odd country modules: 11 MiB of a worker's memory
for the one or few calendars it uses (bench/README.md, "Collections worker memory").
:func:`country_calendar` runs the one module that defines the country's class, found
through the package's own registry of codes, and returns the same class
``country_holidays`` would (so the same dates; tests/test_holiday_calendar.py compares
every country). A country module that builds on another country's (the French and US
territories, the Åland Islands, Svalbard, the Isle of Man: 21 of them) is imported
through the package as before, which still loads them all: correct, only heavier.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from threading import Lock
from types import ModuleType

import holidays
from holidays.registry import COUNTRIES

#: Every name ``country_holidays`` accepts for a country (class name, ISO codes, aliases),
#: mapped to the module that defines it.
_MODULE_OF: dict[str, str] = {name: module for module, names in COUNTRIES.items() for name in names}
_COUNTRIES_DIR = Path(holidays.__file__).with_name("countries")
#: Activities run in a thread pool: one thread runs a country's module, the others wait.
_LOADING = Lock()


def country_calendar(
    country: str, years: int | Iterable[int] | None = None
) -> holidays.HolidayBase:
    """The public holidays of ``country`` (an ISO code the package knows), as
    ``holidays.country_holidays(country, years=years)`` returns them.

    Raises NotImplementedError, as ``country_holidays`` does, for a country the
    package has no calendar for.
    """
    entity: type[holidays.HolidayBase] = getattr(_country_module(country), country)
    return entity(years=years)


@cache
def _country_module(country: str) -> ModuleType:
    module = _MODULE_OF.get(country)
    if module is None:
        raise NotImplementedError(f"Country {country} not available")
    name = f"holidays.countries.{module}"
    with _LOADING:
        loaded = sys.modules.get(name)  # already imported, with or without its package
        if loaded is not None:
            return loaded
        path = _COUNTRIES_DIR / f"{module}.py"
        if "from holidays.countries." in path.read_text(encoding="utf-8"):
            # A territory: its module imports its country's through the package, whose
            # ``__init__`` imports the territory's module again; only the package's order works.
            return importlib.import_module(name)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise NotImplementedError(f"Country {country} not available")
        loaded = importlib.util.module_from_spec(spec)
        # Registered under its own name, so a later import of the whole package (or of a
        # territory that builds on this country) shares this module instead of a second copy.
        sys.modules[name] = loaded
        try:
            spec.loader.exec_module(loaded)
        except BaseException:
            del sys.modules[name]
            raise
        return loaded
