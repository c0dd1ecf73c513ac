"""The preview contract: the documented examples, the JSON Schemas and the command."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from activities.billing.preview import (
    PreviewError,
    PreviewRequest,
    PreviewResponse,
    describe_validation_error,
    preview_invoice,
    preview_schemas,
)
from cli.preview import preview

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
D = Decimal


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return loaded


def run(request: dict[str, Any]) -> PreviewResponse:
    return preview_invoice(PreviewRequest.model_validate_json(json.dumps(request)))


def test_seat_increase_example_is_the_documented_worked_example() -> None:
    """docs/invoicing.md, "The default policy, worked through", computes these by hand."""
    response = run(example("preview-seat-increase.json"))
    assert [(line.item_code, line.amount, line.tax_amount) for line in response.lines] == [
        ("business", D("88.71"), D("3.55")),
        ("advanced_security", D("21.29"), D("0.85")),
        ("business", D("6.45"), D("0.26")),
        ("advanced_security", D("1.55"), D("0.06")),
    ]
    assert response.lines[0].description == (
        "5 seats added to Business (monthly), 10 Jan 2025 – 1 Feb 2025 (22 of 31 days)"
    )
    assert (response.subtotal, response.tax_total, response.total) == (
        D("118.00"),
        D("4.72"),
        D("122.72"),
    )
    assert (response.credit_applied, response.amount_due) == (D("20.00"), D("102.72"))
    assert (response.due_date.isoformat(), response.po_number) == ("2025-02-23", "PO-4471")
    assert response.tax.label == "Sales tax 4%"
    text = (ROOT / "docs" / "invoicing.md").read_text()
    for figure in ("88.71", "21.29", "6.45", "1.55", "118.00", "4.72", "122.72", "102.72"):
        assert figure in text


def test_upgrade_to_annual_example() -> None:
    response = run(example("preview-upgrade-annual.json"))
    assert [
        (line.kind, line.item_code, line.amount, line.discount_amount) for line in response.lines
    ] == [
        ("credit", "business", D("-145.60"), D("0.00")),
        ("credit", "advanced_security", D("-34.82"), D("0.00")),
        ("charge", "enterprise", D("4200.00"), D("420.00")),
        ("charge", "advanced_security", D("550.00"), D("0.00")),
    ]
    assert (response.subtotal, response.discount_total, response.total) == (
        D("4569.58"),
        D("420.00"),
        D("4149.58"),
    )
    assert (response.tax_total, response.tax.label) == (D("0.00"), "Reverse charge")
    assert response.notes[0] == "Billing period restarted on 12 Mar 2025 for annual billing."
    assert response.notes[1].startswith("Reverse charge: VAT to be accounted for by the recipient")
    assert (
        response.period_end is not None
        and response.period_end.isoformat() == "2026-03-12T09:00:00+00:00"
    )


def test_amounts_travel_as_decimal_strings() -> None:
    out = json.loads(run(example("preview-seat-increase.json")).model_dump_json())
    assert out["total"] == "122.72"
    assert out["lines"][0]["amount"] == "88.71"
    assert out["lines"][0]["proration_fraction"] == "0.709677419355"
    request = example("preview-seat-increase.json")
    request["customer"]["account_credit"] = 20.0
    with pytest.raises(ValidationError) as raised:
        PreviewRequest.model_validate_json(json.dumps(request))
    assert describe_validation_error(raised.value) == (
        'customer.account_credit: Value error, give amounts as decimal strings such as "12.50", '
        "not JSON numbers"
    )


def test_policy_by_name_or_as_an_object() -> None:
    request = example("preview-seat-increase.json")
    request["policy"] = {"name": "by_second", "granularity": "second", "decrease": "credit_now"}
    response = run(request)
    assert response.policy.name == "by_second"
    assert [line.kind for line in response.lines].count("credit") == 2  # seats removed on 20 Jan
    request["policy"] = "fortnightly"
    with pytest.raises(ValidationError) as raised:
        PreviewRequest.model_validate_json(json.dumps(request))
    assert "policy 'fortnightly' is not a preset (known: daily, second, none" in str(raised.value)


def test_prices_can_be_given_instead_of_the_price_book() -> None:
    request = example("preview-seat-increase.json")
    request["subscription"]["plan"] = {
        "code": "legacy",
        "name": "Legacy Pro",
        "unit_amount": "19.00",
    }
    request["subscription"]["addons"][0]["unit_amount"] = "6.00"  # not in the book for "legacy"
    request["subscription"]["invoiced"][0]["item_code"] = "legacy"
    request["subscription"]["invoiced"][0]["amount"] = "380.00"
    response = run(request)
    assert response.lines[0].description.startswith("5 seats added to Legacy Pro (monthly)")
    assert response.lines[0].amount == D("67.42")  # 5 x 19 x 22/31
    request["subscription"]["plan"]["unit_amount"] = "19.005"
    with pytest.raises(
        ValueError, match=r"subscription.plan.unit_amount: 19.005 has more decimal places"
    ):
        run(request)


def test_usage_and_commitment_in_a_renewal() -> None:
    request = example("preview-seat-increase.json")
    request["events"] = []
    request["renew"] = True
    request["usage"] = [
        {
            "code": "storage",
            "units": 731,
            "period_start": "2025-01-01T00:00:00Z",
            "period_end": "2025-02-01T00:00:00Z",
        }
    ]
    request["commitment"] = {
        "amount": "1000.00",
        "period_start": "2025-01-01T00:00:00Z",
        "period_end": "2025-02-01T00:00:00Z",
    }
    response = run(request)
    assert [(line.item_code, line.amount) for line in response.lines] == [
        ("business", D("500.00")),
        ("advanced_security", D("120.00")),
        ("storage", D("50.00")),  # 731 GB, 250 included: 5 started blocks of 100 GB
        # January's commitment counts January's service only: the renewal above is
        # February's, billed in advance (it counted until 2 Dec 2026: 330.00).
        ("minimum_commitment", D("950.00")),
    ]


def test_errors_name_the_field() -> None:
    request = example("preview-seat-increase.json")
    request["events"][1]["seats"] = 0
    with pytest.raises(ValidationError) as raised:
        PreviewRequest.model_validate_json(json.dumps(request))
    assert describe_validation_error(raised.value) == (
        "events[1].seats: Input should be greater than or equal to 1"
    )
    request["events"][1]["seats"] = 40
    with pytest.raises(ValueError, match=r"^events\[1\].seats: cannot remove 40 of 25 seats$"):
        run(request)
    request = example("preview-upgrade-annual.json")
    request["events"][0]["plan"] = {"code": "enterprize"}
    with pytest.raises(ValueError, match=r"^events\[0\].plan.code: unknown plan 'enterprize'"):
        run(request)
    request = example("preview-upgrade-annual.json")
    request["customer"]["jurisdiction"] = "BR"
    with pytest.raises(ValueError, match=r"^customer.jurisdiction: no tax rate for 'BR'"):
        run(request)


def test_schemas_describe_both_sides() -> None:
    schemas = preview_schemas()
    request, response = schemas["request"], schemas["response"]
    assert set(request["required"]) == {"currency", "issue_date", "customer", "subscription"}
    assert request["$defs"]["CustomerIn"]["properties"]["account_credit"]["type"] == "string"
    assert response["properties"]["total"]["type"] == "string"
    assert "quarterly_true_up" in json.dumps(request)


# --- The command -------------------------------------------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(preview)

    @app.command()
    def version() -> None:  # a second command, so that "preview" is addressed by name
        typer.echo("test")

    return app


def test_command_prints_the_response(cli: typer.Typer) -> None:
    path = EXAMPLES / "preview-upgrade-annual.json"
    result = CliRunner().invoke(cli, ["preview", str(path)])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["total"] == "4149.58"
    from_stdin = CliRunner().invoke(cli, ["preview", "-"], input=path.read_text())
    assert from_stdin.stdout == result.stdout


def test_command_prints_the_schemas(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["preview", "--schema"])
    assert result.exit_code == 0
    assert set(json.loads(result.stdout)) == {"request", "response"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "error: request: Invalid JSON: EOF while parsing an object at line 1 column 1\n"),
        (
            json.dumps({**example("preview-seat-increase.json"), "currency": "usd"}),
            "error: currency: Value error, currency 'usd' is not an ISO 4217 code "
            "(e.g. USD, EUR, JPY)\n",
        ),
        (
            json.dumps({**example("preview-seat-increase.json"), "subscription": {"seats": 3}}),
            "error: subscription.plan: Field required (and 2 more)\n",
        ),
    ],
)
def test_command_rejects_a_bad_request_in_one_line(
    cli: typer.Typer, tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = CliRunner().invoke(cli, ["preview", str(bad)])
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message)


def test_command_without_a_file(cli: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["preview", str(tmp_path / "missing.json")])
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {tmp_path / 'missing.json'}: No such file or directory\n",
    )
    result = CliRunner().invoke(cli, ["preview"])
    assert (result.exit_code, result.stderr) == (
        2,
        "error: FILE: give a request file, or - to read standard input\n",
    )


def test_a_new_plan_must_offer_the_add_ons() -> None:
    request = example("preview-upgrade-annual.json")
    request["events"][0] = {
        "type": "plan_changed",
        "at": "2025-03-12T09:00:00Z",
        "plan": {"code": "plus"},
    }
    with pytest.raises(
        ValueError,
        match=r"^events\[0\].addons.code: add-on 'advanced_security' is not available on the plus",
    ):
        run(request)
    request["events"][0]["addons"] = []
    request["policy"] = "daily"
    response = run(request)  # Plus is cheaper: the downgrade waits for the renewal
    assert response.lines == []
    assert (
        response.notes[0] == "Change to Plus (monthly) takes effect at the renewal on 1 Apr 2025."
    )


def test_amount_paid_splits_a_refunded_cancellation() -> None:
    """Cancelled on 20 January under chargebee_like (refunds): 12 of 31 days unused,
    240.00 + 4 % tax = 249.60 owed back. Used: 306.45 + 73.55 = 380.00, with tax 395.20;
    of the 500.00 paid, 104.80 can be refunded, the other 144.80 is account credit."""
    request = example("preview-seat-increase.json")
    request["policy"] = "chargebee_like"
    request["subscription"]["amount_paid"] = "500.00"
    request["events"] = [{"type": "cancelled", "at": "2025-01-20T00:00:00Z"}]
    response = run(request)
    assert [line.amount for line in response.lines] == [D("-193.55"), D("-46.45")]
    assert response.total == D("-249.60")
    assert (response.refund_due, response.credit_to_balance) == (D("104.80"), D("144.80"))
    del request["subscription"]["amount_paid"]
    response = run(request)
    assert (response.refund_due, response.credit_to_balance) == (D("249.60"), D("0.00"))


def _usage_request(units: str, price: dict[str, Any], invoiced: str = "0") -> dict[str, Any]:
    request = example("preview-seat-increase.json")
    request["events"] = []
    request["customer"]["account_credit"] = "0.00"
    request["usage"] = [
        {
            "code": "api_calls",
            "units": units,
            "invoiced_units": invoiced,
            "period_start": "2025-01-01T00:00:00Z",
            "period_end": "2025-02-01T00:00:00Z",
            "included_units": "0",
            "price": price,
        }
    ]
    return request


def _usage_lines(response: PreviewResponse) -> list[tuple[Decimal, Decimal]]:
    lines = response.lines
    return [(line.quantity, line.amount) for line in lines if line.item_code == "api_calls"]


def test_a_graduated_usage_price_given_in_the_request() -> None:
    # getlago.com/docs/guide/plans/charges/charge-models/graduated: $1 a unit for the
    # first 100, $0.50 for the next 100, $0.10 for any more; 250 units: 100 + 50 + 5.
    price = {
        "model": "graduated",
        "tiers": [
            {"up_to": "100", "unit_amount": "1"},
            {"up_to": "200", "unit_amount": "0.50"},
            {"up_to": None, "unit_amount": "0.10"},
        ],
    }
    response = run(_usage_request("250", price))
    assert _usage_lines(response) == [
        (D("100"), D("100.00")),
        (D("100"), D("50.00")),
        (D("50"), D("5.00")),
    ]
    # 230 of them invoiced mid-period: only the last 20 (at 0.10) are billed now
    assert _usage_lines(run(_usage_request("250", price, invoiced="230"))) == [(D("20"), D("2.00"))]


def test_a_package_size_per_tier_counts_started_packages() -> None:
    # Kill Bill's tiered blocks, killbill/killbill invoice/src/test/java/org/killbill/
    # billing/invoice/usage/TestContiguousIntervalConsumableInArrear.java (cb60779c1713):
    # tier 1 blocks of 100 (at most 10) at $1, tier 2 blocks of 1,000 at $1, tier 3 blocks
    # of 1,000 at $0.5. TOP_TIER (volume): 101,001 units reach tier 3, 102 started blocks,
    # $51 (testComputeBilledUsageWith_TOP_TIER).
    price = {
        "model": "volume",
        "tiers": [
            {"up_to": "1000", "unit_amount": "1", "block_size": "100"},
            {"up_to": "101000", "unit_amount": "1", "block_size": "1000"},
            {"up_to": None, "unit_amount": "0.5", "block_size": "1000"},
        ],
    }
    assert _usage_lines(run(_usage_request("101001", price))) == [(D("102"), D("51.00"))]
    # ALL_TIERS (graduated): 5,325 units are 10 blocks of 100 and 5 started blocks of
    # 1,000: $10 + $5 (testComputeBilledUsageWith_ALL_TIERS).
    price["model"] = "graduated"
    assert _usage_lines(run(_usage_request("5325", price))) == [
        (D("10"), D("10.00")),
        (D("5"), D("5.00")),
    ]


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ({"model": "graduated"}, "needs tiers"),
        ({"model": "per_unit", "unit_amount": "1", "tiers": []}, "not used by"),
        ({"model": "package", "unit_amount": "5"}, "needs block_size"),
        (
            {"model": "volume", "tiers": [{"up_to": "10", "unit_amount": "1"}]},
            "only the last tier is unlimited",
        ),
        (
            {
                "model": "graduated",
                "tiers": [
                    {"up_to": "10", "unit_amount": "1"},
                    {"up_to": "5", "unit_amount": "1"},
                    {"up_to": None, "unit_amount": "1"},
                ],
            },
            "must be above 10",
        ),
    ],
)
def test_a_bad_usage_price_in_the_request_names_the_rule(
    price: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        PreviewRequest.model_validate_json(json.dumps(_usage_request("10", price)))


def test_a_weekly_subscription_takes_its_price_from_the_request() -> None:
    request = example("preview-seat-increase.json")
    request["subscription"].update(
        interval="week",
        billing_anchor="2025-01-06T00:00:00Z",
        current_period_start="2025-01-13T00:00:00Z",
        invoiced=None,
        addons=[],
    )
    request["events"] = [{"type": "seats_added", "at": "2025-01-17T00:00:00Z", "seats": 2}]
    with pytest.raises(PreviewError, match="no week price in the price book"):
        run(request)
    request["subscription"]["plan"]["unit_amount"] = "14.00"
    response = run(request)
    assert [(line.amount, line.period_end.isoformat()) for line in response.lines] == [
        (D("12.00"), "2025-01-20T00:00:00+00:00")  # 2 × 14 × 3/7
    ]
