"""`rebot worker`: queued pushes delivered by several workers, each message once; a dead worker's rows taken over."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter

from sqlalchemy import func, select

from bot.models import Delivery, PushRun
from bot.push.worker import QueuedPush, Worker, daily_push
from emulator import APP_ID, APP_SECRET
from test_push import REBOT, TEMPLATE, add_subscribers, push_bot  # noqa: F401 (fixture)

WORKERS = {"push.delivery": "workers", "worker.idle_seconds": 0.05}


def statuses(bot) -> dict[str, int]:
    with bot.db.session() as session:
        return dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())


def run_status(bot) -> str:
    with bot.db.session() as session:
        return session.scalars(select(PushRun.status)).one()


def test_workers_deliver_a_queued_push_once(push_bot, emulator):
    bot = push_bot(**WORKERS, admins=["o-admin"], **{"push.batch_size": 40})
    wechat = [f"o-{i:03d}" for i in range(300)]
    add_subscribers(bot, "wechat", wechat[::2])
    add_subscribers(bot, "wechat", wechat[1::2], language="en", products=["Tb-oxide"])
    push = daily_push(bot)
    assert isinstance(push, QueuedPush)
    report = push.run()
    assert report.status == "running" and report.counts["queued"] == 300
    assert emulator.delivered == []  # queued, not sent: the workers send

    emulator.latency = 0.02  # a round trip to Tencent: one worker alone would take 3 s
    stop = threading.Event()
    workers = [Worker(push_bot(**WORKERS, admins=["o-admin"], **{"push.batch_size": 40, "push.workers": 2}))
               for _ in range(3)]
    threads = [threading.Thread(target=w.run_forever, args=(stop, True)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert run_status(bot) == "done"
    assert statuses(bot) == {"sent": 300}
    counts = Counter(d["to"] for d in emulator.delivered)
    assert counts == {**{u: 1 for u in wechat}, "o-admin": 1}  # the report goes out once
    (bob,) = emulator.inbox("o-001")
    assert bob["data"]["keyword2"]["value"].startswith("Tb") and "first" not in bob["data"]  # WeChat hides `first`
    assert all(w.claimed for w in workers)  # each did a share
    assert sum(w.sent for w in workers) == 300


def test_a_killed_worker_rows_are_finished_by_another(push_bot, emulator, db_url, tmp_path):
    bot = push_bot(**WORKERS, **{"worker.claim_seconds": 1})
    users = [f"o-{i:03d}" for i in range(60)]
    add_subscribers(bot, "wechat", users)
    QueuedPush(bot).run()
    emulator.fault(TEMPLATE, delay=3.0, after=20)  # the 21st call hangs: the worker dies during it
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    env.update(REBOT_DATABASE_URL=db_url, REBOT_WECHAT_APP_ID=APP_ID, REBOT_WECHAT_APP_SECRET=APP_SECRET,
               REBOT_WECHAT_API_BASE_URL=emulator.url, REBOT_PUSH_WECHAT_TEMPLATE_ID="TPL-DAILY",
               REBOT_PUSH_DELIVERY="workers", REBOT_PUSH_WORKERS="1", REBOT_PUSH_BATCH_SIZE="10",
               REBOT_WORKER_CLAIM_SECONDS="30", REBOT_HTTP_TIMEOUT_SECONDS="10")
    proc = subprocess.Popen([str(REBOT), "worker"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(emulator.calls(TEMPLATE)) < 21 and time.monotonic() < deadline:
        time.sleep(0.02)
    while statuses(bot).get("sent") != 20:  # the first 20 reach the ledger (written every 0.25 s)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert statuses(bot) == {"sent": 20, "sending": 1, "queued": 39}  # the 21st was in flight

    time.sleep(1.1)  # its claims run out (worker.claim_seconds: 1 for the survivor)
    survivor = Worker(bot)
    survivor.run_forever(threading.Event(), once=True)
    assert run_status(bot) == "done"
    assert statuses(bot) == {"sent": 59, "unknown": 1}
    time.sleep(3)  # the hung call completes on the server
    assert Counter(d["to"] for d in emulator.delivered) == {u: 1 for u in users}
