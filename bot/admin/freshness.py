"""How fresh the market data is, for the dashboard's alarm and the "send now" button."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.market import calendar
from bot.market.catalog import ProductInfo
from bot.market.quotes import PriceView, last_trading_day, latest_date, latest_price
from bot.models import PushRun


@dataclass(frozen=True)
class Freshness:
    rows: list[tuple[ProductInfo, PriceView | None, int | None]]  # product, latest quote, its age in days
    last_trading_day: date
    skip_reason: str  # why today's push would be skipped (English; the page translates it), or ""

    @property
    def stale(self) -> list[ProductInfo]:
        return [p for p, v, _age in self.rows if v is None or v.date < self.last_trading_day]


def freshness(session: Session, products: list[ProductInfo], today: date) -> Freshness:
    """The newest quote of each product and its age, and whether today's push would be skipped (the same
    rule as the push: no quote newer than the last push, or a closed market without a quote of today)."""
    rows = []
    for product in products:
        view = latest_price(session, product, today)
        rows.append((product, view, (today - view.date).days if view else None))
    newest = latest_date(session, today)
    previous = session.scalars(
        select(PushRun).where(PushRun.kind == "daily", PushRun.run_date < today, PushRun.status != "skipped",
                              PushRun.data_date.is_not(None)).order_by(PushRun.run_date.desc()).limit(1)).first()
    reason = ""
    if newest is None:
        reason = "no quotes at all"
    elif previous is not None and newest <= previous.data_date:
        reason = "no quote newer than the last push"
    elif not calendar.current().is_trading_day(today) and newest < today:
        reason = "not a trading day"
    return Freshness(rows, last_trading_day(today), reason)
