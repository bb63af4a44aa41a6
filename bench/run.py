"""rebot's benchmarks in one run: chat latency, the webhook beside its peers, push beside its floor, extraction.

Usage: python bench/run.py [--seconds 15] [--rounds 3] [--connections 16] [--subscribers 100000]   (`make bench`)
Needs wrk (Debian package `wrk`); WeRoBot is installed into bench/.venv-werobot on first use.
Everything runs on loopback against local servers and the API emulator.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from webhook import measure, table  # bench/ is on sys.path when this runs as a script

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOKEN = "bench-token"


def chat_latency(env: dict, runs: int = 7) -> list[float]:
    """Wall time of `rebot chat "price PrNd"` (a whole process, from start to exit)."""
    subprocess.run([BIN / "rebot", "chat", "price PrNd"], env=env, check=True, capture_output=True)  # prepare
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run([BIN / "rebot", "chat", "price PrNd"], env=env, check=True, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        assert "449,000" in out.stdout, out.stdout
    return times


def run_script(*args: str) -> str:
    """The output of one of the bench scripts, run with this Python."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def push_figures(subscribers: int) -> tuple[str, float]:
    """bench/push.py's report for `subscribers` (wechat, template mode) and its peak RSS in MB."""
    out = run_script("bench/push.py", "--subscribers", str(subscribers))
    return out, float(re.search(r"peak RSS of the pushing process: ([\d.]+) MB", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="webhook: seconds of load per server")
    parser.add_argument("--rounds", type=int, default=3, help="webhook: interleaved rounds the seconds are cut into")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--subscribers", type=int, default=100_000, help="the large push (the small one is 1/10)")
    args = parser.parse_args()
    print(f"# rebot benchmarks · {time.strftime('%Y-%m-%d')} · {platform.machine()} · {os.cpu_count()} cores · "
          f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "REBOT_DATABASE_URL": f"sqlite:///{tmp}/bench.db", "REBOT_WECHAT_TOKEN": TOKEN,
               "REBOT_LOGGING_LEVEL": "WARNING"}
        env.pop("REBOT_CONFIG", None)
        times = chat_latency(env)
    print(f"\n## rebot chat \"price PrNd\" (a whole process): median {statistics.median(times) * 1000:.0f} ms, "
          f"min {min(times) * 1000:.0f} ms over {len(times)} runs")

    print(f"\n## Webhook: gunicorn -w 2, wrk -t 2 -c {args.connections}, {args.seconds} s per server "
          f"in {args.rounds} interleaved rounds\n")
    print(table(measure(args.seconds, args.connections, args.rounds)))

    print("\n## Push: the daily summary over the API emulator (wechat template messages, 8 workers)\n")
    small, small_rss = push_figures(args.subscribers // 10)
    large, large_rss = push_figures(args.subscribers)
    print(small + large)
    print(f"peak RSS at {args.subscribers:,} ÷ at {args.subscribers // 10:,}: {large_rss / small_rss:.2f}×")

    print("\n## Extraction\n")
    print(run_script("bench/extract.py"))

    print("\n## Chat parse\n")
    print(run_script("bench/parse.py"))


if __name__ == "__main__":
    main()
