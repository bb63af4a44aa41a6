"""Sources fetched over real HTTP from a local fixture site: what lands in the database."""
import time
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.config import build_config
from bot.db import Database
from bot.ingest.jobs import run_source, run_sources, source_jobs, sources_of
from bot.models import NewsItem, PriceQuote, QuarantinedQuote, SourceStatus
from tests.conftest import DEMO_NOW
from tests.fixture_site import SITES

JUNE_12 = date(2025, 6, 12)
NOW = datetime(2025, 6, 12, 18, 0, tzinfo=DEMO_NOW.tzinfo)


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def make_config(db_url, *sources, **settings):
    data = {"database_url": db_url, "ingest.retries": 1, "ingest.backoff": 0.01, "ingest.timeout": 2,
            "sources": [{"schedule": "0 18 * * 1-5", **s} for s in sources], **settings}
    return build_config(data, environ={})


def run(db, config, name=None):
    [source] = [s for s in sources_of(config) if name is None or s.name == name]
    return run_source(db, config, source, now=NOW)


def quotes(db, source):
    with db.session() as session:
        return [(q.product_code, q.date, q.low, q.high, q.unit) for q in session.scalars(
            select(PriceQuote).where(PriceQuote.source == source).order_by(PriceQuote.id))]


def status(db, name):
    with db.session() as session:
        return session.get(SourceStatus, name)


def test_seed_listing_stores_news_once_and_the_reports_prices(db, db_url, site):
    config = make_config(db_url, {"name": "seed", "type": "html_list", "url": site.url("/news/listing.html")})
    result = run(db, config)
    assert result.ok, result.error
    assert (result.items, result.news_new, result.quotes_new) == (5, 3, 5)
    # The market report was followed and extracted: the list in the summary and the article's heavy rare earths.
    assert quotes(db, "seed") == [
        ("PrNd-oxide", date(2025, 6, 11), 449000, 449000, "yuan/t"),
        ("Er-oxide", date(2025, 6, 11), 305000, 305000, "yuan/t"),
        ("DyFe", date(2025, 6, 11), 1610000, 1610000, "yuan/t"),
        ("Dy-oxide", date(2025, 6, 11), 1630000, 1650000, "yuan/t"),
        ("Tb-oxide", date(2025, 6, 11), 7040000, 7060000, "yuan/t"),
    ]
    with db.session() as session:
        news = {n.title: n for n in session.scalars(select(NewsItem).where(NewsItem.source == "seed"))}
    # Two items are the demo's own articles by canonical URL (the link, or the report's <link rel=canonical>).
    assert sorted(news) == ["China’s Regulation of Rare Earth Exports Is Reasonable and Legal",
                            "Impact of China's Rare Earth Export Controls on the Automotive Industries of Some Countries",
                            "Rare Earth Export Controls: Upholding International Economic Order"]
    automotive = news["Impact of China's Rare Earth Export Controls on the Automotive Industries of Some Countries"]
    assert automotive.url == site.url("/2025/06/export-controls-automotive-industries.html")  # no utm_*
    assert automotive.summary.startswith("On June 5, 2025, during the Foreign Ministry's")
    assert automotive.image_url == site.url("/uploads/2025/06/rare-earth-mine-1.jpg")
    state = status(db, "seed")
    assert (state.type, state.runs, state.failures, state.items_seen, state.quotes_new, state.last_error) == \
        ("html_list", 1, 0, 5, 5, None)
    assert state.etag and state.last_success == state.last_run


def test_a_refetch_is_a_conditional_get_and_adds_nothing(db, db_url, site):
    config = make_config(db_url, {"name": "seed", "type": "html_list", "url": site.url("/listing.html")})
    assert run(db, config).ok
    again = run(db, config)
    assert again.ok and again.not_modified
    listing_requests = [headers for path, headers in site.requests if path == "/listing.html"]
    assert "If-None-Match" in listing_requests[1] and listing_requests[1]["User-Agent"].startswith("rebot/")
    assert len(quotes(db, "seed")) == 5
    assert status(db, "seed").runs == 2 and status(db, "seed").items_seen == 5


CUSTOM_LISTING = """<html><head><meta charset="utf-8"></head><body>
<ul class="news">
  <li class="entry"><span class="headline">稀土日评：市场平稳运行</span> <span class="when">2025-06-11 17:30</span>
      <a class="go" href="/2025/06/rare-earth-market-june-11-2025.html?utm_source=cn">详情</a></li>
  <li class="entry"><span class="headline">Light rare earths firm</span> <span class="when">2025-06-12 09:30</span>
      <div class="intro"></div><a class="go" href="/2025/06/daily-report-2025-06-12.html">more</a></li>
  <li class="entry"><span class="headline">Gone</span><a class="go" href="/2025/06/missing.html">more</a></li>
</ul></body></html>""".encode()


def test_custom_selectors_and_following_articles(db, db_url, site):
    site.served["/cn/list"] = CUSTOM_LISTING
    config = make_config(db_url, {
        "name": "custom", "type": "html_list", "url": site.url("/cn/list"), "follow": True,
        "selectors": {"item": "ul.news > li.entry", "title": ".headline", "link": "a.go", "summary": ".intro",
                      "date": ".when"},
    })
    result = run(db, config)
    assert result.ok and result.items == 3
    # 稀土日评 is a market report: its article's prices count (the article's own date, June 11).
    assert [(p, d) for p, d, *_rest in quotes(db, "custom")] == [
        ("PrNd-oxide", date(2025, 6, 11)), ("Er-oxide", date(2025, 6, 11)), ("DyFe", date(2025, 6, 11)),
        ("Dy-oxide", date(2025, 6, 11)), ("Tb-oxide", date(2025, 6, 11))]
    with db.session() as session:
        items = session.scalars(select(NewsItem).where(NewsItem.source == "custom").order_by(NewsItem.id)).all()
    # The first item is the demo's article (its canonical URL); the second's summary comes from its body;
    # the third is kept although its article is missing. Times without an offset are Asia/Shanghai.
    assert [(i.title, i.published_at) for i in items] == [("Light rare earths firm", datetime(2025, 6, 12, 1, 30)),
                                                          ("Gone", datetime(2025, 6, 12, 10, 0))]
    item = items[0]
    assert item.summary.startswith("Prices of light rare earths firmed on Thursday")
    # The missing article is reported; the other items are kept.
    assert result.problems == [f"article 'Gone': {site.url('/2025/06/missing.html')}: HTTP 404 Not Found"]
    assert status(db, "custom").last_error.startswith("partial: article 'Gone'")


def test_english_daily_report_then_the_bot_shows_the_fetched_price(db_url, site, make_app):
    config = make_config(db_url, {"name": "daily-en", "type": "report",
                                  "url": site.url("/2025/06/daily-report-2025-06-12.html")})
    app = make_app(clock=lambda: NOW)
    bot = app.extensions["rebot"]
    from bot.messages import Message

    before = bot.answer(Message("console", "u1", text="price PrNd")).text  # cached until the market changes
    assert before.splitlines()[0] == "PrNd oxide (PrNd-oxide) · 2025-06-11"
    result = run(bot.db, config)
    assert result.ok, result.error
    assert quotes(bot.db, "daily-en") == [
        ("PrNd-oxide", JUNE_12, 452000, 454000, "yuan/t"),
        ("Nd-oxide", JUNE_12, 458000, 460000, "yuan/t"),
        ("Dy-oxide", JUNE_12, 1630000, 1650000, "yuan/t"),
        ("Tb-oxide", JUNE_12, 7040000, 7060000, "yuan/t"),
        ("PrNd-metal", JUNE_12, 550000, 552000, "yuan/t"),
        ("Tb-metal", JUNE_12, 8690000, 8710000, "yuan/t"),
        ("PrNd-oxide", JUNE_12, 62, 63, "usd/kg"),
    ]
    reply = bot.answer(Message("console", "u1", text="price PrNd")).text
    assert reply.splitlines()[0] == "PrNd oxide (PrNd-oxide) · 2025-06-12"
    assert "452,000" in reply and "Source: daily-en" in reply and "usd" not in reply.lower()


def test_chinese_gbk_price_table_with_a_quarantined_row(db, db_url, site):
    config = make_config(db_url, {"name": "cn-table", "type": "price_table", "url": site.url("/table-gbk.html")})
    result = run(db, config)
    assert result.ok, result.error
    assert quotes(db, "cn-table") == [
        ("PrNd-oxide", JUNE_12, 452000, 454000, "yuan/t"),
        ("PrNd-metal", JUNE_12, 550000, 552000, "yuan/t"),
        ("Dy-oxide", JUNE_12, 1630000, 1650000, "yuan/t"),
        ("DyFe", JUNE_12, 1600000, 1620000, "yuan/t"),
        ("Tb-oxide", JUNE_12, 7040000, 7060000, "yuan/t"),
    ]
    with db.session() as session:
        [held] = session.scalars(select(QuarantinedQuote)).all()
        assert (held.product_code, held.low, held.source, held.status) == ("La-oxide", 40000, "cn-table", "pending")
        assert held.sentence == "氧化镧 | 40000-42000 | 41000 | 0"
    assert status(db, "cn-table").quotes_quarantined == 1


def test_rss_and_atom_feeds(db, db_url, site):
    config = make_config(db_url, {"name": "rss", "type": "rss", "url": site.url("/feed.xml")},
                         {"name": "atom", "type": "rss", "url": site.url("/atom.xml")})
    rss = run(db, config, "rss")
    assert rss.ok, rss.error
    # The June 12 report item was followed and extracted; the June 11 one is the demo's article.
    assert rss.quotes_new == 7 and rss.news_new == 2
    with db.session() as session:
        titles = {n.title: (n.url, n.published_at) for n in session.scalars(select(NewsItem).where(
            NewsItem.source.in_(["rss", "atom"])))}
    assert titles["Magnet exports rise in May"] == (
        "https://news.example-rareearth.com/2025/06/magnet-exports-may.html", datetime(2025, 6, 11, 2, 0))
    atom = run(db, config, "atom")
    assert atom.ok and atom.news_new == 1 and atom.problems == ["a feed entry without a title or link"]
    with db.session() as session:
        item = session.scalars(select(NewsItem).where(NewsItem.source == "atom")).one()
    assert (item.title, item.summary, item.published_at) == (
        "工信部发布2025年稀土开采总量控制指标", "指标与去年持平。", datetime(2025, 6, 12, 0, 0))


def test_a_broken_page_fails_and_keeps_the_good_data(db, db_url, site):
    good = make_config(db_url, {"name": "seed", "type": "html_list", "url": site.url("/listing.html")})
    assert run(db, good).ok
    success = status(db, "seed").last_success
    broken = make_config(db_url, {"name": "seed", "type": "html_list", "url": site.url("/broken.html")})
    result = run(db, broken)
    assert not result.ok
    assert "no news items match the selector" in result.error and "broken.html" in result.error
    assert len(quotes(db, "seed")) == 5
    state = status(db, "seed")
    assert (state.failures, state.last_success) == (1, success)
    assert state.last_error == result.error


def test_a_server_error_is_retried_then_reported(db, db_url, site):
    config = make_config(db_url, {"name": "down", "type": "report", "url": site.url("/status/500")},
                         **{"ingest.retries": 2})
    result = run(db, config)
    assert result.error == f"{site.url('/status/500')}: HTTP 500 Internal Server Error (after 3 attempts)"
    assert site.hits("/status/500") == 3


def test_a_transient_error_is_retried_to_success(db, db_url, site):
    site.failures = 1
    config = make_config(db_url, {"name": "flaky", "type": "report",
                                  "url": site.url("/flaky/daily-report-2025-06-12.html")})
    assert run(db, config).quotes_new == 7
    assert site.hits("/flaky/") == 2


def test_a_slow_server_times_out(db, db_url, site):
    site.delay = 1.0
    config = make_config(db_url, {"name": "slow", "type": "report", "url": site.url("/slow/daily-report-2025-06-12.html")},
                         **{"ingest.timeout": 0.2, "ingest.retries": 0})
    result = run(db, config)
    assert result.error.endswith("no answer within 0.2 s")
    assert quotes(db, "slow") == []


def test_a_trickling_server_is_cut_off_at_the_deadline_and_others_are_not_held_up(db, db_url, site):
    site.delay = 0.2  # a byte every 0.2 s: each receive is quick, the whole body would take minutes
    config = make_config(db_url, {"name": "trickle", "type": "report",
                                  "url": site.url("/trickle/daily-report-2025-06-12.html")},
                         {"name": "good", "type": "report", "url": site.url("/daily-report-2025-06-12.html")},
                         **{"ingest.timeout": 1, "ingest.retries": 0})
    started = time.monotonic()
    trickle, good = run_sources(db, config)
    assert time.monotonic() - started < 2.5
    assert trickle.error.endswith("the response did not arrive within 1 s")
    assert good.ok and good.quotes_new == 7
    assert status(db, "trickle").last_error == trickle.error
    assert status(db, "good").last_success < status(db, "trickle").last_run  # side by side, not after it


def test_a_response_over_the_size_limit_is_refused(db, db_url, site):
    config = make_config(db_url, {"name": "big", "type": "report", "url": site.url("/daily-report-2025-06-12.html")},
                         **{"ingest.max_bytes": 500})
    result = run(db, config)
    assert "over the limit of 500" in result.error and "ingest.max_bytes" in result.error


def test_json_and_csv_feeds_store_good_rows_and_name_bad_ones(db, db_url, site):
    config = make_config(db_url, {"name": "json", "type": "json", "url": site.url("/prices.json")},
                         {"name": "csv", "type": "csv", "url": (SITES / "prices.csv").as_uri()})
    result = run(db, config, "json")
    assert quotes(db, "json") == [("PrNd-oxide", JUNE_12, 452000, 454000, "yuan/t"),
                                  ("Dy-oxide", JUNE_12, 1630000, 1650000, "yuan/t"),
                                  ("PrNd-oxide", JUNE_12, 62, 63, "usd/kg")]
    assert result.problems == ["quotes[3]: unknown product 'Unobtainium'",
                               "quotes[4]: date '12/06/2025' is not YYYY-MM-DD"]
    result = run(db, config, "csv")
    assert quotes(db, "csv") == [("PrNd-oxide", JUNE_12, 452000, 454000, "yuan/t"),
                                 ("Tb-metal", JUNE_12, 8690000, 8710000, "yuan/t"),
                                 ("Dy-oxide", JUNE_12, 1630000, 1630000, "yuan/t")]
    assert result.problems == ["line 5: unit 'yuan/lb' is not one of yuan/t, yuan/kg, usd/kg"]


def test_run_sources_and_scheduler_jobs(db, db_url, site):
    config = make_config(db_url, {"name": "a", "type": "report", "url": site.url("/daily-report-2025-06-12.html")},
                         {"name": "b", "type": "report", "url": site.url("/status/500"), "schedule": "*/30 * * * *"},
                         {"name": "off", "type": "rss", "url": site.url("/feed.xml"), "enabled": False})
    from bot.push.scheduler import jobs as scheduled
    from bot.service import Bot

    found = {job.id: job for job in scheduled(config)}
    assert [(job.id, job.cron) for job in source_jobs(config)] == [("fetch.a", "0 18 * * 1-5"),
                                                                   ("fetch.b", "*/30 * * * *")]
    assert set(found) == {"push.daily", "push.resume", "fetch.a", "fetch.b", "alerts.deliver", "dedup.prune",
                          "answers.late"}
    bot = Bot(config)
    try:
        assert found["fetch.a"].func(bot).ok
    finally:
        bot.db.dispose()
    assert [r.ok for r in run_sources(db, config)] == [True, False]
    with pytest.raises(KeyError, match="no source named 'zz' \\(sources: a, b\\)"):
        run_sources(db, config, "zz")


def test_quote_values_are_exact_decimals(db, db_url, site):
    config = make_config(db_url, {"name": "daily-en", "type": "report", "url": site.url("/daily-report-2025-06-12.html")})
    run(db, config)
    with db.session() as session:
        total = session.scalar(select(func.sum(PriceQuote.low)).where(PriceQuote.source == "daily-en"))
    assert Decimal(total) == Decimal(452000 + 458000 + 1630000 + 7040000 + 550000 + 8690000 + 62)


def test_a_report_page_with_a_table_and_prose_keeps_the_tables_figure(db, db_url, site):
    config = make_config(db_url, {"name": "cn-report", "type": "report", "url": site.url("/table-gbk.html")})
    result = run(db, config)
    assert result.ok, result.error
    assert [(p, lo, hi) for p, _d, lo, hi, _u in quotes(db, "cn-report")][:1] == [("PrNd-oxide", 452000, 454000)]
    assert (result.quotes_new, result.quotes_quarantined) == (5, 1)
    # The paragraph's 45.3万元/吨 (a mid, not the range) contradicts the table: reported, not stored.
    assert result.problems == ["PrNd-oxide: 453,000–453,000 contradicts 452,000–454,000 stated earlier in the same fetch"]


def test_the_scheduler_runs_each_source_on_its_schedule(make_app, site):
    from bot.push.scheduler import build_scheduler, jobs, run_once

    app = make_app(sources=[{"name": "daily-en", "type": "report", "schedule": "0 18 * * 1-5",
                             "url": site.url("/2025/06/daily-report-2025-06-12.html")}],
                   **{"ingest.retries": 0})
    bot = app.extensions["rebot"]
    scheduler = build_scheduler(bot)
    trigger = scheduler.get_job("fetch.daily-en").trigger
    friday = datetime(2025, 6, 13, 19, 0, tzinfo=DEMO_NOW.tzinfo)
    assert trigger.get_next_fire_time(None, friday) == datetime(2025, 6, 16, 18, 0, tzinfo=DEMO_NOW.tzinfo)
    [job] = [j for j in jobs(bot.config) if j.id == "fetch.daily-en"]
    assert run_once(bot, job)
    assert len(quotes(bot.db, "daily-en")) == 7
    assert status(bot.db, "daily-en").runs == 1
