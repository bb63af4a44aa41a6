"""Price alerts: every chat form in both languages, and firing through a real fetch and the emulator's APIs."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.alerts import deliver_pending
from bot.ingest.jobs import run_source, sources_of
from bot.ingest.store import store_quotes
from bot.ingest.extract import Quote
from bot.messages import Message
from bot.models import Alert, Delivery, PushRun, Subscriber
from conftest import DEMO_NOW
from emulator import APP_ID, APP_SECRET

TRADER = "oTrader-openid-0001"


def ask(bot, text, user=TRADER, channel="wechat"):
    return bot.answer(Message(channel, user, text=text)).text


def alerts_of(bot, user=TRADER):
    with bot.db.session() as session:
        sub = session.scalars(select(Subscriber).where(Subscriber.external_id == user)).first()
        if sub is None:
            return []
        return [(a.product_code, a.kind, a.threshold, a.armed) for a in
                session.scalars(select(Alert).where(Alert.subscriber_id == sub.id).order_by(Alert.id))]


@pytest.mark.parametrize("text, expected, words", [
    ("alert PrNd > 460000", ("PrNd-oxide", "above", Decimal(460000)), "Alert #1 set: PrNd oxide"),
    ("alert PrNd > 460k", ("PrNd-oxide", "above", Decimal(460000)), "above 460,000 yuan/t"),
    ("alert 镝铁 < 150万", ("DyFe", "below", Decimal(1500000)), "低于 150 万元/吨"),
    ("alert DyFe below 1.5M", ("DyFe", "below", Decimal(1500000)), "below 1,500,000 yuan/t"),
    ("alert PrNd 3%", ("PrNd-oxide", "move", Decimal(3)), "daily move of 3% or more"),
    ("提醒 镨钕 > 46万", ("PrNd-oxide", "above", Decimal(460000)), "已设提醒 #1：氧化镨钕（PrNd-oxide）高于 46 万元/吨"),
    ("提醒 镨钕 ＞ 46万元", ("PrNd-oxide", "above", Decimal(460000)), "高于 46 万元/吨"),
    ("提醒 镝铁 低于 150万", ("DyFe", "below", Decimal(1500000)), "低于 150 万元/吨"),
    ("提醒 镨钕 3%", ("PrNd-oxide", "move", Decimal(3)), "日涨跌幅 ≥ 3%"),
    ("alert Tb metal > 9,000,000", ("Tb-metal", "above", Decimal(9000000)), "above 9,000,000 yuan/t"),
])
def test_every_alert_form_sets_one_alert_in_the_products_unit(bot, text, expected, words):
    reply = ask(bot, text)
    assert words in reply
    assert [row[:3] for row in alerts_of(bot)] == [expected]


def test_list_and_delete_in_both_languages(bot):
    ask(bot, "alert PrNd > 460000")
    ask(bot, "提醒 镝铁 < 150万")
    ask(bot, "alert PrNd 3%")
    listing = ask(bot, "alerts")
    assert listing.splitlines()[1:4] == ["1. PrNd oxide (PrNd-oxide) above 460,000 yuan/t",
                                         "2. DyFe (DyFe) below 1,500,000 yuan/t",
                                         "3. PrNd oxide (PrNd-oxide) daily move of 3% or more"]
    assert "2. 镝铁合金（DyFe）低于 150 万元/吨" in ask(bot, "我的提醒")
    deleted = ask(bot, "alert del 2")
    assert deleted.startswith("Deleted alert 2: DyFe (DyFe) below 1,500,000 yuan/t.")
    assert "2. PrNd oxide (PrNd-oxide) daily move of 3% or more" in deleted
    assert ask(bot, "删除提醒 1").startswith("已删除提醒 1：氧化镨钕（PrNd-oxide）高于 46 万元/吨")
    assert [row[1] for row in alerts_of(bot)] == ["move"]
    assert ask(bot, "提醒 删除 1").startswith("已删除提醒 1")
    assert "no price alerts" in ask(bot, "alerts") and "还没有价格提醒" in ask(bot, "我的提醒")


@pytest.mark.parametrize("text, words", [
    ("alert PrNd", "alert PrNd > 460000 (or 460k, 46万)"),
    ("alert PrNd > lots", "alert PrNd > 460000"),
    ("提醒 镨钕 大约 46万", "提醒 镨钕 > 46万"),
    ("alert PrNd 0%", "e.g. alert PrNd 3%"),
    ("提醒 镨钕 300%", "如：提醒 镨钕 3%"),
    ("alert PrNd > 0", "must be a positive amount"),
    ("alert Unobtainium > 5", 'Unknown product "Unobtainium"'),
    ("alert del x", "no price alerts to delete"),
    ("删除提醒", "您没有可删除的价格提醒"),
])
def test_a_bad_form_gets_an_example_and_sets_nothing(bot, text, words):
    assert words in ask(bot, text)
    assert alerts_of(bot) == []


def test_a_wrong_number_names_the_count_and_the_same_alert_is_not_added_twice(bot):
    ask(bot, "alert PrNd > 460000")
    assert "There is no alert 4: you have 1." in ask(bot, "alert del 4")
    assert "already have this alert (#1)" in ask(bot, "alert PrNd > 460k")
    assert len(alerts_of(bot)) == 1


def test_at_most_max_per_user_alerts(make_app):
    bot = make_app(**{"alerts.max_per_user": 2}).extensions["rebot"]
    ask(bot, "alert PrNd > 460000")
    ask(bot, "alert PrNd < 400000")
    assert "You have 2 alerts, the most allowed" in ask(bot, "alert Dy 3%")
    assert "已达上限" in ask(bot, "提醒 镝 3%")
    assert len(alerts_of(bot)) == 2


def test_an_alert_set_past_its_line_waits_for_the_next_crossing(bot):
    reply = ask(bot, "alert PrNd > 400000")  # the demo's latest mid is 449,000
    assert "already past this line" in reply
    assert alerts_of(bot)[0][3] is False


# --- firing -------------------------------------------------------------------------------------------------

@pytest.fixture
def pusher_app(make_app, emulator, site):
    """An app with a WeChat account on the emulator (customer-service messages) and two JSON price sources."""
    return make_app(**{"wechat.app_id": APP_ID, "wechat.app_secret": APP_SECRET, "wechat.api_base_url": emulator.url,
                      "push.wechat.mode": "custom", "push.backoff_seconds": 0.01,
                      "sources": [{"name": "feed", "type": "json", "url": site.url("/feed.json"),
                                   "schedule": "0 18 * * 1-5"},
                                  {"name": "other", "type": "json", "url": site.url("/other.json"),
                                   "schedule": "0 18 * * 1-5"}]})


@pytest.fixture
def pusher(pusher_app):
    return pusher_app.extensions["rebot"]


def fetch(bot, site, day: str, mid: int, source="feed", spread=2000):
    """Serve one PrNd-oxide quote and run the source the way `rebot fetch` and the scheduler do."""
    site.served[f"/{source}.json"] = json.dumps({"quotes": [
        {"product": "PrNd-oxide", "date": day, "low": mid - spread // 2, "high": mid + spread // 2,
         "unit": "yuan/t"}]}).encode()
    [config] = [s for s in sources_of(bot.config) if s.name == source]
    result = run_source(bot.db, bot.config, config, now=datetime(2025, 6, 20, 18, 0, tzinfo=DEMO_NOW.tzinfo))
    assert result.ok, result.error
    return result


def texts(emulator, user=TRADER):
    return [m["text"]["content"] for m in emulator.inbox(user)]


def test_crossing_fires_once_rearms_only_past_the_hysteresis_margin(pusher, emulator, site):
    ask(pusher, "alert PrNd > 460000")  # latest mid 449,000 on 2025-06-11
    fetch(pusher, site, "2025-06-12", 458000)
    assert texts(emulator) == []
    fetch(pusher, site, "2025-06-13", 461000)  # crosses
    [message] = texts(emulator)
    assert message.splitlines() == ["Price alert: PrNd oxide (PrNd-oxide) above 460,000 yuan/t",
                                    "2025-06-13: mid 461,000 yuan/t (range 460,000–462,000), +0.66% on the day.",
                                    "Source: feed"]
    fetch(pusher, site, "2025-06-16", 463000)  # still above: nothing
    fetch(pusher, site, "2025-06-17", 457000)  # back under the line, but within 1% of it: not re-armed
    fetch(pusher, site, "2025-06-18", 461000)  # hovering at the line: no spam
    assert len(texts(emulator)) == 1
    assert "(fired; waits for the price to move back)" in ask(pusher, "alerts")
    fetch(pusher, site, "2025-06-19", 455000)  # more than 1% under 460,000: re-armed
    fetch(pusher, site, "2025-06-20", 460500)  # crosses again
    assert len(texts(emulator)) == 2 and "2025-06-20: mid 460,500" in texts(emulator)[1]
    with pusher.db.session() as session:
        ledger = session.execute(select(PushRun.kind, PushRun.run_date, PushRun.status, Delivery.status)
                                 .join(Delivery, Delivery.run_id == PushRun.id)
                                 .where(PushRun.kind.like("alert:%")).order_by(PushRun.id)).all()
    assert [(str(day), run, sent) for _kind, day, run, sent in ledger] == [
        ("2025-06-13", "done", "sent"), ("2025-06-20", "done", "sent")]


def test_two_fetches_storing_the_same_quote_fire_once(pusher, emulator, site):
    ask(pusher, "提醒 镨钕 < 44万")
    fetch(pusher, site, "2025-06-12", 438000)
    fetch(pusher, site, "2025-06-12", 438000)  # the same quote again: nothing new
    fetch(pusher, site, "2025-06-12", 438000, source="other")  # another source, same day and crossing
    [message] = texts(emulator)
    assert message.startswith("价格提醒：氧化镨钕（PrNd-oxide）低于 44 万元/吨")
    with pusher.db.session() as session:
        assert session.scalar(select(Delivery.status).join(PushRun, PushRun.id == Delivery.run_id)
                              .where(PushRun.kind.like("alert:%"))) == "sent"


def test_daily_move_alert_and_a_busy_api_is_retried_by_the_next_fetch(pusher, emulator, site):
    ask(pusher, "alert PrNd 3%")
    emulator.fault("/cgi-bin/message/custom/send", errcode=-1, times=1)  # system busy
    fetch(pusher, site, "2025-06-12", 465000)  # +3.6% on 449,000
    assert texts(emulator) == []  # the first call failed: the delivery stays queued
    assert fetch(pusher, site, "2025-06-12", 465000).alerts_sent == 1  # the next fetch run sends it
    [message] = texts(emulator)
    assert "+3.56% on the day" in message
    assert deliver_pending(pusher.db, pusher.config) == 0  # sent once, never again


def test_a_move_alert_in_words_keeps_its_direction(pusher, emulator, site):
    assert "日跌幅 ≥ 3%" in ask(pusher, "提醒 镨钕 跌 3%")
    fetch(pusher, site, "2025-06-12", 465000)  # +3.6%: the wrong way, nothing
    assert texts(emulator) == []
    fetch(pusher, site, "2025-06-13", 448000)  # -3.7%: fires
    [message] = texts(emulator)
    assert message.startswith("价格提醒：氧化镨钕（PrNd-oxide）日跌幅 ≥ 3%") and "日涨跌 -3.66%" in message


def test_manual_entry_and_an_approved_quote_fire_alerts_too(pusher, emulator):
    from bot.ingest.store import approve_quote
    from bot.market import manual

    ask(pusher, "alert PrNd > 460000")
    ask(pusher, "alert PrNd < 300000", user="oOther")
    with pusher.db.session() as session:
        manual.record_quote(session, "cli", pusher.catalog().by_code["PrNd-oxide"], DEMO_NOW.date().replace(day=12),
                            Decimal(461000), Decimal(463000), "manual")
    deliver_pending(pusher.db, pusher.config)
    assert len(texts(emulator)) == 1 and texts(emulator, "oOther") == []
    with pusher.db.session() as session:  # a 35% drop is quarantined, then approved by an admin
        held = store_quotes(session, [Quote("PrNd-oxide", Decimal(290000), Decimal(292000), "yuan/t", "",
                                            DEMO_NOW.date().replace(day=13))], "feed").quarantined
    assert held and texts(emulator, "oOther") == []
    with pusher.db.session() as session:
        approve_quote(session, held[0].id, "admin")
    deliver_pending(pusher.db, pusher.config)
    assert texts(emulator, "oOther")[0].startswith("Price alert: PrNd oxide (PrNd-oxide) below 300,000 yuan/t")


def test_a_paused_subscriber_gets_no_alert(pusher, emulator, site):
    ask(pusher, "alert PrNd > 460000")
    with pusher.db.session() as session:
        session.scalars(select(Subscriber).where(Subscriber.external_id == TRADER)).one().status = "paused"
    fetch(pusher, site, "2025-06-12", 461000)
    assert texts(emulator) == []


def test_cooldown_keeps_a_re_armed_alert_quiet_until_it_has_passed(make_app, emulator, site):
    app = make_app(**{"wechat.app_id": APP_ID, "wechat.app_secret": APP_SECRET, "wechat.api_base_url": emulator.url,
                      "push.wechat.mode": "custom", "alerts.cooldown_minutes": 60,
                      "sources": [{"name": "feed", "type": "json", "url": site.url("/feed.json"),
                                   "schedule": "0 18 * * 1-5"}]})
    bot = app.extensions["rebot"]
    ask(bot, "alert PrNd > 460000")
    fetch(bot, site, "2025-06-12", 461000)  # fires
    fetch(bot, site, "2025-06-13", 450000)  # re-armed
    fetch(bot, site, "2025-06-16", 462000)  # crosses again within the hour: quiet
    assert len(texts(emulator)) == 1
    with bot.db.session() as session:
        alert = session.scalars(select(Alert)).one()
        alert.fired_at -= timedelta(hours=2)
    fetch(bot, site, "2025-06-17", 463000)  # still above, the cooldown over: the pending crossing is told
    assert len(texts(emulator)) == 2 and "2025-06-17: mid 463,000" in texts(emulator)[1]


def test_a_wecom_member_gets_the_alert_as_an_app_message(make_app, emulator, site):
    from emulator import AGENT_ID, CORP_ID, CORP_SECRET

    app = make_app(**{"wecom.corp_id": CORP_ID, "wecom.agent_id": AGENT_ID, "wecom.secret": CORP_SECRET,
                      "wecom.api_base_url": emulator.url,
                      "sources": [{"name": "feed", "type": "json", "url": site.url("/feed.json"),
                                   "schedule": "0 18 * * 1-5"}]})
    bot = app.extensions["rebot"]
    assert "企业微信" not in ask(bot, "提醒 镨钕 3%", user="lisi", channel="wecom")
    assert "Alerts are sent on WeChat and WeCom" in ask(bot, "alert PrNd 3%", user="console-user", channel="console")
    fetch(bot, site, "2025-06-12", 434000)  # -3.34%
    [message] = emulator.inbox("lisi")
    assert message["msgtype"] == "text" and "日涨跌 -3.34%" in message["text"]["content"]
    with bot.db.session() as session:
        assert dict(session.execute(select(Delivery.channel, Delivery.status)).all()) == {
            "wecom": "sent", "console": "skipped"}


def test_a_quote_entered_in_the_admin_console_is_alerted_at_once(pusher_app, emulator):
    from admin_helpers import add_admin, english, sign_in, token

    bot = pusher_app.extensions["rebot"]
    ask(bot, "alert PrNd > 460000")
    add_admin(bot)
    client = english(pusher_app)
    assert sign_in(client).status_code == 302
    response = client.post("/admin/prices/PrNd-oxide", data={
        "csrf_token": token(client, "/admin/"), "date": "2025-06-11", "low": "460,000", "high": "464000",
        "source": "manual"})
    assert response.status_code == 302
    [message] = texts(emulator)
    assert "2025-06-11: mid 462,000 yuan/t" in message and message.endswith("Source: manual")

def test_two_sources_storing_the_crossing_at_once_fire_once(pusher, emulator, site):
    from concurrent.futures import ThreadPoolExecutor

    ask(pusher, "alert PrNd > 460000")
    for name in ("feed", "other"):
        site.served[f"/{name}.json"] = json.dumps({"quotes": [
            {"product": "PrNd-oxide", "date": "2025-06-12", "low": 461000, "high": 463000,
             "unit": "yuan/t"}]}).encode()
    sources = sources_of(pusher.config)
    now = datetime(2025, 6, 12, 18, 0, tzinfo=DEMO_NOW.tzinfo)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda s: run_source(pusher.db, pusher.config, s, now=now), sources))
    assert all(r.ok for r in results) and sum(r.quotes_new for r in results) == 2
    deliver_pending(pusher.db, pusher.config)
    assert len(texts(emulator)) == 1


def test_approving_a_quarantined_quote_in_the_admin_console_alerts_at_once(pusher_app, emulator):
    from admin_helpers import add_admin, english, sign_in, token

    bot = pusher_app.extensions["rebot"]
    ask(bot, "提醒 镨钕 < 30万")
    with bot.db.session() as session:  # a 35% drop: held for an admin
        [held] = store_quotes(session, [Quote("PrNd-oxide", Decimal(290000), Decimal(292000), "yuan/t", "",
                                              DEMO_NOW.date().replace(day=12))], "feed").quarantined
        held_id = held.id
    assert texts(emulator) == []
    add_admin(bot)
    client = english(pusher_app)
    assert sign_in(client).status_code == 302
    response = client.post(f"/admin/quarantine/{held_id}/approve", data={"csrf_token": token(client, "/admin/")})
    assert response.status_code == 302
    [message] = texts(emulator)
    assert message.startswith("价格提醒：氧化镨钕（PrNd-oxide）低于 30 万元/吨")
