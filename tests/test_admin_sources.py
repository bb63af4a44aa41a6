"""The console's sources and quarantine pages, fetching over real HTTP from the local fixture site."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from admin_helpers import add_admin, english, sign_in, token
from bot.models import AuditLog, PriceQuote, QuarantinedQuote


@pytest.fixture
def console(make_app, site):
    app = make_app(**{"ingest.retries": 0, "ingest.timeout": 2, "sources": [
        {"name": "cn-table", "type": "price_table", "url": site.url("/table-gbk.html"), "schedule": "30 17 * * 1-5"},
        {"name": "broken", "type": "html_list", "url": site.url("/broken.html"), "schedule": "0 18 * * 1-5"}]})
    bot = app.extensions["rebot"]
    add_admin(bot)
    client = english(app)
    sign_in(client)
    return bot, client


def post(client, path):
    return client.post(path, data={"csrf_token": token(client, "/admin/")})


def test_fetch_now_then_status_and_freshness(console):
    bot, client = console
    before = client.get("/admin/sources").get_data(as_text=True)
    assert "cn-table" in before and "30 17 * * 1-5" in before and "Fetch now" in before
    fetched = post(client, "/admin/sources/cn-table/fetch")
    assert "Fetched." in client.get(fetched.headers["Location"]).get_data(as_text=True)
    page = client.get("/admin/sources").get_data(as_text=True)
    assert "5 new quotes, 1 quarantined" in page
    failed = post(client, "/admin/sources/broken/fetch")
    page = client.get(failed.headers["Location"]).get_data(as_text=True)
    assert "The fetch failed" in page and "no news items match the selector" in page
    dashboard = client.get("/admin/").get_data(as_text=True)
    assert "Quarantine: <strong>1</strong>" in dashboard and "no news items match the selector" in dashboard
    with bot.db.session() as session:
        assert [(a.action, a.detail["ok"]) for a in session.scalars(select(AuditLog).order_by(AuditLog.id))] == [
            ("source.fetch", True), ("source.fetch", False)]
    assert post(client, "/admin/sources/nope/fetch").status_code == 404


def test_quarantine_approve_publishes_and_reject_does_not(console):
    bot, client = console
    post(client, "/admin/sources/cn-table/fetch")
    with bot.db.session() as session:
        held = session.scalars(select(QuarantinedQuote)).one()
        held_id = held.id
        # a second suspicious quote to reject
        second = QuarantinedQuote(product_code="Ce-oxide", date=held.date, low=1, high=1, unit="yuan/t",
                                  source="cn-table", reason="below the plausible range", sentence="", status="pending")
        session.add(second)
        session.flush()
        second_id = second.id
    page = client.get("/admin/quarantine").get_data(as_text=True)
    assert "La oxide" in page and "40,000–42,000" in page and "Ce oxide" in page
    assert post(client, f"/admin/quarantine/{held_id}/approve").status_code == 302
    assert post(client, f"/admin/quarantine/{second_id}/reject").status_code == 302
    again = post(client, f"/admin/quarantine/{held_id}/reject")
    assert again.status_code == 409 and "decided already" in again.get_data(as_text=True)
    assert post(client, "/admin/quarantine/999/approve").status_code == 404
    with bot.db.session() as session:
        published = {q.product_code: q.low for q in session.scalars(select(PriceQuote)
                                                                     .where(PriceQuote.source == "cn-table"))}
        states = {q.product_code: (q.status, q.decided_by) for q in session.scalars(select(QuarantinedQuote))}
        actions = [a.action for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert published["La-oxide"] == 40000 and "Ce-oxide" not in published
    assert states == {"La-oxide": ("approved", "web:alice"), "Ce-oxide": ("rejected", "web:alice")}
    assert actions == ["source.fetch", "quarantine.approve", "quarantine.reject"]
