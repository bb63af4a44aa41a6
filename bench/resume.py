"""How soon a push is resumed after its sender dies: two `rebot scheduler` processes, the leader killed
(SIGKILL) mid-push, the time until the standby sends again and until the run is done.

Usage: python bench/resume.py [--subscribers 2000] [--latency 0.02] [--kill-after 300]
       REBOT_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test (default: a SQLite file)

Default lease and leader settings (push.lease_seconds 60, scheduler.leader_seconds 30). Both processes run
on this host, so the standby sees the dead pid and takes the leadership and the run's lease at once; on
another host it waits for the leases to run out (≤ 30 s to lead, then the push.resume job of the next
minute, after the run's 60 s lease): within two minutes.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from sqlalchemy import func, insert, select  # noqa: E402

from bot.config import build_config  # noqa: E402
from bot.demo import load_demo  # noqa: E402
from bot.models import Delivery, Lease, PushRun, Subscriber  # noqa: E402
from bot.service import Bot  # noqa: E402
from emulator import APP_ID, APP_SECRET, Emulator  # noqa: E402
from workers import drop_database, fresh_database  # noqa: E402

REBOT = Path(sys.executable).parent / "rebot"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--kill-after", type=int, default=300)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    base = os.environ.get("REBOT_BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(base, Path(tmp), 0)
        bot = Bot(build_config({"database_url": url}, environ={}))
        bot.db.upgrade()
        with bot.db.session() as session:
            load_demo(session)
            session.execute(insert(Subscriber), [
                {"channel": "wechat", "external_id": f"o-{i:05d}", "display_name": "", "products": [],
                 "daily_summary": True, "status": "active", "language": "zh"} for i in range(args.subscribers)])
        emulator = Emulator().start()
        emulator.latency = args.latency
        then = datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(minutes=1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
        env.update(REBOT_DATABASE_URL=url, REBOT_WECHAT_APP_ID=APP_ID, REBOT_WECHAT_APP_SECRET=APP_SECRET,
                   REBOT_WECHAT_API_BASE_URL=emulator.url, REBOT_PUSH_WECHAT_TEMPLATE_ID="TPL-DAILY",
                   REBOT_PUSH_DAILY_CRON=f"{then.minute} {then.hour} * * *", REBOT_PUSH_WORKERS="4",
                   REBOT_LOGGING_LEVEL="WARNING")
        procs = [subprocess.Popen([str(REBOT), "scheduler"], cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(2)]
        try:
            while len(emulator.delivered) < args.kill_after:
                time.sleep(0.01)
            with bot.db.session() as session:
                owner = session.scalars(select(Lease.owner).where(Lease.name.like("push:run:%"))).one()
            sender = next(p for p in procs if p.pid == int(owner.split(":")[1]))
            sender.send_signal(signal.SIGKILL)
            killed, at = time.monotonic(), len(emulator.delivered)
            sender.wait()
            (standby,) = [p for p in procs if p is not sender]
            while True:  # the standby holds the run's lease: it sends
                with bot.db.session() as session:
                    owner = session.scalars(select(Lease.owner).where(Lease.name.like("push:run:%"))).first()
                if owner and int(owner.split(":")[1]) == standby.pid:
                    break
                time.sleep(0.01)
            resumed = time.monotonic() - killed
            while True:
                with bot.db.session() as session:
                    run = session.scalars(select(PushRun)).one()
                    if run.status == "done":
                        counts = dict(session.execute(select(Delivery.status, func.count())
                                                      .group_by(Delivery.status)).all())
                        break
                time.sleep(0.05)
            finished = time.monotonic() - killed
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
            emulator.stop()
            bot.db.dispose()
            drop_database(base, url)
    twice = sum(1 for n in Counter(d["to"] for d in emulator.delivered).values() if n > 1)
    print(f"{args.subscribers} subscribers, emulator latency {args.latency * 1000:.0f} ms, database "
          f"{'PostgreSQL' if base else 'SQLite'}; the sending scheduler killed after {at} deliveries")
    print(f"the standby resumed the run {resumed:.1f} s after the kill (same host); run done {finished:.1f} s after it; "
          f"ledger {counts}; received twice: {twice}")


if __name__ == "__main__":
    main()
