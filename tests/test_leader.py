"""Several `rebot scheduler` processes: one leads and fires each job once; a crashed leader is replaced."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


from bot.push.leader import LEADER, Leadership, latest_slot
from bot.models import Lease, utcnow
from bot.push.scheduler import ScheduledJob, build_scheduler, run_once
from test_push import REBOT

SHANGHAI = ZoneInfo("Asia/Shanghai")


def leader_pid(bot) -> int | None:
    with bot.db.session() as session:
        lease = session.get(Lease, LEADER)
        return int(lease.owner.split(":")[1]) if lease is not None and lease.expires_at > utcnow() else None


def test_latest_slot_is_the_newest_firing_within_the_grace_time():
    now = datetime(2025, 6, 11, 17, 45, tzinfo=SHANGHAI)  # a Wednesday
    slot = latest_slot("30 17 * * mon-fri", SHANGHAI, now, timedelta(hours=1))
    assert slot == datetime(2025, 6, 11, 17, 30, tzinfo=SHANGHAI)
    assert latest_slot("30 17 * * mon-fri", SHANGHAI, now, timedelta(minutes=10)) is None
    assert latest_slot("*/5 * * * *", SHANGHAI, now, timedelta(hours=1)) == now


def test_one_leader_at_a_time_and_a_standby_takes_over(make_app):
    bots = [make_app(**{"scheduler.leader_seconds": 1}).extensions["rebot"] for _ in range(2)]
    scheds = [build_scheduler(b) for b in bots]
    for s in scheds:
        s.start(paused=True)
    first, second = (Leadership(b.db, s, 1) for b, s in zip(bots, scheds))
    try:
        assert first.check() and not second.check()
        assert first.check()  # renewed
        assert not second.check()
        assert first.scheduler.state == 1 and second.scheduler.state == 2  # running, paused
        time.sleep(1.1)  # the first stops renewing (it died): its lease runs out
        assert second.check() and second.scheduler.state == 1
        assert not first.check() and first.scheduler.state == 2  # back, it finds itself replaced and pauses
        second.stop()  # a clean stop hands over at once
        assert first.check()
    finally:
        for s in scheds:
            s.shutdown(wait=False)


def test_each_firing_runs_in_one_process_only(make_app):
    bots = [make_app().extensions["rebot"] for _ in range(2)]
    ran = []
    job = ScheduledJob("test.every-minute", "* * * * *", lambda bot: ran.append(bot))
    assert run_once(bots[0], job)
    assert not run_once(bots[1], job)  # the same minute's firing, in another scheduler: not again
    assert ran == [bots[0]]


def test_a_killed_leader_is_replaced_within_seconds(db_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    env.update(REBOT_DATABASE_URL=db_url, REBOT_SCHEDULER_LEADER_SECONDS="2")
    procs = {}
    from bot.config import build_config
    from bot.service import Bot

    bot = Bot(build_config({"database_url": db_url}, environ={}))
    try:
        for _ in range(2):
            proc = subprocess.Popen([str(REBOT), "scheduler"], cwd=tmp_path, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs[proc.pid] = proc
        deadline = time.monotonic() + 30
        while leader_pid(bot) not in procs:
            assert time.monotonic() < deadline, "no scheduler took the lead"
            time.sleep(0.1)
        leader = leader_pid(bot)
        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(5)
        killed = time.monotonic()
        (standby,) = set(procs) - {leader}
        while leader_pid(bot) != standby:
            assert time.monotonic() - killed < 10, "the standby did not take over"
            time.sleep(0.1)
        assert time.monotonic() - killed < 2 + 2 / 3 + 1  # the lease runs out, then one renewal interval
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait(5)
        bot.db.dispose()
