"""How fast and how small the mobile pages are: in-process requests through the whole Flask app.

Usage: python bench/pages.py [--requests 200]
Prints, per page, the median and 95th-percentile time of a full GET (database reads, template, chart)
and the response size, plain and gzip-compressed (what nginx sends to WeChat's browser).
"""
from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import create_app  # noqa: E402
from bot.config import build_config  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.demo import load_demo  # noqa: E402

NOW = datetime(2025, 6, 11, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
PAGES = ["/m/price/PrNd?lang=zh", "/m/price/Dy?lang=en", "/m/summary/2025-06-11?lang=zh", "/m/price/nothing"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    count = parser.parse_args().requests
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        db = Database(url)
        db.upgrade()
        with db.session() as session:
            load_demo(session)
        db.dispose()
        app = create_app(build_config({"database_url": url}, environ={}), clock=lambda: NOW)
        client = app.test_client()
        for path in PAGES:
            client.get(path)  # warm: templates compiled, catalog read
            times = []
            for _ in range(count):
                start = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - start) * 1000)
            body = response.data
            p95 = statistics.quantiles(times, n=20)[-1]
            print(f"{path:34} {response.status_code}  median {statistics.median(times):5.2f} ms  p95 {p95:5.2f} ms  "
                  f"{len(body):6,} bytes ({len(gzip.compress(body)):,} gzipped)")
        app.extensions["rebot"].db.dispose()


if __name__ == "__main__":
    main()
