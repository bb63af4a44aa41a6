"""Chart render time: the first chart of a process (imports matplotlib), then per chart (wall and CPU), PNG size.

    .venv/bin/python bench/chart.py [--rounds N]

Runs on a throw-away copy of the demo database in a temporary directory.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.db import Database  # noqa: E402
from bot.demo import load_demo  # noqa: E402
from bot.market.catalog import Catalog  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.upgrade()
        with db.session() as session:
            load_demo(session)
        with db.session() as session:
            catalog = Catalog.from_session(session)
            from bot.charts import chart_data, render_png  # noqa: E402 - the import is part of the first chart

            from datetime import date
            today = date(2025, 6, 11)
            cases = [(catalog.by_code[code], days, language) for code in ("PrNd-oxide", "Dy-oxide", "Tb-metal")
                     for days, language in ((30, "en"), (90, "zh"))]
            started = time.perf_counter()
            first = render_png(chart_data(session, cases[0][0], cases[0][1], today, cases[0][2]))
            first_ms = (time.perf_counter() - started) * 1000
            data_ms, render_ms, cpu_ms, sizes = [], [], [], []
            for i in range(args.rounds):
                product, days, language = cases[i % len(cases)]
                t0 = time.perf_counter()
                data = chart_data(session, product, days, today, language)
                t1, c1 = time.perf_counter(), time.process_time()
                png = render_png(data)
                t2, c2 = time.perf_counter(), time.process_time()
                cpu_ms.append((c2 - c1) * 1000)
                data_ms.append((t1 - t0) * 1000)
                render_ms.append((t2 - t1) * 1000)
                sizes.append(len(png))
        db.dispose()
    print(f"first chart in a process (matplotlib import + font lookup + render): {first_ms:.0f} ms, "
          f"{len(first) / 1024:.1f} KiB")
    print(f"render_png, {args.rounds} charts (30 and 90 days, en and zh): "
          f"median {statistics.median(render_ms):.0f} ms, "
          f"p90 {sorted(render_ms)[int(len(render_ms) * 0.9) - 1]:.0f} ms, max {max(render_ms):.0f} ms")
    print(f"render_png CPU time (what the wall time is on an idle core): median {statistics.median(cpu_ms):.0f} ms")
    print(f"chart_data (the quotes from SQLite): median {statistics.median(data_ms):.1f} ms")
    print(f"PNG size: median {statistics.median(sizes) / 1024:.1f} KiB, max {max(sizes) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
