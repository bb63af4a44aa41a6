"""Public, read-only mobile pages: `/m/price/<product>` and `/m/summary/<date>`.

Made for WeChat's in-app browser: one small HTML response each (inline CSS and SVG, no script, no
external file), Chinese or English, cacheable, and nothing about any user.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import Blueprint, Response, current_app, make_response, redirect, render_template, request, url_for

from bot.charts import band_chart, chart_data, render_png, spark_scale, sparkline
from bot.market.quotes import first_date, last_trading_day, latest_price, price_history
from bot.market.summary import build_summary, short
from bot.render import TEMPLATES, day_label, percent
from bot.service import Bot

blueprint = Blueprint("pages", __name__, url_prefix="/m", template_folder=str(TEMPLATES))

HISTORY_QUOTES = 60
TABLE_QUOTES = 10
SPARK_QUOTES = 20
NEWS_ITEMS = 5
MAX_AGE = 300  # seconds; quotes change a few times a day
SHARE_DAYS = 90  # the share card's chart
SHARE_SIZE = (600, 400)  # pixels of the share card's PNG
# Only inline styles and our own chart images; nothing else may load, so a page can never pull in a
# tracker or a script.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")

WORDS = {
    "zh": {
        "site": "稀土行情", "summary": "稀土行情", "week": "周", "unchanged": "持平", "colon": "：", "spark_scale":
        "走势：近{n}个报价，各行同一纵轴（±{pct}%）", "stale_banner": "今日暂无新报价，以下为{day}报价。", "latest": "最新报价", "range": "价格区间", "mid": "均价",
        "change": "涨跌", "vs": "较", "source": "来源", "unit": "单位", "history": "历史价格",
        "period": "区间最低–最高", "quotes": "近期报价", "date": "日期", "product": "产品", "price": "价格",
        "trend": "走势", "news": "新闻", "no_quote": "暂无报价", "no_change": "暂无可比报价",
        "stale": "此为 {date} 的最近报价，最近交易日 {day} 暂无新报价。",
        "not_today": "今日暂无新报价，以上为最近一次报价。", "last_quote": "最近报价 {date}",
        "not_found": "找不到该页面", "unknown_product": "没有名为“{name}”的产品。",
        "unknown_day": "{day} 没有行情数据。", "did_you_mean": "您是否要找：", "all_products": "全部产品",
        "other": "English", "band": "阴影为最低–最高价，线为均价",
        "footer": "数据仅供参考。发送“价格 镨钕”给公众号查询最新报价。",
    },
    "en": {
        "site": "Rare-earth prices", "summary": "Rare-earth market", "week": "week", "unchanged": "Unchanged", "colon": ": ",
        "spark_scale": "Trend: last {n} quotes, one scale for every row (±{pct}%)",
        "stale_banner": "No new quotes today; these are the quotes of {day}.", "latest": "Latest quote",
        "range": "Range", "mid": "Mid", "change": "Change", "vs": "vs", "source": "Source", "unit": "Unit",
        "history": "Price history", "period": "Period low–high", "quotes": "Recent quotes", "date": "Date",
        "product": "Product", "price": "Price", "trend": "Trend", "news": "News", "no_quote": "no quote yet",
        "no_change": "no earlier quote", "stale": "This is the last quote, from {date}; there is none yet "
        "for the last trading day, {day}.", "not_today": "No new quotes today; these are the latest available.",
        "last_quote": "last quote {date}", "not_found": "Page not found",
        "unknown_product": "There is no product called “{name}”.", "unknown_day": "No market data for {day}.",
        "did_you_mean": "Did you mean:", "all_products": "All products", "other": "中文",
        "band": "shaded: low–high; line: mid", "footer": "For information only. Send “price PrNd” to the "
        "Official Account for the latest quote.",
    },
}


def _bot() -> Bot:
    return current_app.extensions["rebot"]


def _language() -> str:
    """?lang=zh|en, else the browser's Accept-Language, else the configured language."""
    asked = request.args.get("lang")
    if asked in WORDS:
        return asked
    return request.accept_languages.best_match(tuple(WORDS)) or _bot().config["language"]


def _page(template: str, status: int = 200, max_age: int = MAX_AGE, **data) -> Response:
    language = data["lang"] = _language()
    other = "en" if language == "zh" else "zh"
    shown = lambda v: _bot().router.renderer.units.view(v, language)  # noqa: E731 - one line per use
    html = render_template(f"pages/{template}", t=WORDS[language], other_lang=other,
                           other_url=request.path + f"?lang={other}", percent=percent, shown=shown,
                           day=lambda d, weekday=False: day_label(d, language, weekday),
                           base=_base_url(), **data)
    response = make_response(html, status)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Language"] = "zh-CN" if language == "zh" else "en"
    response.vary.add("Accept-Language")
    if status == 200:
        response.add_etag()
        response.make_conditional(request)
    return response


def _not_found(message: str, suggestion=None) -> Response:
    bot = _bot()
    return _page("not_found.html", 404, 60, message=message, suggestion=suggestion,
                 products=bot.catalog().products)


@blueprint.get("/")
@blueprint.get("/summary")
def summary_today():
    others = {k: v for k, v in request.args.items() if k != "day"}  # /m/?day=2025-06-11 is that day's page
    return redirect(url_for("pages.summary", day=request.args.get("day") or _bot().clock().date().isoformat(),
                            **others), 302)


@blueprint.get("/summary/<day>")
def summary(day: str):
    """The day's summary of the default products: movers first, week change, shared-scale trends, news."""
    bot = _bot()
    language = _language()
    today = bot.clock().date()
    try:
        wanted = date.fromisoformat(day) if len(day) == 10 else None
    except ValueError:
        wanted = None
    with bot.db.session() as session:
        start = first_date(session)
        if wanted is None or wanted > today or start is None or wanted < start:
            return _not_found(WORDS[language]["unknown_day"].format(day=day))
        catalog = bot.catalog()
        products = [catalog.by_code[c] for c in bot.config["default_products"] if c in catalog.by_code]
        data = build_summary(session, products, wanted, language, NEWS_ITEMS, bot.config.zone)
        series = {r.product.code: price_history(session, r.view, SPARK_QUOTES) for r in data.rows if r.view}
    scale = spark_scale(list(series.values()))
    sparks = {code: sparkline(points, scale) for code, points in series.items()}
    lead = next((r for r in data.rows if r.view), None)
    return _page("summary.html", summary=data, sparks=sparks, scale=scale.quantize(Decimal("0.1")),
                 spark_n=SPARK_QUOTES, share=lead.product.code if lead else None,
                 description=_description(data, language))


def _description(data, language: str) -> str:
    """The share card's line: the day's biggest moves."""
    units = _bot().router.renderer.units
    parts = [f"{r.product.name(language)} {units.view(r.view, language).figure(r.view.mid)}"
             f"{units.view(r.view, language).suffix} {percent(r.view.change_pct)}"
             for r in data.movers[:3] if r.view.change_pct is not None]
    return short(("；" if language == "zh" else "; ").join(parts) or data.tone, 120)


@blueprint.get("/price/<path:name>")
def price(name: str):
    """A product's latest quote, its history chart with the low–high band, and the recent quotes."""
    bot = _bot()
    language = _language()
    catalog = bot.catalog()
    product = catalog.resolve(name)
    if product is None:
        guess = next(iter(catalog.suggest(name)), None)
        return _not_found(WORDS[language]["unknown_product"].format(name=name), guess)
    today = bot.clock().date()
    with bot.db.session() as session:
        view = latest_price(session, product, today)
        history = price_history(session, view, HISTORY_QUOTES) if view else []
    rows = []
    for previous, point in zip([None, *history], history):
        rows.append((point, point.mid - previous.mid if previous else None))
    title = f"{product.name(language)} · {WORDS[language]['history']}"
    chart = ""
    if view:
        unit = bot.router.renderer.units.view(view, language)
        chart = band_chart(history, title, label=lambda v: unit.figure(v) + unit.suffix,
                           day=lambda d: day_label(d, language))
    return _page("price.html", product=product, view=view, chart=chart,
                 recent=list(reversed(rows))[:TABLE_QUOTES], last_trading_day=last_trading_day(today),
                 period=(min(p.low for p in history), max(p.high for p in history)) if history else None,
                 history=history, share=product.code)


@blueprint.get("/chart/<code>.png")
def chart_png(code: str):
    """A small chart of a product's last 90 days: the image of the pages' share cards."""
    bot = _bot()
    language = _language()
    product = bot.catalog().by_code.get(code)
    if product is None:
        return _not_found(WORDS[language]["unknown_product"].format(name=code))
    with bot.db.session() as session:
        data = chart_data(session, product, SHARE_DAYS, bot.clock().date(), language, bot.router.renderer.units)
    if data is None:
        return _not_found(WORDS[language]["no_quote"])
    response = make_response(render_png(data, *SHARE_SIZE))
    response.mimetype = "image/png"
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    response.vary.add("Accept-Language")
    response.add_etag()
    return response.make_conditional(request)


def _base_url() -> str:
    """Where the pages are seen from, for the absolute URLs share cards need."""
    return (_bot().config["public_base_url"] or request.host_url).rstrip("/")
