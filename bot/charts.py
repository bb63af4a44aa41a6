"""Price charts: small inline SVG for the web pages; a PNG for chat images and the admin product page
(matplotlib, Agg: the mid price with its low–high band); a text sparkline for channels without images.

A PNG chart is identified by its product, period, language and the exact points it shows
(`ChartData.key`), so an uploaded chart's media id is reused until the data changes or the media expires.
"""
from __future__ import annotations

import hashlib
import io
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Sequence

from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.market.catalog import ProductInfo
from bot.market.quotes import HistoryPoint, latest_price, price_history
from bot.models import ChartMedia, utcnow
from bot.market.units import Units
from bot.render import day_label

log = logging.getLogger(__name__)

# A phone shows a chat image about 390 CSS px wide; at 2× density that is 780 px. Sizes are in points at
# DPI 200, so 11 pt is 31 px in the PNG, 15 px on the screen (WeChat scales the image to the screen).
WIDTH, HEIGHT, DPI = 780, 560, 200
TEXT_PT, TITLE_PT = 11, 12
FONT_RECHECK_SECONDS = 60  # a font installed while the server runs is found within a minute
MEDIA_LIFETIME = timedelta(days=2, hours=12)  # temporary media lives 3 days; re-upload well before
SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 40  # characters: a phone screen's line
CJK_FONTS = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
             "Source Han Sans CN", "SimHei", "Microsoft YaHei", "PingFang SC", "AR PL UMing CN")
CJK_FILES = ("wqy-microhei", "wqy-zenhei", "notosanscjk", "notosanssc", "sourcehansans", "simhei", "msyh")
UP, DOWN, LINE = "#d33", "#1a8f3c", "#1a5fb4"


@dataclass(frozen=True)
class ChartData:
    """What a chart shows: one product's quotes of one series over the last `days` days."""

    product: ProductInfo
    days: int
    language: str
    unit: str
    source: str
    points: tuple[HistoryPoint, ...]
    units: Units = field(default_factory=Units, compare=False)  # how prices are shown

    @property
    def key(self) -> str:
        """Changes whenever anything drawn changes (a new or corrected quote, another language)."""
        # A Chinese chart drawn without a Chinese font (English titles) is another chart than one drawn with it.
        language = self.language if self.language != "zh" or cjk_font() is not None else "zh-nofont"
        digest = hashlib.sha256(repr((self.product.code, self.days, language, self.unit, self.source,
                                      [(p.date, p.low, p.high) for p in self.points])).encode()).hexdigest()
        return f"chart:{self.product.code}:{self.days}:{self.language}:{digest[:16]}"

    @property
    def first(self) -> date:
        return self.points[0].date

    @property
    def last(self) -> date:
        return self.points[-1].date


def chart_data(session: Session, product: ProductInfo, days: int, today: date, language: str,
               units: Units | None = None) -> ChartData | None:
    """The last `days` days of the product's current series (ending at its latest quote), or None without quotes."""
    view = latest_price(session, product, today)
    if view is None:
        return None
    start = view.date - timedelta(days=days)
    points = [p for p in price_history(session, view, limit=days + 1) if p.date > start]
    return ChartData(product, days, language, view.unit, view.source, tuple(points), units or Units())


def period(data: ChartData, language: str) -> str:
    """The period the points really cover: '3月3日–6月11日（68个报价）' or '3 Mar – 11 Jun 2025 (68 quotes)'."""
    first, last, n = data.first, data.last, len(data.points)
    if language == "zh":
        year = f"{last.year}年" if first.year == last.year else ""
        start = f"{first.year}年{day_label(first, 'zh')}" if first.year != last.year else day_label(first, "zh")
        return f"{year}{start}–{day_label(last, 'zh')}（{n}个报价）"
    start = day_label(first, "en") + (f" {first.year}" if first.year != last.year else "")
    return f"{start} – {day_label(last, 'en')} {last.year} ({n} quotes)"


def title(data: ChartData, language: str) -> str:
    shown = data.units.of(data.product.code, data.unit, language)
    if language == "zh":
        return f"{data.product.name('zh')} 均价走势（{shown.label}）\n{period(data, 'zh')}"
    return f"{data.product.name('en')} mid price ({shown.label})\n{period(data, 'en')}"


_font: tuple[float, object] | None = None  # (when looked for, FontProperties or None)


def cjk_font():
    """A font with Chinese glyphs among the installed ones (FontProperties), or None; looked for again
    (at most once a minute) while there is none, so installing one needs no restart."""
    global _font
    if _font is not None and (_font[1] is not None or time.monotonic() - _font[0] < FONT_RECHECK_SECONDS):
        return _font[1]
    found = _find_cjk_font(rescan=_font is not None)
    if found is None and (_font is None or _font[1] is not None):
        log.warning("charts: no Chinese font installed (e.g. Debian's fonts-wqy-microhei): "
                    "Chinese charts get English titles until one is")
    _font = (time.monotonic(), found)
    return found


def _find_cjk_font(rescan: bool = False):
    from matplotlib import font_manager

    installed = {f.name: f.fname for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed and Path(installed[name]).exists():
            return font_manager.FontProperties(fname=installed[name])
    # matplotlib lists fonts once per installation: a font installed after that is found by its file.
    for path in sorted(font_manager.findSystemFonts()):
        if any(part in path.lower() for part in CJK_FILES):
            font_manager.fontManager.addfont(path)  # known by its name from now on (tick labels use it)
            return font_manager.FontProperties(fname=path)
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


def axis_label(value: float, shown, language: str) -> str:
    """A price label on a chart: '720万' in Chinese, '7.07M' / '449k' in English."""
    if shown.suffix:
        return shown.figure(value) + shown.suffix
    if shown.factor != 1 or value < 10000:
        return shown.figure(value)
    return f"{value / 1e6:.3g}M" if value >= 1e6 else f"{value / 1e3:.3g}k"


def render_png(data: ChartData, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """The chart as a PNG for a phone: mid line, low–high band, the last price labelled, in the chart's language."""
    import matplotlib

    font = cjk_font() if data.language == "zh" else None
    families = ([font.get_name()] if font is not None else []) + ["DejaVu Sans"]
    with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": families, "font.size": TEXT_PT}):
        return _draw(data, "zh" if font is not None else "en", width, height)


def date_ticks(days: list[date], most: int = 4) -> list[date]:
    """At most `most` dates to label: first days of months when the period spans two or more, else the
    first, middle and last quote; never so many that the labels touch on a phone."""
    if len(days) < 3:
        return days
    months = [date(y, m, 1) for y, m in sorted({(d.year, d.month) for d in days}) if date(y, m, 1) >= days[0]]
    if len(months) >= 2:
        step = -(-len(months) // most)
        return months[::step]
    return [days[0], days[len(days) // 2], days[-1]]


def _draw(data: ChartData, language: str, width: int, height: int) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import num2date
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    shown = data.units.of(data.product.code, data.unit, language)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    days = [p.date for p in data.points]
    mids = [float(p.mid) for p in data.points]
    ax.fill_between(days, [float(p.low) for p in data.points], [float(p.high) for p in data.points],
                    color=LINE, alpha=0.2, linewidth=0, label="最低–最高" if language == "zh" else "low–high")
    ax.plot(days, mids, color=LINE, linewidth=1.6, marker="o" if len(days) < 3 else None,
            label="均价" if language == "zh" else "mid")
    ax.set_title(title(data, language), fontsize=TITLE_PT, loc="left", pad=22)
    # The legend above the plot, under the title: never over the data.
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, frameon=False,
              borderaxespad=0.1, handlelength=1.2, columnspacing=1)
    ax.set_xticks(date_ticks(days))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: day_label(num2date(x).date(), language)))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: axis_label(v, shown, language)))
    ax.tick_params(labelsize=TEXT_PT, length=3)
    ax.grid(True, alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    last = data.points[-1]
    change = mids[-1] - mids[0]
    # The last price beside its point, in the right margin: red up, green down over the period.
    ax.annotate(axis_label(float(last.mid), shown, language), (days[-1], mids[-1]), xytext=(5, 0),
                textcoords="offset points", ha="left", va="center", fontsize=TEXT_PT, annotation_clip=False,
                color=UP if change > 0 else DOWN if change < 0 else LINE)
    ax.plot([days[-1]], [mids[-1]], "o", color=LINE, markersize=4)
    ax.margins(x=0.01, y=0.15)
    # The source on the legend's line, at the right: clear of the data and of the date labels.
    fig.text(0.97, 0.755, ("来源：" if language == "zh" else "source: ") + data.source, ha="right", va="bottom",
             fontsize=TEXT_PT - 1, color="#777")
    fig.subplots_adjust(left=0.16, right=0.83, top=0.74, bottom=0.12)
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


def band_chart(points: Sequence[HistoryPoint], title: str, label=str, day=str) -> Markup:
    """The low–high band (shaded) and the mid line of `points`, with the extremes and the dates labelled
    (`label` formats a price, `day` a date)."""
    if not points:
        return Markup("")
    width, height, left, top, plot_w, plot_h = 600, 250, 118, 16, 470, 180
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
        f'<text x="{left - 10}" y="{top + 8}" text-anchor="end">{escape(label(high))}</text>'
        f'<text x="{left - 10}" y="{bottom + 8}" text-anchor="end">{escape(label(low))}</text>'
        f'<text x="{left}" y="{height - 8}">{escape(day(points[0].date))}</text>'
        f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end">{escape(day(points[-1].date))}</text>'
        "</svg>"
    )
    return Markup(svg)


def spark_scale(series: Sequence[Sequence[HistoryPoint]]) -> Decimal:
    """The shared vertical scale of a group of sparklines: the largest move (in % of each series' first mid)
    of any of them, at least 1 %, so a 0.3 % wiggle looks small beside a 5 % move."""
    moves = [abs(p.mid / points[0].mid - 1) * 100 for points in series if len(points) > 1 and points[0].mid
             for p in points]
    return max([Decimal(1), *moves])


def sparkline(points: Sequence[HistoryPoint], scale: Decimal) -> Markup:
    """A tiny mid-price line for a list row: the change from the first point, ±`scale` % over the height."""
    if len(points) < 2 or not points[0].mid:
        return Markup("")
    width, height = 80, 28
    step = (width - 2) / (len(points) - 1)
    base = points[0].mid

    def y(point: HistoryPoint) -> str:
        pct = (point.mid / base - 1) * 100
        return f"{height / 2 - float(pct / scale) * (height / 2 - 2):.1f}"

    line = " ".join(f"{1 + i * step:.1f},{y(p)}" for i, p in enumerate(points))
    kind = "up" if points[-1].mid > base else "down" if points[-1].mid < base else "flat"
    return Markup(f'<svg class="spark {kind}" viewBox="0 0 {width} {height}" aria-hidden="true" '
                  f'xmlns="http://www.w3.org/2000/svg"><line x1="0" y1="{height / 2}" x2="{width}" '
                  f'y2="{height / 2}" class="base"/><polyline points="{line}"/></svg>')
