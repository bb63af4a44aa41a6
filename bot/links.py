"""Links to the public mobile pages, for replies and pushes; empty when `public_base_url` is not set."""
from __future__ import annotations

from datetime import date
from urllib.parse import quote

from bot.config import Config


def _page(config: Config, path: str, language: str) -> str:
    base = config["public_base_url"].rstrip("/")
    if not base:
        return ""
    return f"{base}/m/{path}" + (f"?lang={language}" if language else "")


def price_page(config: Config, code: str, language: str = "") -> str:
    """The URL of a product's page, e.g. https://bot.example.com/m/price/PrNd-oxide?lang=en."""
    return _page(config, "price/" + quote(code, safe=""), language)


def summary_page(config: Config, day: date, language: str = "") -> str:
    """The URL of a day's market summary page."""
    return _page(config, f"summary/{day.isoformat()}", language)
