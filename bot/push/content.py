"""The daily summary as each channel sends it: text, markdown and template fields, zh or en."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import jinja2
from sqlalchemy.orm import Session

from bot.config import Config
from bot.links import summary_page
from bot.market.catalog import Catalog
from bot.market.summary import Summary, build_summary
from bot.render import Renderer, day_label, fit_bytes, percent

TEXT_BYTES = 2048  # WeChat text / WeCom app text
MARKDOWN_BYTES = 4096  # WeCom group robot markdown
TEMPLATE_VALUE_CHARS = 20  # WeChat shows at most 20 characters of a keyword value (since 2023-05-04)
# The fields of the template to apply for (docs/operations.md), most important first. WeChat no longer
# shows `first` and `remark`, so nothing goes there.
DEFAULT_TEMPLATE_FIELDS = {"keyword1": "{{ top }}", "keyword2": "{{ lead }}", "keyword3": "{{ breadth }}",
                           "keyword4": "{{ tone }}", "keyword5": "{{ date }}"}
TEMPLATE_NAMES = ("title", "date", "top", "lead", "breadth", "tone", "prices", "news", "text", "summary")
_RUN = re.compile(r"[0-9A-Za-z]+")


def wechat_length(text: str) -> int:
    """Characters as WeChat counts them in a template value: a run of digits or Latin letters is one."""
    return len(_RUN.sub("0", text))


def fit_wechat(text: str, limit: int = TEMPLATE_VALUE_CHARS) -> str:
    """`text` on one line within `limit` WeChat characters, cut with an ellipsis (which counts as one)."""
    text = " ".join(text.split())
    if wechat_length(text) <= limit:
        return text
    while text and wechat_length(text) > limit - 1:
        text = text[:-1]
    return text.rstrip(" ,，、:：-") + "…"


def text_fields(config: Config, text: str, day: str) -> dict[str, str]:
    """Template fields for a message that is only a text (a broadcast, an alert): its lines in order."""
    title, _, body = text.partition("\n")
    lines = [line for line in body.splitlines() if line.strip()] + ["", "", ""]
    values = {"title": title, "date": day, "top": title, "lead": lines[0], "breadth": lines[1], "tone": lines[2],
              "prices": body.strip() or title, "news": "", "text": text, "summary": None}
    env = jinja2.Environment(autoescape=False, undefined=jinja2.ChainableUndefined)
    fields = config["push.wechat.template_fields"] or DEFAULT_TEMPLATE_FIELDS
    return {name: fit_wechat(env.from_string(str(source)).render(**values)) for name, source in fields.items()}


@dataclass(frozen=True)
class Content:
    """One rendering of the summary, in every shape a channel may need."""

    key: str  # what is pushed, e.g. daily-2025-06-11 (mass sends use it as clientmsgid)
    language: str
    title: str
    text: str  # ≤ 2048 bytes
    markdown: str  # ≤ 4096 bytes
    template_fields: dict[str, str]  # each ≤ 20 WeChat characters
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
        summary = build_summary(self.session, products, self.day, language, self.config["push.news_count"],
                                self.config.zone)
        page = summary_page(self.config, self.day, language)
        data = {"summary": summary, "page": page}
        text = self.renderer.text("summary", language, **data)
        markdown = self.renderer.text("summary", language, fmt="markdown", **data)
        title, _, body = text.partition("\n")
        values = {**self.template_values(summary, language), "title": title, "text": text, "summary": summary,
                  "prices": body.strip()}
        fields = {name: fit_wechat(t.render(**values)) for name, t in self.field_templates.items()}
        return Content(f"daily-{self.day}", language, title, fit_bytes(text, TEXT_BYTES),
                       fit_bytes(markdown, MARKDOWN_BYTES), fields, page)

    def template_values(self, summary: Summary, language: str) -> dict[str, str]:
        """The short values a template message's fields are made of (each fitted to 20 characters)."""
        zh = language == "zh"

        def quote(row) -> str:
            v, shown = row.view, self.renderer.units.view(row.view, language)
            level = shown.figure(v.low) if v.low == v.high else f"{shown.figure(v.low)}–{shown.figure(v.high)}"
            move = percent(v.change_pct) if v.change and v.change_pct is not None else ("持平" if zh else "flat")
            return f"{row.product.name(language)} {level}{shown.suffix} {move}"

        quoted = [r for r in summary.rows if r.view is not None]
        top = summary.movers[0] if summary.movers else None
        lead = next((r for r in quoted if r is not top), top)  # one product alone: it is both
        flat = len(summary.unchanged)
        breadth = (f"涨{summary.ups} 跌{summary.downs} 平{flat}" if zh else
                   f"{summary.ups} up, {summary.downs} down, {flat} flat")
        if summary.quote_date and not summary.fresh:
            breadth = (f"今日无新报价（{day_label(summary.quote_date, 'zh')}）" if zh else
                       f"no new quote (last {day_label(summary.quote_date, 'en')})")
        return {
            "date": day_label(self.day, language, weekday=True) if zh else f"{self.day:%Y-%m-%d} ({self.day:%a})",
            "top": quote(top) if top else (("无涨跌" if zh else "no moves") if quoted else ""),
            "lead": quote(lead) if lead else "",
            "breadth": breadth if quoted else ("暂无报价" if zh else "no quotes"),
            "tone": summary.tone or ("点击查看全表与走势" if zh else "Tap for the full table"),
            "news": summary.news[0].title if summary.news else "",
        }


def preview(content: DailyContent, config: Config) -> list[tuple[str, str]]:
    """What a subscriber of each kind would get (the default products, the configured language)."""
    default = content.for_subscriber(None, None)
    fields = "\n".join(f"{name}: {value}" for name, value in default.template_fields.items())
    return [(f"WeChat template message ({default.language}), opens {default.url or 'no page: public_base_url is empty'}",
             fields),
            (f"WeChat customer-service text / WeCom app text ({default.language})", default.text),
            (f"WeCom group robot markdown ({default.language})", default.markdown)]
