"""The day's market summary as traders read it at 17:30: the report's tone, movers first (largest |%|),
each with level, day change and week change, then the unchanged products, then short news titles."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ingest.sources import DEFAULT_REPORT_TITLES
from bot.market.catalog import ProductInfo
from bot.market.quotes import PriceView, latest_price, newest_news
from bot.models import NewsItem, PriceQuote

REPORT_TITLE = re.compile("|".join(DEFAULT_REPORT_TITLES), re.I)
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SENTENCE = re.compile(r"(?<=[。！？；])|(?<=[.!?;])\s+")
_FIGURE = re.compile(r"\d")
TONE_CHARS = {"zh": 60, "en": 160}
TITLE_CHARS = {"zh": 24, "en": 56}  # a news title (by its script) as about a line on a phone


@dataclass(frozen=True)
class Row:
    """One product of the summary: its latest quote and its change over a week."""

    product: ProductInfo
    view: PriceView | None
    week_change: Decimal | None = None
    week_pct: Decimal | None = None

    @property
    def moved(self) -> bool:
        return self.view is not None and bool(self.view.change)

    @property
    def order(self) -> Decimal:
        return abs(self.view.change_pct or 0) if self.view else Decimal(0)


@dataclass(frozen=True)
class NewsLine:
    title: str  # short: one line on a phone
    url: str


@dataclass(frozen=True)
class Summary:
    """The market summary of a day."""

    date: date
    rows: list[Row]  # movers by |%| first, then unchanged, then products without a quote
    tone: str = ""  # the report's words about the market, or ""
    news: list[NewsLine] = field(default_factory=list)

    @property
    def movers(self) -> list[Row]:
        return [r for r in self.rows if r.moved]

    @property
    def unchanged(self) -> list[Row]:
        return [r for r in self.rows if r.view is not None and not r.moved]

    @property
    def missing(self) -> list[Row]:
        return [r for r in self.rows if r.view is None]

    @property
    def quote_date(self) -> date | None:
        """The newest quote date among the rows."""
        return max((r.view.date for r in self.rows if r.view), default=None)

    @property
    def fresh(self) -> bool:
        return self.quote_date == self.date

    @property
    def ups(self) -> int:
        return sum(1 for r in self.movers if r.view.change > 0)

    @property
    def downs(self) -> int:
        return sum(1 for r in self.movers if r.view.change < 0)


def week_change(session: Session, view: PriceView) -> tuple[Decimal | None, Decimal | None]:
    """The change of the mid price since the last quote a week (7 days) or more before `view`'s."""
    before = session.execute(
        select(PriceQuote.low, PriceQuote.high)
        .where(PriceQuote.product_code == view.product.code, PriceQuote.source == view.source,
               PriceQuote.unit == view.unit, PriceQuote.date <= view.date - timedelta(days=7))
        .order_by(PriceQuote.date.desc()).limit(1)).first()
    if before is None:
        return None, None
    mid = (before.low + before.high) / 2
    change = view.mid - mid
    return change, (change / mid * 100 if mid else None)


def build_summary(session: Session, products: list[ProductInfo], day: date, language: str = "zh",
                  news_count: int = 3, zone: ZoneInfo | None = None) -> Summary:
    """The summary of `day` for `products` in `language` (which news titles and tone to prefer)."""
    rows = []
    for product in products:
        view = latest_price(session, product, day)
        rows.append(Row(product, view, *(week_change(session, view) if view else (None, None))))
    movers = sorted((r for r in rows if r.moved), key=lambda r: r.order, reverse=True)
    rest = [r for r in rows if not r.moved and r.view is not None] + [r for r in rows if r.view is None]
    zone = zone or ZoneInfo("Asia/Shanghai")
    end = _utc_end_of(day, zone)
    news = [] if not news_count else _news(session, language, news_count, end)
    quoted = max((r.view.date for r in rows if r.view), default=day)  # the tone of the prices shown
    return Summary(day, movers + rest, market_tone(session, language, _utc_end_of(quoted, zone)), news)


def _news(session: Session, language: str, count: int, before: datetime) -> list[NewsLine]:
    """The newest visible items up to `before`, those titled in `language` first, titles shortened."""
    items = newest_news(session, count * 4, before=before)  # visible, http(s) links only
    items.sort(key=lambda n: in_language(n.title, language), reverse=True)  # stable: newest first within each
    return [NewsLine(short(n.title, TITLE_CHARS["zh" if _CJK.search(n.title) else "en"]), n.url)
            for n in items[:count]]


def market_tone(session: Session, language: str, before: datetime) -> str:
    """What the day's report in `language` (the day ending at `before`) says of the market before its prices ("平稳运行，窄幅波动…"), or ""."""
    start = before - timedelta(days=1)
    reports = [n for n in session.scalars(select(NewsItem).where(NewsItem.published_at >= start,
                                                                  NewsItem.published_at < before))
               if REPORT_TITLE.search(n.title) and in_language(n.summary, language) and tone_of(n.summary)]
    # Only in the reader's language: a line in the other one at the top of a push reads as noise.
    return short(tone_of(reports[0].summary), TONE_CHARS[language]) if reports else ""


def tone_of(text: str) -> str:
    """The sentences of a report before the first one with a figure in it."""
    kept = []
    for sentence in _SENTENCE.split(text.strip()):
        if not sentence.strip() or _FIGURE.search(sentence):
            break
        kept.append(sentence.strip())
    return ("" if _CJK.search(" ".join(kept)) else " ").join(kept)


def in_language(text: str, language: str) -> bool:
    return bool(_CJK.search(text)) == (language == "zh")


def short(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a word end where possible, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,，、;；:：-–") + "…"


def _utc_end_of(day: date, zone: ZoneInfo) -> datetime:
    """Midnight after `day` in the market's time zone, as naive UTC (how news times are stored)."""
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return end.astimezone(timezone.utc).replace(tzinfo=None)
