""""Send now" from the console and from chat takes the scheduled push's delivery path: with
`push.delivery: workers` the web process only writes the ledger and a `rebot worker` sends it
(inline mode is covered by test_admin_pushes.py and test_admin_chat.py)."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from admin_helpers import add_admin, english, sign_in, token
from bot.admin.pushes import BACKGROUND
from bot.messages import Message
from bot.models import Delivery, PushRun, Subscriber
from bot.push.worker import Worker
from emulator import APP_ID, APP_SECRET


@pytest.fixture
def app(make_app, emulator):
    app = make_app(admins=["boss"], **{
        "wechat.app_id": APP_ID, "wechat.app_secret": APP_SECRET, "wechat.api_base_url": emulator.url,
        "push.wechat.mode": "custom", "push.backoff_seconds": 0.01, "http.timeout_seconds": 1.0,
        "push.delivery": "workers", "worker.idle_seconds": 0.05})
    bot = app.extensions["rebot"]
    with bot.db.session() as session:
        for openid in ("o-ann", "o-bob"):
            session.add(Subscriber(channel="wechat", external_id=openid, language="en", products=["Dy-oxide"],
                                   daily_summary=True, status="active", display_name=""))
    yield app
    BACKGROUND.wait(30)


def ledger(bot) -> tuple[dict[str, int], list[tuple[str, str, str]]]:
    """Deliveries by status, and each run's (kind, status, reason)."""
    with bot.db.session() as session:
        counts = dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
        runs = [(r.kind, r.status, r.reason) for r in session.scalars(select(PushRun).order_by(PushRun.id))]
    return counts, runs


def a_worker_sends(bot) -> None:
    Worker(bot).run_forever(threading.Event(), once=True)


def ask(bot, text):
    return bot.answer(Message("wechat", "boss", text=text)).text


def test_console_send_now_queues_for_the_workers(app, emulator):
    bot = app.extensions["rebot"]
    add_admin(bot)
    client = english(app)
    sign_in(client)
    sent = client.post("/admin/pushes/send", data={"csrf_token": token(client, "/admin/"), "confirm": "yes"})
    assert sent.status_code == 302
    BACKGROUND.wait(30)
    assert emulator.delivered == []  # the web process sent nothing
    assert ledger(bot) == ({"queued": 2}, [("daily", "running", "queued for rebot worker")])
    a_worker_sends(bot)
    assert len(emulator.inbox("o-ann")) == len(emulator.inbox("o-bob")) == 1
    assert "Dy oxide" in emulator.inbox("o-ann")[0]["text"]["content"]
    assert ledger(bot) == ({"sent": 2}, [("daily", "done", "")])


def test_chat_push_now_queues_for_the_workers(app, emulator):
    bot = app.extensions["rebot"]
    ask(bot, "admin push now")
    assert ask(bot, "admin confirm").startswith("The push of 2025-06-11 started")
    BACKGROUND.wait(30)
    assert emulator.delivered == []
    assert ledger(bot)[0] == {"queued": 2}
    a_worker_sends(bot)
    assert len(emulator.inbox("o-ann")) == len(emulator.inbox("o-bob")) == 1
    assert ask(bot, "admin push status").startswith(
        "Last push: 2025-06-11 daily, done\nsent 2 · failed 0 · skipped 0 · unknown 0")


def test_chat_broadcast_is_sent_by_a_worker_with_its_own_text(app, emulator):
    bot = app.extensions["rebot"]
    text = "Market closed on Friday for the holiday"
    ask(bot, "管理 广播 " + text)
    assert ask(bot, "管理 确认") == "群发已开始，在后台进行。查看进度：管理 push status"
    BACKGROUND.wait(30)
    assert emulator.delivered == []
    (kind, status, _), = ledger(bot)[1]
    assert kind.startswith("broadcast:") and status == "running"
    a_worker_sends(bot)
    assert [m["text"]["content"] for m in emulator.inbox("o-ann")] == [text]
    assert [m["text"]["content"] for m in emulator.inbox("o-bob")] == [text]
    assert ledger(bot)[0] == {"sent": 2}
    a_worker_sends(bot)  # a second worker pass finds nothing: each got it once
    assert len(emulator.delivered) == 2


def test_a_broadcast_a_worker_stops_is_reported_as_an_inline_one_is(app, emulator):
    """A broadcast stopped by the quota shows as stopped in the console; like one sent inline, it sends the admins
    no daily-summary report."""
    bot = app.extensions["rebot"]
    ask(bot, "管理 广播 Market closed on Friday")
    ask(bot, "管理 确认")
    BACKGROUND.wait(30)
    emulator.fault("/cgi-bin/message/custom/send", errcode=45009, times=1)  # the first send: the quota is spent
    a_worker_sends(bot)
    (kind, status, reason), = ledger(bot)[1]
    assert kind.startswith("broadcast:") and status == "stopped" and "45009" in reason
    assert emulator.inbox("boss") == []


def test_a_worker_leaves_an_alerts_run_to_the_alerts(app, emulator):
    """An alert's run carries its own message (bot.alerts sends it): a worker must not send it the daily summary."""
    from datetime import date

    bot = app.extensions["rebot"]
    with bot.db.session() as session:
        run = PushRun(kind="alert:1", run_date=date(2025, 6, 11), status="running", reason="")
        session.add(run)
        session.flush()
        session.add(Delivery(run_id=run.id, channel="wechat", recipient="o-ann", status="queued"))
    a_worker_sends(bot)
    assert emulator.delivered == []
    assert ledger(bot) == ({"queued": 1}, [("alert:1", "running", "")])


def test_a_broadcast_whose_ledger_was_half_written_is_completed_by_the_resume_job(app, emulator):
    """The process writing a broadcast's ledger died after one row: the scheduler's resume job writes the rest
    with the broadcast's own text, and the workers send it to everyone once."""
    from datetime import timedelta

    from bot.models import Lease, utcnow
    from bot.push import leases
    from bot.push.resume import resume_runs
    from bot.push.worker import FILLING
    from test_push_resume import dead_pid

    bot = app.extensions["rebot"]
    with bot.db.session() as session:
        run = PushRun(kind="broadcast:feedc0ffee00", run_date=bot.clock().date(), status="running", reason=FILLING,
                      text="Market closed on Friday")
        session.add(run)
        session.flush()
        ann = session.scalars(select(Subscriber.id).where(Subscriber.external_id == "o-ann")).one()
        session.add(Delivery(run_id=run.id, channel="wechat", recipient="o-ann", status="queued", subscriber_id=ann))
        session.add(Lease(name=f"push:run:{run.id}", owner=f"{leases.HOST}:{dead_pid()}:deadbeef",
                          expires_at=utcnow() + timedelta(seconds=60)))
    a_worker_sends(bot)
    assert emulator.delivered == []  # a ledger still being written is not the workers' yet
    assert resume_runs(bot) == 1
    assert ledger(bot) == ({"queued": 2}, [("broadcast:feedc0ffee00", "running", "queued for rebot worker")])
    a_worker_sends(bot)
    assert {d["to"]: d["payload"]["text"]["content"] for d in emulator.delivered} == {
        "o-ann": "Market closed on Friday", "o-bob": "Market closed on Friday"}
