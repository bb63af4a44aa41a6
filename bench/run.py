"""Benchmarks that print figures: `rebot chat` latency and webhook throughput under gunicorn.

Usage: python bench/run.py [--seconds 15] [--connections 16]
Needs wrk (Debian package `wrk`) for the webhook figure; everything runs on loopback.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def webhook_throughput(env: dict, seconds: int, connections: int, workers: int = 2) -> dict:
    """Requests/s and latency of signed `price PrNd` messages to gunicorn with `workers` workers."""
    port = free_port()
    server = subprocess.Popen(
        [BIN / "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning", "bot:create_app()"],
        env=env, cwd=ROOT)
    try:
        for _ in range(100):
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        timestamp, nonce = str(int(time.time())), "benchnonce"
        signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()
        path = f"/wechat?signature={signature}&timestamp={timestamp}&nonce={nonce}"
        check = requests.post(f"http://127.0.0.1:{port}{path}", data=(
            "<xml><ToUserName>gh</ToUserName><FromUserName>o_check</FromUserName><CreateTime>1</CreateTime>"
            "<MsgType>text</MsgType><Content>price PrNd</Content><MsgId>1</MsgId></xml>").encode(), timeout=5)
        assert "449,000" in check.text, check.text
        out = subprocess.run(
            ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s",
             str(ROOT / "bench/webhook.lua"), f"http://127.0.0.1:{port}", "--", path],
            check=True, capture_output=True, text=True).stdout
    finally:
        server.terminate()
        server.wait(10)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": latency.get("50"), "p99": latency.get("99"), "non2xx": int(errors.group(1)) if errors else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "REBOT_DATABASE_URL": f"sqlite:///{tmp}/bench.db", "REBOT_WECHAT_TOKEN": TOKEN,
               "REBOT_LOGGING_LEVEL": "WARNING"}
        env.pop("REBOT_CONFIG", None)
        print(f"# rebot benchmarks · {time.strftime('%Y-%m-%d')} · {platform.machine()} · {os.cpu_count()} cores · "
              f"Python {platform.python_version()}")
        times = chat_latency(env)
        print(f"rebot chat \"price PrNd\" (whole process): median {statistics.median(times) * 1000:.0f} ms, "
              f"min {min(times) * 1000:.0f} ms over {len(times)} runs")
        if shutil.which("wrk") is None:
            print("webhook: skipped (install wrk: apt-get install wrk)")
            return
        result = webhook_throughput(env, args.seconds, args.connections)
        print(f"webhook price PrNd, gunicorn -w 2, wrk -c {args.connections} {args.seconds}s: "
              f"{result['rps']:.0f} req/s, p50 {result['p50']}, p99 {result['p99']}, non-2xx {result['non2xx']}")


if __name__ == "__main__":
    main()
