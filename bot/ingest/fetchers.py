"""One fetcher per source type: each reads its source and returns the quotes and news it found."""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import Callable
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Tag

from bot.ingest.extract import UNITS, Extractor, Quote, find_date
from bot.ingest.http import FetchError, HttpClient, Page, shown
from bot.ingest.safety import Scope, is_web_link
from bot.ingest.sources import SourceConfig
from bot.ingest.store import NewsEntry

_BLOCKS = ["p", "div", "li", "tr", "table", "section", "article", "ul", "ol", "header", "footer", "blockquote",
           "pre", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6"]
_READ_MORE = re.compile(r"^\s*(?:read more|more|continue reading|阅读全文|查看全文|阅读更多|更多)\b", re.I)
_ATOM = "{http://www.w3.org/2005/Atom}"
_BREAK = "\ue000"  # a block boundary while flattening HTML to text
_SPACES = re.compile(r"[ \t\r\n\f\v\xa0]+")


@dataclass
class Harvest:
    """What one run of a source found."""

    quotes: list[Quote] = field(default_factory=list)
    news: list[NewsEntry] = field(default_factory=list)
    items: int = 0
    problems: list[str] = field(default_factory=list)  # parts that failed; the rest is kept
    page: Page | None = None  # the source URL's page: its validators are saved for the next conditional GET


@dataclass
class Context:
    source: SourceConfig
    client: HttpClient
    extractor: Extractor
    today: date  # the quote date when a text states none
    zone: tzinfo  # of times that pages write without an offset
    etag: str | None = None
    last_modified: str | None = None

    def first_page(self) -> Page:
        return self.client.get(self.source.url, self.etag, self.last_modified)

    @cached_property
    def scope(self) -> Scope:
        return Scope.of(self.source.url, self.source.options.get("follow_hosts", ()))

    def follow(self, url: str) -> Page:
        """A page a listing or feed links to: only on the source's own site or its `follow_hosts`."""
        return self.client.get(url, check=self.scope.link)


def html_text(node: Tag) -> str:
    """The visible text of `node`: one line per block (source line breaks inside a block do not count),
    table cells joined by ' | '."""
    for junk in node.find_all(["script", "style", "noscript", "template"]):
        junk.decompose()
    for br in node.find_all("br"):
        br.replace_with(_BREAK)
    for cell in node.find_all(["td", "th"]):
        cell.append(" | ")
    for block in node.find_all(_BLOCKS):
        block.insert(0, _BREAK)
        block.append(_BREAK)
    text = _SPACES.sub(" ", node.get_text())
    lines = (line.strip() for line in text.split(_BREAK))
    return "\n".join(line.rstrip(" |") for line in lines if line.strip(" |"))


def select_first(node: Tag, css: str) -> Tag | None:
    """The element matching the first of the comma-separated selectors that matches anything
    (a priority list: "article .content, main, body"), not the first in document order."""
    for part in css.split(","):
        try:
            found = node.select_one(part)
        except Exception:  # a comma inside a selector, such as :is(a, b): use the whole list
            return node.select_one(css)
        if found is not None:
            return found
    return None


def _soup(page: Page) -> BeautifulSoup:
    return BeautifulSoup(page.text, "lxml")


def _text(node: Tag | None) -> str:
    return " ".join(node.get_text(" ").split()) if node is not None else ""


def _published(node: Tag | None, zone: tzinfo) -> datetime | None:
    """A publication time from <time datetime>, a meta tag or the node's text (naive UTC)."""
    if node is None:
        return None
    return _moment(str(node.get("datetime") or node.get("content") or _text(node)), zone)


def _moment(value: str, zone: tzinfo) -> datetime | None:
    """An ISO time (2025-06-11T17:30:00+08:00; without an offset, in `zone`) or else the first date
    written in `value` (midnight in `zone`), as naive UTC."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        day = find_date(value)
        if day is None:
            return None
        moment = datetime(day.year, day.month, day.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def fetch_html_list(ctx: Context) -> Harvest:
    page = ctx.first_page()
    harvest = Harvest(page=page)
    if page.not_modified:
        return harvest
    source = ctx.source
    items = _soup(page).select(source.selector("item"))
    if not items:
        raise FetchError(f"{shown(source.url)}: no news items match the selector {source.selector('item')!r} "
                         "(selectors.item)")
    for item in items[:source.option("max_items")]:
        harvest.items += 1
        title = _text(select_first(item, source.selector("title")))
        link = next((a["href"] for a in item.select(source.selector("link")) if a.get("href")), None)
        if not title or not link:
            harvest.problems.append(f"an item without {'a title' if not title else 'a link'}: "
                                    f"{_text(item)[:80]!r}")
            continue
        texts = [_text(p) for p in item.select(source.selector("summary"))]
        summary = " ".join(dict.fromkeys(t for t in texts if t and t != title and not _READ_MORE.match(t)))
        image = select_first(item, source.selector("image"))
        entry = NewsEntry(title, urljoin(page.url, link), summary,
                          urljoin(page.url, image["src"]) if image is not None and image.get("src") else None,
                          _published(select_first(item, source.selector("date")), ctx.zone))
        _add_entry(ctx, harvest, entry)
    return harvest


def _add_entry(ctx: Context, harvest: Harvest, entry: NewsEntry) -> None:
    """Keep a news entry; follow its link when configured or when it is a market report, whose prices count.
    An entry whose link is not http(s) (javascript:, data:, file:) is dropped."""
    if not is_web_link(entry.url):
        harvest.problems.append(f"item {entry.title[:80]!r}: link dropped, only http and https links are kept "
                                f"(it is {entry.url.split(':')[0][:20]!r}:)")
        return
    is_report = bool(ctx.source.report_titles.search(entry.title))
    body = ""
    if ctx.source.option("follow") or is_report:
        try:
            article = _soup(ctx.follow(entry.url))
        except FetchError as exc:
            harvest.problems.append(f"article {entry.title!r}: {exc}")
        else:
            canonical = article.select_one("link[rel=canonical][href]")
            node = select_first(article, ctx.source.selector("body"))
            body = html_text(node) if node is not None else ""
            entry = NewsEntry(
                entry.title,
                urljoin(entry.url, canonical["href"]) if canonical is not None else entry.url,
                entry.summary or body.split("\n")[0][:500],
                entry.image_url,
                entry.published_at or _published(article.select_one(
                    "meta[property='article:published_time'], time[datetime]"), ctx.zone),
            )
    harvest.news.append(entry)
    if is_report:
        day = (entry.published_at.replace(tzinfo=timezone.utc).astimezone(ctx.zone).date()
               if entry.published_at else ctx.today)  # when the text states no date
        found = ctx.extractor.extract(f"{entry.title}\n{body or entry.summary}", default_date=day)
        harvest.quotes.extend(found.quotes)


def fetch_rss(ctx: Context) -> Harvest:
    import defusedxml.ElementTree as ET
    from defusedxml import DefusedXmlException

    page = ctx.first_page()
    harvest = Harvest(page=page)
    if page.not_modified:
        return harvest
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", page.text)  # already decoded: drop the declared encoding
    try:
        root = ET.fromstring(text)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise FetchError(f"{shown(ctx.source.url)}: not an RSS or Atom feed ({exc})") from None
    entries = ([_rss_item(i, ctx.zone) for i in root.iter("item")]
               + [_atom_entry(e, ctx.zone) for e in root.iter(f"{_ATOM}entry")])
    if not entries and root.tag not in ("rss", f"{_ATOM}feed"):
        raise FetchError(f"{shown(ctx.source.url)}: not an RSS or Atom feed (the root element is <{root.tag}>)")
    for entry in entries[:ctx.source.option("max_items")]:
        harvest.items += 1
        if entry is None:
            harvest.problems.append("a feed entry without a title or link")
            continue
        entry = NewsEntry(entry.title, urljoin(page.url, entry.url), entry.summary, entry.image_url,
                          entry.published_at)
        _add_entry(ctx, harvest, entry)
    return harvest


def _plain(html: str | None) -> str:
    if not html:
        return ""
    return " ".join(BeautifulSoup(html, "lxml").get_text(" ").split()) if "<" in html else " ".join(html.split())


def _rss_item(item, zone: tzinfo) -> NewsEntry | None:
    title, link = (item.findtext("title") or "").strip(), (item.findtext("link") or "").strip()
    if not link and (item.findtext("guid") or "").startswith("http"):
        link = item.findtext("guid").strip()
    if not title or not link:
        return None
    published = None
    if item.findtext("pubDate"):
        try:
            moment = parsedate_to_datetime(item.findtext("pubDate").strip())
            published = (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(timezone.utc)
            published = published.replace(tzinfo=None)
        except (TypeError, ValueError):
            published = None
    enclosure = item.find("enclosure")
    image = enclosure.get("url") if enclosure is not None and enclosure.get("type", "").startswith("image/") else None
    return NewsEntry(_plain(title), link, _plain(item.findtext("description")), image, published)


def _atom_entry(entry, zone: tzinfo) -> NewsEntry | None:
    title = _plain(entry.findtext(f"{_ATOM}title"))
    links = entry.findall(f"{_ATOM}link")
    link = next((lk.get("href") for lk in links if lk.get("rel", "alternate") == "alternate" and lk.get("href")), None)
    if not title or not link:
        return None
    stamp = entry.findtext(f"{_ATOM}published") or entry.findtext(f"{_ATOM}updated")
    published = _moment(stamp, zone) if stamp else None
    summary = entry.findtext(f"{_ATOM}summary") or entry.findtext(f"{_ATOM}content")
    return NewsEntry(title, link, _plain(summary), None, published)


def fetch_price_table(ctx: Context) -> Harvest:
    page = ctx.first_page()
    harvest = Harvest(page=page)
    if page.not_modified:
        return harvest
    soup = _soup(page)
    date_css = ctx.source.options.get("selectors", {}).get("date")
    stated = select_first(soup, date_css) if date_css else None
    day = find_date(_text(stated) if stated is not None else _text(soup.title) + " " + _text(soup.body)) or ctx.today
    for table in soup.select(ctx.source.selector("table")):
        rows = [[_text(cell) for cell in row.find_all(["th", "td"])] for row in table.find_all("tr")]
        rows = [row for row in rows if row]
        if len(rows) < 2:
            continue
        found = ctx.extractor.table(rows[0], rows[1:], day)
        harvest.items += len(rows) - 1
        harvest.quotes.extend(found.quotes)
    if not harvest.quotes:
        raise FetchError(f"{shown(ctx.source.url)}: no price table found (a header with a price column and its unit, "
                         "e.g. 价格区间(元/吨), and rows naming catalog products)")
    return harvest


def fetch_report(ctx: Context) -> Harvest:
    page = ctx.first_page()
    harvest = Harvest(page=page)
    if page.not_modified:
        return harvest
    soup = _soup(page)
    title = _text(select_first(soup, ctx.source.selector("title"))) or _text(soup.title)
    body = select_first(soup, ctx.source.selector("body"))
    found = ctx.extractor.extract(f"{title}\n{html_text(body) if body is not None else ''}", default_date=ctx.today)
    harvest.items = found.sentences
    harvest.quotes = found.quotes
    if not found.quotes:
        raise FetchError(f"{shown(ctx.source.url)}: no quotes found in the report ({found.sentences} sentences, "
                         f"{len(found.unparsed)} price mentions not understood)")
    return harvest


def fetch_json(ctx: Context) -> Harvest:
    page = ctx.first_page()
    harvest = Harvest(page=page)
    if page.not_modified:
        return harvest
    try:
        data = json.loads(page.text)
    except ValueError as exc:
        raise FetchError(f"{shown(ctx.source.url)}: not JSON ({exc})") from None
    rows = data.get("quotes") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise FetchError(f"{shown(ctx.source.url)}: expected a list of quotes or {{\"quotes\": [...]}}")
    _feed_rows(ctx, harvest, rows, "quotes[{}]")
    return harvest


def fetch_csv(ctx: Context) -> Harvest:
    page = ctx.first_page()
    harvest = Harvest(page=page)
    if page.not_modified:
        return harvest
    reader = csv.DictReader(io.StringIO(page.text))
    missing = {"product", "date", "low"} - set(reader.fieldnames or [])
    if missing:
        raise FetchError(f"{shown(ctx.source.url)}: the CSV header lacks {', '.join(sorted(missing))} "
                         "(expected product,date,low,high,unit)")
    _feed_rows(ctx, harvest, list(reader), "line {}", first=2)
    return harvest


def _feed_rows(ctx: Context, harvest: Harvest, rows: list, where: str, first: int = 0) -> None:
    """Quotes from price-feed rows {product, date, low, high, unit}; a bad row is named and skipped."""
    for number, row in enumerate(rows, start=first):
        harvest.items += 1
        try:
            harvest.quotes.append(_feed_quote(ctx, row))
        except ValueError as exc:
            harvest.problems.append(f"{where.format(number)}: {exc}")


def _feed_quote(ctx: Context, row) -> Quote:
    if not isinstance(row, dict):
        raise ValueError("must be an object with product, date, low, high, unit")
    product = ctx.extractor.catalog.resolve(str(row.get("product") or ""))
    if product is None:
        raise ValueError(f"unknown product {row.get('product')!r}")
    try:
        day = date.fromisoformat(str(row.get("date") or ""))
    except ValueError:
        raise ValueError(f"date {row.get('date')!r} is not YYYY-MM-DD") from None
    try:
        low = Decimal(str(row.get("low")).replace(",", ""))
        high = Decimal(str(row.get("high") or row.get("low")).replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"low/high {row.get('low')!r}/{row.get('high')!r} are not numbers") from None
    if not (low.is_finite() and high.is_finite()):
        raise ValueError(f"low/high {row.get('low')!r}/{row.get('high')!r} are not numbers")
    unit = str(row.get("unit") or product.unit)
    if unit not in UNITS:
        raise ValueError(f"unit {unit!r} is not one of {', '.join(UNITS)}")
    return Quote(product.code, low, high, unit, f"{row}", day)


FETCHERS: dict[str, Callable[[Context], Harvest]] = {
    "html_list": fetch_html_list,
    "rss": fetch_rss,
    "price_table": fetch_price_table,
    "report": fetch_report,
    "json": fetch_json,
    "csv": fetch_csv,
}
