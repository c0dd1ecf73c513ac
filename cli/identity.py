"""Who acts from the command line: `--as` (or the OS user), resolved to one directory person.

Every command that records who acted (the audit log, a request's requester,
an approval's approver) names a person of ``config/approval_matrix.yaml``.
``--as`` takes their handle, Slack id, email or an actor string
(``slack:U0ANALYST1``); whichever is given, the person is recorded as
``cli:<handle>``, so separation of duties sees one person however they were
named. Without ``--as`` the OS user (``getpass.getuser()``) is looked up the
same way: a login that matches a handle or email works, any other is refused
with a one-line error saying to pass ``--as``; nothing is recorded unchecked.
"""

from __future__ import annotations

import getpass

from activities.approvals import people
from activities.approvals.matrix import Person, load_matrix
from activities.settings import settings


def acting_person(as_user: str | None) -> Person:
    """The directory's person named by ``--as``, or by the OS user when ``--as`` is absent."""
    people_listed = load_matrix(settings().config_dir).people
    if as_user is not None:
        try:
            return people.resolve(people_listed, as_user)
        except people.IdentityRefused as refused:
            raise ValueError(f"--as: {refused}") from None
    login = getpass.getuser()
    try:
        return people.resolve(people_listed, login)
    except people.IdentityRefused:
        raise ValueError(
            f"--as: not given, and your OS user {login!r} is nobody in {people.DIRECTORY}; "
            "pass --as <handle> to say who you are"
        ) from None


def cli_actor(as_user: str | None) -> str:
    """The audit log's name for the person acting from the command line: ``cli:<handle>``."""
    return people.tag("cli", acting_person(as_user))
