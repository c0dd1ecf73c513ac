"""Validation and storage agree: every text field of an order has the length of the ledger
column it is stored in, read from the models, and refuses what PostgreSQL would refuse."""

from __future__ import annotations

import copy
import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from activities.orders.fields import TEXT_COLUMNS, column_length, forbidden_character
from activities.orders.intake import apply_correction
from activities.orders.model import Order
from activities.orders.validation import parse_order

EXAMPLE: dict[str, Any] = json.loads(
    (Path(__file__).with_name("examples") / "new_customer.json").read_text()
)
#: Fields whose own rule (a pattern, an ISO code) fixes them tighter than their column.
OWN_RULE = {"order_id", "currency", "billing_address.country"}


def _text_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    found = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        for kind in [info.annotation, *typing.get_args(info.annotation)]:
            for inner in [kind, *typing.get_args(kind)]:
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    found |= _text_fields(inner, f"{path}.")
                elif inner is str:
                    found.add(path)
    return found


def test_every_text_field_has_a_ledger_column() -> None:
    assert _text_fields(Order) == set(TEXT_COLUMNS)


def _set(path: str, value: Any) -> dict[str, Any]:
    order = copy.deepcopy(EXAMPLE)
    if path.startswith("addons."):
        path = path.replace("addons.", "addons[0].")
    if path.startswith("tax_ids."):
        path = path.replace("tax_ids.", "tax_ids[0].")
    if path == "minimum_commitment.item_codes":
        order["minimum_commitment"] = {"amount": "9000.00", "item_codes": ["business"]}
        path = "minimum_commitment.item_codes[0]"
    return apply_correction(order, {path: value})


@pytest.mark.parametrize("field", sorted(set(TEXT_COLUMNS) - OWN_RULE))
def test_one_character_over_the_column_is_refused_and_the_column_itself_is_not(
    field: str,
) -> None:
    limit = column_length(field)
    _, problems = parse_order(_set(field, "A" * (limit + 1)))
    located = re.sub(r"\[0\]", "", problems[0].field) if problems else None
    assert [(located, p.rule) for p in problems] == [(field, "max_length")]
    assert f"at most {limit} characters" in problems[0].message
    _, problems = parse_order(_set(field, "A" * limit))
    assert not [p for p in problems if p.rule == "max_length"]


@pytest.mark.parametrize(
    ("character", "name"),
    [
        ("\u202e", "RIGHT-TO-LEFT OVERRIDE"),
        ("\u202a", "LEFT-TO-RIGHT EMBEDDING"),
        ("\u2067", "RIGHT-TO-LEFT ISOLATE"),
        ("\u200b", "ZERO WIDTH SPACE"),
        ("\u200c", "ZERO WIDTH NON-JOINER"),
        ("\u200f", "RIGHT-TO-LEFT MARK"),
        ("\ufeff", "ZERO WIDTH NO-BREAK SPACE"),
        ("\x07", "a control character"),
        ("\x9b", "a control character"),
        ("\u2028", "LINE SEPARATOR"),
    ],
)
def test_invisible_and_control_characters_are_named(character: str, name: str) -> None:
    assert forbidden_character(f"Acme{character}GmbH") == f"U+{ord(character):04X} ({name})"
    _, problems = parse_order(_set("billing_address.line1", f"Main{character}St 1"))
    assert [(p.field, p.rule) for p in problems] == [
        ("billing_address.line1", "control_character")
    ]


def test_names_in_other_scripts_pass() -> None:
    for name in ("Müller & Söhne GmbH", "株式会社サンプル", "شركة المثال", "Ωmega A.E.", "Zoë's"):
        assert forbidden_character(name) is None
        order, problems = parse_order(_set("customer.legal_name", name))
        assert order is not None and not problems


def test_a_name_written_decomposed_is_kept_composed() -> None:
    """e + U+0301 is é: one text, so the ledger holds one form and comparisons agree."""
    order, problems = parse_order(_set("customer.legal_name", "Société Ge\u0301ne\u0301rale"))
    assert order is not None and not problems
    assert order.customer.legal_name == "Société Générale"
