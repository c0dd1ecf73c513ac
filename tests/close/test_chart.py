"""The aging chart shows the month-ends that hold AR, keeps its legend off the bars and leaves
room above the tallest bar (issue 18: 9 of 12 months empty, legend over a panel, bars touching
the top)."""

from __future__ import annotations

from collections.abc import Callable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from sqlalchemy.orm import Session, sessionmaker

from activities.close.chart import aging_chart
from activities.close.report import CloseReport

BUCKETS_OLDEST_FIRST = ["90+", "61-90", "31-60", "1-30", "current"]

Report = Callable[[sessionmaker[Session], str], CloseReport]


def test_only_months_with_ar_legend_outside_room_above(
    sqlite_book: sessionmaker[Session], close_report: Report
) -> None:
    figure = aging_chart(close_report(sqlite_book, "2026-11"))
    panels = figure.get_axes()
    assert [a.get_ylabel() for a in panels] == ["AR (EUR)", "AR (JPY)", "AR (USD)"]
    for axis in panels:
        # the book's AR starts in September 2026: the nine empty month-ends before are left out
        assert [t.get_text() for t in axis.get_xticklabels()] == ["26-09", "26-10", "26-11"]
        assert axis.get_legend() is None
        tallest = axis.dataLim.y1  # the top of the highest stack
        assert tallest > 0
        assert axis.get_ylim()[1] >= tallest * 1.1, axis.get_ylabel()
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == BUCKETS_OLDEST_FIRST
    FigureCanvasAgg(figure)
    figure.draw_without_rendering()  # the layout puts the legend right of every panel
    right_of_panels = max(a.get_window_extent().x1 for a in panels)
    assert legend.get_window_extent().x0 >= right_of_panels
