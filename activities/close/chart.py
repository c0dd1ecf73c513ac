"""The picture of the close: AR by aging bucket at each of the last twelve month-ends.

One panel per currency (amounts in different currencies are never added),
stacked bars from current to the oldest bucket. Amounts become floats here
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


def write_chart(report: CloseReport, path: Path) -> None:
    """Render with the Agg canvas on a figure of our own: no pyplot state, so it is safe in
    the worker's activity threads and needs no display."""
    figure = aging_chart(report)
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png")


def aging_chart(report: CloseReport) -> Figure:
    history = report.aging
    months = [f"{p.year % 100:02d}-{p.month:02d}" for p in report.cut_offs.periods]
    labels = [b.label for b in history.at_cut_off.buckets]
    currencies = sorted({row.currency for aged in history.reports for row in aged.totals})
    panels = max(len(currencies), 1)
    figure = Figure(figsize=(10, 2.8 * panels + 0.8), dpi=110, layout="constrained")
    axes = figure.subplots(panels, 1, squeeze=False)
    figure.suptitle(f"AR by aging bucket, 12 month-ends to {report.period}")
    if not currencies:
        axes[0][0].text(0.5, 0.5, "No receivables in these twelve months", ha="center")
        axes[0][0].set_axis_off()
        return figure
    for axis, currency in zip((row[0] for row in axes), currencies, strict=False):
        bottoms = [0.0] * len(months)
        for colour, label in zip(COLOURS, labels, strict=False):
            heights = [
                float(next((r.amounts[label] for r in aged.totals if r.currency == currency), ZERO))
                for aged in history.reports
            ]
            axis.bar(months, heights, bottom=bottoms, color=colour, label=label)
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        axis.set_ylabel(f"AR ({currency})")
        axis.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        axis.grid(axis="y", alpha=0.3)
    axes[0][0].legend(title="days past due", loc="upper left", fontsize="small", ncols=len(labels))
    return figure
