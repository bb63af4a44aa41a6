"""Chat `admin …` commands: for the openids in `admins`; anyone else is told the command does not exist."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.messages import Message
from bot.models import AuditLog, Subscriber


@pytest.fixture
def bot(make_app):
    return make_app(admins=["boss"]).extensions["rebot"]


def ask(bot, text, user="boss"):
    return bot.answer(Message("wechat", user, text=text)).text


def status_of(bot, user):
    with bot.db.session() as session:
        sub = session.scalar(select(Subscriber).where(Subscriber.external_id == user))
        return sub.status if sub else None


def test_others_are_told_the_command_does_not_exist(bot):
    ask(bot, "subscribe PrNd", user="u1")
    for text, unknown in (("admin stats", "Sorry, I did not understand that."),
                          ("admin sub u1 pause", "Sorry, I did not understand that."),
                          ("管理 stats", "抱歉，没有理解您的意思。")):
        reply = ask(bot, text, user="u1")
        assert reply.startswith(unknown), reply
        assert "admin" not in reply.split("?")[0].replace("did not understand", "")
    assert status_of(bot, "u1") == "active"
    assert "admin" not in ask(bot, "help", user="u1")
    assert "admin stats" in ask(bot, "help")


def test_admin_stats(bot):
    ask(bot, "subscribe PrNd", user="u1")
    ask(bot, "subscribe", user="u2")
    ask(bot, "unsubscribe", user="u3")
    assert ask(bot, "admin stats") == ("Subscribers: 3 (2 active with the daily summary)\n"
                                       "· wechat: active 3")
    assert ask(bot, "管理 stats").startswith("订阅用户：3 个（2 个正常接收每日行情）")


def test_admin_sub_pause_resume_remove(bot):
    ask(bot, "subscribe PrNd", user="oTrader")
    with bot.db.session() as session:
        number = session.scalar(select(Subscriber.id).where(Subscriber.external_id == "oTrader"))
    assert ask(bot, "admin sub oTrader pause") == f"Subscriber {number} (wechat:oTrader) paused."
    assert status_of(bot, "oTrader") == "paused"
    assert ask(bot, f"admin sub {number} pause") == f"Subscriber {number} (wechat:oTrader) was already paused."
    assert ask(bot, f"管理 sub {number} resume") == f"订阅用户 {number}（wechat:oTrader）已恢复。"
    assert status_of(bot, "oTrader") == "active"
    assert ask(bot, "admin sub nobody remove") == ("No subscriber nobody. Give the number shown in the console "
                                                   "or the openid.")
    assert ask(bot, f"admin sub {number} remove") == f"Subscriber {number} (wechat:oTrader) removed."
    assert status_of(bot, "oTrader") is None
    with bot.db.session() as session:
        assert [(a.actor, a.action) for a in session.scalars(select(AuditLog).order_by(AuditLog.id))] == [
            ("chat:boss", "subscriber.pause"), ("chat:boss", "subscriber.resume"), ("chat:boss", "subscriber.remove")]


@pytest.mark.parametrize("text", ["admin", "admin sub", "admin sub 1 explode", "admin frobnicate"])
def test_admin_usage_for_anything_else(bot, text):
    assert ask(bot, text).startswith("Admin commands:")


def test_confirm_with_nothing_pending(bot):
    assert ask(bot, "admin confirm") == "Nothing to confirm."
    assert ask(bot, "管理 确认") == "没有需要确认的操作。"


# --- pushes from chat, over real HTTP to the API emulator -----------------------------------------------------

@pytest.fixture
def push_bot(make_app, emulator):
    from emulator import APP_ID, APP_SECRET

    from bot.admin.pushes import BACKGROUND

    app = make_app(admins=["boss"], **{"wechat.app_id": APP_ID, "wechat.app_secret": APP_SECRET,
                                       "wechat.api_base_url": emulator.url, "push.wechat.mode": "custom",
                                       "push.backoff_seconds": 0.01, "http.timeout_seconds": 1.0})
    yield app.extensions["rebot"]
    BACKGROUND.wait(30)


def followers(bot, *openids):
    with bot.db.session() as session:
        for openid in openids:
            session.add(Subscriber(channel="wechat", external_id=openid, language="en", products=["Dy-oxide"],
                                   daily_summary=True, status="active", display_name=""))


def test_push_now_waits_for_confirm_then_sends_and_status_reports_it(push_bot, emulator):
    from bot.admin.pushes import BACKGROUND

    followers(push_bot, "o-ann", "o-bob")
    assert ask(push_bot, "admin push status").startswith("No push has run yet.\nNext: 2025-06-12 17:30")
    asked = ask(push_bot, "admin push now")
    assert asked == ('Send the summary of 2025-06-11 now to the subscribers who get it (2 active)? '
                     'Reply "admin confirm" within 5 minutes.')
    assert emulator.delivered == []
    assert "did not understand" in ask(push_bot, "admin confirm", user="o-ann")  # not an admin
    assert ask(push_bot, "admin confirm").startswith("The push of 2025-06-11 started")
    BACKGROUND.wait(30)
    assert len(emulator.inbox("o-ann")) == len(emulator.inbox("o-bob")) == 1
    assert "Dy oxide" in emulator.inbox("o-ann")[0]["text"]["content"]
    status = ask(push_bot, "admin push status")
    assert status.startswith("Last push: 2025-06-11 daily, done\nsent 2 · failed 0 · skipped 0 · unknown 0")
    assert ask(push_bot, "admin confirm") == "Nothing to confirm."  # a confirmation is used once


def test_broadcast_waits_for_confirm_and_goes_out_once_through_the_ledger(push_bot, emulator):
    from bot.admin.pushes import BACKGROUND
    from bot.models import Delivery, PushRun

    followers(push_bot, "o-ann", "o-bob")
    asked = ask(push_bot, "admin broadcast Market closed on Friday for the holiday")
    assert asked.startswith("Send this to the subscribers of the pushes (2 active)?")
    assert asked.endswith("Market closed on Friday for the holiday")
    assert ask(push_bot, "admin confirm") == ("Broadcast started: it runs in the background. "
                                             "See it with: admin push status")
    BACKGROUND.wait(30)
    assert [m["text"]["content"] for m in emulator.inbox("o-ann")] == ["Market closed on Friday for the holiday"]
    assert len(emulator.inbox("o-bob")) == 1
    with push_bot.db.session() as session:
        (run,) = session.scalars(select(PushRun)).all()
        assert run.kind.startswith("broadcast:") and run.status == "done"
        assert set(session.scalars(select(Delivery.status))) == {"sent"}
        assert session.scalars(select(AuditLog.action)).all() == ["push.broadcast"]
    assert ask(push_bot, "admin broadcast " + "长" * 700).startswith("内容太长，一条消息最多 2000 字节")


def test_an_unconfirmed_request_expires(make_app):
    from datetime import timedelta

    from conftest import DEMO_NOW

    state = {"now": DEMO_NOW}
    bot = make_app(clock=lambda: state["now"], admins=["boss"]).extensions["rebot"]
    ask(bot, "admin push now")
    state["now"] = DEMO_NOW + timedelta(minutes=6)
    assert ask(bot, "admin confirm").startswith("That request has expired (5 minutes)")
    assert ask(bot, "admin confirm") == "Nothing to confirm."
