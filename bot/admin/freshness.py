"""How fresh the market data is, for the dashboard's alarm and the "send now" button."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from bot.market.catalog import ProductInfo
from bot.market.quotes import PriceView, last_trading_day, latest_price
from bot.push.run import skip_rule


@dataclass(frozen=True)
class Freshness:
    rows: list[tuple[ProductInfo, PriceView | None, int | None]]  # product, latest quote, its age in days
    last_trading_day: date
    skip_reason: str  # why today's push would be skipped (English; the page translates it), or ""

    @property
    def stale(self) -> list[ProductInfo]:
        return [p for p, v, _age in self.rows if v is None or v.date < self.last_trading_day]


def freshness(session: Session, products: list[ProductInfo], today: date) -> Freshness:
    """The newest quote of each product and its age, and whether today's push would be skipped (the push's
    own rule, bot.push.run.skip_rule)."""
    rows = []
    for product in products:
        view = latest_price(session, product, today)
        rows.append((product, view, (today - view.date).days if view else None))
    return Freshness(rows, last_trading_day(today), skip_rule(session, today).why)
