"""Callback answer times when a store fails: gunicorn (1 worker × 4 gthreads) on a SQLite file of the demo
data, WeChat's API emulated; per scenario the median and the slowest answer of `--requests` callbacks.

Usage: python bench/callback_budget.py [--requests 20]

Scenarios: healthy; Redis down (nothing listens at redis_url); Redis hung (accepts, never answers); ten
chart answers at once whose upload takes 6 s (every server thread busy). WeChat gives up after 5 s; rebot's
budget (`wechat.reply_budget_seconds`) is 4 s.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "chaos"))

from bot.db import Database  # noqa: E402
from bot.demo import load_demo  # noqa: E402
from emulator import Emulator  # noqa: E402
from test_callback_budget import HungServer, api_env, ask, free_port  # noqa: E402
from test_webhook import gunicorn  # noqa: E402


@contextmanager
def served(tmp: Path, name: str, **env):
    db_url = f"sqlite:///{tmp / name}.db"
    db = Database(db_url)
    db.upgrade()
    with db.session() as session:
        load_demo(session)
    db.dispose()
    with gunicorn(db_url, tmp, name, workers=1, threads=4, **env) as (base, _log):
        yield base


def report(name: str, times: list[float]) -> None:
    print(f"{name:<34} n={len(times):>3}  median {statistics.median(times):5.2f} s  max {max(times):5.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20)
    n = parser.parse_args().requests
    emulator = Emulator().start()
    hung = HungServer()
    try:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            for name, env in (("healthy", {}), ("Redis down", {"REBOT_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}),
                              ("Redis hung", {"REBOT_REDIS_URL": f"redis://127.0.0.1:{hung.port}/0"})):
                with served(tmp, name.replace(" ", "-"), **api_env(emulator), **env) as base:
                    report(name + ", price PrNd", [ask(base, "price PrNd", user=f"oBench-{i}")[1] for i in range(n)])
            emulator.fault("/cgi-bin/media/upload", delay=6, times=1000)
            with served(tmp, "busy", **api_env(emulator)) as base:
                ask(base, "price PrNd")
                with ThreadPoolExecutor(10) as pool:
                    times = list(pool.map(lambda i: ask(base, "trend PrNd", user=f"oSlow-{i}")[1], range(10)))
                report("ten slow answers on 4 threads", times)
    finally:
        hung.close()
        emulator.stop()


if __name__ == "__main__":
    main()
