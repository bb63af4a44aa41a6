"""Demo data: the product catalog, a price history and the seed news, loaded from bot/data."""
from __future__ import annotations

import csv
import functools
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import yaml
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.models import NewsItem, PriceQuote, Product

DATA = Path(__file__).parent / "data"


@functools.lru_cache(maxsize=1)
def load_catalog() -> list[dict]:
    """The entries of catalog.yaml in display order (cached and shared: treat as read-only)."""
    with open(DATA / "catalog.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_demo(session: Session) -> dict:
    """Upsert the catalog, add missing demo quotes and news; return the counts of rows added or updated."""
    counts = {"products": _upsert_products(session)}
    session.flush()
    counts["quotes"] = _add_quotes(session)
    counts["news"] = _add_news(session)
    session.flush()
    return counts


def load_products(session: Session) -> int:
    """Upsert only the catalog: what a production database needs before sources can store quotes."""
    return _upsert_products(session)


def _upsert_products(session: Session) -> int:
    existing = {p.code: p for p in session.scalars(select(Product))}
    changed = 0
    for position, entry in enumerate(load_catalog()):
        fields = {
            "name_en": entry["en"],
            "name_zh": entry["zh"],
            "short_en": entry.get("short_en", entry["en"]),
            "aliases": list(entry["aliases"]),
            "unit": entry["unit"],
            "group": entry["group"],
            "position": position,
        }
        product = existing.get(entry["code"])
        if product is None:
            session.add(Product(code=entry["code"], **fields))
        elif any(getattr(product, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(product, k, v)
        else:
            continue
        changed += 1
    return changed


def _add_quotes(session: Session) -> int:
    with open(DATA / "prices.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    sources = {r["source"] for r in rows}
    keys = select(PriceQuote.product_code, PriceQuote.date, PriceQuote.source).where(PriceQuote.source.in_(sources))
    have = {tuple(row) for row in session.execute(keys)}
    new = []
    for r in rows:
        day = date.fromisoformat(r["date"])
        if (r["product"], day, r["source"]) in have:
            continue
        have.add((r["product"], day, r["source"]))
        new.append({
            "product_code": r["product"],
            "date": day,
            "low": Decimal(r["low"]),
            "high": Decimal(r["high"]),
            "unit": r["unit"],
            "source": r["source"],
        })
    if new:
        session.execute(insert(PriceQuote), new)
    return len(new)


def _add_news(session: Session) -> int:
    with open(DATA / "news.yaml", encoding="utf-8") as f:
        items = yaml.safe_load(f)
    have = set(session.scalars(select(NewsItem.url).where(NewsItem.url.in_([i["url"] for i in items]))))
    added = 0
    for item in items:
        if item["url"] in have:
            continue
        have.add(item["url"])
        session.add(NewsItem(
            title=item["title"],
            summary=item.get("summary") or "",
            url=item["url"],
            image_url=item.get("image_url"),
            published_at=_naive_utc(item["published_at"]),
            source=item.get("source", "demo"),
        ))
        added += 1
    return added


def _naive_utc(value: str | datetime) -> datetime:
    """Stored datetimes are naive UTC, like models.utcnow."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment
