"""Numbers in words that text2num does not read: Polish, Russian, Arabic, Hindi, Thai.

``text_to_num`` reads English, German, French, Spanish, Portuguese, Dutch and
Italian (:mod:`figures`). A customer's "zero" or "five hundred" in Polish
(``pięćset``), Russian (``пятьсот``), Arabic (``خمسمائة``), Hindi
(``पाँच सौ``) or Thai (``ห้าร้อย``) would otherwise pass a model's draft or
the assistant's answer as words, never held to the facts. :func:`spans` finds
each run of such words with its value, so :mod:`figures` can flag it and the
grounding check can compare it as digits. Thai writes a number as one
unspaced word; it is read by its parts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: Words worth their value added to the number being read.
_ADD: dict[str, int] = {
    # pl ("jeden" is left out: it is German "each"; one is not a balance worth disguising)
    "zero": 0, "dwa": 2, "dwie": 2, "trzy": 3, "cztery": 4, "pięć": 5, "sześć": 6,
    "siedem": 7, "osiem": 8, "dziewięć": 9, "dziesięć": 10, "jedenaście": 11,
    "dwanaście": 12, "piętnaście": 15, "dwadzieścia": 20, "trzydzieści": 30,
    "czterdzieści": 40, "pięćdziesiąt": 50, "sześćdziesiąt": 60, "siedemdziesiąt": 70,
    "osiemdziesiąt": 80, "dziewięćdziesiąt": 90, "sto": 100, "dwieście": 200,
    "trzysta": 300, "czterysta": 400, "pięćset": 500, "sześćset": 600, "siedemset": 700,
    "osiemset": 800, "dziewięćset": 900,
    # ru
    "ноль": 0, "нуль": 0, "один": 1, "одна": 1, "два": 2, "две": 2, "три": 3, "четыре": 4,
    "пять": 5, "шесть": 6, "семь": 7, "восемь": 8, "девять": 9, "десять": 10,
    "двадцать": 20, "тридцать": 30, "сорок": 40, "пятьдесят": 50, "шестьдесят": 60,
    "семьдесят": 70, "восемьдесят": 80, "девяносто": 90, "сто": 100, "двести": 200,
    "триста": 300, "четыреста": 400, "пятьсот": 500, "шестьсот": 600, "семьсот": 700,
    "восемьсот": 800, "девятьсот": 900,
    # ar
    "صفر": 0, "واحد": 1, "اثنان": 2, "اثنين": 2, "ثلاثة": 3, "أربعة": 4, "اربعة": 4,
    "خمسة": 5, "ستة": 6, "سبعة": 7, "ثمانية": 8, "تسعة": 9, "عشرة": 10, "عشرون": 20,
    "عشرين": 20, "ثلاثون": 30, "ثلاثين": 30, "أربعون": 40, "أربعين": 40, "خمسون": 50,
    "خمسين": 50, "ستون": 60, "ستين": 60, "سبعون": 70, "سبعين": 70, "ثمانون": 80,
    "ثمانين": 80, "تسعون": 90, "تسعين": 90, "مائة": 100, "مئة": 100, "مائتان": 200,
    "مائتين": 200, "مئتان": 200, "مئتين": 200, "ثلاثمائة": 300, "أربعمائة": 400,
    "اربعمائة": 400, "خمسمائة": 500, "ستمائة": 600, "سبعمائة": 700, "ثمانمائة": 800,
    "تسعمائة": 900, "ألفان": 2000, "ألفين": 2000,
    # hi
    "शून्य": 0, "एक": 1, "दो": 2, "तीन": 3, "चार": 4, "पाँच": 5, "पांच": 5, "छह": 6,
    "सात": 7, "आठ": 8, "नौ": 9, "दस": 10, "बीस": 20, "तीस": 30, "चालीस": 40,
    "पचास": 50, "साठ": 60, "सत्तर": 70, "अस्सी": 80, "नब्बे": 90,
}  # fmt: skip
#: Words that multiply what was read before them (one when nothing was).
_TIMES: dict[str, int] = {
    "tysiąc": 1000, "tysiące": 1000, "tysięcy": 1000, "milion": 10**6, "miliony": 10**6,
    "milionów": 10**6, "тысяча": 1000, "тысячи": 1000, "тысяч": 1000, "миллион": 10**6,
    "миллиона": 10**6, "миллионов": 10**6, "ألف": 1000, "الف": 1000, "آلاف": 1000,
    "مليون": 10**6, "सौ": 100, "हज़ार": 1000, "हजार": 1000, "लाख": 10**5, "करोड़": 10**7,
}  # fmt: skip
#: Thai digits and multipliers, read inside one unspaced word.
_THAI_DIGIT = {
    "ศูนย์": 0, "หนึ่ง": 1, "เอ็ด": 1, "สอง": 2, "ยี่": 2, "สาม": 3, "สี่": 4, "ห้า": 5,
    "หก": 6, "เจ็ด": 7, "แปด": 8, "เก้า": 9,
}  # fmt: skip
_THAI_TIMES = {"สิบ": 10, "ร้อย": 100, "พัน": 1000, "หมื่น": 10**4, "แสน": 10**5, "ล้าน": 10**6}


def _nfkc(word: str) -> str:
    return unicodedata.normalize("NFKC", word)


_WORDS = {_nfkc(w): v for w, v in _ADD.items()}
_MULTIPLIERS = {_nfkc(w): v for w, v in _TIMES.items()}
_THAI_PARTS = {_nfkc(w): (v, False) for w, v in _THAI_DIGIT.items()} | {
    _nfkc(w): (v, True) for w, v in _THAI_TIMES.items()
}
_THAI = re.compile(
    "(?:"
    + "|".join(map(re.escape, sorted(_THAI_PARTS, key=len, reverse=True)))
    + r")+(?:\s*(?:"
    + "|".join(map(re.escape, sorted(_THAI_PARTS, key=len, reverse=True)))
    + "))*"
)
#: A word: anything between spaces, digits and punctuation (not ``\w``, which cuts Devanagari
#: at its vowel signs).
_WORD = re.compile(r"[^\s\d.,;:!?()\[\]{}\"'\u201c\u201d\u00ab\u00bb/\-]+")


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    value: int


def spans(text: str) -> list[Span]:
    """Each run of number words in ``text`` (NFKC), with its value, in order."""
    found = [*_word_runs(text), *_thai_runs(text)]
    return sorted(found, key=lambda s: s.start)


def as_digits(text: str) -> str:
    """``text`` (NFKC) with each run of number words written as its value."""
    for span in reversed(spans(text)):
        text = f"{text[: span.start]}{span.value}{text[span.end :]}"
    return text


def _value(word: str) -> tuple[int, bool] | None:
    lowered = word.lower()
    for candidate in (lowered, lowered.removeprefix("و")):  # Arabic "and" joins numbers
        if candidate in _WORDS:
            return _WORDS[candidate], False
        if candidate in _MULTIPLIERS:
            return _MULTIPLIERS[candidate], True
    return None


def _word_runs(text: str) -> list[Span]:
    runs: list[Span] = []
    start = end = -1
    total = current = 0
    for match in _WORD.finditer(text):
        read = _value(match.group(0))
        joined = start >= 0 and not text[end : match.start()].strip(" -")
        if read is None or (start >= 0 and not joined):
            if start >= 0:
                runs.append(Span(start, end, total + current))
                start, total, current = -1, 0, 0
            if read is None:
                continue
        value, multiplies = read
        if start < 0:
            start = match.start()
        end = match.end()
        if multiplies:
            current = (current or 1) * value
            if value >= 1000:
                total, current = total + current, 0
        else:
            current += value
    if start >= 0:
        runs.append(Span(start, end, total + current))
    return runs


def _thai_runs(text: str) -> list[Span]:
    runs = []
    for match in _THAI.finditer(text):
        total = digit = 0
        seen = False
        for part in re.findall(
            "|".join(map(re.escape, sorted(_THAI_PARTS, key=len, reverse=True))), match.group(0)
        ):
            value, multiplies = _THAI_PARTS[part]
            if multiplies:
                total += (digit or 1) * value
                digit = 0
                seen = True
            else:
                digit = value
                seen = seen or value == 0
        if seen:  # a lone digit word (สาม is also a syllable of other words) is not read
            runs.append(Span(match.start(), match.end(), total + digit))
    return runs
