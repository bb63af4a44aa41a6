"""The console's push pages over real HTTP to the API emulator: runs, ledger, retry, preview, send now."""
from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from admin_helpers import add_admin, english, sign_in, token
from bot.admin.pushes import BACKGROUND
from bot.models import AuditLog, Delivery, PushRun, Subscriber
from bot.push.run import DailyPush
from emulator import APP_ID, APP_SECRET

TEMPLATE = "/cgi-bin/message/template/send"


@pytest.fixture
def console(make_app, emulator):
    """(bot, signed-in client) with WeChat template pushes going to the emulator."""
    app = make_app(**{"wechat.app_id": APP_ID, "wechat.app_secret": APP_SECRET, "wechat.api_base_url": emulator.url,
                      "push.wechat.template_id": "TPL-DAILY", "push.backoff_seconds": 0.01,
                      "push.max_attempts": 2, "push.workers": 1, "http.timeout_seconds": 1.0})
    bot = app.extensions["rebot"]
    add_admin(bot)
    client = english(app)
    sign_in(client)
    yield bot, client
    BACKGROUND.wait(30)


def add(bot, *openids, products=(), language="zh"):
    with bot.db.session() as session:
        session.execute(insert(Subscriber), [
            {"channel": "wechat", "external_id": o, "display_name": f"name-{o}", "products": list(products),
             "daily_summary": True, "status": "active", "language": language} for o in openids])


def post(client, path, data=None):
    return client.post(path, data={"csrf_token": token(client, "/admin/"), **(data or {})})


def ids(bot, model):
    with bot.db.session() as session:
        return list(session.scalars(select(model.id).order_by(model.id)))


def test_runs_ledger_and_retry_of_the_failed(console, emulator):
    bot, client = console
    add(bot, "o-ann", "o-bob", "o-gone")
    emulator.recipient_error("o-gone", 40003)  # an invalid openid: failed for good
    emulator.fault(TEMPLATE, errcode=-1, times=2)  # the first call fails twice: transient, then failed
    report = DailyPush(bot).run()
    assert (report.counts["sent"], report.counts["failed"]) == (1, 2)
    (run_id,) = ids(bot, PushRun)

    runs = client.get("/admin/pushes").get_data(as_text=True)
    assert f"/admin/pushes/{run_id}" in runs and "2025-06-11" in runs
    page = client.get(f"/admin/pushes/{run_id}").get_data(as_text=True)
    assert "40003" in page and "name-o-gone" in page and "Retry the failed (2)" in page
    only_failed = client.get(f"/admin/pushes/{run_id}?status=failed").get_data(as_text=True)
    assert "name-o-gone" in only_failed and only_failed.count("status-sent") == 0
    dashboard = client.get("/admin/").get_data(as_text=True)
    assert f"/admin/pushes/{run_id}" in dashboard and "Next runs" in dashboard and "17:30" in dashboard

    retried = post(client, f"/admin/pushes/{run_id}/retry")
    assert retried.status_code == 302
    BACKGROUND.wait(30)
    with bot.db.session() as session:
        statuses = dict(session.execute(select(Delivery.recipient, Delivery.status)).all())
    assert statuses == {"o-ann": "sent", "o-bob": "sent", "o-gone": "failed"}  # a bad openid is not retried
    assert sum(len(emulator.inbox(o)) for o in ("o-ann", "o-bob")) == 2  # nobody got it twice
    with bot.db.session() as session:
        assert session.scalars(select(AuditLog.action)).all() == ["push.retry_failed"]
    assert client.get("/admin/pushes/999").status_code == 404
    assert post(client, "/admin/pushes/999/retry").status_code == 404


def test_send_now_asks_for_confirmation_then_sends_once(console, emulator):
    bot, client = console
    add(bot, "o-ann", "o-bob")
    ask = client.get("/admin/pushes/send").get_data(as_text=True)
    assert "The daily summary of 2025-06-11 goes to the subscribers who get it (2 active), on: wechat." in ask
    refused = post(client, "/admin/pushes/send")
    assert refused.status_code == 400 and "Tick the box" in refused.get_data(as_text=True)
    assert ids(bot, PushRun) == [] and emulator.delivered == []
    sent = post(client, "/admin/pushes/send", {"confirm": "yes"})
    assert sent.status_code == 302
    assert "Push started" in client.get(sent.headers["Location"]).get_data(as_text=True)
    BACKGROUND.wait(30)
    assert len(emulator.inbox("o-ann")) == len(emulator.inbox("o-bob")) == 1
    assert "exists already (done)" in client.get("/admin/pushes/send").get_data(as_text=True)
    post(client, "/admin/pushes/send", {"confirm": "yes"})  # again: the run is done, nothing goes out twice
    BACKGROUND.wait(30)
    assert len(emulator.delivered) == 2
    with bot.db.session() as session:
        assert session.scalars(select(AuditLog.action)).all() == ["push.send_now", "push.send_now"]


def test_preview_for_a_subscriber_sends_nothing(console, emulator):
    bot, client = console
    add(bot, "o-dy", products=["Dy-oxide"], language="en")
    (sub_id,) = ids(bot, Subscriber)
    page = client.get(f"/admin/pushes/preview?subscriber={sub_id}").get_data(as_text=True)
    assert "Dy oxide" in page and "PrNd oxide" not in page and "keyword2" in page
    by_openid = client.get("/admin/pushes/preview?subscriber=o-dy&date=2025-06-10").get_data(as_text=True)
    assert "2025-06-10" in by_openid and "Dy oxide" in by_openid
    missing = client.get("/admin/pushes/preview?subscriber=nobody")
    assert missing.status_code == 400 and "no subscriber &#39;nobody&#39;" in missing.get_data(as_text=True)
    assert client.get("/admin/pushes/preview?subscriber=1&date=June").status_code == 400
    assert emulator.delivered == [] and ids(bot, PushRun) == []


def test_subscriber_page_shows_its_delivery_history(console, emulator):
    bot, client = console
    add(bot, "o-ann")
    emulator.recipient_error("o-ann", 43004)
    DailyPush(bot).run()
    (sub_id,) = ids(bot, Subscriber)
    page = client.get(f"/admin/subscribers/{sub_id}").get_data(as_text=True)
    assert "2025-06-11 daily" in page and "43004" in page
