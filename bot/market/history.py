"""Quotes for questions about the past: the price on a date, the change over a period, several products at once.

Every figure comes from one series (a product's own unit and one source), read the same way `price X` reads
the latest quote (bot/market/quotes.latest_price), so the answers agree with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.market.catalog import ProductInfo
from bot.market.quotes import PriceView, last_trading_day, latest_price
from bot.models import PriceQuote


@dataclass(frozen=True)
class QuoteOn:
    """The quote asked for on `asked`: `view` is the one of that day, or the nearest earlier one (`exact` False)."""

    asked: date
    view: PriceView

    @property
    def exact(self) -> bool:
        return self.view.date == self.asked


def quote_on(session: Session, product: ProductInfo, day: date) -> QuoteOn | None:
    """The quote of `product` on `day`, else the nearest earlier one; None when there is none on or before it."""
    view = latest_price(session, product, day)
    return QuoteOn(day, view) if view is not None else None


@dataclass(frozen=True)
class Change:
    """How a product's mid price moved from the quote on or before `since` (`start`) to the latest (`end`).

    `covers_from` is the first day the data really covers: later than asked when the series starts later."""

    product: ProductInfo
    since: date
    start: PriceView
    end: PriceView

    @property
    def change(self) -> Decimal:
        return self.end.mid - self.start.mid

    @property
    def change_pct(self) -> Decimal | None:
        return self.change / self.start.mid * 100 if self.start.mid else None

    @property
    def covers_from(self) -> date:
        return self.start.date

    @property
    def shorter(self) -> bool:
        """The data starts after the period asked for."""
        return self.start.date > self.since

    @property
    def arrow(self) -> str:
        return "→" if self.change == 0 else ("▲" if self.change > 0 else "▼")


def change_over(session: Session, product: ProductInfo, since: date, today: date) -> Change | None:
    """The change of `product` since `since` (from its quote on or before that day, or the series' first quote
    when it starts later) to its latest quote on or before `today`; None without two quotes to compare."""
    end = latest_price(session, product, today)
    if end is None:
        return None
    series = (PriceQuote.product_code == product.code, PriceQuote.source == end.source, PriceQuote.unit == end.unit)
    start_row = session.scalars(
        select(PriceQuote).where(*series, PriceQuote.date <= since)
        .order_by(PriceQuote.date.desc(), PriceQuote.id.desc()).limit(1)
    ).first() or session.scalars(
        select(PriceQuote).where(*series, PriceQuote.date < end.date).order_by(PriceQuote.date, PriceQuote.id).limit(1)
    ).first()
    if start_row is None or start_row.date >= end.date:
        return None
    start = PriceView(product, start_row.date, start_row.low, start_row.high, start_row.unit, start_row.source,
                      None, None, None, stale=False)
    return Change(product, since, start, end)


@dataclass(frozen=True)
class Table:
    """Several products side by side: each one's latest quote (None: no quote)."""

    rows: list[tuple[ProductInfo, PriceView | None]]
    last_trading_day: date


def price_table(session: Session, products: list[ProductInfo], today: date) -> Table:
    """The latest quote of each product, in the order asked."""
    return Table([(p, latest_price(session, p, today)) for p in products], last_trading_day(today))
