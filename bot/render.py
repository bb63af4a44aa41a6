"""Render reply data to text with the Jinja2 templates, within a channel's byte limit."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import jinja2

from bot.market.units import STORED_LABELS, Units
from bot.messages import ArticlesReply, ChartReply, Reply, TemplateReply

TEMPLATES = Path(__file__).resolve().parent / "templates"  # a link to the checkout's templates/, a copy in a wheel
ELLIPSIS = "…"


def number(value: Decimal | int | float | None) -> str:
    """449000 -> '449,000'; 8.5 -> '8.5'; None -> '–'."""
    if value is None:
        return "–"
    value = Decimal(value)
    if value == value.to_integral_value():
        return f"{int(value):,}"
    shown = value.quantize(Decimal("0.01"))
    return "0" if shown == 0 else f"{shown.normalize():,f}"


def signed(value: Decimal | int | None) -> str:
    """A change with its sign: '+2,000', '-500', '0'."""
    if value is None:
        return "–"
    return ("+" if value > 0 else "") + number(value)


def percent(value: Decimal | None) -> str:
    """A percentage change with its sign and two decimals: '+0.45%'."""
    if value is None:
        return "–"
    shown = Decimal(value).quantize(Decimal("0.01"))
    if shown == 0:
        return "0.00%"  # not "-0.00%" for a tiny fall
    return f"{'+' if shown > 0 else ''}{shown}%"


def unit_label(unit: str, language: str) -> str:
    """A stored unit as the reader writes it: 'yuan/t' or '元/吨'."""
    return STORED_LABELS.get(language, {}).get(unit, unit)


WEEKDAYS = {"zh": "一二三四五六日", "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_label(day: date, language: str, weekday: bool = False) -> str:
    """6月11日（周三） or Wed 11 Jun: dates as the reader says them."""
    if language == "zh":
        return f"{day.month}月{day.day}日" + (f"（周{WEEKDAYS['zh'][day.weekday()]}）" if weekday else "")
    return (f"{WEEKDAYS['en'][day.weekday()]} " if weekday else "") + f"{day.day} {MONTHS[day.month - 1]}"


def figure_filters(units: Units) -> dict:
    """Jinja filters showing a quote's figures in the display unit of the template's language (`lang`)."""

    @jinja2.pass_context
    def level(ctx, v) -> str:
        """'705–709' (万元/吨) or '449,000'."""
        shown = units.view(v, ctx["lang"])
        return shown.figure(v.low) if v.low == v.high else f"{shown.figure(v.low)}–{shown.figure(v.high)}"

    @jinja2.pass_context
    def amount(ctx, value, v, signed: bool = False) -> str:
        """Any figure of `v`'s product (a mid, a change) in its display unit."""
        return units.view(v, ctx["lang"]).figure(value, signed)

    @jinja2.pass_context
    def suffix(ctx, v) -> str:
        """What follows a figure: '万' (44.9万) or ' yuan/t'."""
        shown = units.view(v, ctx["lang"])
        return shown.suffix or " " + shown.label

    @jinja2.pass_context
    def shown_unit(ctx, v) -> str:
        return units.view(v, ctx["lang"]).label

    def price(value, code: str, unit: str, language: str, labelled: bool = True) -> str:
        """A figure of product `code` (stored in `unit`) as `language` reads it: '150 万元/吨', '1,500,000 yuan/t';
        for macros, which do not see the template's `lang`."""
        shown = units.of(code, unit, language)
        return shown.figure(value) + (f" {shown.label}" if labelled else "")

    return {"level": level, "amount": amount, "suffix": suffix, "shown_unit": shown_unit, "price": price}


def fit_bytes(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, at a line end where possible, never inside a character."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(ELLIPSIS.encode("utf-8"))
    if room < 0:
        return data[:max(limit, 0)].decode("utf-8", errors="ignore")
    cut = data[:room].decode("utf-8", errors="ignore")
    if "\n" in cut[len(cut) // 2:]:
        cut = cut[: cut.rindex("\n") + 1]
    return cut + ELLIPSIS


class Renderer:
    """Turns TemplateReply/ArticlesReply into a Reply in one language."""

    def __init__(self, templates: Path = TEMPLATES, units: Units | None = None):
        self.units = units or Units()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates)),
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters.update(number=number, signed=signed, percent=percent, unit=unit_label, day=day_label,
                                **figure_filters(self.units))

    def text(self, name: str, language: str, **data) -> str:
        """Render `replies/<name>.<language>.j2`."""
        return self.env.get_template(f"replies/{name}.{language}.j2").render(
            lang=language, **{"fmt": "text", **data}).strip()

    def render(self, data: TemplateReply | ArticlesReply | ChartReply | Reply | None, language: str,
               max_bytes: int) -> Reply:
        """A Reply whose text fits in `max_bytes`."""
        if data is None:
            return Reply()
        if isinstance(data, Reply):
            return data
        if isinstance(data, ChartReply):
            return Reply(text=fit_bytes(self.text(data.fallback.name, language, **data.fallback.data), max_bytes),
                         chart=data.chart)
        if isinstance(data, ArticlesReply):
            articles = data.articles[:8]
            text = self.text(data.template, language, articles=articles, **data.data)
            return Reply(text=fit_bytes(text, max_bytes), articles=articles)
        return Reply(text=fit_bytes(self.text(data.name, language, **data.data), max_bytes))
