"""The bill-run benchmark's generator and loop stay runnable (a small run, not a timing)."""

from __future__ import annotations

from bench.bill_run import bill_run, make_jobs


def test_a_small_bill_run_prices_every_subscription() -> None:
    jobs = make_jobs(300, seed=1)
    drafts = list(bill_run(jobs))
    assert len(drafts) == 300
    assert all(
        draft.total == draft.subtotal - draft.discount_total + draft.tax_total for draft in drafts
    )
    assert sum(len(draft.lines) for draft in drafts) > 600
