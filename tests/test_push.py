"""The daily summary push over real HTTP against the emulator: channels, faults, ledger, exactly once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from bot.models import Delivery, NewsItem, PushRun, Subscriber
from bot.push.content import wechat_length
from bot.push.run import DailyPush, dry_run
from conftest import DEMO_NOW
from emulator import AGENT_ID, APP_ID, APP_SECRET, CORP_ID, CORP_SECRET

TEMPLATE = "/cgi-bin/message/template/send"
CUSTOM = "/cgi-bin/message/custom/send"
WECOM = "/cgi-bin/message/send"
REBOT = Path(sys.executable).parent / "rebot"


def settings(emulator, **extra):
    return {"wechat.app_id": APP_ID, "wechat.app_secret": APP_SECRET, "wechat.api_base_url": emulator.url,
            "wecom.api_base_url": emulator.url, "push.wechat.template_id": "TPL-DAILY",
            "push.backoff_seconds": 0.01, "http.timeout_seconds": 5.0, **extra}


# Tests must not wait out WeCom's peak minute when they happen to run at :00 or :30.
WECOM_SETTINGS = {"wecom.corp_id": CORP_ID, "wecom.secret": CORP_SECRET, "wecom.agent_id": AGENT_ID,
                  "push.wecom.avoid_peak": False}


@pytest.fixture
def push_bot(make_app, emulator):
    def make(clock=lambda: DEMO_NOW, **extra):
        return make_app(clock=clock, **settings(emulator, **extra)).extensions["rebot"]
    return make


def add_subscribers(bot, channel: str, ids, language="zh", products=(), daily=True):
    with bot.db.session() as session:
        session.execute(insert(Subscriber), [
            {"channel": channel, "external_id": i, "display_name": "", "products": list(products),
             "daily_summary": daily, "status": "active", "language": language} for i in ids])


def ledger(bot) -> dict[str, str]:
    with bot.db.session() as session:
        return dict(session.execute(select(Delivery.recipient, Delivery.status)).all())


def delivery(bot, recipient) -> Delivery:
    with bot.db.session() as session:
        return session.scalars(select(Delivery).where(Delivery.recipient == recipient)).one()


def test_template_mode_sends_each_follower_their_summary_once(push_bot, emulator):
    bot = push_bot(public_base_url="https://rebot.example.com")
    add_subscribers(bot, "wechat", ["o-ann"], language="zh", products=["Dy-oxide", "Ho-oxide"])
    add_subscribers(bot, "wechat", ["o-bob"], language="en")
    add_subscribers(bot, "wechat", ["o-off"], daily=False)
    report = DailyPush(bot).run()
    assert (report.status, report.counts["sent"]) == ("done", 2)
    (ann,) = emulator.inbox("o-ann")
    assert ann["template_id"] == "TPL-DAILY"
    # The fields WeChat still shows, the most important first; nothing in `first` or `remark`.
    assert {k: v["value"] for k, v in ann["data"].items()} == {
        "keyword1": "氧化钬 50.3–50.6万 +2.02%", "keyword2": "氧化镝 164–165万 持平", "keyword3": "涨1 跌0 平1",
        "keyword4": "点击查看全表与走势", "keyword5": "6月11日（周三）"}
    assert ann["url"] == "https://rebot.example.com/m/summary/2025-06-11?lang=zh"  # the full table
    (bob,) = emulator.inbox("o-bob")
    assert bob["data"]["keyword1"]["value"] == "Ho oxide 503,000–506,000 +2.02%"  # the day's largest move
    assert bob["data"]["keyword3"]["value"] == "4 up, 1 down, 4 flat"  # the default set
    assert emulator.inbox("o-off") == []
    again = DailyPush(bot).run()
    assert again.status == "done" and again.sent_now == 0
    assert len(emulator.delivered) == 2


def test_custom_mode_sends_text_and_falls_back_to_the_template_on_45015(push_bot, emulator):
    bot = push_bot(**{"push.wechat.mode": "custom"})
    add_subscribers(bot, "wechat", ["o-ann", "o-quiet"], language="en")
    emulator.recipient_error("o-quiet", 45015, {CUSTOM})
    report = DailyPush(bot).run()
    assert report.counts["sent"] == 2
    (ann,) = emulator.inbox("o-ann")
    assert ann["msgtype"] == "text" and ann["text"]["content"].startswith("Rare-earth market · Wed 11 Jun")
    movers = [line for line in ann["text"]["content"].splitlines() if line and line[0] in "▲▼"]  # moves first
    assert len(movers) == 5 and {line[0] for line in movers} == {"▲", "▼"} and "Unchanged: " in ann["text"]["content"]
    (quiet,) = emulator.inbox("o-quiet")
    assert quiet["template_id"] == "TPL-DAILY"


def test_custom_mode_without_template_skips_and_records_45015(push_bot, emulator):
    bot = push_bot(**{"push.wechat.mode": "custom", "push.wechat.template_id": ""})
    add_subscribers(bot, "wechat", ["o-ann", "o-quiet"])
    emulator.recipient_error("o-quiet", 45015)
    report = DailyPush(bot).run()
    assert report.counts == {**report.counts, "sent": 1, "skipped": 1}
    row = delivery(bot, "o-quiet")
    assert (row.status, row.error_code) == ("skipped", 45015)


def test_unfollowed_user_is_marked_unreachable_and_others_still_get_it(push_bot, emulator):
    bot = push_bot()
    add_subscribers(bot, "wechat", ["o-gone", "o-bad", "o-ann"])
    emulator.recipient_error("o-gone", 43004)
    emulator.recipient_error("o-bad", 40003)
    DailyPush(bot).run()
    assert ledger(bot) == {"o-gone": "skipped", "o-bad": "failed", "o-ann": "sent"}
    assert delivery(bot, "o-bad").error_code == 40003
    with bot.db.session() as session:
        assert session.scalars(select(Subscriber.status).where(Subscriber.external_id == "o-gone")).one() == "unreachable"


def test_mass_mode_is_one_send_by_tag_idempotent(push_bot, emulator):
    bot = push_bot(**{"push.wechat.mode": "mass", "push.wechat.mass_tag_id": 7, "http.timeout_seconds": 1.0})
    add_subscribers(bot, "wechat", [f"o-{i}" for i in range(5)])
    emulator.fault("/cgi-bin/message/mass/sendall", delay=1.5)  # the first call times out (it went out)
    report = DailyPush(bot).run()
    assert report.counts["sent"] == 1 and ledger(bot) == {"tag:7": "sent"}
    (sent,) = emulator.inbox("tag:7")  # the retry carried the same clientmsgid: 45065, not a second send
    assert sent["clientmsgid"] == "rebot-daily-2025-06-11-7"
    assert len(emulator.calls("/cgi-bin/message/mass/sendall")) == 2


def test_wecom_app_batches_of_1000_duplicate_check_and_invaliduser(push_bot, emulator):
    bot = push_bot(**WECOM_SETTINGS)
    users = [f"u{i:04d}" for i in range(2100)]
    add_subscribers(bot, "wecom", users, language="en")
    emulator.wecom_users = set(users) - {"u0005"}
    report = DailyPush(bot).run()
    calls = emulator.calls(WECOM)
    assert sorted(len(c["json"]["touser"].split("|")) for c in calls) == [100, 1000, 1000]
    assert all(c["json"]["enable_duplicate_check"] == 1 for c in calls)
    assert report.counts["sent"] == 2099 and report.counts["failed"] == 1
    assert delivery(bot, "u0005").error_code == 81013
    assert len(emulator.inbox("u0001")) == 1 and emulator.inbox("u0005") == []


def test_wecom_busy_then_ok_is_retried_and_delivered_once(push_bot, emulator):
    bot = push_bot(**WECOM_SETTINGS, **{"http.timeout_seconds": 1.0})
    add_subscribers(bot, "wecom", ["alice", "bob"])
    emulator.fault(WECOM, errcode=-1)
    emulator.fault(WECOM, status=503)
    emulator.fault(WECOM, delay=1.5)  # a timeout: WeCom's duplicate check makes the retry safe
    report = DailyPush(bot).run()
    assert report.counts["sent"] == 2
    assert len(emulator.inbox("alice")) == 1 and len(emulator.inbox("bob")) == 1
    assert delivery(bot, "alice").attempts == 4


def test_group_robots_get_markdown_within_4096_bytes(push_bot, emulator):
    robots = [{"name": "desk", "webhook": f"{emulator.url}/cgi-bin/webhook/send?key=robot-key-desk"},
              {"name": "sales", "webhook": f"{emulator.url}/cgi-bin/webhook/send?key=robot-key-sales"}]
    bot = push_bot(**{"robots": robots, "wechat.app_id": "", "language": "en"})
    report = DailyPush(bot).run()
    assert report.counts["sent"] == 2
    (post,) = emulator.inbox("robot:robot-key-desk")
    content = post["markdown"]["content"]
    assert post["msgtype"] == "markdown" and content.startswith("**Rare-earth market · Wed 11 Jun** (yuan/t)")
    assert len(content.encode()) <= 4096 and "](http" in content
    assert len(emulator.inbox("robot:robot-key-sales")) == 1


def test_transient_errors_are_retried_with_backoff_then_failed_and_retried_later(push_bot, emulator):
    bot = push_bot(**{"push.max_attempts": 3})
    add_subscribers(bot, "wechat", ["o-ann"])
    emulator.fault(TEMPLATE, errcode=-1, times=3)
    report = DailyPush(bot).run()
    row = delivery(bot, "o-ann")
    assert (report.counts["failed"], row.status, row.error_code, row.attempts) == (1, "failed", -1, 3)
    assert emulator.inbox("o-ann") == []
    assert DailyPush(bot).run().sent_now == 0  # failed rows are not retried without asking
    report = DailyPush(bot).run(retry_failed=True)
    assert report.counts["sent"] == 1 and len(emulator.inbox("o-ann")) == 1


def test_token_expiry_mid_run_refreshes_once(push_bot, emulator):
    bot = push_bot(**{"push.workers": 1})
    add_subscribers(bot, "wechat", [f"o-{i}" for i in range(10)])
    emulator.fault(TEMPLATE, errcode=42001, after=4)
    report = DailyPush(bot).run()
    assert report.counts["sent"] == 10
    assert emulator.token_fetches["/cgi-bin/token"] == 2
    assert all(len(emulator.inbox(f"o-{i}")) == 1 for i in range(10))


def test_quota_exhausted_stops_the_channel_others_go_on_and_a_later_run_finishes(push_bot, emulator):
    bot = push_bot(**{"push.workers": 1, **WECOM_SETTINGS})
    add_subscribers(bot, "wechat", [f"o-{i}" for i in range(8)])
    add_subscribers(bot, "wecom", ["alice"])
    emulator.fault(TEMPLATE, errcode=45009, after=3, times=100)
    report = DailyPush(bot).run()
    assert report.status == "stopped" and "45009" in report.reason
    assert report.counts["sent"] == 4 and report.counts["queued"] == 5  # wecom went on; 5 wait
    calls = len(emulator.calls(TEMPLATE))
    assert calls == 4  # no call after the 45009
    emulator.faults.clear()  # the next day's quota
    report = DailyPush(bot).run()
    assert report.status == "done" and report.counts["sent"] == 9
    assert Counter(d["to"] for d in emulator.delivered) == Counter({**{f"o-{i}": 1 for i in range(8)}, "alice": 1})


def test_a_read_timeout_on_a_template_message_is_unknown_not_resent(push_bot, emulator):
    bot = push_bot(**{"admins": ["o-admin"], "push.wechat.mode": "template", "http.timeout_seconds": 1.0})
    add_subscribers(bot, "wechat", ["o-ann", "o-bob"])
    emulator.fault(TEMPLATE, delay=1.3)
    report = DailyPush(bot).run()
    assert report.counts["unknown"] == 1 and report.counts["sent"] == 1
    (admin,) = emulator.inbox("o-admin")  # the admins' one-message report
    assert "1 条消息发送中断" in admin["text"]["content"] and "已发送 1" in admin["text"]["content"]
    time.sleep(1.4)  # the slow call lands
    assert DailyPush(bot).run().sent_now == 0
    assert sorted(len(emulator.inbox(u)) for u in ("o-ann", "o-bob")) == [1, 1]  # both got exactly one
    from click.testing import CliRunner

    from bot.cli.main import main
    status = CliRunner().invoke(main, ["push", "status", "--date", "2025-06-11"], obj=None,
                                env={"REBOT_DATABASE_URL": bot.config["database_url"]})
    assert status.exit_code == 0, status.output
    assert "sent 1 · failed 0 · skipped 0 · unknown 1" in status.output
    assert "  unknown wechat:o-" in status.output and "(attempts 1)" in status.output
    report = DailyPush(bot).run(retry_unknown=True)  # an admin decides to send again
    assert report.counts["unknown"] == 0 and report.counts["sent"] == 2


def test_no_new_quote_since_the_last_push_skips_and_records_it(push_bot, emulator):
    bot = push_bot()
    add_subscribers(bot, "wechat", ["o-ann"])
    assert DailyPush(bot).run().status == "done"
    thursday = push_bot(clock=lambda: DEMO_NOW + timedelta(days=1))
    report = DailyPush(thursday).run()
    assert report.status == "skipped" and "2025-06-11" in report.reason
    with bot.db.session() as session:
        runs = session.execute(select(PushRun.run_date, PushRun.status).order_by(PushRun.run_date)).all()
    assert [tuple(r) for r in runs] == [(date(2025, 6, 11), "done"), (date(2025, 6, 12), "skipped")]
    assert len(emulator.inbox("o-ann")) == 1


def test_dry_run_prints_each_message_and_sends_nothing(push_bot, emulator):
    robots = [{"name": "desk", "webhook": f"{emulator.url}/cgi-bin/webhook/send?key=robot-key-desk"}]
    bot = push_bot(**{"push.wechat.mode": "custom", "robots": robots, **WECOM_SETTINGS})
    add_subscribers(bot, "wechat", ["o-ann"], language="zh", products=["Tb-oxide"])
    add_subscribers(bot, "wecom", ["alice"], language="en")
    add_subscribers(bot, "console", ["someone"])
    lines = []
    assert dry_run(bot, date(2025, 6, 11), lines.append) == 3
    out = "\n".join(lines)
    assert "=== wechat → o-ann (custom message, zh)" in out and "氧化铽" in out
    assert "=== wecom → alice (app message, en)" in out and "Rare-earth market · Wed 11 Jun" in out
    assert "=== wecom_robot → desk (group robot markdown, zh)" in out and "**稀土行情 · 6月11日（周三）**" in out
    assert "1 subscriber(s) on console" in out
    assert emulator.requests == []
    with bot.db.session() as session:
        assert session.scalar(select(func.count()).select_from(PushRun)) == 0


def test_two_processes_pushing_at_once_send_each_message_once(push_bot, emulator, db_url, tmp_path):
    bot = push_bot()
    add_subscribers(bot, "wechat", [f"o-{i}" for i in range(40)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    env.update(REBOT_DATABASE_URL=db_url, REBOT_WECHAT_APP_ID=APP_ID, REBOT_WECHAT_APP_SECRET=APP_SECRET,
               REBOT_WECHAT_API_BASE_URL=emulator.url, REBOT_PUSH_WECHAT_TEMPLATE_ID="TPL-DAILY",
               REBOT_PUSH_BATCH_SIZE="5")
    procs = [subprocess.Popen([str(REBOT), "push", "daily", "--date", "2025-06-11"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert sorted(p.returncode for p in procs) in ([0, 0], [0, 1]), outputs
    assert Counter(d["to"] for d in emulator.delivered) == {f"o-{i}": 1 for i in range(40)}
    assert set(ledger(bot).values()) == {"sent"}


def test_a_run_killed_mid_way_resumes_without_resending(push_bot, emulator, db_url, tmp_path):
    bot = push_bot()
    users = [f"o-{i:02d}" for i in range(30)]
    add_subscribers(bot, "wechat", users)
    emulator.fault(TEMPLATE, delay=2.0, after=12)  # the 13th call hangs: the process dies during it
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    env.update(REBOT_DATABASE_URL=db_url, REBOT_WECHAT_APP_ID=APP_ID, REBOT_WECHAT_APP_SECRET=APP_SECRET,
               REBOT_WECHAT_API_BASE_URL=emulator.url, REBOT_PUSH_WECHAT_TEMPLATE_ID="TPL-DAILY",
               REBOT_PUSH_WORKERS="1", REBOT_PUSH_LEASE_SECONDS="1", REBOT_HTTP_TIMEOUT_SECONDS="10")
    proc = subprocess.Popen([str(REBOT), "push", "daily", "--date", "2025-06-11"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(emulator.calls(TEMPLATE)) < 13 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(1.0)  # the first 12 are recorded (the ledger is written every 0.25 s)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    time.sleep(1.3)  # the hung call completes on the server; the dead process's lease runs out
    report = DailyPush(bot).run()
    assert report.status == "done"
    assert report.counts["unknown"] == 1 and report.counts["sent"] == 29
    assert Counter(d["to"] for d in emulator.delivered) == {u: 1 for u in users}


def test_two_schedulers_fire_together_and_send_once(push_bot, emulator, make_app):
    from bot.push.scheduler import build_scheduler

    first = push_bot()
    second = push_bot()  # another Bot with its own engine, as a second process has
    add_subscribers(first, "wechat", [f"o-{i}" for i in range(20)])
    schedulers = [build_scheduler(b) for b in (first, second)]
    finished = threading.Event()
    done = []

    def listener(event):
        if event.job_id == "push.daily":  # not the minute jobs (push.resume, alerts.deliver)
            done.append(event.job_id)
        if len(done) == 2:
            finished.set()

    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
    for s in schedulers:
        s.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        s.start(paused=True)
        job = s.get_job("push.daily")
        assert str(job.trigger) == "cron[month='*', day='*', day_of_week='*', hour='17', minute='30']"
        assert (job.coalesce, job.misfire_grace_time, job.max_instances) == (True, 3600, 1)
        assert str(job.trigger.timezone) == "Asia/Shanghai"
        s.modify_job("push.daily", next_run_time=datetime.now(s.timezone))
    for s in schedulers:
        s.resume()
    assert finished.wait(30)
    for s in schedulers:
        s.shutdown()
    assert Counter(d["to"] for d in emulator.delivered) == {f"o-{i}": 1 for i in range(20)}


def test_ten_thousand_subscribers_each_get_exactly_one_message_through_faults(push_bot, emulator):
    bot = push_bot(**WECOM_SETTINGS)
    openids = [f"o-{i:04d}" for i in range(400)]
    members = [f"m-{i:04d}" for i in range(9600)]
    add_subscribers(bot, "wechat", openids[::2], language="zh")
    add_subscribers(bot, "wechat", openids[1::2], language="en", products=["Tb-metal"])
    add_subscribers(bot, "wecom", members, language="en")
    emulator.fault(TEMPLATE, errcode=-1, times=2, after=100)
    emulator.fault(TEMPLATE, errcode=42001, after=200)  # the token expires mid-run
    emulator.fault(WECOM, status=503, after=3)
    report = DailyPush(bot).run()
    assert report.status == "done" and report.counts["sent"] == 10000, report
    got = Counter(d["to"] for d in emulator.delivered)
    assert got == {u: 1 for u in openids + members}
    assert emulator.token_fetches["/cgi-bin/token"] == 2


def test_long_summaries_are_cut_cleanly_to_each_channels_limit(push_bot, emulator):
    from bot.demo import load_catalog
    from bot.push.content import DailyContent

    every = [entry["code"] for entry in load_catalog()]
    bot = push_bot(**{"push.news_count": 20, "push.wechat.template_fields": {
        "first": "{{ title }}", "keyword1": "{{ summary.rows | length }} products", "remark": "{{ text }}"}})
    with bot.db.session() as session:  # a busy news day: 20 items with long addresses
        session.add_all(NewsItem(title=f"Rare earth item {i}", summary="", url="https://news.example.com/" + "x" * 90 + str(i),
                                 image_url=None, published_at=datetime(2025, 6, 11, 1, i), source="test") for i in range(20))
    with bot.db.session() as session:
        content = DailyContent(bot.config, session, bot.catalog(), date(2025, 6, 11)).for_subscriber(every * 4, "en")
    assert len(content.text.encode()) <= 2048 and content.text.endswith("…")
    assert content.text[:-1].endswith("\n")  # cut at a line end, no half line, half link or half character
    assert len(content.markdown.encode()) <= 4096 and "**DyFe**" in content.markdown
    assert content.template_fields["keyword1"] == "26 products"
    assert wechat_length(content.template_fields["remark"]) == 20  # the whole text, cut as WeChat would
