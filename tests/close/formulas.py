"""Just enough of a spreadsheet to check the workbook's formulas: ``SUM(range)`` and ``+``/``-``
of cells, the only forms the close writes. openpyxl reads formulas as text."""

from __future__ import annotations

import re
from decimal import Decimal

from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

_SUM = re.compile(r"SUM\(([A-Z]+)(\d+):([A-Z]+)(\d+)\)")
_TERM = re.compile(r"([+-]?)([A-Z]+\d+)")


def value(sheet: Worksheet, ref: str) -> Decimal:
    """The cell's value as the spreadsheet would show it, computed exactly."""
    raw = sheet[ref].value
    if raw is None:
        return Decimal(0)
    if isinstance(raw, str) and raw.startswith("="):
        return _formula(sheet, raw[1:])
    if isinstance(raw, int | float):
        return Decimal(str(raw))
    raise AssertionError(f"{sheet.title}!{ref} holds {raw!r}, not a number")


def _formula(sheet: Worksheet, text: str) -> Decimal:
    if match := _SUM.fullmatch(text):
        first, top, last, bottom = match.groups()
        columns = range(column_index_from_string(first), column_index_from_string(last) + 1)
        return sum(
            (
                value(sheet, f"{get_column_letter(c)}{r}")
                for c in columns
                for r in range(int(top), int(bottom) + 1)
            ),
            Decimal(0),
        )
    terms = _TERM.findall(text)
    if "".join(sign + ref for sign, ref in terms) != text:
        raise AssertionError(f"{sheet.title}: formula {text!r} is not one the close writes")
    return sum(
        (-value(sheet, ref) if sign == "-" else value(sheet, ref) for sign, ref in terms),
        Decimal(0),
    )
