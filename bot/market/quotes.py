"""Reading quotes: the latest price of a product, its change, and the market summary."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.market import calendar
from bot.market.catalog import ProductInfo
from bot.models import NewsItem, PriceQuote


@dataclass(frozen=True)
class PriceView:
    """The latest quote of a product with its change against the previous quote of the same source."""

    product: ProductInfo
    date: date
    low: Decimal
    high: Decimal
    unit: str
    source: str
    previous_date: date | None
    change: Decimal | None
    change_pct: Decimal | None
    stale: bool  # older than the last trading day

    @property
    def mid(self) -> Decimal:
        return (self.low + self.high) / 2

    @property
    def arrow(self) -> str:
        if self.change is None or self.change == 0:
            return "→"
        return "▲" if self.change > 0 else "▼"


def last_trading_day(today: date) -> date:
    """The latest trading day on or before `today` (China's calendar: weekends, holidays, 调休)."""
    return calendar.current().last_trading_day(today)


def latest_price(session: Session, product: ProductInfo, today: date) -> PriceView | None:
    """The newest quote of `product` (on or before `today`) and its daily change, or None."""
    latest = session.scalars(
        select(PriceQuote)
        # The product's own unit: export quotes (usd/kg) are a series of their own.
        .where(PriceQuote.product_code == product.code, PriceQuote.unit == product.unit, PriceQuote.date <= today)
        .order_by(PriceQuote.date.desc(), PriceQuote.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return None
    previous = session.scalars(
        select(PriceQuote)
        .where(
            PriceQuote.product_code == product.code,
            PriceQuote.source == latest.source,
            PriceQuote.unit == latest.unit,
            PriceQuote.date < latest.date,
        )
        .order_by(PriceQuote.date.desc())
        .limit(1)
    ).first()
    change = change_pct = None
    if previous is not None:
        change = latest.mid - previous.mid
        change_pct = (change / previous.mid * 100) if previous.mid else None
    return PriceView(
        product=product,
        date=latest.date,
        low=latest.low,
        high=latest.high,
        unit=latest.unit,
        source=latest.source,
        previous_date=previous.date if previous else None,
        change=change,
        change_pct=change_pct,
        stale=latest.date < last_trading_day(today),
    )


def latest_date(session: Session, today: date) -> date | None:
    """The date of the newest quote of any product, on or before `today`."""
    return session.scalar(select(func.max(PriceQuote.date)).where(PriceQuote.date <= today))


def web_link(column):
    """SQL: `column` is an http(s) URL."""
    return column.startswith("http://") | column.startswith("https://")


def newest_news(session: Session, limit: int, keyword: str = "", before: datetime | None = None) -> list[NewsItem]:
    """The newest news items not hidden by an admin, optionally those whose title or summary contains
    `keyword`, or those published before `before` (naive UTC, like the stored times). Only http(s) links:
    a javascript: or data: link stored before they were refused is never shown."""
    query = (select(NewsItem).where(NewsItem.hidden.is_(False), web_link(NewsItem.url))
             .order_by(NewsItem.published_at.desc(), NewsItem.id.desc()).limit(limit))
    if before is not None:
        query = query.where(NewsItem.published_at < before)
    if keyword:
        like = "%" + keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(NewsItem.title.ilike(like, escape="\\") | NewsItem.summary.ilike(like, escape="\\"))
    return list(session.scalars(query))


@dataclass(frozen=True)
class HistoryPoint:
    date: date
    low: Decimal
    high: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.low + self.high) / 2


def price_history(session: Session, view: PriceView, limit: int = 60) -> list[HistoryPoint]:
    """Up to `limit` quotes ending with `view`'s, oldest first, from the same source and unit (one series)."""
    rows = session.execute(
        select(PriceQuote.date, PriceQuote.low, PriceQuote.high)
        .where(PriceQuote.product_code == view.product.code, PriceQuote.source == view.source,
               PriceQuote.unit == view.unit, PriceQuote.date <= view.date)
        .order_by(PriceQuote.date.desc())
        .limit(limit)
    ).all()
    return [HistoryPoint(d, low, high) for d, low, high in reversed(rows)]


def first_date(session: Session) -> date | None:
    """The date of the oldest quote of any product."""
    return session.scalar(select(func.min(PriceQuote.date)))
