"""The tax position of a customer, as every invoice of a subscription applies it."""

from __future__ import annotations

from activities.billing.tax import TaxTable, TaxTreatment, tax_treatment
from activities.ledger.invoices import Buyer


def customer_tax(customer: Buyer, table: TaxTable) -> TaxTreatment:
    """Tax by the customer's subdivision (or country), exemption and EU VAT id."""
    vat = next((t.value for t in customer.tax_ids if t.scheme == "eu_vat"), None)
    return tax_treatment(
        table, customer.region or customer.country, exempt=customer.tax_exempt, vat_id=vat
    )
