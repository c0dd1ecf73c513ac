"""What renders a document, recorded beside it so that a re-rendering is never silently different.

A document's bytes are a function of its ledger row and of the renderer: our
layout and content code (:data:`VERSION`), the font files embedded and the
libraries that write the bytes. :func:`renderer_id` names all of them in one
string stored on every document row (``documents.renderer``); a re-rendering
under another renderer is refused with both named (``store.check_rerender``),
never passed off as the document that was sent.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.metadata import version

from activities.documents.fonts import faces

#: Bump whenever the drawing, the wording or the e-invoice mapping changes what a document's
#: bytes are for the same ledger row.
#: 2: the Windows-1252 face embedded whole and its font program cached across documents.
#: 3: Factur-X written by fpdf2 in the same pass as the page (XMP from factur-x, sRGB output
#: intent), no longer by factur-x's pypdf reading and rewriting the PDF.
VERSION = "3"

#: The libraries whose output is in the bytes: PDF drawing, font subsetting, Factur-X
#: metadata (factur-x), XML (lxml).
_LIBRARIES = ("fpdf2", "fonttools", "factur-x", "lxml")


@cache
def renderer_id() -> str:
    """This process's renderer, e.g. ``documents 2; fpdf2 2.8.9; ...; fonts 3f2a...``."""
    fonts = hashlib.sha256()
    for face in faces():
        for path in dict.fromkeys((face.regular, face.bold)):
            fonts.update(hashlib.sha256(path.read_bytes()).digest())
    libraries = "; ".join(f"{name} {version(name)}" for name in _LIBRARIES)
    return f"documents {VERSION}; {libraries}; fonts {fonts.hexdigest()[:16]}"
