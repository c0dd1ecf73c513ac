"""An fpdf2 page that draws plain one-line strings straight into its content stream.

fpdf2's ``cell`` prepares every string for what it might hold (markdown, fallback
fonts, text shaping, links, underlines, justification): about a millisecond a
call, half of an invoice's time, and ``multi_cell``'s line breaking costs tens
of milliseconds a paragraph. An invoice draws only plain strings in one
embedded face, left or right aligned, sometimes over a grey fill, so
:meth:`Page.put` writes the operators fpdf2 writes for such a string (the
font selected on the page, ``BT x y Td (glyph codes) Tj ET``, the text colour
inside ``q … Q`` when it differs from the fill colour) and leaves to ``cell``
what it does not do itself: a page break that falls due, a core font, an empty filled cell.
:meth:`Page.wrap` breaks a paragraph at spaces from the same widths.

The glyph codes are those of the document's font map (fpdf2's ``SubsetMap``,
which decides what is embedded), picked once per character and document.
``_out`` and ``_set_font_for_page`` are fpdf2's own (pyproject pins fpdf2 below 2.9).
"""

from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont
from fpdf.util import escape_parens

#: The family name the document's face is registered under.
FAMILY = "Document"


class _Codes(dict[int, str | None]):
    """Code point → the character code of its glyph in one document's font, for
    ``str.translate``; a code point the font lacks maps to None (dropped, as fpdf2 does)."""

    def __init__(self, font: TTFFont, known: dict[int, str | None]) -> None:
        super().__init__(known)
        self._font = font

    def __missing__(self, code: int) -> str | None:
        picked = self._font.subset.pick(code)
        value = None if picked is None else chr(picked)
        self[code] = value
        return value


class Page(FPDF):
    """The invoice's FPDF, with a fast path for plain text and a footer line."""

    footer_text = ""

    def __init__(self) -> None:
        super().__init__(format="A4", unit="mm")
        self._codes: dict[str, _Codes] = {}

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FAMILY, size=7)
        self.set_text_color(110)
        self.put(0, 4, self.footer_text)
        self.set_x(self.l_margin)
        self.cell(0, 4, f"Page {self.page_no()}/{{nb}}", align="R")  # {nb}: fpdf2 fills it

    def know_codes(self, font: TTFFont, known: dict[int, str | None]) -> None:
        """Start ``font``'s codes from ``known`` (what its glyph map already holds, e.g. a
        whole face's, the same for every document) instead of picking them one by one."""
        self._codes[font.fontkey] = _Codes(font, known)

    def text_width(self, text: str) -> float:
        """The width of ``text`` in the current font and size, in mm."""
        font = self.current_font
        assert isinstance(font, TTFFont)
        widths = font.cw
        return sum(map(widths.__getitem__, map(ord, text))) * self.font_size_pt * 0.001 / self.k

    def put(
        self,
        w: float,
        h: float,
        text: str,
        *,
        align: str = "L",
        fill: bool = False,
        new_x: XPos = XPos.RIGHT,
        new_y: YPos = YPos.TOP,
    ) -> None:
        """``cell(w, h, text, align=align, fill=fill, new_x=new_x, new_y=new_y)`` for a plain
        one-line string (``w`` 0: to the right margin), drawn as fpdf2 draws it."""
        font = self.current_font
        if (fill and not text) or not isinstance(font, TTFFont) or self.will_page_break(h):
            self.cell(w, h, text, align=align, fill=fill, new_x=new_x, new_y=new_y)
            return
        if w == 0:
            w = self.w - self.r_margin - self.x
        x, y = self.x, self.y
        if text:  # an empty cell draws nothing, not even the font (as cell)
            self._line(font, w, h, text, align, fill)
        self._lasth = h or self.font_size
        if new_x == XPos.RIGHT:
            self.x = x + w
        elif new_x == XPos.LMARGIN:
            self.x = self.l_margin
        elif new_x != XPos.LEFT:
            raise ValueError(f"put: new_x {new_x} is not one of RIGHT, LEFT, LMARGIN")
        if new_y == YPos.NEXT:
            self.y = y + h
        elif new_y != YPos.TOP:
            raise ValueError(f"put: new_y {new_y} is not one of TOP, NEXT")

    def _line(self, font: TTFFont, w: float, h: float, text: str, align: str, fill: bool) -> None:
        """The operators ``cell`` writes for a plain one-line ``text`` at the cursor."""
        if not self.current_font_is_set_on_page:
            self._out(self._set_font_for_page(font, self.font_size_pt))
        k, x, y = self.k, self.x, self.y
        ops = []
        if fill:
            ops.append(f"{x * k:.2f} {(self.h - y) * k:.2f} {w * k:.2f} {-h * k:.2f} re f")
        dx = w - self.c_margin - self.text_width(text) if align == "R" else self.c_margin
        baseline = self.h - y - 0.5 * h - 0.3 * self.font_size
        ops.append(f"BT {(x + dx) * k:.2f} {baseline * k:.2f} Td")
        colour = self.text_color
        coloured = colour != self.fill_color
        if coloured:
            assert colour is not None  # fpdf2 starts every document in black
            ops.append(colour.serialize().lower())
        codes = self._codes.get(font.fontkey)
        if codes is None:
            codes = self._codes[font.fontkey] = _Codes(font, {})
        mapped = text.translate(codes)
        ops.append(f"({escape_parens(mapped.encode('utf-16-be').decode('latin-1'))}) Tj ET")
        line = " ".join(ops)
        self._out(f"q {line} Q" if coloured else line)

    def wrap(self, text: str, width: float) -> list[str] | None:
        """``text`` broken at spaces into lines that fit a cell ``width`` mm wide, or None
        when a single word does not fit (then ``multi_cell`` breaks inside it)."""
        room = width - 2 * self.c_margin
        space = self.text_width(" ")
        lines: list[str] = []
        words: list[str] = []
        used = 0.0
        for word in text.split(" "):
            size = self.text_width(word)
            if size > room:
                return None
            if words and used + space + size > room:
                lines.append(" ".join(words))
                words, used = [], 0.0
            used += (space if words else 0.0) + size
            words.append(word)
        lines.append(" ".join(words))
        return lines
