"""Prices entered or corrected by hand, each change kept in the audit log."""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.market.catalog import ProductInfo
from bot.models import PriceQuote
from bot.audit import audit

MANUAL_SOURCE = "manual"


class QuoteError(Exception):
    """A hand-entered quote that cannot be stored; the message says which field is wrong."""


def parse_quote(day: str, low: str, high: str, source: str, today: date) -> tuple[date, Decimal, Decimal, str]:
    """Check the form fields of a quote; QuoteError names the wrong one."""
    try:
        when = date.fromisoformat(day.strip())
    except ValueError:
        raise QuoteError(f"date must be YYYY-MM-DD, not {day!r}") from None
    if when > today:
        raise QuoteError(f"date {when} is in the future")
    values = []
    for name, raw in (("low", low), ("high", high)):
        try:
            value = Decimal(raw.strip().replace(",", ""))
        except InvalidOperation:
            raise QuoteError(f"{name} must be a number, not {raw!r}") from None
        if not value.is_finite() or value <= 0 or value >= Decimal("1e14"):
            raise QuoteError(f"{name} must be a positive number")
        values.append(value.quantize(Decimal("0.01")))
    if values[0] > values[1]:
        raise QuoteError("low must not be above high")
    source = source.strip() or MANUAL_SOURCE
    if len(source) > 64:
        raise QuoteError("source must be at most 64 characters")
    return when, values[0], values[1], source


def record_quote(session: Session, actor: str, product: ProductInfo, when: date, low: Decimal, high: Decimal,
                 source: str) -> str:
    """Store the quote; an existing one of the same day and source is corrected. Returns "added" or "corrected"."""
    quote = session.scalar(select(PriceQuote).where(PriceQuote.product_code == product.code, PriceQuote.date == when,
                                                    PriceQuote.source == source, PriceQuote.unit == product.unit))
    target = f"price:{product.code}:{when}:{source}"
    if quote is None:
        session.add(PriceQuote(product_code=product.code, date=when, low=low, high=high, unit=product.unit,
                               source=source))
        audit(session, actor, "price.add", target, low=str(low), high=str(high))
        return "added"
    audit(session, actor, "price.correct", target, before={"low": str(quote.low), "high": str(quote.high)},
          after={"low": str(low), "high": str(high)})
    quote.low, quote.high = low, high
    return "corrected"


def history(session: Session, code: str, limit: int = 120) -> list[PriceQuote]:
    """The newest `limit` quotes of a product, oldest first."""
    rows = session.scalars(select(PriceQuote).where(PriceQuote.product_code == code)
                           .order_by(PriceQuote.date.desc(), PriceQuote.id.desc()).limit(limit))
    return list(reversed(list(rows)))
