"""One identity per person: every actor string names one person of the directory, or is refused.

The directory is the ``people:`` section of ``config/approval_matrix.yaml``:
each person has a handle (``ana``), a Slack user id (``U0ANALYST1``) and an
email, and :func:`activities.approvals.matrix.load_matrix` refuses a file in
which any two of those keys, compared case-insensitively, belong to
different people. So a key names at most one person.

An actor string is how the audit log and the workflows name who acted:
``<channel>:<who>``. People act through the ``cli``, ``slack`` or ``email``
channel; ``<who>`` is any of their keys, and older rows may nest channels
(``cli:slack:U0ANALYST1`` is what ``--as slack:U0ANALYST1`` used to record).
Everything else is a system actor and no person: ``workflow:<id>``,
``policy:<rule>``, ``system:<what>`` and ``schedule``.

Separation of duties compares the people these strings resolve to, never
the strings: ``cli:ana``, ``slack:U0ANALYST1`` and ``cli:ana.ortiz@example.com``
are one person. What we record is canonical, :func:`tag` (``cli:ana``,
``slack:ana``): the person's handle, and the channel they came through.

Matching is exact after trimming the ends and folding ASCII case. A name
with any non-ASCII character is refused outright, so ``аna`` (Cyrillic а)
or a full-width ``ａｎａ`` can neither pass for ``ana`` nor be recorded as
somebody new. Pure, so the workflows' update validators call it on the
people snapshot they keep.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Protocol, TypeVar

#: Where people are defined, as error messages name it.
DIRECTORY = "config/approval_matrix.yaml (people:)"

#: The channels a person acts through.
PERSON_CHANNELS = ("cli", "slack", "email")
#: Actors that are no person: a workflow, a policy, the system, the scheduler.
SYSTEM_CHANNELS = ("workflow", "policy", "system")
SYSTEM_ACTORS = ("schedule",)


class IdentityRefused(ValueError):
    """An actor string names nobody in the directory (or no person at all); says which and why."""


class Named(Protocol):
    """A person as the directory has them: what an actor string may call them by."""

    @property
    def handle(self) -> str: ...

    @property
    def slack(self) -> str: ...

    @property
    def email(self) -> str: ...


P = TypeVar("P", bound=Named)


def is_system(identity: str) -> bool:
    """True for actors that are no person: ``workflow:<id>``, ``policy:…``, ``schedule``."""
    text = identity.strip()
    channel, sep, rest = text.partition(":")
    return text in SYSTEM_ACTORS or bool(sep and rest and channel in SYSTEM_CHANNELS)


def key_of(identity: str) -> str:
    """The name inside a person's actor string: ``cli:slack:U0X`` is ``u0x``.

    Channel prefixes (nested ones too) are dropped, the rest is trimmed and
    lower-cased. Refuses any non-ASCII or unprintable character, naming it.
    """
    text = identity.strip()
    odd = next((c for c in text if not c.isascii() or not c.isprintable()), None)
    if odd is not None:
        name = unicodedata.name(odd, "a control character")
        raise IdentityRefused(
            f"{identity!r} contains U+{ord(odd):04X} ({name}): people are named in "
            f"{DIRECTORY} in plain ASCII (handle, Slack id or email)"
        )
    while True:
        prefix, sep, rest = text.partition(":")
        if not (sep and prefix.lower() in PERSON_CHANNELS):
            return text.lower()
        text = rest.strip()


def keys(person: Named) -> tuple[str, str, str]:
    """What a person may be called by, folded as :func:`key_of` folds a name."""
    return person.handle.lower(), person.slack.lower(), person.email.lower()


def find(people: Iterable[P], identity: str) -> P | None:
    """The one person ``identity`` names, or None (unknown, system actor, non-ASCII)."""
    if is_system(identity):
        return None
    try:
        key = key_of(identity)
    except IdentityRefused:
        return None
    return next((p for p in people if key and key in keys(p)), None)


def resolve(people: Iterable[P], identity: str) -> P:
    """The person ``identity`` names; else :class:`IdentityRefused` naming the directory."""
    if is_system(identity):
        raise IdentityRefused(f"{identity.strip()!r} is not a person (a workflow or the system)")
    key = key_of(identity)  # raises for non-ASCII
    person = next((p for p in people if key and key in keys(p)), None)
    if person is None:
        raise IdentityRefused(
            f"{identity.strip()!r} is nobody in {DIRECTORY}; use a handle, Slack id or email "
            "listed there, or ask a billing manager to add the person"
        )
    return person


def same_person(people: Iterable[P], first: str, second: str) -> bool:
    """True when both actor strings name the same person of ``people``."""
    listed = tuple(people)
    one, other = find(listed, first), find(listed, second)
    return one is not None and other is not None and one.handle == other.handle


def tag(channel: str, person: Named) -> str:
    """How the audit log records a person acting through ``channel``: ``slack:ana``."""
    if channel not in PERSON_CHANNELS:
        raise ValueError(f"channel: {channel!r} is not one of {', '.join(PERSON_CHANNELS)}")
    return f"{channel}:{person.handle}"
