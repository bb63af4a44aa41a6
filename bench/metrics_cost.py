"""What recording one webhook request in the metrics costs (counter + histogram), in microseconds.

Usage: python bench/metrics_cost.py [--calls 200000]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.metrics import Metrics  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    calls = parser.parse_args().calls
    metrics = Metrics()
    commands = ["price", "summary", "news", "unknown", "event:click"]
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for i in range(calls):
            metrics.webhook("wechat", commands[i % 5], "ok", 0.012)
        runs.append((time.perf_counter() - start) / calls * 1e6)
    print(f"metrics.webhook(): median {statistics.median(runs):.2f} µs per request "
          f"(min {min(runs):.2f}, 5 runs of {calls:,} calls)")
    start = time.perf_counter()
    for _ in range(1000):
        metrics.exposition()
    print(f"exposition (no quote ages): {(time.perf_counter() - start):.3f} ms per scrape")


if __name__ == "__main__":
    main()
