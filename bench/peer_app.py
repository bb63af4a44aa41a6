"""The job both peers do for `price PrNd`, written as a developer using their library would write it.

Resolve the product in rebot's SQLite file (code or any alias, case-insensitive), read its last two quotes
and render a Jinja2 template: the same lookups and the same reply as rebot's, without rebot's guarantees.
BENCH_DATABASE (a SQLite path) comes from the environment; each process opens its own connection.
"""
import os
import sqlite3
import threading

from jinja2 import Environment

PRODUCT = """SELECT code, short_en, unit FROM products
             WHERE lower(code) = :name
                OR EXISTS (SELECT 1 FROM json_each(products.aliases) WHERE lower(json_each.value) = :name)
             ORDER BY position LIMIT 1"""
QUOTES = """SELECT date, low, high, source FROM price_quotes WHERE product_code = ? AND unit = ?
            ORDER BY date DESC, id DESC LIMIT 2"""
TEMPLATE = Environment(autoescape=False, trim_blocks=True).from_string(
    "{{ name }} ({{ code }}) · {{ date }}\n"
    "{% if low == high %}Price: {{ '{:,.0f}'.format(low) }} {{ unit }}"
    "{% else %}Range: {{ '{:,.0f}'.format(low) }}–{{ '{:,.0f}'.format(high) }} {{ unit }}\n"
    "Mid: {{ '{:,.0f}'.format(mid) }}{% endif %}\n"
    "{% if change is none %}Change: no earlier quote to compare"
    "{% else %}Change: {{ '{:+,.0f}'.format(change) }} ({{ '{:+.2f}'.format(pct) }}%) vs {{ previous }}{% endif %}\n"
    "Source: {{ source }}")
_local = threading.local()


def _connection() -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:  # opened in the worker process (after gunicorn's fork), one per thread
        conn = _local.conn = sqlite3.connect(os.environ["BENCH_DATABASE"])
    return conn


def answer(text: str) -> str:
    """The reply to a chat message: `price <product>` or a bare product name."""
    words = text.strip().split(maxsplit=1)
    name = words[1] if len(words) == 2 and words[0].lower() in ("price", "价格") else text.strip()
    conn = _connection()
    product = conn.execute(PRODUCT, {"name": name.lower()}).fetchone()
    if product is None:
        return f"Unknown product: {name}"
    code, short, unit = product
    quotes = conn.execute(QUOTES, (code, unit)).fetchall()
    if not quotes:
        return f"No quote for {short} yet"
    (day, low, high, source), previous = quotes[0], (quotes[1] if len(quotes) > 1 else None)
    mid = (low + high) / 2
    change = pct = None
    if previous is not None:
        before = (previous[1] + previous[2]) / 2
        change, pct = mid - before, (mid - before) / before * 100
    return TEMPLATE.render(name=short, code=code, date=day, low=low, high=high, mid=mid, unit=unit, change=change,
                           pct=pct, previous=previous and previous[0], source=source)
