"""Keeping a workflow's search attributes current, from inside the workflow.

A workflow keeps current only what it was started with: its starter set the
first attributes where the namespace knows them (activities/search_attributes.py),
so one started without any (the time-skipping test server, a cluster where
nobody registered them, histories recorded before) issues no upsert, which
would fail its task there. The upserts are behind ``workflow.patched``: a
workflow that an older worker began with attributes but without upserts
replays as it ran.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from activities.search_attributes import NAMES

PATCH = "search-attributes-kept-current"


def keep_current(*updates: SearchAttributeUpdate[Any]) -> None:
    """Upsert those of ``updates`` whose value differs from the workflow's current one."""
    current = workflow.info().typed_search_attributes
    if not any(pair.key.name in NAMES for pair in current):
        return
    changed = [u for u in updates if current.get(u.key) != u.value]
    if changed and workflow.patched(PATCH):
        workflow.upsert_search_attributes(changed)
