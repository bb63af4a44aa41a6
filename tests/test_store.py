"""Storing quotes and news: idempotent, checked, quarantined when suspicious, corrections and approvals."""
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.db import Database
from bot.ingest.extract import Quote
from bot.ingest.store import (NewsEntry, approve_quote, canonical_url, reject_quote, store_news,
                              store_quotes)
from bot.models import NewsItem, PriceQuote, QuarantinedQuote

DAY = date(2025, 6, 12)  # the day after the demo history


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def q(product, low, high=None, unit="yuan/t", day=DAY):
    return Quote(product, Decimal(low), Decimal(high if high is not None else low), unit, f"{product} at {low}", day)


def rows(session, source="site"):
    return [(r.product_code, r.date, r.low, r.high, r.unit)
            for r in session.scalars(select(PriceQuote).where(PriceQuote.source == source).order_by(PriceQuote.id))]


def test_new_quotes_are_stored_and_a_refetch_changes_nothing(db):
    quotes = [q("PrNd-oxide", 448000, 450000), q("Dy-oxide", 1630000, 1640000)]
    with db.session() as session:
        first = store_quotes(session, quotes, source="site")
    with db.session() as session:
        again = store_quotes(session, quotes, source="site")
        assert rows(session) == [("PrNd-oxide", DAY, 448000, 450000, "yuan/t"),
                                 ("Dy-oxide", DAY, 1630000, 1640000, "yuan/t")]
    assert [r.product_code for r in first.new] == ["PrNd-oxide", "Dy-oxide"]
    assert (again.new, again.updated, again.unchanged) == ([], [], 2)


def test_a_corrected_figure_updates_the_days_quote(db):
    with db.session() as session:
        store_quotes(session, [q("PrNd-oxide", 448000, 450000)], source="site")
    with db.session() as session:
        result = store_quotes(session, [q("PrNd-oxide", 447000, 449000)], source="site")
        assert [r.low for r in result.updated] == [447000]
        assert rows(session) == [("PrNd-oxide", DAY, 447000, 449000, "yuan/t")]


def test_yuan_per_kg_is_stored_per_tonne_and_export_quotes_are_their_own_series(db):
    with db.session() as session:
        result = store_quotes(session, [q("Tb-metal", 8700, unit="yuan/kg"),
                                        q("PrNd-oxide", 449000), q("PrNd-oxide", 55, 57, unit="usd/kg")],
                              source="site")
        assert result.rejected == [] and result.quarantined == []
        assert rows(session) == [("Tb-metal", DAY, 8700000, 8700000, "yuan/t"),
                                 ("PrNd-oxide", DAY, 449000, 449000, "yuan/t"),
                                 ("PrNd-oxide", DAY, 55, 57, "usd/kg")]


def test_a_jump_beyond_the_threshold_is_quarantined_not_published(db):
    # The demo's last PrNd oxide quote (2025-06-11) has a mid of 449,000.
    with db.session() as session:
        result = store_quotes(session, [q("PrNd-oxide", 540000), q("Dy-oxide", 1640000)], source="site")
        assert [r.product_code for r in result.new] == ["Dy-oxide"]
        [held] = result.quarantined
        assert (held.product_code, held.low, held.status) == ("PrNd-oxide", 540000, "pending")
        assert "moves 20.3% from 449,000 on 2025-06-11 (demo); the limit is 15%" in held.reason
        assert rows(session) == [("Dy-oxide", DAY, 1640000, 1640000, "yuan/t")]
    with db.session() as session:  # fetched again: held once, not twice
        again = store_quotes(session, [q("PrNd-oxide", 540000)], source="site")
        assert again.quarantined == []
        assert session.scalar(select(func.count()).select_from(QuarantinedQuote)) == 1
    with db.session() as session:  # a looser threshold lets it through
        assert len(store_quotes(session, [q("PrNd-oxide", 540000)], source="site", max_jump_pct=25).new) == 1


def test_outside_the_plausible_bounds_is_quarantined(db):
    with db.session() as session:
        result = store_quotes(session, [q("La-oxide", 40000)], source="site")  # ten times too high
        assert result.new == []
        assert result.quarantined[0].reason.startswith("outside the plausible range 2,000–10,000 yuan/t")


def test_unusable_quotes_are_rejected_with_a_reason(db):
    with db.session() as session:
        result = store_quotes(session, [q("Unobtainium", 1), q("PrNd-oxide", 450000, 440000),
                                        q("PrNd-oxide", 449000, day=None)], source="site")
        assert [reason for _q, reason in result.rejected] == [
            "unknown product 'Unobtainium'", "bad range 450000–440000",
            "no date: the text states none and no default date was given"]
        assert rows(session) == []
        assert len(store_quotes(session, [q("PrNd-oxide", 449000, day=None)], source="site",
                                default_date=DAY).new) == 1


def test_approve_publishes_and_reject_keeps_it_out(db):
    with db.session() as session:
        held = store_quotes(session, [q("PrNd-oxide", 540000), q("Dy-oxide", 2000000)], source="site").quarantined
    with db.session() as session:
        approve_quote(session, held[0].id, by="admin")
        reject_quote(session, held[1].id, by="admin")
        with pytest.raises(LookupError):
            approve_quote(session, held[1].id, by="admin")
    with db.session() as session:
        assert rows(session) == [("PrNd-oxide", DAY, 540000, 540000, "yuan/t")]
        again = store_quotes(session, [q("Dy-oxide", 2000000)], source="site")
        assert again.quarantined == [] and again.new == []  # rejected figures are not held again


@pytest.mark.parametrize("url, canonical", [
    ("HTTPS://News.Example.com:443/a/b/?utm_source=x&id=2&a=1#top", "https://news.example.com/a/b?a=1&id=2"),
    ("http://news.example.com:8080/", "http://news.example.com:8080/"),
    ("https://mp.weixin.qq.com/s?__biz=1&mid=2&scene=21", "https://mp.weixin.qq.com/s?__biz=1&mid=2"),
])
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical


def test_news_is_deduplicated_by_canonical_url(db):
    when = datetime(2025, 6, 12, 2, 0)
    entries = [NewsEntry("Market up", "https://news.example.com/a?utm_medium=rss", "s", None, when),
               NewsEntry("Market up (again)", "https://NEWS.example.com/a#comments", "s", None, when),
               NewsEntry("Rare Earth Market - June 11, 2025",
                         "https://news.example-rareearth.com/2025/06/rare-earth-market-june-11-2025.html")]
    with db.session() as session:
        added = store_news(session, entries, source="site")
        assert [(n.title, n.url) for n in added] == [("Market up", "https://news.example.com/a")]
        assert session.scalar(select(func.count()).select_from(NewsItem).where(NewsItem.source == "site")) == 1


def test_a_product_stated_twice_differently_in_one_fetch_keeps_the_first_figure(db):
    with db.session() as session:
        result = store_quotes(session, [q("PrNd-oxide", 452000, 454000), q("PrNd-oxide", 452000, 454000),
                                        q("PrNd-oxide", 453000)], source="site")
        assert rows(session) == [("PrNd-oxide", DAY, 452000, 454000, "yuan/t")]
        assert result.unchanged == 1
        assert [reason for _q, reason in result.rejected] == [
            "453,000–453,000 contradicts 452,000–454,000 stated earlier in the same fetch"]
