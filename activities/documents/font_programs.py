"""Font programs embedded in documents, subset once per glyph set instead of once per document.

fpdf2 subsets each embedded font when it writes a PDF (``fpdf.output`` calls
``fontTools.subset``): it decodes and re-encodes every kept glyph, which was a
third of a document's time. The result depends only on the font file, the
subsetting options and the glyphs kept, so it is computed once per process for
each of these and reused; documents of a face embedded whole (``fonts.Face.whole``)
all keep the same glyphs and so share one result.

fpdf2 has no hook for this: :func:`install` puts a stand-in for the subsetting
module into ``fpdf.output`` that hands every font other than a :class:`Program`
to fontTools unchanged.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from functools import cache
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

import fpdf.output
from fontTools import subset
from fontTools.ttLib import TTFont

#: Subset programs kept: the whole faces' few, plus recent documents of the other faces.
_KEPT = 64


class Program(TTFont):  # type: ignore[misc]  # fontTools is untyped
    """A document's font program: read lazily from the face's file; once subset, the
    subset's bytes and glyph ids, which may have come from another document's subset.

    Opened (fontTools reading the file's table directory) on first use only: a document
    whose font objects are reused (``font_objects``) never reads its program, and opening
    two per document was a thirtieth of a document's time."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._opened = False
        self.source = _digest(path)
        self.subset: tuple[bytes, dict[str, int]] | None = None

    def _open(self) -> None:
        self._opened = True
        super().__init__(BytesIO(_file_bytes(self._path)), lazy=True, recalcTimestamp=False)
        self.recalcBBoxes = False  # keep each glyph's stored outline and bounds

    def __getattr__(self, name: str) -> Any:
        """TTFont's own attributes, which exist once it is opened: opened on first use."""
        if name.startswith("__") or self.__dict__.get("_opened", True):
            raise AttributeError(name)
        self._open()
        return getattr(self, name)

    def close(self) -> None:
        if self._opened:
            super().close()

    def getGlyphID(self, glyphName: str) -> int:
        if self.subset is not None:
            return self.subset[1][glyphName]
        return int(super().getGlyphID(glyphName))

    def save(self, file: IO[bytes], reorderTables: bool = True) -> None:
        if self.subset is None:
            super().save(file, reorderTables)
        else:
            file.write(self.subset[0])


@cache
def _file_bytes(path: Path) -> bytes:
    return path.read_bytes()


@cache
def _digest(path: Path) -> str:
    return hashlib.sha256(_file_bytes(path)).hexdigest()


def program(path: Path) -> Program:
    """A fresh font program for one document (fpdf2 subsets it in place when writing)."""
    install()
    return Program(path)


_subsets: OrderedDict[tuple[str, str, frozenset[str]], tuple[bytes, dict[str, int]]] = OrderedDict()
_lock = threading.Lock()


class _Subsetter:
    """fontTools' Subsetter, answering from the kept subsets for a :class:`Program`."""

    def __init__(self, options: subset.Options) -> None:
        self._options = options
        self._glyphs: frozenset[str] = frozenset()
        self._real = subset.Subsetter(options)

    def populate(self, glyphs: Iterable[str] = (), **others: Any) -> None:
        self._glyphs = frozenset(glyphs)
        self._real.populate(glyphs=self._glyphs, **others)

    def subset(self, font: TTFont) -> None:
        if not isinstance(font, Program) or "CFF " in font:  # fpdf2 reads CFF tables after
            self._real.subset(font)
            return
        key = (font.source, repr(sorted(vars(self._options).items())), self._glyphs)
        with _lock:
            kept = _subsets.get(key)
            if kept is not None:
                _subsets.move_to_end(key)
        if kept is None:
            self._real.subset(font)
            out = BytesIO()
            TTFont.save(font, out)
            kept = (out.getvalue(), {name: i for i, name in enumerate(font.getGlyphOrder())})
            with _lock:
                _subsets[key] = kept
                while len(_subsets) > _KEPT:
                    _subsets.popitem(last=False)
        font.subset = kept


@cache
def install() -> None:
    """Route fpdf2's font subsetting through the kept subsets (once per process). The name
    is fpdf2's internal one (pyproject pins fpdf2 below 2.9 for it); if it moves, this
    stops with a message rather than silently subsetting every document again."""
    if not hasattr(fpdf.output, "ftsubset"):
        raise RuntimeError(
            "fpdf2 no longer subsets through fpdf.output.ftsubset: see font_programs.py"
        )
    fpdf.output.ftsubset = SimpleNamespace(Options=subset.Options, Subsetter=_Subsetter)
