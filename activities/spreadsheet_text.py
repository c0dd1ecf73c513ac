"""Text written into a spreadsheet or a CSV file: never a formula unless we wrote one.

Names, PO numbers, notes and descriptions come from customers, Sales and
analysts. A value such as ``=HYPERLINK("https://...")`` or ``@SUM(...)``
would run when the close workbook or a CSV is opened. OWASP's CSV-injection
guidance: a text value starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is prefixed with a single quote, so the spreadsheet shows it
as the text it is. Numbers we computed are written as numbers and never pass
through here; formulas we wrote ourselves are marked :class:`Formula`.
"""

from __future__ import annotations

#: The first characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class Formula(str):
    """A formula we wrote (``=SUM(B5:B9)``): the only text written as a formula."""

    __slots__ = ()


def spreadsheet_text(value: str) -> str:
    """``value`` as text a spreadsheet will not evaluate (OWASP: prefix a single quote)."""
    if isinstance(value, Formula):
        return value
    return f"'{value}" if value.startswith(FORMULA_TRIGGERS) else value
