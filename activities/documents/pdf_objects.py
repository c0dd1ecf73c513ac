"""fpdf2's object dictionaries, built as fpdf2 builds them with less work per object.

fpdf2 writes each of a document's ~20 objects (page, resources, fonts, metadata,
the Factur-X file) as a dictionary of its public attributes:
``PDFObject._build_obj_dict`` reads every name ``dir(obj)`` lists, methods and
private names included, and ``build_obj_dict`` drops the private ones, the
``id`` and ``ref`` properties, callables and None, then turns each kept name
into a key with ``camel_case``. Both steps were a sixth of writing a PDF.

:func:`install` replaces the two with equivalents: the names of a class that
can only be dropped (private, ``id``/``ref``, a method no instance attribute
hides) are found once per class, the rest read in ``dir``'s order, and
``camel_case`` remembers the few dozen names it converts. What is written is
unchanged (tests/documents/test_fast_paths.py compares every dictionary of a
Factur-X invoice with fpdf2's own). The names patched are fpdf2's internal
ones (pyproject pins fpdf2 below 2.9).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache, lru_cache
from typing import Any, cast

import fpdf.syntax
from fpdf.syntax import PDFObject, build_obj_dict

#: fpdf2's own functions, for the test that compares and the bench's bare-fpdf2 floor.
FPDF2_BUILD_OBJ_DICT = PDFObject._build_obj_dict
_FPDF2_CAMEL_CASE = fpdf.syntax.camel_case


def _dropped(name: str) -> bool:
    """What ``build_obj_dict`` drops by name, whatever the value."""
    return name.startswith("_") or name in ("id", "ref")


@cache
def _class_names(cls: type) -> tuple[str, ...]:
    """The names ``dir`` lists for instances of ``cls`` from the class itself that may be
    written: not dropped by name, and not a method (a callable class attribute, dropped as
    callable unless an instance attribute of the same name hides it; see ``_names``)."""
    return tuple(
        name
        for name in dir(cls)
        if not _dropped(name) and not callable(inspect.getattr_static(cls, name))
    )


def _names(obj: PDFObject) -> list[str]:
    """The names of ``obj`` that ``build_obj_dict`` may keep, in ``dir(obj)``'s order."""
    names = _class_names(cast(type, type(obj)))
    own = getattr(obj, "__dict__", None)
    if not own:
        return list(names)
    return sorted(set(names).union(name for name in own if not _dropped(name)))


def _build_obj_dict(self: PDFObject, security_handler: Any = None) -> dict[str, object]:
    """``PDFObject._build_obj_dict`` reading only the names it may keep."""
    return build_obj_dict(
        {name: getattr(self, name) for name in _names(self)},
        _security_handler=security_handler,
        _obj_id=self.id,
    )


@cache
def install() -> None:
    """Build fpdf2's object dictionaries with :func:`_build_obj_dict` and a remembering
    ``camel_case`` (once per process)."""
    PDFObject._build_obj_dict = _build_obj_dict  # type: ignore[method-assign]
    fpdf.syntax.camel_case = lru_cache(maxsize=512)(fpdf.syntax.camel_case)


@contextmanager
def fpdf2_own() -> Iterator[None]:
    """fpdf2's own dictionaries inside the block, for the benchmark's floor (bare fpdf2)
    measured in a process that renders documents; not for use beside a rendering thread."""
    patched = PDFObject._build_obj_dict, fpdf.syntax.camel_case
    PDFObject._build_obj_dict = FPDF2_BUILD_OBJ_DICT  # type: ignore[method-assign]
    fpdf.syntax.camel_case = _FPDF2_CAMEL_CASE
    try:
        yield
    finally:
        PDFObject._build_obj_dict, fpdf.syntax.camel_case = patched  # type: ignore[method-assign]
