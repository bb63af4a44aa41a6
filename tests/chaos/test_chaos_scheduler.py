"""Chaos, the scheduled push: the leading scheduler killed mid-push, a firing missed while no scheduler ran.
The scheduler processes run against the emulator; the cron is set to the minute just gone, so nothing
waits for a real firing time."""
from __future__ import annotations

import signal
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.models import Lease
from bot.push.leader import LEADER
from chaos_tools import add_subscribers, assert_each_served_once, push_env, the_run, wait_for
from chaos_tools import observer, processes  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow


def minute_ago() -> str:
    """A crontab line that fired at the start of the minute before this one (Asia/Shanghai, the default zone)."""
    then = datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(minutes=1)
    return f"{then.minute} {then.hour} * * *"


def done(bot):
    run = the_run(bot)
    return run is not None and run.status == "done"


def leader_pid(bot) -> int | None:
    with bot.db.session() as session:
        lease = session.get(Lease, LEADER)
        return int(lease.owner.split(":")[1]) if lease is not None else None


def test_4_a_firing_missed_while_no_scheduler_ran_is_caught_up_on_start(db_url, emulator, processes, observer):
    bot = observer(db_url)
    users = [f"o-{i:02d}" for i in range(20)]
    add_subscribers(bot, "wechat", users)
    procs = processes(push_env(db_url, emulator, REBOT_PUSH_DAILY_CRON=minute_ago()))
    scheduler = procs.start("scheduler", "scheduler")  # started after its cron time, within the grace time
    wait_for(lambda: done(bot), 40, "the missed push to be caught up")
    assert assert_each_served_once(bot, emulator, users) == {"sent": 20}
    assert "job push.daily: catching up the firing of" in procs.output(scheduler)


def test_3_a_scheduler_killed_mid_push_is_resumed_by_the_standby(db_url, emulator, processes, observer):
    bot = observer(db_url)
    users = [f"o-{i:02d}" for i in range(60)]
    add_subscribers(bot, "wechat", users)
    emulator.latency = 0.1  # 60 messages one at a time: 6 s
    procs = processes(push_env(db_url, emulator, REBOT_PUSH_DAILY_CRON=minute_ago(), REBOT_PUSH_WORKERS="1",
                               REBOT_SCHEDULER_LEADER_SECONDS="2"))
    schedulers = {p.pid: p for p in (procs.start("first", "scheduler"), procs.start("second", "scheduler"))}
    wait_for(lambda: len(emulator.delivered) >= 10, 40, "the leader's push under way")
    leader = schedulers.pop(leader_pid(bot))
    leader.send_signal(signal.SIGKILL)
    leader.wait(10)
    assert not done(bot)
    wait_for(lambda: done(bot), 30, "the standby to resume and finish the push")
    assert_each_served_once(bot, emulator, users, max_unknown=6)
    (standby,) = schedulers.values()
    wait_for(lambda: "was unfinished and nobody was sending it: resumed, done" in procs.output(standby), 10,
             "the standby's log line")
