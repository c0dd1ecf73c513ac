"""The shortcuts the PDF renderer takes past fpdf2 give what fpdf2 itself gives: text drawn by
``Page.put`` is the content stream ``cell`` writes, reused font objects are the bytes fpdf2
built for the first document, money is babel's and the XMP factur-x's (bench/README.md,
Documents)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import facturx
import pytest
from babel import Locale, localedata
from babel.numbers import format_currency
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont
from fpdf.syntax import PDFObject
from lxml import etree
from sqlalchemy.orm import Session, sessionmaker

from activities.documents import font_objects, pdf_objects
from activities.documents.content import format_money, invoice_content
from activities.documents.einvoice import cii_xml, facturx_xmp
from activities.documents.fonts import face_for
from activities.documents.page import FAMILY, Page
from activities.documents.pdf import add_face, render_pdf
from tests.documents.kinds import issue_kind

STRINGS = ("", "Invoice", "Zahlbar bis 1. Dezember 2026", "1 234,56 €", "(a) \\ b", "Ωμέγα Ñandú")


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


def test_money_is_what_babel_format_currency_gives_in_every_locale() -> None:
    """``content.format_money`` writes the currency's sign into the pattern once; the result
    is babel's own for every locale babel has, sign, grouping and minor units included."""
    amounts = [Decimal(v) for v in ("0", "-0.005", "1", "-1234.5", "1234567.891", "-99999999.99")]
    checked = 0
    for name in localedata.locale_identifiers():
        try:
            locale = Locale.parse(name)
            locale.currency_formats["standard"]
        except (KeyError, ValueError):  # a locale babel lists but cannot format money in
            continue
        for currency in ("EUR", "USD", "JPY", "GBP", "CHF", "BHD", "SEK", "XXX"):
            for amount in amounts:
                expected = format_currency(amount, currency, locale=locale)
                assert format_money(amount, currency, name) == expected, (name, currency, amount)
                checked += 1
    assert checked > 10_000


XMP_VALUES = ("Invoice INV-1", "", "A & B <c> \"q\" 'a'", "Ελληνικά Кириллица 日本語", "a\tb\r\nc")


@pytest.mark.parametrize("value", XMP_VALUES)
def test_facturx_xmp_is_what_factur_x_builds(value: str) -> None:
    """The XMP filled into the template made once per process is, byte for byte, what
    ``facturx.generate_xmp_object`` builds and lxml serializes for the same fields."""
    fields = {
        "title": value,
        "author": f"{value} GmbH",
        "subject": f"Invoice for {value}",
        "producer": "billing-ops (fpdf2)",
        "creator_tool": value,
        "timestamp": "2026-12-01T00:00:00+00:00",
    }
    built = facturx.generate_xmp_object(
        {
            "pdfa3_flavor": "B",
            **fields,
            "version": "1.0",
            "documenttype": "INVOICE",
            "xml_filename": "factur-x.xml",
            "xmp_level": "EN 16931",
            "urn": "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#",
        }
    )
    assert facturx_xmp(**fields) == etree.tostring(built, pretty_print=True).decode().strip()


def test_a_copied_glyph_map_keys_its_font_objects_by_what_it_holds() -> None:
    """A document's copy of a prepared glyph map shares the prepared map's key only while it
    holds the same glyphs; a glyph picked beyond them gives its own key (other objects)."""
    pdf = Page()
    add_face(pdf, face_for("Ωμέγα"))  # a face subset per document: maps start empty
    font = pdf.fonts[f"{FAMILY.lower()}"]
    assert isinstance(font, TTFFont)
    for code in map(ord, "Invoice"):
        font.subset.pick(code)
    prepared = font.subset
    copied = font_objects.copy_map(prepared)
    assert font_objects._font_glyphs(copied) == font_objects._glyphs(prepared)
    copied.pick(ord("Ω"))
    assert font_objects._font_glyphs(copied) == font_objects._glyphs(copied)
    assert font_objects._font_glyphs(copied) != font_objects._glyphs(prepared)
    assert font_objects._font_glyphs(prepared) == font_objects._glyphs(prepared)


def test_object_dictionaries_are_the_ones_fpdf2_builds(
    sqlite_sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every object of a Factur-X invoice (pages, fonts, XMP, output intent, the attached
    XML) gets from ``pdf_objects`` the very dictionary, in the same order, fpdf2's own
    ``_build_obj_dict`` gives it."""
    with sqlite_sessions.begin() as session:
        invoice = issue_kind(session, "reverse_charge_eu")
        content, xml = invoice_content(invoice), cii_xml(invoice)
    pdf_objects.install()
    compared: set[str] = set()

    def both(obj: PDFObject, security_handler: Any = None) -> dict[str, object]:
        ours = pdf_objects._build_obj_dict(obj, security_handler)
        theirs = pdf_objects.FPDF2_BUILD_OBJ_DICT(obj, security_handler)
        assert list(ours.items()) == list(theirs.items()), type(obj).__name__
        compared.add(type(obj).__name__)
        return ours

    monkeypatch.setattr(PDFObject, "_build_obj_dict", both)
    render_pdf(content, einvoice=xml)
    assert {"PDFPage", "PDFFont", "PDFXmpMetadata", "PDFICCProfile", "PDFEmbeddedFile"} <= compared
