"""The picture of the close: AR by aging bucket at each of the last twelve month-ends.

One panel per currency (amounts in different currencies are never added),
stacked bars from current to the oldest bucket, only for the month-ends that
hold any AR, the legend outside the panels. Amounts become floats here
and only here: they are pixels, not money.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from activities.billing.money import ZERO
from activities.close.report import CloseReport

#: From current (calm) to the oldest bucket (alarming).
COLOURS = ("#4c956c", "#a7c957", "#f2c14e", "#f78154", "#b5443b", "#6d2e46")
#: Room above the tallest bar, so it never touches the frame.
HEADROOM = 1.15


def write_chart(report: CloseReport, path: Path) -> None:
    """Render with the Agg canvas on a figure of our own: no pyplot state, so it is safe in
    the worker's activity threads and needs no display."""
    figure = aging_chart(report)
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png")


def aging_chart(report: CloseReport) -> Figure:
    history = report.aging
    labels = [b.label for b in history.at_cut_off.buckets]
    currencies = sorted({row.currency for aged in history.reports for row in aged.totals})
    # Only the month-ends that hold any AR: a new ledger's empty months would crowd the bars.
    shown = [
        (f"{period.year % 100:02d}-{period.month:02d}", aged)
        for period, aged in zip(report.cut_offs.periods, history.reports, strict=True)
        if any(row.total for row in aged.totals)
    ]
    months = [month for month, _ in shown]
    panels = max(len(currencies), 1)
    figure = Figure(figsize=(10, 2.6 * panels + 1.0), dpi=110, layout="constrained")
    axes = figure.subplots(panels, 1, squeeze=False)
    figure.suptitle(f"AR by aging bucket at each month-end with AR, up to {report.period}")
    if not currencies:
        axes[0][0].text(0.5, 0.5, "No receivables in these twelve months", ha="center")
        axes[0][0].set_axis_off()
        return figure
    for axis, currency in zip((row[0] for row in axes), currencies, strict=False):
        bottoms = [0.0] * len(months)
        for colour, label in zip(COLOURS, labels, strict=False):
            heights = [
                float(next((r.amounts[label] for r in aged.totals if r.currency == currency), ZERO))
                for _, aged in shown
            ]
            axis.bar(months, heights, bottom=bottoms, color=colour, label=label)
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        axis.set_ylim(0, max(max(bottoms), 1.0) * HEADROOM)
        axis.set_ylabel(f"AR ({currency})")
        axis.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        axis.grid(axis="y", alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    # Outside the panels, so no bar is ever hidden behind it; oldest bucket on top, as stacked.
    figure.legend(
        handles[::-1],
        names[::-1],
        title="days past due",
        loc="outside right upper",
        fontsize="small",
    )
    return figure
