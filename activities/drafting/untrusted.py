"""Text that someone outside wrote: a type of its own, cleaned on intake, shown only quoted.

Ticket subjects and bodies, requester names, dispute claims, email replies,
legal names from orders and analysts' free-text notes are :class:`Untrusted`.
Such text is never a fact: a figure, date, id or link that appears only in it
proves nothing. A template can show it only through the ``quoted`` (one line)
or ``quoted_block`` filter; rendering an :class:`Untrusted` value bare raises.
Both filters wrap what they print in two private-use marker characters, so
that the grounding reference and the checks on a draft can leave quoted
customer text out (:func:`without_quotes`) while the customer sees it
(:func:`unmarked`).

Invisible and bidirectional control characters (U+200B-U+200F, U+202A-U+202E,
U+2060-U+2064, U+2066-U+2069, U+FEFF, soft hyphen) are removed on intake by
:func:`clean`, which also says how many it removed, so the ticket is flagged
for a person and never blocked.

This module is shared: the Slack side escapes the same :class:`Untrusted` text
for mrkdwn on its own terms.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: Zero-width, joiner, bidi embedding/override/isolate, word joiner, BOM, soft hyphen.
INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
#: Other control characters (keeps tab and newline).
_CONTROL = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]")

#: Open and close marks around quoted untrusted text in a rendered template.
OPEN, CLOSE = "\ue000", "\ue001"
_QUOTED_SPAN = re.compile(f"{OPEN}([^{CLOSE}]*){CLOSE}")
#: The private-use characters the marks and :class:`Quotes` tokens are made of: outside text
#: has them removed on quoting, and a model's draft that holds one is refused.
MARKS = re.compile("[\ue000-\ue0ff]")

#: The longest untrusted text a template shows on one line, and in a block.
INLINE_LIMIT = 80
BLOCK_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Untrusted:
    """Text from outside. ``str()`` refuses it: show it with ``quoted`` or ``quoted_block``."""

    text: str

    def __str__(self) -> str:
        raise TypeError(
            "untrusted text cannot be shown bare: use the quoted or quoted_block filter"
        )


@dataclass(frozen=True, slots=True)
class Cleaned:
    text: str
    #: How many invisible or bidi control characters were removed.
    removed: int


def clean(text: str) -> Cleaned:
    """``text`` in NFC without invisible, bidi and control characters, and how many went."""
    removed = len(INVISIBLE.findall(text)) + len(_CONTROL.findall(text))
    stripped = _CONTROL.sub("", INVISIBLE.sub("", text))
    return Cleaned(unicodedata.normalize("NFC", stripped), removed)


def _text(value: object) -> str:
    return value.text if isinstance(value, Untrusted) else str(value)


def quoted(value: object, limit: int = INLINE_LIMIT) -> str:
    """One line in typographic quotes, cleaned, cut at ``limit``, marked as untrusted."""
    line = " ".join(clean(_text(value)).text.split())
    line = line.replace("\u201c", '"').replace("\u201d", '"').replace(OPEN, "").replace(CLOSE, "")
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "\u2026"
    return f"{OPEN}\u201c{line}\u201d{CLOSE}"


def quoted_block(value: object, limit: int = BLOCK_LIMIT) -> str:
    """Several lines, each after ``> ``, cleaned, cut at ``limit``, marked as untrusted."""
    text = clean(_text(value)).text.replace(OPEN, "").replace(CLOSE, "").strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "\u2026"
    lines = "\n".join(f"  > {line}".rstrip() for line in text.splitlines())
    return f"{OPEN}{lines}{CLOSE}"


def unmarked(text: str) -> str:
    """What the customer sees: quoted text kept, the markers removed."""
    return text.replace(OPEN, "").replace(CLOSE, "")


def without_quotes(text: str) -> str:
    """The trusted part only: every quoted untrusted span replaced by ``"(quoted)"``."""
    return _QUOTED_SPAN.sub("(quoted)", text)


class Quotes:
    """The quoted spans of one marked text, each read as one word wherever it reappears.

    Cutting a text into sentences must not cut a quote: a quote of several
    sentences ("We paid. Nothing is owed.") would otherwise give sentences that
    are outside text and yet look like the template's own. :meth:`tokens`
    turns each span into a token (private-use characters, no space, no
    punctuation) in the marked text it came from, and in any other text where
    the span's words reappear whole, in order, spaced any way; :meth:`text`
    turns the tokens back into the quoted words.
    """

    def __init__(self, marked: str) -> None:
        self.spans = list(dict.fromkeys(m.group(1) for m in _QUOTED_SPAN.finditer(marked)))
        self._tokens = {span: f"\ue002{chr(0xE010 + n)}\ue003" for n, span in enumerate(self.spans)}
        self._texts = {token: span for span, token in self._tokens.items()}
        # Longer spans first: a short quote inside a long one must not break the long one.
        self._patterns = [
            (re.compile(r"\s+".join(map(re.escape, span.split()))), self._tokens[span])
            for span in sorted(self.spans, key=len, reverse=True)
            if span.split()
        ]

    def tokens(self, text: str) -> str:
        """``text`` with each quoted span (marked, or its words whole) as its token."""
        text = _QUOTED_SPAN.sub(lambda m: self._tokens[m.group(1)], text)
        for pattern, token in self._patterns:
            text = pattern.sub(token, text)
        return text

    def held_in(self, tokened: str) -> bool:
        """Whether ``tokened`` (a text after :meth:`tokens`) holds a quote."""
        return "\ue002" in tokened

    def text(self, tokened: str) -> str:
        """``tokened`` with each token back as the words it stands for, unmarked."""
        for token, span in self._texts.items():
            tokened = tokened.replace(token, span)
        return tokened
