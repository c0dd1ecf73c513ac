"""The document fonts: the lightest face that draws every character of a document.

Embedding and subsetting a TrueType font was most of the cost of a PDF (fpdf2
parses the whole font for every document, then subsets it). Each document
therefore embeds the smallest face that covers its text:

- ``latin``: DejaVu Sans (from matplotlib's wheel, already a dependency) cut to
  the Windows-1252 repertoire plus the spaces and minus babel prints: the
  Western European names, amounts and dates of nearly every invoice;
- ``wide``: the same font cut to Latin with its extensions, Greek, Cyrillic and
  the currency signs;
- ``cjk``: Noto Sans JP (SIL OFL 1.1, from the ``pylopdf-fonts-cjk`` wheel, the
  one wheel on PyPI found to ship a static CJK font fpdf2 can embed): kana and
  the kanji of JIS X 0208/0213, which cover Japanese names and most Chinese
  ones; it has no Hangul;
- ``ko``: Noto Sans KR (SIL OFL 1.1, from the ``pylopdf-fonts-ko`` wheel of the
  same project): all 11,172 Hangul syllables, the hanja of KS X 1001, kana and
  Latin, for Korean names (and Korean beside kanji).

The CJK faces have no bold weight. :func:`missing_glyphs` names what no face
can draw (Thai, Arabic, ...), and documents refuse such text rather than print boxes.

The DejaVu cuts are written once under the temp folder and named by their
inputs, so every process (and a re-rendering years later with the same
versions) embeds the same bytes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from activities.documents.errors import GlyphError


def _matplotlib_data() -> Path:
    """matplotlib's ``get_data_path()`` without importing matplotlib (numpy, PIL: seconds of
    start for every command and worker that loads this module, bench/cli_start.py)."""
    spec = importlib.util.find_spec("matplotlib")
    assert spec is not None and spec.origin is not None, "matplotlib is a dependency"
    return Path(spec.origin).with_name("mpl-data")


FONT_DIR = _matplotlib_data() / "fonts" / "ttf"

#: Spaces and signs babel prints beside amounts (narrow no-break space in fr/ch, the
#: minus sign of some locales) and the replacement character.
_BABEL_SIGNS = ((0x2009, 0x2009), (0x202F, 0x202F), (0x2212, 0x2212), (0xFFFD, 0xFFFD))

#: Windows-1252, the repertoire of Western European text (with €, –, ‘’ “”).
LATIN_RANGES = (
    *(
        (ord(ch), ord(ch))
        for ch in sorted(set(bytes(range(0x20, 0x100)).decode("cp1252", errors="ignore")))
        if ch.isprintable()
    ),
    *_BABEL_SIGNS,
)

#: Latin (with extensions), Greek, Cyrillic, punctuation, currency and letter-like signs.
WIDE_RANGES = (
    (0x0020, 0x007E),
    (0x00A0, 0x024F),
    (0x0370, 0x03FF),
    (0x0400, 0x052F),
    (0x1E00, 0x1EFF),
    (0x2000, 0x206F),
    (0x20A0, 0x20CF),
    (0x2100, 0x214F),
    (0x2190, 0x21FF),
    *_BABEL_SIGNS,
)


@dataclass(frozen=True, slots=True)
class Face:
    """A font a document embeds: its regular and bold files and the characters they draw."""

    name: str
    regular: Path
    bold: Path
    covered: frozenset[int]
    #: Embed every glyph (the same font program in every document, subset once per process)
    #: rather than the glyphs a document uses: worth it for a small face only.
    whole: bool = False

    def draws(self, text: str) -> bool:
        # A set difference first (a document's text is thousands of characters, most of
        # them covered); only what is left is asked whether it is white space.
        return all(chr(code).isspace() for code in set(map(ord, text)) - self.covered)


def _cut(source: Path, ranges: tuple[tuple[int, int], ...]) -> Path:
    """``source`` reduced to ``ranges``, written once under the temp folder."""
    import fontTools  # with the first document: a worker that renders none holds none of it

    key = hashlib.sha256(
        f"{source.read_bytes().hex()[:4096]}{source.stat().st_size}"
        f"{fontTools.version}{ranges}".encode()
    ).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / "billing-ops-fonts" / f"{source.stem}-{key}.ttf"
    if target.exists():
        return target
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(source, recalcTimestamp=False)
    options = subset.Options()
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "hdmx", "FFTM", "MATH", "kern"]
    options.notdef_outline = True
    options.recommended_glyphs = True
    options.hinting = False
    cutter = subset.Subsetter(options)
    cutter.populate(unicodes=[c for low, high in ranges for c in range(low, high + 1)])
    cutter.subset(font)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    font.save(partial)
    os.replace(partial, target)
    return target


def _cmap(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap())


def _dejavu(name: str, ranges: tuple[tuple[int, int], ...], *, whole: bool = False) -> Face:
    regular = _cut(FONT_DIR / "DejaVuSans.ttf", ranges)
    bold = _cut(FONT_DIR / "DejaVuSans-Bold.ttf", ranges)
    return Face(name, regular, bold, _cmap(regular) & _cmap(bold), whole)


@cache
def faces() -> tuple[Face, ...]:
    """The document faces, lightest first."""
    import pylopdf_fonts_cjk
    import pylopdf_fonts_ko

    cjk = pylopdf_fonts_cjk.sans_path()
    korean = pylopdf_fonts_ko.sans_path()
    return (
        _dejavu("latin", LATIN_RANGES, whole=True),
        _dejavu("wide", WIDE_RANGES),
        Face("cjk", cjk, cjk, _cmap(cjk)),
        Face("ko", korean, korean, _cmap(korean)),
    )


def face_for(text: str) -> Face:
    """The lightest face that draws all of ``text``; GlyphError naming what none draws."""
    for face in faces():
        if face.draws(text):
            return face
    # Each character may have a face, but no one face has them all (say, Greek beside Hangul).
    missing = missing_glyphs(text) or "".join(
        sorted({ch for ch in text if not faces()[-1].draws(ch)})
    )
    raise GlyphError(f"no document font can draw {missing!r}")


def needs_cjk(text: str) -> bool:
    """True when only the CJK face draws ``text`` (its embedding is much the slowest)."""
    return not faces()[1].draws(text)


def missing_glyphs(text: str) -> str:
    """The characters of ``text`` no document face draws (empty when all print)."""
    covered = frozenset().union(*(face.covered for face in faces()))
    return "".join(sorted({ch for ch in text if ord(ch) not in covered and not ch.isspace()}))
