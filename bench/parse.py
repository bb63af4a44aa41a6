"""Chat parse time per message over the corpus (tests/data/parse_corpus.yaml): median and p99, cold (each text
parsed afresh) and memoised (the same text again, same catalog version and day); and the longest hostile
messages (500 characters) against short ones, to show the time grows with the length, no faster.

    .venv/bin/python bench/parse.py [--rounds N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.demo import load_catalog  # noqa: E402
from bot.market.catalog import Catalog  # noqa: E402
from bot.market.parse import Parser, parse  # noqa: E402

HOSTILE = ["1", "1,", "a ", "镨", "price ", "-", "6/", "上周", "PrNd ", "terbuim ", "镨女", "alert PrNd > 4"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--rounds", type=int, default=5)
    args = options.parse_args()
    corpus = yaml.safe_load((ROOT / "tests" / "data" / "parse_corpus.yaml").read_text(encoding="utf-8"))
    texts, today = [case["text"] for case in corpus["cases"]], corpus["today"]
    parser = Parser(Catalog.from_entries(load_catalog()))
    parse(texts[0], parser, today)  # loads the word lists and OpenCC once, as the first message of a process does

    cold = [timed(parse, text, parser, today) for _ in range(args.rounds) for text in texts]
    for text in texts:
        parser.parse(text, today)
    warm = [timed(parser.parse, text, today) for _ in range(args.rounds) for text in texts]
    print(f"parse, {len(texts)} corpus messages x {args.rounds} rounds")
    print(f"  cold:     median {statistics.median(cold) * 1e6:7.1f} µs   p99 {percentile(cold, 0.99) * 1e6:7.1f} µs")
    print(f"  memoised: median {statistics.median(warm) * 1e6:7.1f} µs   p99 {percentile(warm, 0.99) * 1e6:7.1f} µs")

    print("hostile input, cold, fastest of the rounds: 100 and 500 characters (linear: about 5x)")
    worst = 0.0
    for unit in HOSTILE:
        short, long = (unit * 500)[:100], (unit * 500)[:500]
        # The fastest of the rounds: on a shared machine the others measure the neighbours too.
        t_short = min(timed(parse, short, parser, today) for _ in range(args.rounds * 4))
        t_long = min(timed(parse, long, parser, today) for _ in range(args.rounds * 4))
        worst = max(worst, t_long)
        print(f"  {unit!r:14} {t_short * 1e3:6.2f} ms -> {t_long * 1e3:6.2f} ms  ({t_long / t_short:4.1f}x)")
    print(f"  slowest 500-character message: {worst * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
