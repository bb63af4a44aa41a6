"""The daily summary as each channel sends it: text, markdown and template fields, zh or en."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import jinja2
from sqlalchemy.orm import Session

from bot.config import Config
from bot.links import summary_page
from bot.market.catalog import Catalog
from bot.market.quotes import build_summary, last_trading_day
from bot.render import Renderer, fit_bytes

TEXT_BYTES = 2048  # WeChat text / WeCom app text
MARKDOWN_BYTES = 4096  # WeCom group robot markdown
TEMPLATE_VALUE_BYTES = 1000
DEFAULT_TEMPLATE_FIELDS = {"first": "{{ title }}", "keyword1": "{{ date }}", "keyword2": "{{ prices }}",
                           "remark": "{{ news }}"}


@dataclass(frozen=True)
class Content:
    """One rendering of the summary, in every shape a channel may need."""

    key: str  # what is pushed, e.g. daily-2025-06-11 (mass sends use it as clientmsgid)
    language: str
    title: str
    text: str  # ≤ 2048 bytes
    markdown: str  # ≤ 4096 bytes
    template_fields: dict[str, str]
    url: str = ""  # the day's summary page (public_base_url), for a template message to open


class DailyContent:
    """Renders the summary of `day` for a (products, language) pair once and reuses it."""

    def __init__(self, config: Config, session: Session, catalog: Catalog, day: date,
                 renderer: Renderer | None = None):
        self.config, self.session, self.catalog, self.day = config, session, catalog, day
        self.renderer = renderer or Renderer()
        fields = config["push.wechat.template_fields"] or DEFAULT_TEMPLATE_FIELDS
        env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)
        self.field_templates = {name: env.from_string(str(source)) for name, source in fields.items()}
        self.for_products = lru_cache(maxsize=512)(self._render)

    def products_of(self, codes: list[str] | None) -> tuple[str, ...]:
        """A subscriber's followed products that exist, else the default set (as a cache key)."""
        codes = [c for c in (codes or []) if c in self.catalog.by_code] or self.config["default_products"]
        return tuple(dict.fromkeys(c for c in codes if c in self.catalog.by_code))  # known, once each, in order

    def for_subscriber(self, codes: list[str] | None, language: str | None) -> Content:
        language = language if language in ("zh", "en") else self.config["language"]
        return self.for_products(self.products_of(codes), language)

    def _render(self, codes: tuple[str, ...], language: str) -> Content:
        products = [self.catalog.by_code[c] for c in codes]
        summary = build_summary(self.session, products, self.day, self.config["push.news_count"])
        page = summary_page(self.config, self.day, language)
        data = {"summary": summary, "last_trading_day": last_trading_day(self.day), "page": page}
        text = self.renderer.text("summary", language, **data)
        markdown = self.renderer.env.get_template(f"push/daily.md.{language}.j2").render(lang=language, **data)
        title, _, body = text.partition("\n")
        prices, _, news = body.strip().partition("\n\n")
        values = {"title": title, "date": str(self.day), "prices": prices.strip(), "news": news.strip(),
                  "text": text, "summary": summary}
        fields = {name: fit_bytes(t.render(**values).strip(), TEMPLATE_VALUE_BYTES)
                  for name, t in self.field_templates.items()}
        return Content(f"daily-{self.day}", language, title, fit_bytes(text, TEXT_BYTES), fit_bytes(markdown.strip(), MARKDOWN_BYTES),
                       fields, page)
