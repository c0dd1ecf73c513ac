"""Who may do what from Slack: Slack user ids map to the approval matrix's people and roles.

Lookups are open to the workspace. Commands that change an account need a
role: the collections work (promises, dunning, disputes) belongs to the AR
team, which is the analyst role and every role it escalates to in the
matrix; a note needs only to be someone in the matrix. Decisions on approval
requests are checked with the matrix's own rule (:func:`can_decide`), and
the workflow's update validator checks every one of them again.
"""

from __future__ import annotations

from activities.approvals.matrix import ApprovalMatrix, ApprovalRoute, DecisionRefused, can_decide
from activities.ledger.models import ApprovalRequest

#: The role at the bottom of the AR team's escalation chain.
AR_ENTRY_ROLE = "analyst"

#: Subcommands that change state and whether they need the AR team (else anyone in the matrix).
NEEDS_AR_TEAM = {"promise": True, "dunning": True, "dispute": True, "note": False}


def command_refusal(matrix: ApprovalMatrix, slack_user_id: str, subcommand: str) -> str | None:
    """Why ``slack_user_id`` may not run ``subcommand``, or None when they may."""
    if subcommand not in NEEDS_AR_TEAM:
        return None
    person = matrix.person(slack_user_id)
    if person is None:
        return (
            f"`/billing {subcommand}` changes an account, and you are not in the approval "
            "matrix (config/approval_matrix.yaml). Ask a billing manager to add you."
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
        can_decide(f"slack:{slack_user_id}", route)
    except DecisionRefused as refused:
        return str(refused)
    return None


def may_decide(matrix: ApprovalMatrix, slack_user_id: str, request: ApprovalRequest) -> bool:
    return decision_refusal(matrix, slack_user_id, request) is None
