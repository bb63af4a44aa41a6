"""Sources (status, last error, fetch now) and the quarantine of suspicious quotes (approve/reject)."""
from __future__ import annotations

from dataclasses import replace

from flask import abort
from sqlalchemy import func, select

from bot import alerts
from bot.admin.web import actor, blueprint, bot, db, done, page, t
from bot.audit import audit
from bot.ingest.http import shown
from bot.ingest.jobs import run_source, sources_of
from bot.ingest.store import approve_quote, reject_quote
from bot.models import QuarantinedQuote, SourceStatus


def source_rows(session) -> list[tuple[str, object, object]]:
    """(name, configured source or None, SourceStatus or None) for every configured or ever-run source."""
    configured = {s.name: replace(s, url=shown(s.url)) for s in sources_of(bot().config)}  # no apikey= on screen
    states = {s.name: s for s in session.scalars(select(SourceStatus))}
    return [(name, configured.get(name), states.get(name)) for name in sorted(configured.keys() | states.keys())]


def pending_count(session) -> int:
    return session.scalar(select(func.count()).select_from(QuarantinedQuote)
                          .where(QuarantinedQuote.status == "pending")) or 0


@blueprint.get("/sources")
def sources():
    session = db()
    return page("sources.html", rows=source_rows(session), pending=pending_count(session))


@blueprint.post("/sources/<name>/fetch")
def source_fetch(name: str):
    source = next((s for s in sources_of(bot().config) if s.name == name), None)
    if source is None:
        abort(404)
    result = run_source(bot().db, bot().config, source, now=bot().clock())
    session = db()
    audit(session, actor(), "source.fetch", f"source:{name}", ok=result.ok, error=result.error or "")
    session.commit()
    return done("admin.sources", "fetched" if result.ok else "fetch_failed")


@blueprint.get("/quarantine")
def quarantine():
    session = db()
    pending = list(session.scalars(select(QuarantinedQuote).where(QuarantinedQuote.status == "pending")
                                   .order_by(QuarantinedQuote.id)))
    decided = list(session.scalars(select(QuarantinedQuote).where(QuarantinedQuote.status != "pending")
                                   .order_by(QuarantinedQuote.decided_at.desc()).limit(30)))
    return page("quarantine.html", pending=pending, decided=decided, catalog=bot().catalog())


@blueprint.post("/quarantine/<id:held_id>/<any(approve, reject):action>")
def quarantine_decide(held_id: int, action: str):
    session = db()
    held = session.get(QuarantinedQuote, held_id)
    if held is None:
        abort(404)
    try:
        (approve_quote if action == "approve" else reject_quote)(session, held_id, actor())
    except LookupError:
        return page("error.html", 409, message=t("This quote has been decided already."))
    audit(session, actor(), f"quarantine.{action}", f"price:{held.product_code}:{held.date}:{held.source}",
          low=str(held.low), high=str(held.high), reason=held.reason)
    session.commit()
    if action == "approve":
        alerts.deliver_pending(bot().db, bot().config)  # the alerts the approved quote fired
    return done("admin.quarantine", "approved" if action == "approve" else "rejected")
