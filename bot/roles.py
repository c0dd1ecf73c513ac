"""Who may do what from Slack: Slack user ids map to the approval matrix's people and roles.

Lookups are open to the workspace. Commands that change an account need a
role: the collections work (promises, dunning, disputes) belongs to the AR
team, which is the analyst role and every role it escalates to in the
matrix; a note needs only to be someone in the matrix. Decisions on approval
requests are checked with the matrix's own rule (:func:`can_decide`), and
the workflow's update validator checks every one of them again.

Who a Slack user is comes from :mod:`activities.approvals.people`, the
resolver the CLI and the workflows use: the Slack user id Slack signed must
be a person's ``slack`` id in the directory, and what the bot records is
that person (``slack:ana``), so the audit log and separation of duties see
the same person whichever channel they used.
"""

from __future__ import annotations

from activities.approvals import people
from activities.approvals.matrix import (
    ApprovalMatrix,
    ApprovalRoute,
    DecisionRefused,
    Person,
    can_decide,
)
from activities.ledger.models import ApprovalRequest

#: The role at the bottom of the AR team's escalation chain.
AR_ENTRY_ROLE = "analyst"

#: Subcommands that change state or share a customer's documents in a channel, and whether
#: they need the AR team (else anyone in the matrix).
NEEDS_AR_TEAM = {
    "promise": True,
    "dunning": True,
    "dispute": True,
    "note": False,
    "invoice": False,
    "seats": True,
    "plan": True,
    "addon": True,
    "interval": True,
    "cancel": True,
}

_WHAT = {"invoice": "posts a customer's invoice in the channel"}

#: The role (and those above it) that may confirm anybody's previewed subscription change.
BILLING_ROLE = "billing_manager"


def person_of(matrix: ApprovalMatrix, slack_user_id: str) -> Person | None:
    """The directory's person whose Slack id is exactly ``slack_user_id``; None if nobody's."""
    person = matrix.person(f"slack:{slack_user_id}")
    return person if person is not None and person.slack == slack_user_id.strip() else None


def actor(matrix: ApprovalMatrix, slack_user_id: str) -> str:
    """What the audit log records for this Slack user: ``slack:<handle>``; refused if unknown."""
    person = person_of(matrix, slack_user_id)
    if person is None:
        raise people.IdentityRefused(
            f"Slack user {slack_user_id} is nobody in {people.DIRECTORY}; "
            "ask a billing manager to add you"
        )
    return people.tag("slack", person)


def command_refusal(matrix: ApprovalMatrix, slack_user_id: str, subcommand: str) -> str | None:
    """Why ``slack_user_id`` may not run ``subcommand``, or None when they may."""
    if subcommand not in NEEDS_AR_TEAM:
        return None
    person = person_of(matrix, slack_user_id)
    if person is None:
        return (
            f"`/billing {subcommand}` {_WHAT.get(subcommand, 'changes an account')}, and you "
            "are not in the approval "
            f"matrix ({people.DIRECTORY}). Ask a billing manager to add you."
        )
    if not NEEDS_AR_TEAM[subcommand]:
        return None
    team = matrix.chain(AR_ENTRY_ROLE)
    if set(person.roles) & set(team):
        return None
    return (
        f"`/billing {subcommand}` needs one of the roles {', '.join(team)}; "
        f"you hold {', '.join(person.roles)}."
    )


def confirm_refusal(matrix: ApprovalMatrix, slack_user_id: str, requested_by: str) -> str | None:
    """Why ``slack_user_id`` may not confirm a change ``requested_by`` previewed, or None.

    The person who asked for it confirms it; so may a billing manager or anyone above.
    """
    person = person_of(matrix, slack_user_id)
    if person is None:
        return f"You are not in the approval matrix ({people.DIRECTORY})."
    if people.tag("slack", person) == requested_by:
        return None
    managers = matrix.chain(BILLING_ROLE)
    if set(person.roles) & set(managers):
        return None
    return (
        f"Only who asked for this change, or one of the roles {', '.join(managers)}, "
        "may confirm it."
    )


def decision_refusal(
    matrix: ApprovalMatrix, slack_user_id: str, request: ApprovalRequest
) -> str | None:
    """Why ``slack_user_id`` may not decide ``request`` now, or None when they may.

    The same rule as the workflow's validator, on the request as the ledger
    has it: pending, not the requester's own, and a role the request needs.
    """
    if request.status.value != "pending":
        by = f" by {request.decided_by}" if request.decided_by else ""
        return f"This request is already {request.status.value.replace('_', ' ')}{by}."
    route = ApprovalRoute(
        action=request.action,
        summary=request.summary,
        requested_by=request.requested_by,
        roles=matrix.chain(request.required_role),
        people=matrix.people,
    )
    try:
        can_decide(actor(matrix, slack_user_id), route)
    except (DecisionRefused, people.IdentityRefused) as refused:
        return str(refused)
    return None


def may_decide(matrix: ApprovalMatrix, slack_user_id: str, request: ApprovalRequest) -> bool:
    return decision_refusal(matrix, slack_user_id, request) is None
