"""Storing what sources yield: quotes checked before they go live, news de-duplicated by canonical URL."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.demo import load_catalog
from bot.ingest.extract import Quote
from bot.models import NewsItem, PriceQuote, Product, QuarantinedQuote, utcnow

log = logging.getLogger(__name__)

DEFAULT_MAX_JUMP_PCT = Decimal(15)
_TRACKING = ("utm_", "spm", "from", "share", "fbclid", "gclid", "scene", "srcid")


@dataclass
class StoreResult:
    """What `store_quotes` did: `new` is what subscribers have not seen yet (alerts hook in here)."""

    new: list[PriceQuote] = field(default_factory=list)
    updated: list[PriceQuote] = field(default_factory=list)
    unchanged: int = 0
    quarantined: list[QuarantinedQuote] = field(default_factory=list)
    rejected: list[tuple[Quote, str]] = field(default_factory=list)


def store_quotes(session: Session, quotes: list[Quote], source: str, *,
                 max_jump_pct: Decimal | float = DEFAULT_MAX_JUMP_PCT, default_date: date | None = None) -> StoreResult:
    """Store `quotes` from `source`: one per product, date, source and unit (a re-fetch changes nothing).

    A quote is rejected when it cannot be stored as it is (unknown product, no date, low above high, a
    unit that does not fit the product); it is quarantined, not published, when it is outside the
    product's plausible bounds or moves more than `max_jump_pct` from the last quote of its series.
    """
    result = StoreResult()
    units = {code: unit for code, unit in session.execute(select(Product.code, Product.unit))}
    bounds = {e["code"]: tuple(Decimal(b) for b in e["bounds"]) for e in load_catalog() if e.get("bounds")}
    limit = Decimal(str(max_jump_pct))
    batch: dict[tuple[str, date, str], tuple[Decimal, Decimal]] = {}
    for quote in quotes:
        day = quote.date or default_date
        problem = _unusable(quote, day, units)
        if problem:
            result.rejected.append((quote, problem))
            log.warning("source %s: quote of %s rejected: %s", source, quote.product, problem)
            continue
        low, high, unit = _normalised(quote, units[quote.product])
        first = batch.setdefault((quote.product, day, unit), (low, high))
        if first != (low, high):  # a report stating one product twice, differently: keep the first figure
            result.rejected.append((quote, f"{low:,.0f}–{high:,.0f} contradicts {first[0]:,.0f}–{first[1]:,.0f} "
                                           "stated earlier in the same fetch"))
            continue
        existing = session.scalars(select(PriceQuote).where(
            PriceQuote.product_code == quote.product, PriceQuote.date == day,
            PriceQuote.source == source, PriceQuote.unit == unit)).first()
        if existing is not None and existing.low == low and existing.high == high:
            result.unchanged += 1
            continue
        reason = _suspicious(session, quote.product, day, source, unit, low, high,
                             bounds.get(quote.product) if unit == units[quote.product] else None, limit)
        if reason:
            held = _hold(session, quote, day, source, unit, low, high, reason)
            if held is not None:
                result.quarantined.append(held)
            continue
        if existing is not None:
            existing.low, existing.high = low, high  # the publisher corrected its figure
            result.updated.append(existing)
        else:
            row = PriceQuote(product_code=quote.product, date=day, low=low, high=high, unit=unit, source=source)
            session.add(row)
            result.new.append(row)
        session.flush()
    return result


def _unusable(quote: Quote, day: date | None, units: dict[str, str]) -> str | None:
    if quote.product not in units:
        return f"unknown product {quote.product!r}"
    if day is None:
        return "no date: the text states none and no default date was given"
    if quote.low <= 0 or quote.low > quote.high:
        return f"bad range {quote.low}–{quote.high}"
    if _normalised(quote, units[quote.product]) is None:
        return f"unit {quote.unit} does not fit {quote.product} (quoted in {units[quote.product]})"
    return None


def _normalised(quote: Quote, product_unit: str) -> tuple[Decimal, Decimal, str] | None:
    """The quote in the product's unit; usd/kg stays its own series (no conversion without an FX source)."""
    if quote.unit == product_unit or quote.unit == "usd/kg":
        return quote.low, quote.high, quote.unit
    if quote.unit == "yuan/kg" and product_unit == "yuan/t":
        return quote.low * 1000, quote.high * 1000, "yuan/t"
    return None


def _suspicious(session: Session, product: str, day: date, source: str, unit: str, low: Decimal, high: Decimal,
                bounds: tuple[Decimal, Decimal] | None, limit: Decimal) -> str | None:
    if bounds and (low < bounds[0] or high > bounds[1]):
        return f"outside the plausible range {bounds[0]:,.0f}–{bounds[1]:,.0f} {unit}"
    earlier = (select(PriceQuote)
               .where(PriceQuote.product_code == product, PriceQuote.unit == unit, PriceQuote.date < day)
               .order_by(PriceQuote.date.desc(), PriceQuote.id.desc()).limit(1))
    previous = (session.scalars(earlier.where(PriceQuote.source == source)).first()
                or session.scalars(earlier).first())  # a new source is compared with what is published
    if previous is None or not previous.mid:
        return None
    mid = (low + high) / 2
    jump = abs(mid - previous.mid) / previous.mid * 100
    if jump > limit:
        return (f"moves {jump:.1f}% from {previous.mid:,.0f} on {previous.date} ({previous.source}); "
                f"the limit is {limit}%")
    return None


def _hold(session: Session, quote: Quote, day: date, source: str, unit: str, low: Decimal, high: Decimal,
          reason: str) -> QuarantinedQuote | None:
    """Quarantine the quote, unless the same figures already wait there or were rejected."""
    seen = session.scalars(select(QuarantinedQuote).where(
        QuarantinedQuote.product_code == quote.product, QuarantinedQuote.date == day,
        QuarantinedQuote.source == source, QuarantinedQuote.unit == unit,
        QuarantinedQuote.low == low, QuarantinedQuote.high == high)).first()
    if seen is not None:
        return None
    held = QuarantinedQuote(product_code=quote.product, date=day, low=low, high=high, unit=unit, source=source,
                            reason=reason[:256], sentence=quote.sentence[:2000])
    session.add(held)
    session.flush()
    log.warning("source %s: quote of %s on %s quarantined: %s", source, quote.product, day, reason)
    return held


def approve_quote(session: Session, held_id: int, by: str) -> PriceQuote:
    """Publish a quarantined quote (replacing the series' figure of that day, if any)."""
    held = _pending(session, held_id)
    row = session.scalars(select(PriceQuote).where(
        PriceQuote.product_code == held.product_code, PriceQuote.date == held.date,
        PriceQuote.source == held.source, PriceQuote.unit == held.unit)).first()
    if row is None:
        row = PriceQuote(product_code=held.product_code, date=held.date, unit=held.unit, source=held.source)
        session.add(row)
    row.low, row.high = held.low, held.high
    held.status, held.decided_at, held.decided_by = "approved", utcnow(), by
    session.flush()
    return row


def reject_quote(session: Session, held_id: int, by: str) -> QuarantinedQuote:
    """Refuse a quarantined quote for good: the same figures from the source will not be held again."""
    held = _pending(session, held_id)
    held.status, held.decided_at, held.decided_by = "rejected", utcnow(), by
    session.flush()
    return held


def _pending(session: Session, held_id: int) -> QuarantinedQuote:
    held = session.get(QuarantinedQuote, held_id)
    if held is None or held.status != "pending":
        raise LookupError(f"no pending quarantined quote #{held_id}")
    return held


@dataclass(frozen=True)
class NewsEntry:
    """A news item as a source lists it."""

    title: str
    url: str
    summary: str = ""
    image_url: str | None = None
    published_at: datetime | None = None  # naive UTC


def canonical_url(url: str) -> str:
    """One spelling per article: lower-case scheme and host, no fragment, no tracking parameters, sorted query."""
    parts = urlsplit(url.strip())
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not k.lower().startswith(_TRACKING))
    path = parts.path or "/"
    if path != "/" and path.endswith("/"):
        path = path.rstrip("/")
    host = (parts.hostname or "").lower()
    if parts.port and not (parts.scheme == "http" and parts.port == 80 or parts.scheme == "https" and parts.port == 443):
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme.lower(), host, path, urlencode(query), ""))


def store_news(session: Session, entries: list[NewsEntry], source: str, now: datetime | None = None) -> list[NewsItem]:
    """Add the entries whose canonical URL is not stored yet; return the new rows. Only http(s) links are
    stored: an entry linking elsewhere (javascript:, data:, file:) is dropped, such an image left out."""
    from bot.ingest.safety import is_web_link

    now = now or utcnow()
    entries = [e for e in entries if is_web_link(e.url)]
    urls = {canonical_url(e.url) for e in entries}
    have = set(session.scalars(select(NewsItem.url).where(NewsItem.url.in_(urls)))) if urls else set()
    added = []
    for entry in entries:
        url = canonical_url(entry.url)
        if url in have or not entry.title.strip():
            continue
        have.add(url)
        item = NewsItem(title=entry.title.strip()[:512], summary=entry.summary.strip(), url=url[:1024],
                        image_url=entry.image_url[:1024] if is_web_link(entry.image_url) else None,
                        published_at=entry.published_at or now, source=source)
        session.add(item)
        added.append(item)
    session.flush()
    return added
