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


def test_the_mix_holds_issue_15s_fields() -> None:
    """Periods of several months, plans in arrears and add-ons with their own quantity
    are a small share of the run, so the figure pays for them."""
    subscriptions = [job.subscription for job in make_jobs(2_000, seed=7)]
    several = sum(sub.interval_count > 1 for sub in subscriptions)
    arrears = sum(sub.plan.in_arrears for sub in subscriptions)
    own = sum(bool(sub.addon_quantities) for sub in subscriptions)
    for share in (several, arrears, own):
        assert 10 <= share <= 120, (several, arrears, own)
