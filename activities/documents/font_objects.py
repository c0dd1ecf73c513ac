"""A PDF's font objects, built by fpdf2 once per process for each font map and reused.

For every document fpdf2 builds, from each font's map of glyphs to codes, the
widths array and the ToUnicode CMap of every mapped glyph, a 128 kB
CIDToGIDMap and the font program stream, each compressed: with the
Windows-1252 face embedded whole, a third of writing a PDF. All of it depends
only on the font program and on which glyph has which code, and every Western
European document maps the same whole face. :class:`FontObjectsProducer`, the
output producer ``render_pdf`` hands to ``FPDF.output``, lets fpdf2 write the
fonts of the first document of a kind and keeps what it built; the next
document with the same fonts gets the same objects, in the same order, under
its own object numbers. So the bytes are fpdf2's either way
(tests/documents: a document rendered twice, in one process or two, is the same).

Only TrueType fonts read through ``font_programs.Program`` are reused (each
glyph set its own entry, the last few kept); any other font (a core font, CFF,
colour glyphs, PDF/A-1's CIDSet) sends the whole document through fpdf2's own
code. The attribute and object names are fpdf2's internal ones (pyproject pins fpdf2 below 2.9).
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from fpdf.fonts import SubsetMap, TTFFont
from fpdf.output import CIDSystemInfo, OutputProducer, PDFFont, PDFFontStream
from fpdf.syntax import Name, PDFArray, PDFContentStream

from activities.documents.font_programs import Program

#: Font sets kept: a few faces in regular and bold.
_KEPT = 16

_Stream = TypeVar("_Stream", bound=PDFContentStream)
_Key = tuple[tuple[str, str, tuple[tuple[int, str, Any, int], ...]], ...]


@dataclass(frozen=True)
class _Kept:
    """What fpdf2 built for one font, streams already compressed."""

    widths: str
    to_unicode: tuple[bytes, Name | None]  # (stream content as written, its filter)
    cid_to_gid: tuple[bytes, Name | None]
    program: tuple[bytes, Name | None]
    program_length: int


_kept: OrderedDict[_Key, list[_Kept]] = OrderedDict()
_lock = threading.Lock()


def _fonts(producer: OutputProducer) -> list[TTFFont] | None:
    """The document's fonts in fpdf2's order, or None if one is not reusable."""
    if producer.fpdf._compliance is not None:
        return None
    fonts = sorted(producer.fpdf.fonts.values(), key=lambda font: font.i)
    for font in fonts:
        if (
            not isinstance(font, TTFFont)
            or not isinstance(font.ttfont, Program)
            or font.color_font
            or font.is_cff
            or font.missing_glyphs
        ):
            return None
    return fonts  # type: ignore[return-value]  # checked above: all TTFFont


def _glyphs(subset: SubsetMap) -> tuple[tuple[int, str, Any, int], ...]:
    """Which glyph has which code in ``subset``, as a key."""
    return tuple(
        sorted(
            (code, glyph.glyph_name, glyph.unicode, glyph.glyph_width)
            for glyph, code in subset.items()
            if glyph is not None
        )
    )


#: The attribute a copied map keeps its prepared map and that map's size under.
_PREPARED = "billing_ops_prepared"


@cache
def _prepared_glyphs(prepared: SubsetMap) -> tuple[tuple[int, str, Any, int], ...]:
    return _glyphs(prepared)


def copy_map(prepared: SubsetMap) -> SubsetMap:
    """A document's copy of a glyph map prepared once per process (a whole face's): its
    key is the prepared map's, computed once, for as long as the document picks no glyph
    the map lacks (a pick only ever adds an entry, so an unchanged size is unchanged
    content). Sorting a whole face's 220 glyphs per font per document was a
    thirtieth of a document's time."""
    subset = copy.copy(prepared)
    subset._char_id_per_glyph = dict(prepared._char_id_per_glyph)
    subset._reserved = list(prepared._reserved)
    setattr(subset, _PREPARED, (prepared, len(prepared)))
    return subset


def _font_glyphs(subset: SubsetMap) -> tuple[tuple[int, str, Any, int], ...]:
    prepared = getattr(subset, _PREPARED, None)
    if prepared is not None and len(subset) == prepared[1]:
        return _prepared_glyphs(prepared[0])
    return _glyphs(subset)


def _key(fonts: list[TTFFont]) -> _Key:
    return tuple((font.ttfont.source, font.name, _font_glyphs(font.subset)) for font in fonts)


def _harvest(composite: Any) -> _Kept:
    """What fpdf2 built for a font (its Type0 font object and what hangs from it)."""
    cid_font = composite.descendant_fonts[0]
    program = cid_font.font_descriptor.font_file2
    return _Kept(
        widths=cid_font.w,
        to_unicode=_written(composite.to_unicode),
        cid_to_gid=_written(cid_font.c_i_d_to_g_i_d_map),
        program=_written(program),
        program_length=program.length1,
    )


def _written(stream: PDFContentStream) -> tuple[bytes, Name | None]:
    return stream.content_stream(), stream.filter


def _stream(stream: _Stream, written: tuple[bytes, Name | None]) -> _Stream:
    """``stream`` (built empty) holding what was written before (compressed or not, as fpdf2
    made it); the attributes keep the order fpdf2's constructor gave them, so the stream's
    dictionary is written the same."""
    stream._contents, stream.filter = written
    stream.length = len(written[0])
    return stream


class FontObjectsProducer(OutputProducer):
    """fpdf2's output producer, reusing the font objects of documents with the same fonts."""

    def _add_fonts(self, *args: Any, **kwargs: Any) -> dict[int, Any]:
        fonts = _fonts(self)
        if fonts is None:
            return super()._add_fonts(*args, **kwargs)
        key = _key(fonts)
        with _lock:
            kept = _kept.get(key)
            if kept is not None:
                _kept.move_to_end(key)
        if kept is None:
            built = super()._add_fonts(*args, **kwargs)
            with _lock:
                _kept[key] = [_harvest(built[font.i]) for font in fonts]
                while len(_kept) > _KEPT:
                    _kept.popitem(last=False)
            return built
        return {
            font.i: self._add_kept(font, objects) for font, objects in zip(fonts, kept, strict=True)
        }

    def _add_kept(self, font: TTFFont, kept: _Kept) -> PDFFont:
        """The objects fpdf2's ``_add_fonts`` adds for a TrueType font, in its order."""
        fontname = f"MPDFAA+{font.name}"
        composite = PDFFont(subtype="Type0", base_font=fontname, encoding="Identity-H")
        self._add_pdf_obj(composite, "fonts")
        cid_font = PDFFont(
            subtype="CIDFontType2",
            base_font=fontname,
            d_w=font.desc.missing_width,
            w=kept.widths,
        )
        self._add_pdf_obj(cid_font, "fonts")
        composite.descendant_fonts = PDFArray([cid_font])
        to_unicode = _stream(PDFContentStream(b""), kept.to_unicode)
        self._add_pdf_obj(to_unicode, "fonts")
        composite.to_unicode = to_unicode
        system_info = CIDSystemInfo()
        self._add_pdf_obj(system_info, "fonts")
        cid_font.c_i_d_system_info = system_info
        descriptor = font.desc
        descriptor.font_name = Name(fontname)
        self._add_pdf_obj(descriptor, "fonts")
        cid_font.font_descriptor = descriptor
        cid_to_gid = _stream(PDFContentStream(b""), kept.cid_to_gid)
        self._add_pdf_obj(cid_to_gid, "fonts")
        cid_font.c_i_d_to_g_i_d_map = cid_to_gid
        program = _stream(PDFFontStream(b""), kept.program)
        program.length1 = kept.program_length
        self._add_pdf_obj(program, "fonts")
        descriptor.font_file2 = program  # type: ignore[attr-defined]  # as fpdf2 does
        font.subset.pick.cache_clear()
        font.subset.get_glyph.cache_clear()
        font.close()
        return composite
