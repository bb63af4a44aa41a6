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
    for text in ("admin stats", "admin sub u1 pause", "管理 stats"):
        reply = ask(bot, text, user="u1")
        assert reply.startswith(("Sorry, I did not understand that.", "抱歉，没有理解您的意思。")), reply
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
