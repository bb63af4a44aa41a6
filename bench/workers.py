"""Push throughput with 1, 2 and 4 `rebot worker` processes against the emulator.

Usage: python bench/workers.py [--subscribers 3000] [--latency 0.03] [--workers 1 2 4] [--threads 4]
       REBOT_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test (default: a SQLite file)
       REBOT_BENCH_REDIS_URL=redis://127.0.0.1:6379/0 (optional: the shared rate counters)

Each round: a fresh database with the demo data and N WeChat followers (template messages, one API call
each), the push queued (push.delivery: workers), K worker processes started; the time from the first
worker's start to the run being done gives deliveries per second. The emulator answers after `latency`
seconds, like a round trip to Tencent's servers.
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
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from bot.config import build_config  # noqa: E402
from bot.demo import load_demo  # noqa: E402
from bot.models import Delivery, PushRun, Subscriber  # noqa: E402
from bot.service import Bot  # noqa: E402
from bot.push.worker import QueuedPush  # noqa: E402
from emulator import APP_ID, APP_SECRET, Emulator  # noqa: E402

REBOT = Path(sys.executable).parent / "rebot"


def fresh_database(base: str | None, tmp: Path, round_no: int) -> str:
    if not base:
        return f"sqlite:///{tmp / f'bench{round_no}.db'}"
    name = f"rebot_bench_{os.getpid()}_{round_no}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def drop_database(base: str | None, url: str) -> None:
    if base:
        admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
        admin.dispose()


def one_round(args, workers: int, round_no: int, tmp: Path, emulator: Emulator) -> float:
    base = os.environ.get("REBOT_BENCH_DATABASE_URL")
    url = fresh_database(base, tmp, round_no)
    settings = {"database_url": url, "wechat.app_id": APP_ID, "wechat.app_secret": APP_SECRET,
                "wechat.api_base_url": emulator.url, "push.wechat.template_id": "TPL-DAILY",
                "push.delivery": "workers", "push.wechat.rate_per_second": 100000}
    bot = Bot(build_config(settings, environ={}))
    bot.db.upgrade()
    with bot.db.session() as session:
        load_demo(session)
        session.execute(insert(Subscriber), [
            {"channel": "wechat", "external_id": f"o-{i:06d}", "display_name": "", "products": [],
             "daily_summary": True, "status": "active", "language": "zh"} for i in range(args.subscribers)])
    QueuedPush(bot).run()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    env.update({"REBOT_" + k.replace(".", "_").upper(): str(v) for k, v in settings.items()})
    env.update(REBOT_PUSH_WORKERS=str(args.threads), REBOT_PUSH_BATCH_SIZE=str(args.batch),
               REBOT_WORKER_IDLE_SECONDS="0.1")
    if os.environ.get("REBOT_BENCH_REDIS_URL"):
        env.update(REBOT_REDIS_URL=os.environ["REBOT_BENCH_REDIS_URL"], REBOT_REDIS_PREFIX=f"bench:{uuid.uuid4().hex}:")
    delivered_before = len(emulator.delivered)
    started = time.monotonic()
    procs = [subprocess.Popen([str(REBOT), "worker"], cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
             for _ in range(workers)]
    try:
        while True:
            with bot.db.session() as session:
                if session.scalar(select(PushRun.status)) == "done":
                    break
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        with bot.db.session() as session:
            statuses = dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
        bot.db.dispose()
        drop_database(base, url)
    received = Counter(d["to"] for d in emulator.delivered[delivered_before:])
    assert set(received.values()) <= {1}, "a message arrived twice"
    if statuses != {"sent": args.subscribers}:
        print(f"    (not all sent: {statuses})")
    return elapsed


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the emulator's access log
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds the emulator takes per call")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--threads", type=int, default=4, help="push.workers: sending threads per worker")
    parser.add_argument("--batch", type=int, default=200, help="push.batch_size: rows claimed at a time")
    args = parser.parse_args()
    emulator = Emulator().start()
    emulator.latency = args.latency
    database = make_url(os.environ.get("REBOT_BENCH_DATABASE_URL") or "sqlite://").get_backend_name()
    print(f"{args.subscribers} template messages, emulator latency {args.latency * 1000:.0f} ms, "
          f"{args.threads} threads a worker, batches of {args.batch}, database {database}")
    with tempfile.TemporaryDirectory() as tmp:
        for round_no, workers in enumerate(args.workers):
            elapsed = one_round(args, workers, round_no, Path(tmp), emulator)
            print(f"  {workers} worker(s): {elapsed:6.1f} s  {args.subscribers / elapsed:7.0f} deliveries/s")
    emulator.stop()


if __name__ == "__main__":
    main()
