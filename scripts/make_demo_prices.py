"""Write bot/data/prices.csv: a deterministic demo price history for every product of catalog.yaml.

Usage: python scripts/make_demo_prices.py [OUTPUT.csv]
"""
from __future__ import annotations

import csv
import random
import sys
from datetime import date, timedelta
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent.parent / "bot" / "data"
LAST_DAY = date(2025, 6, 11)
DAYS = 75
HOLIDAYS = {
    date(2025, 4, 4),  # Qingming
    *(date(2025, 5, d) for d in range(1, 6)),  # Labour Day
    date(2025, 5, 31), date(2025, 6, 1), date(2025, 6, 2),  # Dragon Boat
}
# The seed's 2025-06-11 daily report states these as single figures (low = high = demo_level).
REPORTED = {"PrNd-oxide", "Er-oxide", "DyFe"}
MOVE_CHANCE = 0.3
SPREAD = 0.005


def trading_days(last: date, count: int) -> list[date]:
    """The `count` trading days (weekdays that are not holidays) ending on `last`, oldest first."""
    days, day = [], last
    while len(days) < count:
        if day.weekday() < 5 and day not in HOLIDAYS:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def series(product: dict, count: int) -> list[tuple[int, int]]:
    """(low, high) for `count` days, oldest first: a random walk backwards from the last day's demo_level."""
    rng = random.Random(f"rebot-demo:{product['code']}")
    level, step = product["demo_level"], product["step"]
    spread = max(step, round(level * SPREAD / step) * step)
    if product["code"] in REPORTED:
        # The day before is the range just under the figure, so the last day shows a change.
        rows, low = [(level, level)], level - spread
    else:
        rows, low = [], level
    while len(rows) < count:
        rows.append((low, low + spread))
        if rng.random() < MOVE_CHANCE:
            low += rng.choice((-1, 1)) * round(low * rng.uniform(0.005, 0.02) / step) * step
    return rows[::-1]


def main(out: Path = DATA / "prices.csv") -> None:
    """Write the demo prices of every catalog product to `out`."""
    catalog = yaml.safe_load((DATA / "catalog.yaml").read_text(encoding="utf-8"))
    days = trading_days(LAST_DAY, DAYS)
    with open(out, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["product", "date", "low", "high", "unit", "source"])
        for product in catalog:
            for day, (low, high) in zip(days, series(product, DAYS)):
                writer.writerow([product["code"], day.isoformat(), low, high, product["unit"], "demo"])


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA / "prices.csv")
