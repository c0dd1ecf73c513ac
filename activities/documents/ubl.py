"""Peppol BIS Billing 3.0: the invoice as UBL 2.1, checked against the official OASIS XSD.

Built with lxml from the ledger row, the same mapping as the CII e-invoice
(``einvoice.py``): an invoice with a negative total is a UBL CreditNote (381)
with its amounts negated; a line's price is its amount per base quantity of
its seat count; a line discount is a line allowance. Checked before anything
is sent: against the UBL 2.1 XSD (the OASIS 2.1 OS files under ``ubl21/``,
unmodified, see ``ubl21/LICENSE.md``), then against the official rules a
Peppol access point applies, both run by ``business_rules.py``: EN 16931's
for UBL (the CEN schematron: totals, VAT categories, code lists) and Peppol
BIS Billing 3.0's (PEPPOL-EN16931-R*: both parties' Peppol ids, the profile,
line arithmetic). A failing document raises :class:`EInvoiceError` naming
each rule with its text; it is never stored or sent.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from activities.billing.money import ZERO
from activities.documents.business_rules import RuleSet, blocking_breaks
from activities.documents.einvoice import (
    amount_text,
    line_category,
    percent_text,
    tax_breakdown,
)
from activities.documents.errors import EInvoiceError
from activities.ledger.models import Invoice, InvoiceLine

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
_ROOT = {
    "Invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "CreditNote": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
SCHEMAS = Path(__file__).parent / "ubl21" / "maindoc"
UBL_FILENAME = "ubl.xml"


@cache
def _schema(root: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / f"UBL-{root}-2.1.xsd")))


def _add(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
    ns, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{CBC if ns == 'cbc' else CAC}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _money(parent: Any, tag: str, value: Decimal, currency: str) -> None:
    _add(parent, tag, amount_text(value, currency), currencyID=currency)


def _period(parent: Any, start: date, end: date) -> None:
    period = _add(parent, "cac:InvoicePeriod")
    _add(period, "cbc:StartDate", start.isoformat())
    _add(period, "cbc:EndDate", end.isoformat())


def _party(
    parent: Any,
    tag: str,
    endpoint: str,
    name: str,
    address: dict[str, Any] | None,
    vat_id: str | None,
    legal_id: str | None = None,
) -> None:
    scheme, _, identifier = endpoint.partition(":")
    party = _add(_add(parent, tag), "cac:Party")
    _add(party, "cbc:EndpointID", identifier, schemeID=scheme)
    address = address or {}
    postal = _add(party, "cac:PostalAddress")
    if address.get("line1"):
        _add(postal, "cbc:StreetName", address["line1"])
    if address.get("line2"):
        _add(postal, "cbc:AdditionalStreetName", address["line2"])
    if address.get("city"):
        _add(postal, "cbc:CityName", address["city"])
    if address.get("postal_code"):
        _add(postal, "cbc:PostalZone", address["postal_code"])
    _add(_add(postal, "cac:Country"), "cbc:IdentificationCode", address.get("country", ""))
    if vat_id:
        scheme_element = _add(party, "cac:PartyTaxScheme")
        _add(scheme_element, "cbc:CompanyID", vat_id)
        _add(_add(scheme_element, "cac:TaxScheme"), "cbc:ID", "VAT")
    legal = _add(party, "cac:PartyLegalEntity")
    _add(legal, "cbc:RegistrationName", name)
    if legal_id:
        _add(legal, "cbc:CompanyID", legal_id)


def _category(parent: Any, tag: str, invoice: Invoice, category: str, rate: Decimal) -> None:
    element = _add(parent, tag)
    _add(element, "cbc:ID", category)
    if category != "O":
        _add(element, "cbc:Percent", percent_text(rate))
    if tag == "cac:TaxCategory" and category in ("AE", "E", "O", "Z", "K", "G"):
        if invoice.tax_exemption_code:
            _add(element, "cbc:TaxExemptionReasonCode", invoice.tax_exemption_code)
        if invoice.tax_exemption_reason:
            _add(element, "cbc:TaxExemptionReason", invoice.tax_exemption_reason)
    _add(_add(element, "cac:TaxScheme"), "cbc:ID", "VAT")


def _line(parent: Any, root: str, invoice: Invoice, line: InvoiceLine, sign: int) -> None:
    currency = invoice.currency
    amount, discount = sign * line.amount, sign * line.discount_amount
    quantity = line.quantity.normalize() if line.quantity else Decimal(1)
    element = _add(parent, f"cac:{root}Line")
    _add(element, "cbc:ID", str(line.position))
    billed = quantity if amount >= ZERO else -quantity
    quantity_tag = "cbc:InvoicedQuantity" if root == "Invoice" else "cbc:CreditedQuantity"
    _add(element, quantity_tag, f"{billed:f}", unitCode="C62")
    _money(element, "cbc:LineExtensionAmount", amount - discount, currency)
    if line.period_start is not None and line.period_end is not None:
        _period(element, line.period_start.date(), line.period_end.date())
    if discount:
        adjustment = _add(element, "cac:AllowanceCharge")
        _add(adjustment, "cbc:ChargeIndicator", "false" if discount > ZERO else "true")
        _add(adjustment, "cbc:AllowanceChargeReason", "Discount")
        _money(adjustment, "cbc:Amount", abs(discount), currency)
    item = _add(element, "cac:Item")
    _add(item, "cbc:Name", line.description)
    _add(_add(item, "cac:SellersItemIdentification"), "cbc:ID", line.item_code)
    _category(
        item, "cac:ClassifiedTaxCategory", invoice, line_category(invoice, line), line.tax_rate
    )
    price = _add(element, "cac:Price")
    _money(price, "cbc:PriceAmount", abs(amount), currency)
    _add(price, "cbc:BaseQuantity", f"{quantity:f}", unitCode="C62")


def ubl_xml(invoice: Invoice, *, seller_endpoint: str, buyer_endpoint: str) -> bytes:
    """The invoice (or, for a negative total, the credit note) as Peppol BIS Billing 3.0 UBL."""
    if invoice.number is None:
        raise EInvoiceError(f"invoice {invoice.id}: a draft has no e-invoice")
    credit = invoice.total < ZERO
    sign, root = (-1, "CreditNote") if credit else (1, "Invoice")
    currency = invoice.currency
    seller = invoice.seller or {}
    namespaces = {None: _ROOT[root], "cac": CAC, "cbc": CBC}  # None: the default namespace
    document = etree.Element(f"{{{_ROOT[root]}}}{root}", nsmap=namespaces)  # type: ignore[arg-type]
    _add(document, "cbc:CustomizationID", CUSTOMIZATION)
    _add(document, "cbc:ProfileID", PROFILE)
    _add(document, "cbc:ID", invoice.number)
    _add(document, "cbc:IssueDate", invoice.issue_date.isoformat())
    if not credit:
        _add(document, "cbc:DueDate", invoice.due_date.isoformat())
    _add(document, f"cbc:{root}TypeCode", "381" if credit else "380")
    for note in (invoice.notes or {}).get("notes", []):
        _add(document, "cbc:Note", note)
    _add(document, "cbc:DocumentCurrencyCode", currency)
    _add(document, "cbc:BuyerReference", invoice.po_number or invoice.customer_id)
    if invoice.period_start is not None and invoice.period_end is not None:
        _period(document, invoice.period_start.date(), invoice.period_end.date())
    if invoice.po_number:
        _add(_add(document, "cac:OrderReference"), "cbc:ID", invoice.po_number)
    _party(
        document,
        "cac:AccountingSupplierParty",
        seller_endpoint,
        seller.get("legal_name", ""),
        seller.get("address"),
        seller.get("vat_id"),
        seller.get("company_id"),
    )
    buyer_vat = invoice.buyer_tax_id if invoice.buyer_tax_scheme in ("eu_vat", "gb_vat") else None
    _party(
        document,
        "cac:AccountingCustomerParty",
        buyer_endpoint,
        invoice.buyer_name or invoice.customer_id,
        invoice.billing_address,
        buyer_vat,
    )
    how = invoice.payment_instructions or {}
    if not credit and how.get("iban"):
        means = _add(document, "cac:PaymentMeans")
        _add(means, "cbc:PaymentMeansCode", "58")  # SEPA credit transfer
        _add(means, "cbc:PaymentID", invoice.number)
        account = _add(means, "cac:PayeeFinancialAccount")
        _add(account, "cbc:ID", how["iban"])
        _add(account, "cbc:Name", how["account_name"])
        if how.get("bic"):
            _add(_add(account, "cac:FinancialInstitutionBranch"), "cbc:ID", how["bic"])
    if not credit and invoice.payment_terms:
        _add(_add(document, "cac:PaymentTerms"), "cbc:Note", invoice.payment_terms)
    tax_total = _add(document, "cac:TaxTotal")
    _money(tax_total, "cbc:TaxAmount", sign * invoice.tax_total, currency)
    for (category, rate), (basis, tax, _) in sorted(tax_breakdown(invoice, sign).items()):
        subtotal = _add(tax_total, "cac:TaxSubtotal")
        _money(subtotal, "cbc:TaxableAmount", basis, currency)
        _money(subtotal, "cbc:TaxAmount", tax, currency)
        _category(subtotal, "cac:TaxCategory", invoice, category, rate)
    net = sign * (invoice.subtotal - invoice.discount_total)
    totals = _add(document, "cac:LegalMonetaryTotal")
    _money(totals, "cbc:LineExtensionAmount", net, currency)
    _money(totals, "cbc:TaxExclusiveAmount", net, currency)
    _money(totals, "cbc:TaxInclusiveAmount", sign * invoice.total, currency)
    prepaid = ZERO if credit else invoice.credit_applied
    if prepaid:
        _money(totals, "cbc:PrepaidAmount", prepaid, currency)
    due = sign * invoice.total if credit else invoice.amount_due
    _money(totals, "cbc:PayableAmount", due, currency)
    for line in invoice.lines:
        _line(document, root, invoice, line, sign)
    return bytes(
        etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )


def ubl_rule_errors(xml: bytes, number: str = "") -> list[str]:
    """The UBL 2.1 XSD errors, else the official EN 16931 and Peppol BIS 3.0 rules it breaks
    (warnings are logged against the invoice ``number``, not returned)."""
    document = etree.fromstring(xml)
    root = etree.QName(document).localname
    if root not in _ROOT:
        return [f"UBL: root element {root!r} is neither Invoice nor CreditNote"]
    schema = _schema(root)
    if not schema.validate(document):
        log: Any = schema.error_log
        return [f"UBL 2.1 XSD: {error.message} (line {error.line})" for error in log]
    return blocking_breaks(number, xml, RuleSet.EN16931_UBL, RuleSet.PEPPOL_UBL)


def check_ubl(number: str, xml: bytes) -> None:
    """Refuse UBL that breaks the XSD or an official rule; the message names each, with its
    text."""
    errors = ubl_rule_errors(xml, number)
    if errors:
        raise EInvoiceError(f"invoice {number}: Peppol UBL breaks {'; '.join(errors)}")
