"""Push throughput: the daily summary to N subscribers against the API emulator over real HTTP.

    .venv/bin/python bench/push.py --subscribers 100000 --channel wechat
    .venv/bin/python bench/push.py --subscribers 100000 --channel wecom
    .venv/bin/python bench/push.py --subscribers 10000 --database-url postgresql+psycopg://…/bench

The emulator runs in a child process (its memory is not counted). The figures: messages per second
over the whole run (ledger fill, claims, rendering, HTTP, ledger writes), the peak resident memory of
the pushing process, and a check that every subscriber got exactly one message. Beside it (wechat): the
floor, a bare `requests` loop with as many threads sending the same bodies to the same emulator.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from sqlalchemy import insert  # noqa: E402

from bot.config import build_config  # noqa: E402
from bot.models import Subscriber  # noqa: E402
from bot.push.run import DailyPush  # noqa: E402
from bot.service import Bot  # noqa: E402
from emulator import AGENT_ID, APP_ID, APP_SECRET, CORP_ID, CORP_SECRET  # noqa: E402

SERVE = """
import sys, time, json
sys.path.insert(0, %r)
import logging; logging.getLogger("werkzeug").setLevel(logging.ERROR)
from emulator import Emulator
emu = Emulator().start()
print(emu.url, flush=True)
for line in sys.stdin:
    if line.strip() == "sample":  # up to 1000 of the send calls' bodies, for the floor
        with emu.lock:
            sent = [(r["path"], r["json"]) for r in emu.requests if r["path"].endswith("/send")][:1000]
        print(json.dumps(sent), flush=True)
        continue
    counts = {}  # "count" -> how many messages each recipient got (and forget them)
    with emu.lock:
        for d in emu.delivered:
            counts[d["to"]] = counts.get(d["to"], 0) + 1
        calls = len(emu.requests)
        emu.requests.clear()
        emu.delivered.clear()
    print(json.dumps({"calls": calls, "per_recipient": sorted(set(counts.values())),
                      "recipients": len(counts)}), flush=True)
"""


def floor(url: str, sample: list, count: int, workers: int) -> float:
    """Messages/s of a bare requests loop: `workers` threads, a session each, sending the sampled bodies."""
    token = requests.get(f"{url}/cgi-bin/token", timeout=10, params={
        "grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}).json()["access_token"]
    local = threading.local()

    def send(i: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        path, body = sample[i % len(sample)]
        reply = local.session.post(url + path, params={"access_token": token}, timeout=10,
                                   json={**body, "touser": f"floor-{i}"})
        assert reply.json()["errcode"] == 0, reply.text

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(send, range(count), chunksize=64))
    return count / (time.perf_counter() - started)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=10000)
    parser.add_argument("--channel", choices=("wechat", "wecom"), default="wechat")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    emulator = subprocess.Popen([sys.executable, "-c", SERVE % str(ROOT / "tests")], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    url = emulator.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as tmp:
        database_url = args.database_url or f"sqlite:///{tmp}/bench.db"
        config = build_config({
            "database_url": database_url, "wechat.app_id": APP_ID, "wechat.app_secret": APP_SECRET,
            "wechat.api_base_url": url, "push.wechat.template_id": "TPL", "push.wechat.rate_per_second": 100000,
            "wecom.corp_id": CORP_ID, "wecom.secret": CORP_SECRET, "wecom.agent_id": AGENT_ID,
            "wecom.api_base_url": url, "push.wecom.rate_per_second": 100000,
            "push.wecom.avoid_peak": False, "push.workers": args.workers,
            "logging.level": "WARNING"}, environ={})
        bot = Bot(config)
        from bot.cli.env import prepare

        prepare(bot)
        products = [[], ["PrNd-oxide", "Dy-oxide"], ["Tb-oxide"], []]
        with bot.db.session() as session:
            for start in range(0, args.subscribers, 5000):
                session.execute(insert(Subscriber), [
                    {"channel": args.channel, "external_id": f"user-{i:06d}", "display_name": "",
                     "products": products[i % 4], "daily_summary": True, "status": "active",
                     "language": "zh" if i % 3 else "en"}
                    for i in range(start, min(start + 5000, args.subscribers))])
        before = peak_rss_mb()
        started = time.perf_counter()
        report = DailyPush(bot).run(date(2025, 6, 11))  # the demo data's last trading day, whatever today is
        elapsed = time.perf_counter() - started
        peak = peak_rss_mb()
        emulator.stdin.write("sample\n")
        emulator.stdin.flush()
        sample = json.loads(emulator.stdout.readline())
        emulator.stdin.write("count\n")
        emulator.stdin.flush()
        seen = json.loads(emulator.stdout.readline())
        floor_rate = None
        if args.channel == "wechat" and sample:
            floor_rate = floor(url, sample, report.counts["sent"], args.workers)
        emulator.kill()  # its numbers are in; nothing to shut down cleanly
        emulator.wait()
        emulator.stdin.close()
        emulator.stdout.close()
        bot.db.dispose()
    backend = database_url.split(":")[0]
    print(f"channel {args.channel}, {args.subscribers} subscribers, {args.workers} workers, {backend}")
    print(f"  run: {report.status}, {report.counts}")
    print(f"  {elapsed:.1f} s, {report.counts['sent'] / elapsed:,.0f} messages/s, "
          f"{seen['calls']} HTTP calls to the emulator")
    print(f"  peak RSS of the pushing process: {peak:.0f} MB (before the run: {before:.0f} MB)")
    exact = seen["per_recipient"] == [1] and seen["recipients"] == args.subscribers
    print(f"  every subscriber got exactly one message: {'yes' if exact else 'NO ' + str(seen)}")
    if floor_rate:
        rate = report.counts["sent"] / elapsed
        print(f"  floor (a bare requests loop, {args.workers} threads, the same bodies): {floor_rate:,.0f} messages/s;"
              f" rebot ÷ floor = {rate / floor_rate:.2f}×")


if __name__ == "__main__":
    main()
