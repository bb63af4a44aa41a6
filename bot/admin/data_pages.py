"""Dashboard, prices (latest table, history chart, manual entry), news (hide/show) and the audit log."""
from __future__ import annotations

from flask import Response, abort, g, jsonify, request
from sqlalchemy import select

from bot import alerts
from bot import subscribers as subs
from bot.admin import pushes
from bot.admin.freshness import freshness
from bot.admin.source_pages import pending_count, source_rows
from bot.admin.web import actor, blueprint, bot, db, done, page
from bot.audit import audit, recent
from bot.charts import chart_data, render_png
from bot.market import manual
from bot.market.quotes import last_trading_day, latest_price, web_link
from bot.models import NewsItem
from bot.push.resume import stalled_runs


def _today():
    return bot().clock().date()


def _stats() -> dict:
    session = db()
    by_channel = subs.counts(session)
    return {"subscribers": sum(sum(row.values()) for row in by_channel.values()),
            "daily_summary": subs.daily_count(session),
            "by_channel": by_channel}


@blueprint.get("/")
def dashboard():
    session = db()
    runs = pushes.recent_runs(session, limit=1)
    catalog = bot().catalog()
    products = [catalog.by_code[c] for c in bot().config["default_products"] if c in catalog.by_code]
    return page("dashboard.html", stats=_stats(), statuses=subs.STATUSES, last_run=runs[0] if runs else None,
                next_runs=pushes.next_runs(bot().config, bot().clock()), sources=source_rows(session),
                pending=pending_count(session), stalled=stalled_runs(bot().db, bot().config),
                fresh=freshness(session, products, _today()), channels=pushes.configured_channels(bot().config))


@blueprint.get("/stats.json")
def stats_json():
    return jsonify(_stats())


@blueprint.get("/prices")
def prices():
    catalog = bot().catalog()
    today = _today()
    rows = [(p, latest_price(db(), p, today)) for p in catalog.products]
    return page("prices.html", rows=rows, last_trading_day=last_trading_day(today))


@blueprint.route("/prices/<code>", methods=["GET", "POST"])
def product(code: str):
    info = bot().catalog().by_code.get(code)
    if info is None:
        abort(404)
    session = db()
    error, status = "", 200
    form = request.form
    if request.method == "POST":
        try:
            when, low, high, source = manual.parse_quote(form.get("date", ""), form.get("low", ""),
                                                         form.get("high", ""), form.get("source", ""), _today())
        except manual.QuoteError as err:
            error, status = str(err), 400
        else:
            outcome = manual.record_quote(session, actor(), info, when, low, high, source)
            session.commit()
            alerts.deliver_pending(bot().db, bot().config)  # the alerts this quote fired
            return done("admin.product", f"quote_{outcome}", code=code)
    quotes = manual.history(session, code)
    return page("product.html", status, product=info, quotes=list(reversed(quotes)), error=error, form=form,
                today=_today(), manual_source=manual.MANUAL_SOURCE, chart_days=CHART_DAYS)


CHART_DAYS = 90


@blueprint.get("/prices/<code>/chart.png")
def product_chart(code: str):
    """The same chart as the chat's `trend` (mid line, low–high band), in the admin's language."""
    info = bot().catalog().by_code.get(code)
    if info is None:
        abort(404)
    data = chart_data(db(), info, CHART_DAYS, _today(), g.lang, bot().router.renderer.units)
    if data is None:
        abort(404)
    response = Response(render_png(data), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@blueprint.get("/news")
def news():
    items = db().scalars(select(NewsItem).where(web_link(NewsItem.url)).order_by(NewsItem.published_at.desc(), NewsItem.id.desc()).limit(200))
    return page("news.html", items=list(items))


@blueprint.post("/news/<id:item_id>/<any(hide, show):action>")
def news_visibility(item_id: int, action: str):
    session = db()
    item = session.get(NewsItem, item_id)
    if item is None:
        abort(404)
    hidden = action == "hide"
    if item.hidden != hidden:
        item.hidden = hidden
        audit(session, actor(), f"news.{action}", f"news:{item.id}", title=item.title[:120])
        session.commit()
    return done("admin.news", "hidden" if hidden else "shown")


@blueprint.get("/audit")
def audit_log():
    return page("audit.html", entries=recent(db(), 200))
