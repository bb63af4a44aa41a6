"""News for a keyword in either language: the glossary's translations widen the search (关税 finds "Tariff …")."""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.market.quotes import web_link
from bot.models import NewsItem


def news_matching(session: Session, keywords: tuple[str, ...] | list[str], limit: int) -> list[NewsItem]:
    """The newest visible items (http(s) links only) whose title or summary contains any of `keywords`
    (case-insensitive)."""
    terms = [k for k in keywords if k]
    if not terms:
        return []
    matches = []
    for term in terms:
        like = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        matches += [NewsItem.title.ilike(like, escape="\\"), NewsItem.summary.ilike(like, escape="\\")]
    query = (select(NewsItem).where(NewsItem.hidden.is_(False), web_link(NewsItem.url), or_(*matches))
             .order_by(NewsItem.published_at.desc(), NewsItem.id.desc()).limit(limit))
    return list(session.scalars(query))
