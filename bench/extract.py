"""Extraction speed: sentences per second over the test corpus, and listing-parse time per page.

    .venv/bin/python bench/extract.py [--rounds N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.demo import load_catalog  # noqa: E402
from bot.ingest.extract import Extractor  # noqa: E402
from bot.ingest.fetchers import Context, fetch_html_list  # noqa: E402
from bot.ingest.http import Page  # noqa: E402
from bot.ingest.sources import SourceConfig  # noqa: E402
from bot.market.catalog import Catalog  # noqa: E402


class _Listing:
    """Stands in for the HTTP client: hands out the fixture listing, so only parsing is timed."""

    def __init__(self, text: str):
        self.text = text

    def get(self, url: str, *_validators) -> Page:
        return Page(url, self.text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    started = time.perf_counter()
    extractor = Extractor(Catalog.from_entries(load_catalog()))
    built = time.perf_counter() - started
    corpus = yaml.safe_load((ROOT / "tests" / "data" / "extract_corpus.yaml").read_text(encoding="utf-8"))
    texts = [case["text"] for case in corpus]
    sentences = sum(extractor.extract(t).sentences for t in texts)
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(args.rounds):
            for text in texts:
                extractor.extract(text)
        runs.append(time.perf_counter() - started)
    best = min(runs)
    print(f"extractor built in {built * 1000:.1f} ms ({len(extractor.catalog.names)} spellings)")
    print(f"corpus: {len(texts)} texts, {sentences} sentences; {args.rounds} rounds, best of 5")
    print(f"extraction: {sentences * args.rounds / best:,.0f} sentences/s "
          f"(median {sentences * args.rounds / statistics.median(runs):,.0f})")

    listing = (ROOT / "tests" / "data" / "sites" / "listing.html").read_text(encoding="utf-8")
    source = SourceConfig("bench", "html_list", "http://127.0.0.1/listing.html", "0 18 * * *",
                          {"report_titles": ["^$"]})  # no report: time the listing alone
    context = Context(source, _Listing(listing), extractor, date(2025, 6, 11), timezone.utc)
    timings = []
    for _ in range(50):
        started = time.perf_counter()
        harvest = fetch_html_list(context)
        timings.append(time.perf_counter() - started)
    print(f"listing parse (seed page, {len(listing):,} bytes, {harvest.items} items): "
          f"median {statistics.median(timings) * 1000:.2f} ms, min {min(timings) * 1000:.2f} ms per page")


if __name__ == "__main__":
    main()
