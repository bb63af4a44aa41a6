"""Chaos, the push by hand (`rebot push daily`): a sender paused past its lease, a sender killed, Redis cut
away mid-push. Each subscriber gets the summary once, or is listed as unknown; nothing is left half-sent."""
from __future__ import annotations

import re
import signal
import time

import pytest

from conftest import TEST_REDIS_URL
from chaos_tools import add_subscribers, assert_each_served_once, ledger_counts, push_env, the_run, wait_for
from chaos_tools import observer, processes, proxy  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow
DAY = "2025-06-11"
TEMPLATE = "/cgi-bin/message/template/send"


def test_1_a_sender_that_lost_its_lease_stops_without_finishing_the_run(db_url, emulator, processes, observer):
    bot = observer(db_url)
    users = [f"o-{i:02d}" for i in range(60)]
    add_subscribers(bot, "wechat", users)
    emulator.latency = 0.1  # 60 messages one at a time: 6 s
    procs = processes(push_env(db_url, emulator, REBOT_PUSH_WORKERS="1", REBOT_PUSH_LEASE_SECONDS="2"))
    first = procs.start("first", "push", "daily", "--date", DAY)
    wait_for(lambda: len(emulator.delivered) >= 10, 30, "the first sender's first ten messages")
    first.send_signal(signal.SIGSTOP)
    time.sleep(2.5)  # its lease runs out
    second = procs.start("second", "push", "daily", "--date", DAY)
    wait_for(lambda: len(emulator.delivered) >= 20, 30, "the second sender taking over")
    first.send_signal(signal.SIGCONT)
    assert first.wait(30) == 1, procs.output(first)  # it finds the run taken over and stops
    assert "interrupted (another process took the run over" in procs.output(first)
    second.send_signal(signal.SIGKILL)
    second.wait(10)

    run = the_run(bot)
    assert run.status == "running"  # not "done": rows are still queued
    assert ledger_counts(bot).get("queued", 0) > 0
    last = procs.run("push", "daily", "--date", DAY)  # the second's pid is gone: resumed at once
    assert last.returncode == 0 and f"Daily summary {DAY}: done" in last.stdout, last.stdout + last.stderr
    assert_each_served_once(bot, emulator, users, max_unknown=6)  # the calls in flight when a sender stopped


def test_6_a_rerun_after_kill_9_resumes_at_once_and_status_adds_up(db_url, emulator, processes, observer):
    bot = observer(db_url)
    users = [f"o-{i:02d}" for i in range(40)]
    add_subscribers(bot, "wechat", users)
    emulator.fault(TEMPLATE, delay=3.0, after=10)  # the 11th call hangs: the process dies during it
    procs = processes(push_env(db_url, emulator, REBOT_PUSH_WORKERS="1"))
    first = procs.start("first", "push", "daily", "--date", DAY)
    wait_for(lambda: ledger_counts(bot).get("sent") == 10, 30, "the first ten recorded")
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    status = procs.run("push", "status", "--date", DAY)
    assert status.returncode == 0, status.stderr
    figures = re.search(r"(\d+) deliveries: sent (\d+) · failed (\d+) · skipped (\d+) · unknown (\d+) · "
                        r"not sent yet (\d+) · sending (\d+)", status.stdout)
    assert figures, status.stdout
    total, *parts = map(int, figures.groups())
    assert (total, sum(parts), parts[0], parts[-1]) == (40, 40, 10, 1), status.stdout  # 1: the call in flight
    assert "nobody is sending it now" in status.stdout

    started = time.monotonic()
    again = procs.run("push", "daily", "--date", DAY)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "busy" not in again.stdout and f"Daily summary {DAY}: done" in again.stdout
    assert time.monotonic() - started < 15
    assert assert_each_served_once(bot, emulator, users, max_unknown=1) == {"sent": 39, "unknown": 1}


def test_5_redis_gone_mid_push_the_rate_falls_back_and_every_message_goes_once(
        db_url, proxy, emulator, processes, observer, redis_settings):
    bot = observer(db_url)
    users = [f"o-{i:02d}" for i in range(40)]
    add_subscribers(bot, "wechat", users)
    emulator.latency = 0.05
    redis = proxy("127.0.0.1", int(TEST_REDIS_URL.rsplit(":", 1)[1].split("/")[0]))
    procs = processes(push_env(db_url, emulator, REBOT_PUSH_WORKERS="2",
                               REBOT_REDIS_URL=redis.url(redis_settings["redis_url"]),
                               REBOT_REDIS_PREFIX=redis_settings["redis_prefix"]))
    pusher = procs.start("pusher", "push", "daily", "--date", DAY)
    wait_for(lambda: len(emulator.delivered) >= 10, 30, "ten messages out")
    redis.cut()
    assert pusher.wait(60) == 0, procs.output(pusher)
    assert f"Daily summary {DAY}: done" in procs.output(pusher)
    assert assert_each_served_once(bot, emulator, users) == {"sent": 40}  # none unknown: no call failed
