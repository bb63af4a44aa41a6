"""The demo catalog, price history and news, and loading them into a database."""
from __future__ import annotations

import csv
import re
import subprocess
import sys
import unicodedata
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from bot.db import Database
from bot.demo import DATA, load_catalog, load_demo
from bot.models import Base, NewsItem, PriceQuote, Product

CODES = [
    "PrNd-oxide", "PrNd-metal", "Nd-oxide", "Nd-metal", "Pr-oxide", "Pr-metal", "Dy-oxide", "Dy-metal", "DyFe",
    "Tb-oxide", "Tb-metal", "Gd-oxide", "GdFe", "Ho-oxide", "HoFe", "Er-oxide", "La-oxide", "Ce-oxide",
    "LaCe-metal", "Y-oxide", "Sm-oxide", "Eu-oxide", "Lu-oxide", "Yb-oxide", "RE-carbonate", "monazite",
]
SEED_FIGURES = {"PrNd-oxide": 449000, "Er-oxide": 305000, "DyFe": 1610000}
SEED_NEWS = 5
LAST_DAY = date(2025, 6, 11)
HOLIDAYS = {date(2025, 4, 4), *(date(2025, 5, d) for d in range(1, 6)), date(2025, 5, 31), date(2025, 6, 2)}
ROOT = Path(__file__).resolve().parent.parent


def fold(text: str) -> str:
    return re.sub(r"[\s\-_./·・()（）]+", "", unicodedata.normalize("NFKC", text).casefold())


def read_prices() -> dict[str, list[dict]]:
    by_product = defaultdict(list)
    with open(DATA / "prices.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            by_product[row["product"]].append(row)
    return by_product


def test_catalog_has_every_product_in_order():
    assert [p["code"] for p in load_catalog()] == CODES
    for p in load_catalog():
        assert p["en"] and p["zh"] and p["short_en"] and p["aliases"], p["code"]
        assert p["unit"] == "yuan/t"
        assert p["group"] in {"light", "medium-heavy", "other"}
        low, high = p["bounds"]
        assert 0 < low < p["demo_level"] < high


def test_no_name_belongs_to_two_products():
    owner: dict[str, str] = {}
    for p in load_catalog():
        for name in {fold(n) for n in (p["code"], p["en"], p["zh"], p["short_en"], *p["aliases"])}:
            assert owner.setdefault(name, p["code"]) == p["code"], f"{name!r}: {owner[name]} and {p['code']}"


@pytest.mark.parametrize("alias, code", [
    ("Nd", "Nd-oxide"), ("钕", "Nd-oxide"), ("Dy", "Dy-oxide"), ("镝", "Dy-oxide"), ("Tb", "Tb-oxide"),
    ("铽", "Tb-oxide"), ("pr-nd", "PrNd-oxide"), ("NDPR", "PrNd-oxide"), ("镨钕", "PrNd-oxide"),
    ("PrNd metal", "PrNd-metal"), ("金属镨钕", "PrNd-metal"), ("镨钕金属", "PrNd-metal"), ("Nd metal", "Nd-metal"),
    ("金属钕", "Nd-metal"), ("Dy-Fe", "DyFe"), ("镝铁", "DyFe"), ("镝铁合金", "DyFe"), ("Gd-Fe", "GdFe"),
    ("钆铁", "GdFe"), ("Ｅｒ", "Er-oxide"), ("独居石", "monazite"), ("碳酸稀土", "RE-carbonate"),
])
def test_aliases_name_the_right_product(alias, code):
    owners = {p["code"] for p in load_catalog() if fold(alias) in {fold(a) for a in p["aliases"]}}
    assert owners == {code}


def test_every_product_has_a_plausible_history():
    prices = read_prices()
    catalog = {p["code"]: p for p in load_catalog()}
    assert set(prices) == set(CODES)
    for code, rows in prices.items():
        days = [date.fromisoformat(r["date"]) for r in rows]
        assert len(rows) >= 60, code
        assert days == sorted(set(days)), code
        assert days[-1] == LAST_DAY, code
        assert all(d.weekday() < 5 and d not in HOLIDAYS for d in days), code
        low_bound, high_bound = catalog[code]["bounds"]
        for r in rows:
            low, high = int(r["low"]), int(r["high"])
            assert low_bound <= low <= high <= high_bound, (code, r)
            assert r["unit"] == "yuan/t" and r["source"] == "demo"
        mids = [(int(r["low"]) + int(r["high"])) / 2 for r in rows]
        moves = [abs(b - a) / a for a, b in zip(mids, mids[1:])]
        assert max(moves) < 0.05, code
        assert sum(m == 0 for m in moves) > len(moves) / 2, code


def test_all_products_share_the_trading_calendar():
    calendars = {tuple(r["date"] for r in rows) for rows in read_prices().values()}
    assert len(calendars) == 1
    days = next(iter(calendars))
    assert "2025-06-03" in days and "2025-06-02" not in days and "2025-05-30" in days


def test_seed_report_figures_on_the_last_day():
    prices = read_prices()
    for code, figure in SEED_FIGURES.items():
        last = prices[code][-1]
        assert (last["date"], int(last["low"]), int(last["high"])) == ("2025-06-11", figure, figure)
    before = prices["PrNd-oxide"][-2]
    assert before["date"] == "2025-06-10"
    assert (int(before["low"]) + int(before["high"])) / 2 != 449000


def test_generator_reproduces_prices_csv(tmp_path):
    out = tmp_path / "prices.csv"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_demo_prices.py"), str(out)], check=True)
    assert out.read_bytes() == (DATA / "prices.csv").read_bytes()


def test_news_items():
    items = yaml.safe_load((DATA / "news.yaml").read_text(encoding="utf-8"))
    assert len(items) == SEED_NEWS
    assert len({i["url"] for i in items}) == SEED_NEWS
    assert all(i["url"].startswith("https://") and i["title"] and i["summary"] for i in items)
    assert "Rare Earth Market - June 11, 2025" in {i["title"] for i in items}
    newest = max(datetime.fromisoformat(i["published_at"]) for i in items)
    assert newest <= datetime.fromisoformat("2025-06-11T18:00:00+08:00")


def test_load_demo_counts_and_is_idempotent(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/t.db")
    try:
        Base.metadata.create_all(db.engine)
        expected_quotes = sum(len(rows) for rows in read_prices().values())
        with db.session() as session:
            assert load_demo(session) == {"products": 26, "quotes": expected_quotes, "news": SEED_NEWS}
        with db.session() as session:
            assert load_demo(session) == {"products": 0, "quotes": 0, "news": 0}
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(PriceQuote)) == expected_quotes
            assert session.scalar(select(func.count()).select_from(NewsItem)) == SEED_NEWS
            prnd = session.get(Product, "PrNd-oxide")
            assert (prnd.name_zh, prnd.position, prnd.group) == ("氧化镨钕", 0, "light")
            assert "NdPr" in prnd.aliases
            last = session.execute(
                select(PriceQuote.date, PriceQuote.source)
                .where(PriceQuote.product_code == "DyFe")
                .order_by(PriceQuote.date.desc())
            ).first()
            assert tuple(last) == (LAST_DAY, "demo")
            report = session.scalar(select(NewsItem).where(NewsItem.title == "Rare Earth Market - June 11, 2025"))
            assert report.published_at == datetime(2025, 6, 11, 9, 30)
    finally:
        db.dispose()


def test_load_demo_updates_a_changed_product(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/t.db")
    try:
        Base.metadata.create_all(db.engine)
        with db.session() as session:
            load_demo(session)
        with db.session() as session:
            session.get(Product, "Tb-oxide").name_en = "stale name"
        with db.session() as session:
            assert load_demo(session) == {"products": 1, "quotes": 0, "news": 0}
            assert session.get(Product, "Tb-oxide").name_en == "terbium oxide"
    finally:
        db.dispose()


def test_quotes_store_exact_decimals(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/t.db")
    try:
        Base.metadata.create_all(db.engine)
        with db.session() as session:
            load_demo(session)
        with db.engine.connect() as conn:
            low, high = conn.exec_driver_sql(
                "SELECT low, high FROM price_quotes WHERE product_code = 'PrNd-oxide' AND date = '2025-06-11'"
            ).one()
        assert Decimal(str(low)) == Decimal(str(high)) == Decimal(449000)
    finally:
        db.dispose()
