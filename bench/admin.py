"""Admin console figures: the cost of a sign-in (scrypt) and page times with many subscribers.

Usage: python bench/admin.py [--subscribers 20000] [--runs 7]
In-process (Flask test client) on a fresh SQLite file; prints medians in milliseconds.
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.admin import auth  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.config import build_config  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.demo import load_demo  # noqa: E402
from bot.models import Subscriber  # noqa: E402


def median_ms(fn, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    db = Database(url)
    db.upgrade()
    rng = random.Random(1)
    codes = ["PrNd-oxide", "Dy-oxide", "Tb-oxide", "PrNd-metal", "Ho-oxide"]
    with db.session() as session:
        load_demo(session)
        auth.add_user(session, "bench", "bench password")
        session.add_all(Subscriber(channel=rng.choice(["wechat", "wecom"]), external_id=f"o{i:08d}",
                                   display_name=f"Company {i}", products=rng.sample(codes, 2), language="zh",
                                   daily_summary=True, status=rng.choice(["active", "active", "paused"]))
                        for i in range(args.subscribers))
    db.dispose()
    app = create_app(build_config({"database_url": url}, environ={}))

    def sign_in():
        fresh = app.test_client()
        token = re.search(r'name="csrf_token" value="([^"]+)"', fresh.get("/admin/login").get_data(as_text=True))[1]
        response = fresh.post("/admin/login", data={"csrf_token": token, "username": "bench",
                                                    "password": "bench password"})
        assert response.status_code == 302, response.status_code

    sign_in_client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      sign_in_client.get("/admin/login").get_data(as_text=True))[1]
    sign_in_client.post("/admin/login", data={"csrf_token": token, "username": "bench", "password": "bench password"})
    client = sign_in_client
    print(f"admin console, {args.subscribers} subscribers, SQLite, medians of {args.runs} runs (min)")
    median, fastest = median_ms(sign_in, args.runs)
    print(f"  sign-in (scrypt verify + session): {median:.1f} ms ({fastest:.1f})")
    for path in ("/admin/", "/admin/subscribers", "/admin/subscribers?q=Company%201234",
                 "/admin/subscribers?product=Tb-oxide", "/admin/subscribers?status=paused&page=50",
                 "/admin/subscribers/export.csv", "/admin/prices", "/admin/prices/PrNd-oxide"):
        def get(path=path):
            assert client.get(path).status_code == 200

        median, fastest = median_ms(get, args.runs)
        print(f"  GET {path}: {median:.1f} ms ({fastest:.1f})")


if __name__ == "__main__":
    main()
