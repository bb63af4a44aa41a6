"""Price charts: small inline SVG for the web pages; a PNG for chat images and the admin product page
(matplotlib, Agg: the mid price with its low–high band); a text sparkline for channels without images.

A PNG chart is identified by its product, period, language and the exact points it shows
(`ChartData.key`), so an uploaded chart's media id is reused until the data changes or the media expires.
"""
from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Sequence

from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.market.catalog import ProductInfo
from bot.market.quotes import HistoryPoint, latest_price, price_history
from bot.models import ChartMedia, utcnow
from bot.render import number, unit_label

log = logging.getLogger(__name__)

WIDTH, HEIGHT, DPI = 800, 480, 100  # pixels of every chart
MEDIA_LIFETIME = timedelta(days=2, hours=12)  # temporary media lives 3 days; re-upload well before
SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 40  # characters: a phone screen's line
CJK_FONTS = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
             "Source Han Sans CN", "SimHei", "Microsoft YaHei", "PingFang SC", "AR PL UMing CN")
CJK_FILES = ("wqy-microhei", "wqy-zenhei", "notosanscjk", "notosanssc", "sourcehansans", "simhei", "msyh")


@dataclass(frozen=True)
class ChartData:
    """What a chart shows: one product's quotes of one series over the last `days` days."""

    product: ProductInfo
    days: int
    language: str
    unit: str
    source: str
    points: tuple[HistoryPoint, ...]

    @property
    def key(self) -> str:
        """Changes whenever anything drawn changes (a new or corrected quote, another language)."""
        digest = hashlib.sha256(repr((self.product.code, self.days, self.language, self.unit, self.source,
                                      [(p.date, p.low, p.high) for p in self.points])).encode()).hexdigest()
        return f"chart:{self.product.code}:{self.days}:{self.language}:{digest[:16]}"

    @property
    def first(self) -> date:
        return self.points[0].date

    @property
    def last(self) -> date:
        return self.points[-1].date


def chart_data(session: Session, product: ProductInfo, days: int, today: date, language: str) -> ChartData | None:
    """The last `days` days of the product's current series (ending at its latest quote), or None without quotes."""
    view = latest_price(session, product, today)
    if view is None:
        return None
    start = view.date - timedelta(days=days)
    points = [p for p in price_history(session, view, limit=days + 1) if p.date > start]
    return ChartData(product, days, language, view.unit, view.source, tuple(points))


def title(data: ChartData, language: str) -> str:
    unit = unit_label(data.unit, language)
    if language == "zh":
        return (f"{data.product.name('zh')}（{data.product.code}）近{data.days}天均价走势\n"
                f"单位：{unit} · 来源：{data.source} · {data.first} 至 {data.last}")
    return (f"{data.product.name('en')} ({data.product.code}) · mid price, last {data.days} days\n"
            f"{unit} · source: {data.source} · {data.first} – {data.last}")


@lru_cache(maxsize=1)
def cjk_font():
    """A font with Chinese glyphs among the installed ones (FontProperties), or None."""
    from matplotlib import font_manager

    installed = {f.name: f.fname for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            return font_manager.FontProperties(fname=installed[name])
    # matplotlib lists fonts once per installation: a font installed after that is found by its file.
    for path in sorted(font_manager.findSystemFonts()):
        if any(part in path.lower() for part in CJK_FILES):
            return font_manager.FontProperties(fname=path)
    log.warning("charts: no Chinese font installed (e.g. Debian's fonts-wqy-microhei): "
                "Chinese charts get English titles")
    return None


def warm_up() -> None:
    """Load matplotlib and the fonts before the first chart is asked for: on a cold process that takes
    seconds, which the first `trend` answer would otherwise spend out of its 5-second reply budget."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(2, 1), dpi=50)
        FigureCanvasAgg(fig)
        font = cjk_font()
        fig.add_subplot().set_title("走势 trend" if font else "trend", fontproperties=font)
        fig.canvas.draw()
    except Exception:  # the first chart will just be slower
        log.exception("charts: warming up matplotlib failed")


def render_png(data: ChartData) -> bytes:
    """The chart as a WIDTH × HEIGHT PNG: mid line, low–high band, title in the chart's language."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    font = cjk_font() if data.language == "zh" else None
    language = "zh" if font is not None else "en"
    fig = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    days = [p.date for p in data.points]
    ax.fill_between(days, [float(p.low) for p in data.points], [float(p.high) for p in data.points],
                    color="#1f77b4", alpha=0.2, linewidth=0, label="区间" if language == "zh" else "low–high")
    ax.plot(days, [float(p.mid) for p in data.points], color="#1f77b4", linewidth=2,
            marker="o" if len(days) < 3 else None, label="均价" if language == "zh" else "mid")
    ax.set_title(title(data, language), fontproperties=font, fontsize=12, loc="left")
    locator = AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.0f}"))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", prop=font, frameon=False)
    fig.subplots_adjust(left=0.12, right=0.97, top=0.85, bottom=0.1)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def text_sparkline(values: list[Decimal], width: int = SPARK_WIDTH) -> str:
    """▁▂▃▄▅▆▇█ for `values`, averaged down to at most `width` characters."""
    if not values:
        return ""
    if len(values) > width:
        size = len(values) / width
        values = [sum(chunk) / len(chunk) for chunk in
                  (values[int(i * size):max(int((i + 1) * size), int(i * size) + 1)] for i in range(width))]
    low, high = min(values), max(values)
    span = high - low
    if not span:
        return SPARK[3] * len(values)
    return "".join(SPARK[min(int((v - low) / span * len(SPARK)), len(SPARK) - 1)] for v in values)


def summary(data: ChartData) -> dict:
    """The figures the text version shows: sparkline, min, max, change."""
    mids = [p.mid for p in data.points]
    first, last = mids[0], mids[-1]
    return {"spark": text_sparkline(mids), "min": min(mids), "max": max(mids), "first": first, "last": last,
            "change": last - first, "change_pct": (last - first) / first * 100 if first else None}


def media_id(db, client, data: ChartData) -> str:
    """The media id of the chart on `client`'s account: reused while the data is the same, else uploaded."""
    key = f"{client.tokens.name}:{data.key}"[:200]
    now = utcnow()
    with db.session() as session:
        cached = session.scalar(select(ChartMedia).where(ChartMedia.key == key, ChartMedia.expires_at > now))
        if cached is not None:
            return cached.media_id
    uploaded = client.upload_media("image", f"{data.product.code}-{data.days}d.png", render_png(data))
    with db.session() as session:
        session.merge(ChartMedia(key=key, media_id=uploaded, expires_at=now + MEDIA_LIFETIME))
    return uploaded


def attach_image(db, client, reply, session: Session | None = None):
    """`reply` with the media id of its chart on `client`'s account, or as it is (the text version goes out)
    when there is no chart, no API client, or the upload failed.

    `session`, the answer's transaction, is committed first: a chart answer changes nothing but the sender's
    last-seen time, and the upload writes the shared token and the media id (SQLite has one writer)."""
    if reply.chart is None or client is None:
        return reply
    if session is not None:
        session.commit()
    try:
        return replace(reply, media_id=media_id(db, client, reply.chart))
    except Exception as exc:  # an image is a nicety: the sparkline text still answers
        log.warning("charts: could not upload the chart, sending its text version: %s", exc)
        return reply


# ----- inline SVG (the /m/ pages) ---------------------------------------------------------------------
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
