"""Hostile chat input: time per message of every command fed 50,000 characters, and the chat patterns'
time against input length (linear: ten times the text, about ten times the time).

    .venv/bin/python bench/hostile_input.py [--chars 50000]

Runs the real router on a throw-away copy of the demo database in a temporary directory.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import build_config  # noqa: E402
from bot.demo import load_demo  # noqa: E402
from bot.messages import Message  # noqa: E402
from bot.service import Bot  # noqa: E402
from handlers.alerts import _LINE, _MOVE, _after_product  # noqa: E402
from handlers.trend import split_period  # noqa: E402

NOW = datetime(2025, 6, 11, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def hostile(n: int) -> dict[str, str]:
    return {"digits": "1" * n, "period": "PrNd " + "1" * n + "x", "line": "PrNd > " + "1" * n + "x",
            "move": "PrNd " + "1" * n + ".5x%", "words": "镨钕 " * (n // 3)}


def per_call(fn, text: str, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=50_000)
    args = parser.parse_args()
    print("patterns alone (no cut), best of 3, per call:")
    patterns = {"trend period": split_period, "alert line": lambda t: _after_product(_LINE, t),
                "alert move": lambda t: _after_product(_MOVE, t)}
    for name, fn in patterns.items():
        figures = []
        for n in (5_000, 50_000, 500_000):
            worst = max(per_call(fn, text) for text in hostile(n).values())
            figures.append(f"{n:>7,} chars {worst * 1000:7.2f} ms")
        print(f"  {name:<13} " + " · ".join(figures))
    with tempfile.TemporaryDirectory() as tmp:
        config = build_config({"database_url": f"sqlite:///{tmp}/bench.db"}, environ={})
        bot = Bot(config, clock=lambda: NOW)
        bot.db.upgrade()
        with bot.db.session() as session:
            load_demo(session)
        names = sorted({n for cmd in bot.router.commands for n in cmd.names if not n.startswith("_")})
        times = []
        for name in names:
            for text in hostile(args.chars).values():
                message = Message("console", "bench-user", text=f"{name} {text}")
                start = time.perf_counter()
                bot.answer(message)
                times.append((time.perf_counter() - start, name))
        times.sort()
        print(f"whole messages of {args.chars:,} characters through the router ({len(times)}: "
              f"{len(names)} command names x {len(hostile(1))} shapes, chat.max_chars {config['chat.max_chars']}):")
        print(f"  median {times[len(times) // 2][0] * 1000:.1f} ms, worst {times[-1][0] * 1000:.1f} ms "
              f"({times[-1][1]!r})")
        bot.db.dispose()


if __name__ == "__main__":
    main()
