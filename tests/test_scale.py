"""The production layout in miniature: two `rebot scheduler` and three `rebot worker` processes on one
database and one Redis deliver a 20,000-subscriber daily push, each message exactly once.

Marked `scale` (it waits for the scheduler's next minute): `make test-pg` runs it, `make test` does not."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import func, insert, select

from bot.config import build_config
from bot.models import Delivery, PushRun, Subscriber
from bot.service import Bot
from conftest import trading_days_around_today
from emulator import AGENT_ID, APP_ID, APP_SECRET, CORP_ID, CORP_SECRET
from test_push import REBOT

WECHAT, WECOM = 1_000, 19_000


@pytest.mark.scale
def test_two_schedulers_and_three_workers_send_each_message_once(db_url, emulator, redis_settings, tmp_path):
    bot = Bot(build_config({"database_url": db_url}, environ={}))
    with bot.db.session() as session:
        session.execute(insert(Subscriber), [
            {"channel": "wechat" if i < WECHAT else "wecom", "external_id": f"{'o' if i < WECHAT else 'u'}-{i:05d}",
             "display_name": "", "products": [], "daily_summary": True, "status": "active",
             "language": "zh" if i % 3 else "en"} for i in range(WECHAT + WECOM)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    env.update(REBOT_DATABASE_URL=db_url, REBOT_REDIS_URL=redis_settings["redis_url"],
               REBOT_REDIS_PREFIX=redis_settings["redis_prefix"],
               REBOT_WECHAT_APP_ID=APP_ID, REBOT_WECHAT_APP_SECRET=APP_SECRET, REBOT_WECHAT_API_BASE_URL=emulator.url,
               REBOT_WECOM_CORP_ID=CORP_ID, REBOT_WECOM_SECRET=CORP_SECRET, REBOT_WECOM_AGENT_ID=str(AGENT_ID),
               REBOT_WECOM_API_BASE_URL=emulator.url, REBOT_PUSH_WECHAT_TEMPLATE_ID="TPL-DAILY",
               REBOT_PUSH_DAILY_CRON="* * * * *", REBOT_PUSH_DELIVERY="workers", REBOT_PUSH_WORKERS="8",
               REBOT_PUSH_WECHAT_RATE_PER_SECOND="5000", REBOT_PUSH_WECOM_RATE_PER_SECOND="500",
               REBOT_PUSH_BATCH_SIZE="500", REBOT_WORKER_IDLE_SECONDS="0.2", REBOT_SCHEDULER_LEADER_SECONDS="5",
               REBOT_PUBLIC_BASE_URL="https://rebot.example", REBOT_CALENDAR_EXTRA_WORKDAYS=trading_days_around_today())
    procs = []

    def start(name: str, *args: str) -> subprocess.Popen:
        out = (tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen([str(REBOT), *args], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
        procs.append((name, proc, out))
        return proc

    try:
        for i in range(3):
            start(f"worker{i}", "worker")
        for i in range(2):
            start(f"scheduler{i}", "scheduler")
        deadline = time.monotonic() + 150  # the next minute, or the one after if the processes start late
        while True:
            with bot.db.session() as session:
                run = session.scalars(select(PushRun)).first()
            if run is not None and run.status == "done":
                break
            assert time.monotonic() < deadline, f"the push did not finish: {run and run.status}"
            time.sleep(0.5)
        started, finished = run.created_at, run.finished_at
    finally:
        for _name, proc, _out in procs:
            proc.send_signal(signal.SIGTERM)
        for _name, proc, out in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            out.close()
    logs = {name: (tmp_path / f"{name}.log").read_text(errors="replace") for name, _p, _o in procs}

    try:
        with bot.db.session() as session:
            assert session.scalar(select(func.count()).select_from(PushRun)) == 1
            assert dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()) == {
                "sent": WECHAT + WECOM}
    finally:
        bot.db.dispose()
    received = Counter(d["to"] for d in emulator.delivered)
    assert len(received) == WECHAT + WECOM and set(received.values()) == {1}
    fired = [name for name, text in logs.items() if "daily push" in text and name.startswith("scheduler")]
    assert len(fired) == 1, fired  # one scheduler fired the job
    settled = {name: int(re.search(r"(\d+) deliveries claimed", text).group(1))
               for name, text in logs.items() if name.startswith("worker")}
    assert sum(settled.values()) == WECHAT + WECOM and all(settled.values()), settled  # every worker took a share
    assert "Traceback" not in "".join(logs.values())
    print(f"\n20,000 deliveries in {(finished - started).total_seconds():.1f} s by {settled}")
