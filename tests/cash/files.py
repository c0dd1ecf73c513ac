"""Statement files as banks write them, built from lines: camt.053 XML, BAI2 and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape

CAMT_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


@dataclass(frozen=True, slots=True)
class BankLine:
    reference: str
    amount: Decimal
    currency: str
    payer_name: str = ""
    payer_account: str = ""
    remittance: str = ""
    booked_on: date = date(2026, 11, 2)
    debit: bool = False


def camt053(lines: Sequence[BankLine], statement_id: str = "STMT-1", ns: str = CAMT_NS) -> bytes:
    entries = []
    for line in lines:
        entries.append(
            f"""
      <Ntry>
        <Amt Ccy="{line.currency}">{line.amount}</Amt>
        <CdtDbtInd>{"DBIT" if line.debit else "CRDT"}</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>{line.booked_on.isoformat()}</Dt></BookgDt>
        <ValDt><Dt>{line.booked_on.isoformat()}</Dt></ValDt>
        <AcctSvcrRef>{escape(line.reference)}</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd></Domn></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><AcctSvcrRef>{escape(line.reference)}</AcctSvcrRef></Refs>
          <RltdPties>
            <Dbtr><Nm>{escape(line.payer_name)}</Nm></Dbtr>
            <DbtrAcct><Id><IBAN>{escape(line.payer_account)}</IBAN></Id></DbtrAcct>
          </RltdPties>
          <RmtInf><Ustrd>{escape(line.remittance)}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>"""
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{ns}">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>MSG-{statement_id}</MsgId><CreDtTm>2026-11-02T18:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>{statement_id}</Id>
      <CreDtTm>2026-11-02T18:00:00</CreDtTm>
      <Acct><Id><IBAN>DE02100100100006820101</IBAN></Id><Ccy>EUR</Ccy></Acct>
      {"".join(entries)}
    </Stmt>
  </BkToCstmrStmt>
</Document>
""".encode()


def bai2(lines: Sequence[BankLine], account: str = "0001234567") -> str:
    """One group, one account; credits as type 195 (incoming wire), debits as 495."""
    records = []
    total = 0
    for line in lines:
        cents = int(line.amount * 100)
        total += cents
        text = f"ORIG={line.payer_name}; ACCT={line.payer_account}; RMT={line.remittance}"
        records.append(f"16,{'495' if line.debit else '195'},{cents},Z,{line.reference},,{text}/")
    currency = lines[0].currency if lines else "USD"
    body = [
        f"03,{account},{currency},010,0,,/",
        *records,
        f"49,{total},{len(records) + 2}/",
    ]
    return "\n".join(
        [
            "01,BANKID,OURCO,261102,1800,1,,,2/",
            f"02,OURCO,BANKID,1,261102,1800,{currency},2/",
            *body,
            f"98,{total},1,{len(body) + 2}/",
            f"99,{total},1,{len(body) + 4}/",
        ]
    )


def csv_export(lines: Sequence[BankLine]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "Reference",
            "Booking date",
            "Amount",
            "Currency",
            "Counterparty",
            "Counterparty account",
            "Description",
        ]
    )
    for line in lines:
        amount = -line.amount if line.debit else line.amount
        writer.writerow(
            [
                line.reference,
                line.booked_on.isoformat(),
                str(amount),
                line.currency,
                line.payer_name,
                line.payer_account,
                line.remittance,
            ]
        )
    return out.getvalue()
