"""Small inline SVG charts of a price history: no script, no external file, a few hundred bytes."""
from __future__ import annotations

from decimal import Decimal
from typing import Sequence

from markupsafe import Markup, escape

from bot.market.quotes import HistoryPoint
from bot.render import number


def _scale(points: Sequence[HistoryPoint], left: float, top: float, width: float, height: float):
    """Functions mapping an index and a price to SVG coordinates."""
    low = min(p.low for p in points)
    high = max(p.high for p in points)
    span = high - low or Decimal(1)
    step = width / max(len(points) - 1, 1)

    def x(i: int) -> str:
        return f"{left + i * step:.1f}"

    def y(value: Decimal) -> str:
        if high == low:
            return f"{top + height / 2:.1f}"
        return f"{top + float((high - value) / span) * height:.1f}"

    return x, y, low, high


def band_chart(points: Sequence[HistoryPoint], title: str) -> Markup:
    """The low–high band (shaded) and the mid line of `points`, with the extremes and the dates labelled."""
    if not points:
        return Markup("")
    width, height, left, top, plot_w, plot_h = 600, 240, 112, 14, 478, 180
    x, y, low, high = _scale(points, left, top, plot_w, plot_h)
    upper = [f"{x(i)},{y(p.high)}" for i, p in enumerate(points)]
    lower = [f"{x(i)},{y(p.low)}" for i, p in reversed(list(enumerate(points)))]
    mid = " ".join(f"{x(i)},{y(p.mid)}" for i, p in enumerate(points))
    bottom = top + plot_h
    svg = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{left}" y1="{top}" x2="{left + plot_w}" y2="{top}" class="grid"/>'
        f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" class="grid"/>'
        f'<polygon class="band" points="{" ".join(upper + lower)}"/>'
        f'<polyline class="mid" points="{mid}"/>'
        f'<text x="{left - 8}" y="{top + 7}" text-anchor="end">{number(high)}</text>'
        f'<text x="{left - 8}" y="{bottom + 7}" text-anchor="end">{number(low)}</text>'
        f'<text x="{left}" y="{height - 6}">{points[0].date}</text>'
        f'<text x="{left + plot_w}" y="{height - 6}" text-anchor="end">{points[-1].date}</text>'
        "</svg>"
    )
    return Markup(svg)


def sparkline(points: Sequence[HistoryPoint]) -> Markup:
    """A tiny mid-price line for a table cell."""
    if len(points) < 2:
        return Markup("")
    x, y, _low, _high = _scale(points, 1, 2, 78, 20)
    line = " ".join(f"{x(i)},{y(p.mid)}" for i, p in enumerate(points))
    return Markup(f'<svg class="spark" viewBox="0 0 80 24" aria-hidden="true" xmlns="http://www.w3.org/2000/svg">'
                  f'<polyline points="{line}"/></svg>')
