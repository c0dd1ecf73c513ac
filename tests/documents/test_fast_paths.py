"""The shortcuts the PDF renderer takes past fpdf2 give what fpdf2 itself gives: text drawn by
``Page.put`` is the content stream ``cell`` writes, and reused font objects are the bytes fpdf2
built for the first document (bench/README.md, Documents)."""

from __future__ import annotations

import pytest
from fpdf.enums import XPos, YPos
from sqlalchemy.orm import Session, sessionmaker

from activities.documents import font_objects
from activities.documents.content import invoice_content
from activities.documents.fonts import face_for
from activities.documents.page import FAMILY, Page
from activities.documents.pdf import add_face, render_pdf
from tests.documents.kinds import issue_kind

STRINGS = ("Invoice", "Zahlbar bis 1. Dezember 2026", "1 234,56 €", "(a) \\ b", "Ωμέγα Ñandú")


def _page(text: str) -> Page:
    pdf = Page()
    pdf.set_margins(16, 16, 16)
    add_face(pdf, face_for(text))
    pdf.add_page()
    return pdf


def _drawn(pdf: Page) -> bytes:
    contents = pdf.pages[1].contents
    assert isinstance(contents, bytearray)
    return bytes(contents)


@pytest.mark.parametrize("text", STRINGS)
def test_put_writes_what_cell_writes(text: str) -> None:
    by_cell, by_put = _page(text), _page(text)
    for pdf, draw in ((by_cell, by_cell.cell), (by_put, by_put.put)):
        pdf.set_font(FAMILY, "B", 10)
        draw(90, 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FAMILY, size=8)
        pdf.set_text_color(110)
        draw(30, 4, text, align="R")
        pdf.set_text_color(0)
        pdf.set_fill_color(238, 238, 238)
        draw(44, 6, text, fill=True, align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
        draw(0, 4, text)
    assert _drawn(by_put) == _drawn(by_cell)
    assert (by_put.x, by_put.y) == (by_cell.x, by_cell.y)


def test_wrap_breaks_at_spaces_within_the_width() -> None:
    pdf = _page("x")
    pdf.set_font(FAMILY, size=8)
    text = " ".join(["reverse charge, Article 196 of Council Directive 2006/112/EC"] * 3)
    lines = pdf.wrap(text, 60)
    assert lines is not None and len(lines) > 2
    assert " ".join(lines) == text
    assert all(pdf.text_width(line) <= 60 - 2 * pdf.c_margin for line in lines)
    assert pdf.wrap("x" * 200, 60) is None  # one word wider than the column: multi_cell's


def test_reused_font_objects_are_the_bytes_fpdf2_wrote(
    sqlite_sessions: sessionmaker[Session],
) -> None:
    with sqlite_sessions.begin() as session:
        content = invoice_content(issue_kind(session, "renewal_with_discount_de"))
    font_objects._kept.clear()
    by_fpdf2 = render_pdf(content)  # nothing kept: fpdf2 writes the fonts, and they are kept
    assert len(font_objects._kept) == 1
    assert render_pdf(content) == by_fpdf2  # written from what was kept
