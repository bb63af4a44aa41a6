"""The console as a Chinese desk reads it: local times, product names and 万元/吨, a freshness alarm, "send now"
refused with its reason, a subscriber's alerts; and the ledger and subscriber list as cards on a phone."""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from admin_helpers import add_admin, sign_in, token
from bot.admin.auth import AdminError
from bot.models import Alert, PushRun, Subscriber
from conftest import SHANGHAI
from served import served_url
from test_admin_browser import ARTIFACTS, browser  # noqa: F401 - a fixture
from test_admin_web import add_subscriber


def chinese_admin(app):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    try:
        add_admin(app.extensions["rebot"])
    except AdminError:  # a second app on the same database
        pass
    assert sign_in(client).status_code == 302
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def test_times_are_shown_in_the_configured_time_zone(make_app):
    app = make_app()
    sub_id = add_subscriber(app.extensions["rebot"], "oTime")
    with app.extensions["rebot"].db.session() as session:
        session.get(Subscriber, sub_id).created_at = datetime(2025, 6, 11, 9, 30)  # stored as naive UTC
    page = text(chinese_admin(app).get(f"/admin/subscribers/{sub_id}"))
    assert "2025-06-11 17:30" in page and "UTC" not in page  # Asia/Shanghai
    tokyo = make_app(timezone="Asia/Tokyo")
    assert "2025-06-11 18:30" in text(chinese_admin(tokyo).get(f"/admin/subscribers/{sub_id}"))


def test_names_and_units_in_the_consoles_language(make_app):
    app = make_app()
    add_subscriber(app.extensions["rebot"], "oNames", products=["PrNd-oxide", "Dy-oxide"])
    client = chinese_admin(app)
    listing = text(client.get("/admin/subscribers"))
    assert "氧化镨钕、氧化镝" in listing and "PrNd-oxide," not in listing
    prices = text(client.get("/admin/prices"))
    assert "万元/吨" in prices and "yuan/t" not in prices and ">44.9<" in prices


def test_the_dashboard_raises_a_freshness_alarm_and_says_the_push_will_be_skipped(make_app):
    app = make_app(clock=lambda: datetime(2025, 6, 16, 12, 0, tzinfo=SHANGHAI))  # Monday: no quote since Wednesday
    with app.extensions["rebot"].db.session() as session:
        session.add(PushRun(kind="daily", run_date=date(2025, 6, 11), status="done", data_date=date(2025, 6, 11),
                            reason=""))
    page = text(chinese_admin(app).get("/admin/"))
    assert "今日推送将被跳过：没有比上次推送更新的报价。" in page
    alarm = re.search(r'<p class="alarm" id="stale-alarm">([^<]+)</p>', page).group(1)
    assert alarm.startswith("最近交易日（2025-06-16）无报价：氧化镨钕、镨钕金属") and "氧化钆" in alarm
    assert re.search(r"氧化镨钕</a></td>\s*<td>06-11</td><td[^>]*>44.9万</td>\s*<td[^>]*>5 天</td>", page)


def test_send_now_is_refused_with_the_reason(make_app):
    app = make_app()  # no WeChat, WeCom or robot configured
    client = chinese_admin(app)
    page = text(client.get("/admin/pushes/send"))
    assert '<p class="error" id="blocked">未配置任何渠道：不会发送任何消息。</p>' in page
    assert re.search(r'<button type="submit" disabled', page)
    refused = client.post("/admin/pushes/send", data={"csrf_token": token(client, "/admin/pushes/send"),
                                                      "confirm": "yes"})
    assert refused.status_code == 409 and "未配置任何渠道" in text(refused)
    with app.extensions["rebot"].db.session() as session:
        assert session.scalars(select(PushRun)).first() is None


def test_a_subscribers_alerts_are_shown_and_can_be_deleted(make_app):
    app = make_app()
    bot = app.extensions["rebot"]
    sub_id = add_subscriber(bot, "oAlerts")
    with bot.db.session() as session:
        session.add_all([Alert(subscriber_id=sub_id, product_code="PrNd-oxide", kind="above", threshold=Decimal(460000)),
                         Alert(subscriber_id=sub_id, product_code="Dy-oxide", kind="move", threshold=Decimal(3))])
    client = chinese_admin(app)
    page = text(client.get(f"/admin/subscribers/{sub_id}"))
    assert "<strong>氧化镨钕</strong>\n      高于 46 万元/吨" in page and "单日涨跌至少 3%" in page
    first = re.search(r'action="(/admin/subscribers/\d+/alerts/(\d+)/delete)"', page)
    done = client.post(first.group(1), data={"csrf_token": token(client, f"/admin/subscribers/{sub_id}")})
    assert done.status_code == 302
    page = text(client.get(done.headers["Location"]))
    assert "提醒已删除。" in page and "高于 46 万元/吨" not in page and "单日涨跌至少 3%" in page
    other = add_subscriber(bot, "oOther")  # another subscriber's alert is not reachable through this one's page
    with bot.db.session() as session:
        remaining = session.scalars(select(Alert.id)).one()
    assert client.post(f"/admin/subscribers/{other}/alerts/{remaining}/delete",
                       data={"csrf_token": token(client, "/admin/")}).status_code == 404


@pytest.fixture
def console(make_app):
    """A live console with a push ledger and subscribers, signed in, for the phone-layout checks."""
    from bot.models import Delivery

    app = make_app()
    bot = app.extensions["rebot"]
    ids = [add_subscriber(bot, f"oPhone{i}-a-rather-long-openid-value", products=["PrNd-oxide", "Tb-oxide", "DyFe"],
                          display_name=name) for i, name in enumerate(["上海磁材采购部 王经理", "Ningbo Magnetics purchasing"])]
    with bot.db.session() as session:
        run = PushRun(kind="daily", run_date=date(2025, 6, 11), status="done", data_date=date(2025, 6, 11), reason="")
        session.add(run)
        session.flush()
        for sub_id in ids:
            session.add(Delivery(run_id=run.id, channel="wechat", recipient=f"o{sub_id}", subscriber_id=sub_id,
                                 status="failed", attempts=1, error_code=43004,
                                 error_message="require subscribe hint: [abcdEFGH1234] rid: 6849-0a1b2c3d"))
    add_admin(bot)
    with served_url(app) as base:
        yield base


def test_ledger_and_subscriber_list_are_cards_on_a_phone(browser, console):  # noqa: F811
    from admin_helpers import PASSWORD

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    page.goto(console + "/admin/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(console + "/admin/")
    for path, table in (("/admin/pushes/1", "#ledger"), ("/admin/subscribers", "#subscribers")):
        page.goto(console + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        cells = page.evaluate(f"""() => Array.from(document.querySelectorAll('{table} tbody td:not(.id)')).map(td => {{
            const r = td.getBoundingClientRect(); return [getComputedStyle(td).display, r.width, r.right]; }})""")
        assert cells and all(display == "block" and width > 250 and right <= 390 for display, width, right in cells)
        # No narrow column breaking text every few characters: each card line is as wide as the card.
        page.screenshot(path=str(ARTIFACTS / f"console{path.replace('/', '-')}.png"), full_page=True)
    context.close()
