"""A benchmark's figure beside the floor of the same work, measured in the same run.

On a shared machine an absolute figure moves with the neighbours; the ratio of
the product to the floor of its own work, both measured in one run, is the
figure that compares across runs. Each benchmark module that has a floor
exposes ``bench_rows() -> list[Row]``; ``python -m bench`` prints them all.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One product figure and its floor, in the same unit; ``goal`` is the ratio to reach."""

    work: str
    product: float
    floor: float
    unit: str
    goal: float
    #: Rates (invoices/s) are better higher: their ratio is floor / product.
    higher_is_better: bool = False
    #: A ratio measured otherwise than as product over floor (the median of per-round ratios).
    measured_ratio: float | None = None

    @property
    def ratio(self) -> float:
        if self.measured_ratio is not None:
            return self.measured_ratio
        if self.higher_is_better:
            return self.floor / self.product
        return self.product / self.floor

    @property
    def met(self) -> bool:
        return self.ratio <= self.goal


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table: work, product, floor, ratio, goal."""
    lines = ["| work | product | floor | ratio | goal |", "|---|---|---|---|---|"]
    for row in rows:
        verdict = "met" if row.met else "NOT met"
        lines.append(
            f"| {row.work} | {row.product:,.1f} {row.unit} | {row.floor:,.1f} {row.unit} | "
            f"**{row.ratio:.2f}x** | {row.goal:g}x ({verdict}) |"
        )
    return "\n".join(lines)
