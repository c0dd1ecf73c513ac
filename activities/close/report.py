"""One period's close, computed from the ledger: the roll-forward, the registers, the
exceptions and twelve months of aging, ready to be written out."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from activities.billing.tax import TaxTable
from activities.close import registers
from activities.close.checklist import Thresholds
from activities.close.exceptions import CloseException, exceptions_table, find_exceptions
from activities.close.model import CurrencyFigures
from activities.close.movements import CutOffs, Kind, ar_movements
from activities.close.rollforward import AgingHistory, RollForward, aging_history, roll_forward
from activities.close.tables import Table
from activities.ledger.periods import Period


@dataclass(frozen=True, slots=True)
class CloseReport:
    cut_offs: CutOffs
    roll_forward: tuple[RollForward, ...]
    aging: AgingHistory
    exceptions: tuple[CloseException, ...]
    tables: tuple[Table, ...]

    @property
    def period(self) -> Period:
        return self.cut_offs.period

    @property
    def blocking(self) -> tuple[CloseException, ...]:
        return tuple(e for e in self.exceptions if e.severity == "blocking")


def snapshot(session: Session) -> None:
    """Read the whole report from one snapshot of the ledger (PostgreSQL's default isolation
    would let each query see a different moment; SQLite reads one snapshot anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def closing_figures(session: Session, period: Period, timezone: str) -> tuple[RollForward, ...]:
    """The roll-forward alone: what a sign-off re-checks before it locks the period."""
    cut_offs = CutOffs.ending(period, timezone)
    return roll_forward(ar_movements(session, cut_offs), cut_offs)


def build_report(
    session: Session,
    period: Period,
    timezone: str,
    thresholds: Thresholds,
    tax_table: TaxTable,
) -> CloseReport:
    cut_offs = CutOffs.ending(period, timezone)
    movements = ar_movements(session, cut_offs)
    figures = roll_forward(movements, cut_offs)
    found = tuple(find_exceptions(session, cut_offs, figures, thresholds, tax_table))
    tables = (
        exceptions_table(found),
        registers.invoice_register(session, cut_offs),
        registers.invoice_lines(session, cut_offs),
        registers.cash_receipts(session, cut_offs),
        registers.cash_applications(session, cut_offs),
        registers.credit_notes(session, cut_offs),
        registers.refunds(session, cut_offs),
        registers.unapplied_cash(session, cut_offs),
        registers.usage_not_yet_billed(),
    )
    return CloseReport(cut_offs, figures, aging_history(movements, cut_offs), found, tables)


def currency_figures(rf: RollForward) -> CurrencyFigures:
    return CurrencyFigures(
        currency=rf.currency,
        opening=rf.opening,
        invoiced=rf.movement(Kind.INVOICED),
        account_credit=rf.movement(Kind.ACCOUNT_CREDIT),
        cash_applied=rf.movement(Kind.CASH),
        reversals=rf.movement(Kind.REVERSAL),
        credit_notes=rf.movement(Kind.CREDIT_NOTE),
        write_offs=rf.movement(Kind.WRITE_OFF),
        closing=rf.closing,
        closing_from_invoices=rf.closing_from_invoices,
        difference=rf.difference,
    )
