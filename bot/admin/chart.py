"""A price history as an inline SVG line chart: no script, no external library, readable on a phone."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

WIDTH, HEIGHT, PAD = 600, 220, 24


@dataclass(frozen=True)
class Chart:
    points: str  # the polyline's "x,y x,y …"
    low: Decimal
    high: Decimal
    first: date
    last: date
    width: int = WIDTH
    height: int = HEIGHT


def line_chart(series: list[tuple[date, Decimal]]) -> Chart | None:
    """The chart of (day, value) pairs in date order; None for fewer than two points."""
    if len(series) < 2:
        return None
    values = [v for _d, v in series]
    low, high = min(values), max(values)
    span = (high - low) or Decimal(1)
    days = (series[-1][0] - series[0][0]).days or 1
    coords = []
    for day, value in series:
        x = PAD + (WIDTH - 2 * PAD) * (day - series[0][0]).days / days
        y = HEIGHT - PAD - float((value - low) / span) * (HEIGHT - 2 * PAD)
        coords.append(f"{x:.1f},{y:.1f}")
    return Chart(" ".join(coords), low, high, series[0][0], series[-1][0])
