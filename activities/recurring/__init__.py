"""Recurring billing: subscription changes as a ledger record, usage metering, the bill run."""
