"""The PDF layout of invoices and credit notes, drawn with fpdf2 from a DocumentContent.

Why fpdf2: pure Python, installs from wheels alone (its dependencies are
fontTools, Pillow and defusedxml, all wheels), embeds and subsets TrueType
fonts so non-Latin names print, writes PDF/A-friendly files with a fixed
creation date, and renders a one-page invoice in tens of milliseconds (see
``bench/documents.py``); reportlab would do too but needs its own font
registry per process and is slower for small documents.

Deterministic: the creation date is the document's own (from the ledger),
the file identifier is derived from the content, and the embedded font
subset is named from the glyphs used, so rendering the same row twice gives
the same bytes, and the stored hash can be checked by rendering again.

Each document embeds the lightest face that draws all its text (``fonts.py``:
Windows-1252 Latin, then Latin with Greek and Cyrillic, then Noto Sans JP for
CJK names); text no face draws is refused with the characters named rather
than printed as empty boxes.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import SubsetMap, TTFFont

from activities.documents import font_programs, pdf_objects
from activities.documents.content import DocumentContent, Row
from activities.documents.einvoice import embed_facturx
from activities.documents.errors import GlyphError
from activities.documents.font_objects import FontObjectsProducer, copy_map
from activities.documents.fonts import Face, face_for
from activities.documents.page import FAMILY, Page

_GREY = (110, 110, 110)
_LINE_HEIGHT = 4.2


def _all_text(content: DocumentContent) -> str:
    parts: list[str] = [content.title, content.number, content.footer, *content.notes]
    parts += [value for pair in content.facts for value in pair]
    for party in (content.seller, content.buyer):
        parts += [party.name, *party.lines]
    for row in content.rows:
        parts += [row.description, row.period, row.amount, row.unit_amount, row.net]
    parts += [value for pair in content.totals for value in pair]
    parts += [*content.due, *content.payment]
    return "\n".join(parts)


def render_pdf(content: DocumentContent, einvoice: bytes | None = None) -> bytes:
    """The document as PDF bytes; the same content always gives the same bytes. With
    ``einvoice`` (checked EN 16931 XML), a Factur-X PDF/A-3 carrying it."""
    pdf_objects.install()
    try:
        face = face_for(_all_text(content))
    except GlyphError as error:
        raise GlyphError(
            f"document {content.number}: {error}; nothing was issued. "
            "Ask engineering for a font that covers it"
        ) from None
    pdf = Page()
    pdf.footer_text = content.footer
    pdf.set_margins(16, 16, 16)
    pdf.set_auto_page_break(True, margin=20)
    add_face(pdf, face)
    pdf.set_creation_date(content.created_at)
    title = f"{content.title} {content.number}"
    subject = f"{title} for {content.buyer.name}"
    pdf.set_title(title)
    pdf.set_author(content.seller.name)
    pdf.set_subject(subject)
    pdf.set_creator("billing-ops")
    pdf.set_producer("billing-ops (fpdf2)")
    pdf.set_lang("en")
    pdf.add_page()
    _header(pdf, content)
    _parties(pdf, content)
    _lines(pdf, content)
    _totals(pdf, content)
    _notes(pdf, content)
    if einvoice is not None:
        embed_facturx(
            pdf,
            einvoice,
            title=title,
            author=content.seller.name,
            subject=subject,
            moment=content.created_at,
        )
    try:
        return bytes(pdf.output(output_producer_class=FontObjectsProducer))
    finally:
        # fpdf2 memoizes glyph picks per font map for the life of the process (functools.cache
        # on a method), which would keep every document's fonts; each map keeps its own picks.
        SubsetMap.pick.cache_clear()


@cache
def _parsed(path: Path, style: str) -> TTFFont:
    """The font as fpdf2 parses it (metrics, widths, cmap), once per process: parsing it
    again for every document was a fifth of a document's time."""
    pdf = FPDF()
    pdf.add_font(FAMILY, style, str(path))
    font = pdf.fonts[f"{FAMILY.lower()}{style}"]
    assert isinstance(font, TTFFont)
    return font


@cache
def _whole_map(path: Path, style: str) -> SubsetMap:
    """Every glyph of the face mapped, in code point order, once per process."""
    font = _parsed(path, style)
    subset = SubsetMap(font)
    for code in sorted(font.cmap):
        subset.pick(code)
    return subset


@cache
def _whole_codes(path: Path, style: str) -> dict[int, str | None]:
    """Code point → character code in the whole face's map, for ``Page.know_codes``."""
    return {
        glyph.unicode[0]: chr(code)
        for glyph, code in _whole_map(path, style).items()
        if glyph is not None and isinstance(glyph.unicode, tuple) and len(glyph.unicode) == 1
    }


def add_face(pdf: FPDF, face: Face) -> None:
    """Register ``face`` as the document family, regular and bold: the parsed font shared
    across documents, with this document's own glyph map and font program.

    A face marked ``whole`` maps every glyph it has, in code point order, so every document
    of that face embeds the same font program, which is then subset once per process
    (``font_programs``) instead of once per document; the map is copied from one made once
    per process (mapping its glyphs one by one was a tenth of a document's time).
    """
    for style, path in (("", face.regular), ("B", face.bold)):
        font = copy.copy(_parsed(path, style))
        font.i = len(pdf.fonts) + 1
        font.ttfont = font_programs.program(path)
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        if face.whole:
            subset = copy_map(_whole_map(path, style))
            subset.font = font
            font.subset = subset
            if isinstance(pdf, Page):
                pdf.know_codes(font, _whole_codes(path, style))
        else:
            font.subset = SubsetMap(font)
        pdf.fonts[font.fontkey] = font


def _header(pdf: Page, content: DocumentContent) -> None:
    pdf.set_font(FAMILY, "B", 20)
    pdf.put(90, 10, content.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "B", 10)
    pdf.put(90, 5, content.seller.name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    top = 16.0
    pdf.set_font(FAMILY, size=8.5)
    for label, value in content.facts:
        pdf.set_xy(120, top)
        pdf.set_text_color(*_GREY)
        pdf.put(30, _LINE_HEIGHT + 0.4, label)
        pdf.set_text_color(0)
        pdf.put(44, _LINE_HEIGHT + 0.4, value, align="R")
        top += _LINE_HEIGHT + 0.6
    pdf.set_y(max(pdf.get_y(), top) + 6)


def _party(pdf: Page, x: float, y: float, role: str, name: str, lines: tuple[str, ...]) -> float:
    pdf.set_xy(x, y)
    pdf.set_font(FAMILY, size=7.5)
    pdf.set_text_color(*_GREY)
    pdf.put(80, 4, role.upper(), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_text_color(0)
    pdf.set_font(FAMILY, "B", 9.5)
    _text(pdf, 84, 4.8, name)
    pdf.set_font(FAMILY, size=8.5)
    for line in lines:
        _text(pdf, 84, _LINE_HEIGHT, line)
    return pdf.get_y()


def _parties(pdf: Page, content: DocumentContent) -> None:
    top = pdf.get_y()
    seller, buyer = content.seller, content.buyer
    left = _party(pdf, pdf.l_margin, top, seller.role, seller.name, seller.lines)
    right = _party(pdf, 110, top, buyer.role, buyer.name, buyer.lines)
    pdf.set_y(max(left, right) + 7)


#: Column widths (mm) of the lines table: description, qty, unit, amount, discount, tax, net.
_COLUMNS = (72.0, 14.0, 22.0, 22.0, 18.0, 12.0, 18.0)
_HEADINGS = ("Description", "Qty", "Unit price", "Amount", "Discount", "Tax", "Net")


def _row_cells(row: Row) -> tuple[str, ...]:
    return (row.quantity, row.unit_amount, row.amount, row.discount, row.tax_rate, row.net)


def _table_head(pdf: Page) -> None:
    pdf.set_font(FAMILY, "B", 7.5)
    pdf.set_fill_color(238, 238, 238)
    for width, heading in zip(_COLUMNS, _HEADINGS, strict=True):
        pdf.put(width, 6, heading, fill=True, align="L" if heading == "Description" else "R")
    pdf.ln(6)


def _lines(pdf: Page, content: DocumentContent) -> None:
    _table_head(pdf)
    for row in content.rows:
        height = _row_height(pdf, row)
        if pdf.will_page_break(height):
            pdf.add_page()
            _table_head(pdf)
        top = pdf.get_y()
        pdf.set_font(FAMILY, size=8)
        _text(pdf, _COLUMNS[0], _LINE_HEIGHT, row.description)
        if row.period:
            pdf.set_font(FAMILY, size=7)
            pdf.set_text_color(*_GREY)
            _text(pdf, _COLUMNS[0], 3.6, row.period)
            pdf.set_text_color(0)
        bottom = pdf.get_y()
        pdf.set_font(FAMILY, size=8)
        x = pdf.l_margin + _COLUMNS[0]
        for width, value in zip(_COLUMNS[1:], _row_cells(row), strict=True):
            pdf.set_xy(x, top)
            pdf.put(width, _LINE_HEIGHT, value, align="R")
            x += width
        pdf.set_y(bottom + 1.2)
        pdf.set_draw_color(225)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.set_y(pdf.get_y() + 1.2)


def _text(pdf: Page, width: float, height: float, text: str) -> None:
    """Text at the cursor, a line at a time, broken at spaces where it does not fit
    (``multi_cell`` only for a word wider than the column: its line breaking is slow)."""
    lines = pdf.wrap(text, width)
    if lines is None:
        pdf.multi_cell(width, height, text, align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)
        return
    for line in lines:
        pdf.put(width, height, line, new_x=XPos.LEFT, new_y=YPos.NEXT)


def _row_height(pdf: Page, row: Row) -> float:
    pdf.set_font(FAMILY, size=8)
    lines = pdf.wrap(row.description, _COLUMNS[0])
    count = (
        len(lines)
        if lines is not None
        else 2 + int(pdf.text_width(row.description) // (_COLUMNS[0] - 2 * pdf.c_margin))
    )
    height = count * _LINE_HEIGHT + 2.4
    if row.period:
        height += 3.6
    return height


def _totals(pdf: Page, content: DocumentContent) -> None:
    needed = (len(content.totals) + len(content.tax_rows) + 4) * 5.0
    if pdf.will_page_break(needed):
        pdf.add_page()
    pdf.ln(2)
    top = pdf.get_y()
    # Tax breakdown by rate, left.
    pdf.set_font(FAMILY, "B", 7.5)
    pdf.put(40, 5, "Tax breakdown")
    pdf.put(25, 5, "Taxable", align="R")
    pdf.put(22, 5, "Tax", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, size=8)
    for tax_row in content.tax_rows:
        pdf.put(40, 4.6, tax_row.label)
        pdf.put(25, 4.6, tax_row.taxable, align="R")
        pdf.put(22, 4.6, tax_row.tax, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    left = pdf.get_y()
    # Totals, right.
    y = top
    for label, value in content.totals:
        pdf.set_xy(120, y)
        bold = label == "Total"
        pdf.set_font(FAMILY, "B" if bold else "", 8.5)
        pdf.put(40, 5, label)
        pdf.put(34, 5, value, align="R")
        y += 5
    pdf.set_draw_color(0)
    pdf.line(120, y + 0.8, pdf.w - pdf.r_margin, y + 0.8)
    pdf.set_xy(120, y + 1.6)
    pdf.set_font(FAMILY, "B", 11)
    pdf.put(36, 7, content.due[0])
    pdf.put(38, 7, content.due[1], align="R")
    pdf.set_y(max(left, y + 9) + 4)


def _notes(pdf: Page, content: DocumentContent) -> None:
    for heading, lines in (("Notes", content.notes), ("Payment", content.payment)):
        if not lines:
            continue
        pdf.set_font(FAMILY, "B", 8)
        pdf.put(0, 5, heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FAMILY, size=8)
        for line in lines:
            pdf.set_x(pdf.l_margin)
            _text(pdf, pdf.w - pdf.l_margin - pdf.r_margin, _LINE_HEIGHT, line)
        pdf.ln(2)
