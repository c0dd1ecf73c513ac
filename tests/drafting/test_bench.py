"""The drafting benchmark runs and reports what the stricter rules cost (held, replaced, why)."""

from __future__ import annotations

import logging

from bench.drafting import AUTO_SEND, FIRST_TRY_ERRORS, run


def test_the_benchmark_reports_held_drafts_and_unreviewed_replies_per_category() -> None:
    logging.getLogger("billing_ops.drafting").setLevel(logging.ERROR)
    figures = run()
    assert figures["wrong_figures_caught"] == figures["wrong_figures_injected"]
    assert figures["wrong_figures_injected"] == len(FIRST_TRY_ERRORS)
    assert figures["held_for_a_person"] + figures["may_go_out_alone"] == figures["tasks"]
    assert 0 < figures["share_held_for_a_person"] < 1
    assert "held: the model's own words" in figures["why"]
    week = figures["week_unreviewed_by_category"]
    assert sum(c["tickets"] for c in week.values()) == 70
    for category, counts in week.items():
        if category not in AUTO_SEND:
            assert counts["unreviewed"] == 0, category
    assert sum(week[c]["unreviewed"] for c in AUTO_SEND) > 0
