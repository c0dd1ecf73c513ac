"""The document font: DejaVu Sans from matplotlib's wheel, cut down to the scripts we print.

DejaVu Sans covers Latin (with its extensions), Greek and Cyrillic and the
currency signs; matplotlib (already a dependency) ships it in its wheel, so
nothing is downloaded. CJK is not covered: :func:`missing_glyphs` names what
cannot be drawn, and documents refuse such text rather than print boxes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import cache
from pathlib import Path

import fontTools
import matplotlib
from fontTools import subset
from fontTools.ttLib import TTFont

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"

#: The scripts documents print: Latin (with extensions), Greek, Cyrillic, punctuation,
#: currency and letter-like signs. The font is cut down to these once per process, which
#: makes loading and subsetting it for each document several times faster.
UNICODE_RANGES = (
    (0x0020, 0x007E),
    (0x00A0, 0x024F),
    (0x0370, 0x03FF),
    (0x0400, 0x052F),
    (0x1E00, 0x1EFF),
    (0x2000, 0x206F),
    (0x20A0, 0x20CF),
    (0x2100, 0x214F),
    (0x2190, 0x21FF),
    (0x2212, 0x2212),
    (0xFFFD, 0xFFFD),
)


class GlyphError(ValueError):
    """Text the embedded font cannot draw; the message names the characters."""


def _cut(source: Path) -> Path:
    """``source`` reduced to :data:`UNICODE_RANGES`, written once under the temp folder and
    named by its inputs, so every process (and a re-rendering years later with the same
    versions) embeds the same bytes."""
    key = hashlib.sha256(
        f"{source.read_bytes().hex()[:4096]}{source.stat().st_size}"
        f"{fontTools.version}{UNICODE_RANGES}".encode()
    ).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "billing-ops-fonts" / f"{source.stem}-{key}.ttf"
    if target.exists():
        return target
    font = TTFont(source, recalcTimestamp=False)
    options = subset.Options()
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "hdmx", "FFTM", "MATH", "kern"]
    options.notdef_outline = True
    options.recommended_glyphs = True
    options.hinting = False
    cutter = subset.Subsetter(options)
    cutter.populate(unicodes=[c for low, high in UNICODE_RANGES for c in range(low, high + 1)])
    cutter.subset(font)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    font.save(partial)
    os.replace(partial, target)
    return target


@cache
def fonts() -> tuple[Path, Path]:
    """The regular and bold document fonts (DejaVu Sans from matplotlib, cut down)."""
    return _cut(FONT_DIR / "DejaVuSans.ttf"), _cut(FONT_DIR / "DejaVuSans-Bold.ttf")


@cache
def _covered() -> frozenset[int]:
    with TTFont(fonts()[0], lazy=True) as font:
        return frozenset(font.getBestCmap())


def missing_glyphs(text: str) -> str:
    """The characters of ``text`` the document font has no glyph for (empty when all print)."""
    covered = _covered()
    return "".join(sorted({ch for ch in text if ord(ch) not in covered and not ch.isspace()}))
