"""Figures the model typed itself, in any script, disguise or language.

A model's prose may name facts only by placeholder (:mod:`placeholders`).
Anything in it that reads as a figure is a finding: a digit of any script
(``٣``, ``３``, ``Ⅻ``, ``½``), a number in letters that only look like
digits once folded (``$O.OO``, Cyrillic ``О``), a number written out in
English, German, French, Spanish, Portuguese, Dutch or Italian (``nine
thousand``, ``neuntausend``, ``cinq cents``, ``quinhentos``, ``vijfhonderd``)
or a zero in any of those or in Polish, Japanese, Chinese or Arabic
(``zero``, ``null``, ``nul``, ``ゼロ``, ``صفر``, also in look-alike letters),
a number in Polish, Russian, Arabic, Hindi or Thai words (:mod:`number_words`:
``pięćset``, ``пятьсот``, ``خمسمائة``, ``पाँच सौ``, ``ห้าร้อย``), a link or email
address, or a document id. Invisible characters and the placeholders
themselves are taken out before reading.
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

from activities.drafting import number_words
from activities.drafting.placeholders import PLACEHOLDER
from activities.drafting.untrusted import INVISIBLE

#: The languages text2num reads numbers in that we read (its Danish is left out: "en" is one).
LANGUAGES = ("en", "de", "fr", "es", "pt", "nl", "it")

#: Letters that pass for digits, in a number's shape: ``O.OO``, ``l,OOO``, ``$O``.
_LOOKALIKE = re.compile(
    r"(?<![A-Za-z])[OoIl|]{1,3}(?:[.,][OoIl]{2,3})+(?![A-Za-z])"
    r"|(?:[$€£¥₹₩]|\b(?:USD|EUR|GBP|JPY|CHF|CAD|AUD)\s?)[OoIlSB](?![a-z])"
)
#: Zero and "no amount" words alpha2digit leaves alone (it skips small isolated numbers).
_ZERO_WORD = (
    r"\b(?:zero|zeros|nil|naught|nought|null|nullen?|nul|zéro|cero|ceros|zerad[oa]s?"
    r"|azzerat[oai])\b"
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
    text = INVISIBLE.sub("", PLACEHOLDER.sub(" ", prose))
    found: list[str] = []
    digit = _has_digit(text)
    if digit is not None:
        found.append(f'digit "{digit}" (U+{ord(digit):04X})')
    folded = unicodedata.normalize("NFKC", text)
    skeleton = unidecode(folded)
    for span in number_words.spans(folded):
        found.append(f'number in words "{folded[span.start : span.end]}"')
    if not _ZERO.search(folded):  # "zеro" with a Cyrillic е is zero too
        found += [f'number word "{m.group(0)}"' for m in _ZERO.finditer(skeleton)]
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
    """``text`` read with its disguised figures as digits, once per way of reading it; empty
    when it holds none. Invisible characters go, a zero word is ``0``, Chinese and Japanese
    numerals are their value (``五百`` is ``500``), letters in a number's shape are digits
    (``$O.OO`` is ``$0.00``), and number words are digits in each language text2num reads
    (``cinq cents euros`` is ``500 euros``), so the grounding check compares their values."""
    plain = unicodedata.normalize("NFKC", INVISIBLE.sub("", text))
    plain = number_words.as_digits(plain)
    plain = _ZERO_AS_DIGIT.sub("0", plain)
    plain = _CJK_NUMBER.sub(lambda m: str(_cjk_value(m.group(0))), plain)
    readings = [plain]
    skeleton = unidecode(plain)
    if _ZERO_AS_DIGIT.search(skeleton):  # a zero word in look-alike letters
        readings.append(_ZERO_AS_DIGIT.sub("0", skeleton))
    if _LOOKALIKE.search(skeleton):
        readings.append(_LOOKALIKE.sub(_as_digits, skeleton))
    for language in LANGUAGES:
        source = _ONCE.sub("when", plain) if language == "es" else plain
        readings.append(alpha2digit(source, language))
    return [r for r in dict.fromkeys(readings) if r != text]


#: Chinese and Japanese numerals: two or more in a row, or one before a currency.
_CJK_DIGITS = "〇零一二两兩三四五六七八九十百千万萬億亿"
_CJK_NUMBER = re.compile(rf"[{_CJK_DIGITS}]{{2,}}|[{_CJK_DIGITS}](?=円|元|ユーロ|ドル|欧元|美元)")
_LOOKS_LIKE = str.maketrans("OoIl|SB", "0011158")


def _cjk_value(numerals: str) -> int:
    """The value of a run of Chinese or Japanese numerals: ``一千二百三十四`` is 1234."""
    total = section = digit = 0
    for char in numerals:
        # 两 (two, simplified) has no numeric value in Unicode's tables; 兩 has.
        value = 2 if char == "两" else int(unicodedata.numeric(char))
        if value >= 10_000:
            total += (section + digit) * value
            section = digit = 0
        elif value >= 10:
            section += (digit or 1) * value
            digit = 0
        else:
            digit = digit * 10 + value
    return total + section + digit


def _as_digits(match: re.Match[str]) -> str:
    """A look-alike number as digits: all of ``O.OO``; only the letter after ``$`` or ``USD``."""
    found = match.group(0)
    if found[0] in "OoIl|":
        return found.translate(_LOOKS_LIKE)
    return found[:-1] + found[-1].translate(_LOOKS_LIKE)


def _changed_words(before: str, after: str) -> str:
    """The words of ``before`` that alpha2digit turned into digits, roughly, for the message."""
    kept = set(after.lower().split())
    return " ".join(w for w in before.split() if w.lower() not in kept)[:60]
