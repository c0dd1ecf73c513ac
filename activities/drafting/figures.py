"""Figures the model typed itself, in any script, disguise or language.

A model's prose may name facts only by placeholder (:mod:`placeholders`).
Anything in it that reads as a figure is a finding: a digit of any script
(``٣``, ``３``, ``Ⅻ``, ``½``), a number in letters that only look like
digits once folded (``$O.OO``, Cyrillic ``О``), a number written out in
English, German, French, Spanish, Portuguese, Dutch or Italian (``nine
thousand``, ``neuntausend``, ``cinq cents``, ``quinhentos``, ``vijfhonderd``)
or a zero in any of those or in Polish, Japanese, Chinese or Arabic
(``zero``, ``null``, ``nul``, ``ゼロ``, ``صفر``), a link or email address, or
a document id. The placeholders themselves are taken out before reading.
Erring towards finding costs a template fallback; a miss could cost a
wrong figure sent to a customer.

:func:`in_digits` gives the grounding check the same words as digits, so
that a figure written in words is held to the facts by value.
"""

from __future__ import annotations

import re
import unicodedata

from text_to_num import alpha2digit
from unidecode import unidecode

from activities.drafting.placeholders import PLACEHOLDER

#: The languages text2num reads numbers in that we read (its Danish is left out: "en" is one).
LANGUAGES = ("en", "de", "fr", "es", "pt", "nl", "it")

#: Letters that pass for digits, in a number's shape: ``O.OO``, ``l,OOO``, ``$O``.
_LOOKALIKE = re.compile(
    r"(?<![A-Za-z])[OoIl|]{1,3}(?:[.,][OoIl]{2,3})+(?![A-Za-z])"
    r"|(?:[$€£¥₹₩]|\b(?:USD|EUR|GBP|JPY|CHF|CAD|AUD)\s?)[OoIlSB](?![a-z])"
)
#: Zero and "no amount" words alpha2digit leaves alone (it skips small isolated numbers).
_ZERO_WORD = (
    r"\b(?:zero|zeros|nil|naught|null|nullen?|nul|zéro|cero|ceros)\b"
    r"|ゼロ|صفر|零"
)
_ZERO = re.compile(rf"{_ZERO_WORD}|\b(?:nada que pagar|nichts zu zahlen)\b", re.IGNORECASE)
_ZERO_AS_DIGIT = re.compile(_ZERO_WORD, re.IGNORECASE)
_LINK = re.compile(
    r"https?:|www\.|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|io|co|help|info|biz|app|dev|pay|de|fr"
    r"|es|uk|eu|us|example)\b|[\w.+-]+@[\w-]+\.[\w.-]+",
    re.IGNORECASE,
)
_ONCE = re.compile(r"\bonce\b", re.IGNORECASE)
_ID = re.compile(r"\b[A-Z]{2,6}-[A-Z0-9]{2,}\b")


def _has_digit(text: str) -> str | None:
    for char in text:
        if unicodedata.numeric(char, None) is not None:
            return char
    return None


def find(prose: str) -> list[str]:
    """What in ``prose`` reads as a figure, link or id, each as ``kind "text"``; empty when none."""
    text = PLACEHOLDER.sub(" ", prose)
    found: list[str] = []
    digit = _has_digit(text)
    if digit is not None:
        found.append(f'digit "{digit}" (U+{ord(digit):04X})')
    folded = unicodedata.normalize("NFKC", text)
    skeleton = unidecode(folded)
    for reading in (folded, skeleton):
        for match in _LOOKALIKE.finditer(reading):
            found.append(f'look-alike number "{match.group(0).strip()}"')
        for match in _LINK.finditer(reading):
            found.append(f'link or address "{match.group(0)}"')
        for match in _ID.finditer(reading):
            found.append(f'id "{match.group(0)}"')
    for match in _ZERO.finditer(folded):
        found.append(f'number word "{match.group(0)}"')
    if digit is None:
        for language in LANGUAGES:
            # "once" is eleven in Spanish and a common English word: it is not read as a number.
            source = _ONCE.sub("when", folded) if language == "es" else folded
            converted = alpha2digit(source, language)
            if _has_digit(converted):
                words = _changed_words(source, converted)
                found.append(f'number in words ({language}) "{words}"')
                break
    return list(dict.fromkeys(found))


def in_digits(text: str) -> list[str]:
    """``text`` once per language whose number words it holds, those words written as digits
    (a zero word as ``0``); empty when it holds none. ``zero dollars`` reads ``0 dollars``,
    ``cinq cents euros`` ``500 euros``, so the grounding check compares their values."""
    zeroed = _ZERO_AS_DIGIT.sub("0", unicodedata.normalize("NFKC", text))
    readings = [zeroed] if zeroed != unicodedata.normalize("NFKC", text) else []
    for language in LANGUAGES:
        source = _ONCE.sub("when", zeroed) if language == "es" else zeroed
        converted = alpha2digit(source, language)
        if converted != source:
            readings.append(converted)
    return list(dict.fromkeys(readings))


def _changed_words(before: str, after: str) -> str:
    """The words of ``before`` that alpha2digit turned into digits, roughly, for the message."""
    kept = set(after.lower().split())
    return " ".join(w for w in before.split() if w.lower() not in kept)[:60]
