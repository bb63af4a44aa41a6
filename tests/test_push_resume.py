"""Nobody left in the dark: abandoned runs resumed by the scheduler's push.resume job, stalled runs reported
(log, metric, dashboard), leases of dead processes taken over, missed firings caught up."""
from __future__ import annotations

import logging
import subprocess
from datetime import timedelta

from sqlalchemy import select, update

from admin_helpers import add_admin, english, sign_in
from bot.models import Lease, PushRun, utcnow
from bot.push import leases
from bot.push.broadcast import Broadcast
from bot.push.leader import claim_slot
from bot.push.resume import resume_runs
from bot.push.run import DailyPush
from bot.push.scheduler import ScheduledJob, catch_up
from test_push import TEMPLATE, add_subscribers, ledger, push_bot, settings  # noqa: F401 (fixture)


def started_ago(bot, minutes: int) -> None:
    with bot.db.session() as session:
        session.execute(update(PushRun).values(created_at=utcnow() - timedelta(minutes=minutes)))


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def killed_mid_way(bot) -> None:
    """As a sender killed mid-run leaves its run: running, its lease held by a process that is gone."""
    with bot.db.session() as session:
        (run,) = session.scalars(select(PushRun)).all()
        run.status, run.reason = "running", ""
        session.add(Lease(name=f"push:run:{run.id}", owner=f"{leases.HOST}:{dead_pid()}:deadbeef",
                          expires_at=utcnow() + timedelta(seconds=60)))


def test_a_stalled_run_is_logged_counted_and_shown_on_the_dashboard(make_app, emulator, caplog):
    app = make_app(**settings(emulator, **{"push.workers": 1}))
    bot = app.extensions["rebot"]
    add_subscribers(bot, "wechat", ["o-ann", "o-bob"])
    emulator.fault(TEMPLATE, errcode=45009)  # the daily quota: the run stops with both still queued
    assert DailyPush(bot).run().status == "stopped"
    started_ago(bot, 20)
    assert "rebot_push_run_stalled 0.0" in app.test_client().get("/metrics").get_data(as_text=True)

    started_ago(bot, 40)  # not done 30 minutes after it started
    with caplog.at_level(logging.ERROR, logger="bot.push.resume"):
        assert resume_runs(bot) == 0  # a stopped run waits for an admin; it is not resumed
        resume_runs(bot)
    stalled = [r for r in caplog.records if r.levelno == logging.ERROR and "stalled" in r.getMessage()]
    assert len(stalled) == 2  # at every check
    assert "stopped 40 minutes after it started, 2 deliveries left" in stalled[0].getMessage()
    assert "rebot_push_run_stalled 1.0" in app.test_client().get("/metrics").get_data(as_text=True)

    add_admin(bot)
    client = english(app)
    sign_in(client)
    page = client.get("/admin/").get_data(as_text=True)
    assert 'id="stalled"' in page and "A push is not finished" in page and "2 deliveries left" in page


def test_an_abandoned_run_is_resumed_once_its_sender_is_gone(push_bot, emulator):
    bot = push_bot()
    users = [f"o-{i}" for i in range(5)]
    add_subscribers(bot, "wechat", users)
    emulator.fault(TEMPLATE, errcode=45009, after=2)  # two sent, then the run stops
    DailyPush(bot).run()
    killed_mid_way(bot)
    assert resume_runs(bot) == 1  # its holder's pid is gone on this host: resumed at once
    assert set(ledger(bot).values()) == {"sent"} and len(emulator.delivered) == 5
    assert resume_runs(bot) == 0  # done: nothing more to do


def test_an_abandoned_broadcast_is_resumed_with_its_own_text(push_bot, emulator, caplog):
    bot = push_bot()
    users = [f"o-{i}" for i in range(5)]
    add_subscribers(bot, "wechat", users)
    text = "春节休市：2月9日至2月17日无报价"
    emulator.fault(TEMPLATE, errcode=45009, after=2)  # two sent, then the quota is spent
    Broadcast(bot, text).run()
    killed_mid_way(bot)
    with caplog.at_level(logging.WARNING, logger="bot.push.resume"):
        assert resume_runs(bot) == 1
    assert "broadcast 2025-06-11 was unfinished and nobody was sending it: resumed, done" in caplog.text
    assert sorted(d["to"] for d in emulator.delivered) == users  # the two sent before are not sent again
    assert {d["payload"]["data"]["keyword1"]["value"] for d in emulator.delivered} == {text}  # not the summary
    assert set(ledger(bot).values()) == {"sent"}
    assert resume_runs(bot) == 0


def test_a_stalled_broadcast_is_logged_and_shown_on_the_dashboard(make_app, emulator, caplog):
    app = make_app(**settings(emulator, **{"push.workers": 1}))
    bot = app.extensions["rebot"]
    add_subscribers(bot, "wechat", ["o-ann", "o-bob"])
    emulator.fault(TEMPLATE, errcode=45009)
    assert Broadcast(bot, "Market closed on Friday").run().status == "stopped"
    started_ago(bot, 40)
    with caplog.at_level(logging.ERROR, logger="bot.push.resume"):
        assert resume_runs(bot) == 0  # stopped by the quota: it waits for an admin
    assert "broadcast 2025-06-11 stalled: stopped 40 minutes after it started, 2 deliveries left" in caplog.text
    add_admin(bot)
    client = english(app)
    sign_in(client)
    page = client.get("/admin/").get_data(as_text=True)
    assert "A push is not finished" in page and "2025-06-11 broadcast</a>" in page and "2 deliveries left" in page


def test_a_live_or_foreign_lease_is_respected_and_a_dead_one_taken(db_url, make_app):
    bot = make_app().extensions["rebot"]
    other_host = "elsewhere.1:1:cafebabe"
    assert leases.acquire(bot.db, "x", other_host, 60)
    assert not leases.acquire(bot.db, "x", leases.new_owner(), 60)  # another host: wait for the lease
    mine = leases.new_owner()
    assert leases.acquire(bot.db, "y", mine, 60)
    assert not leases.acquire(bot.db, "y", leases.new_owner(), 60)  # this process is alive
    assert leases.acquire(bot.db, "z", f"{leases.HOST}:{dead_pid()}:deadbeef", 60)
    assert leases.acquire(bot.db, "z", leases.new_owner(), 60)  # its process is gone
    # A firing's claim is a record, not a lock: it stays with whoever fired, dead or alive.
    slot = utcnow()
    owner = f"{leases.HOST}:{dead_pid()}:deadbeef"
    assert leases.acquire(bot.db, "fired:test:1", owner, 3600, from_dead=False)
    assert not leases.acquire(bot.db, "fired:test:1", leases.new_owner(), 3600, from_dead=False)
    assert claim_slot(bot.db, "test", slot, timedelta(hours=1))
    assert not claim_slot(bot.db, "test", slot, timedelta(hours=1))


def test_catch_up_runs_a_job_only_within_the_grace_time(make_app):
    bot = make_app(**{"push.daily.misfire_grace_seconds": 120}).extensions["rebot"]
    ran = []
    every_minute = ScheduledJob("test.minute", "* * * * *", ran.append)
    far = (utcnow() + timedelta(hours=6)).strftime("%M %H * * *")  # six hours away in UTC: hours ago or ahead
    assert catch_up(bot, every_minute) and ran == [bot]
    assert not catch_up(bot, every_minute)  # this minute's firing is claimed already
    assert not catch_up(bot, ScheduledJob("test.far", far, ran.append)) and ran == [bot]



def test_redis_away_the_token_comes_from_the_database_and_the_run_is_done(push_bot, emulator):
    users = ["o-ann", "o-bob", "o-cid"]
    # Redis at a closed port: the access token is read and kept in the database instead (issue 18, case 7).
    cut = push_bot(redis_url="redis://127.0.0.1:9/0", **{"push.outage_seconds": 0.3})
    add_subscribers(cut, "wechat", users)
    report = DailyPush(cut).run()
    assert (report.status, report.counts["sent"]) == ("done", 3)
    assert ledger(cut) == {u: "sent" for u in users}
    assert sorted(d["to"] for d in emulator.delivered) == users
