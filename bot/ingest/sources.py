"""The `sources:` configuration: one entry per place prices and news come from, checked key by key."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

TYPES = ("html_list", "rss", "price_table", "report", "json", "csv")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# Type-specific options: option -> (type, default).
_OPTIONS: dict[str, dict[str, tuple[type, Any]]] = {
    "html_list": {"selectors": (dict, {}), "follow": (bool, False), "report_titles": (list, []),
                  "max_items": (int, 20), "follow_hosts": (list, [])},
    "rss": {"selectors": (dict, {}), "follow": (bool, False), "report_titles": (list, []), "max_items": (int, 20),
            "follow_hosts": (list, [])},
    "price_table": {"selectors": (dict, {})},
    "report": {"selectors": (dict, {})},
    "json": {},
    "csv": {},
}
_COMMON = {"name", "type", "url", "schedule", "enabled"}

# CSS selectors, with defaults that fit common news and report pages (the seed's layout among them).
DEFAULT_SELECTORS = {
    "item": "article, .news-item, .post, .list-item, li.item",
    "title": "h1 a, h2 a, h3 a, .title, h1, h2, h3",
    "link": "a.read-more, .read-more a, h1 a, h2 a, h3 a, .title a, a[href]",
    "summary": ".summary, .excerpt, .entry-summary, p",
    "image": "img",
    "date": "time, .date, .time",
    "body": "article .content, .article-content, .entry-content, .post-content, article, main, body",
    "table": "table",
}
_SELECTORS_BY_TYPE = {
    "html_list": ("item", "title", "link", "summary", "image", "date", "body"),
    "rss": ("body",),
    "price_table": ("table", "date"),
    "report": ("title", "body", "date"),
}
# Listing titles that announce a daily market report, whose prices are extracted.
DEFAULT_REPORT_TITLES = [r"rare[ -]earth market\b", r"\bmarket (?:update|review|report|daily)\b",
                         r"\bdaily (?:market|price)", r"稀土日评", r"日评", r"行情(?:日报|综述|快报)", r"价格(?:日报|快报)"]


@dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str
    url: str
    schedule: str
    options: dict[str, Any] = field(default_factory=dict)

    def selector(self, key: str) -> str:
        return self.options.get("selectors", {}).get(key) or DEFAULT_SELECTORS[key]

    def option(self, key: str) -> Any:
        return self.options.get(key, _OPTIONS[self.type][key][1])

    @property
    def report_titles(self) -> re.Pattern:
        return re.compile("|".join(self.option("report_titles") or DEFAULT_REPORT_TITLES), re.I)


def parse_sources(entries: list[dict]) -> list[SourceConfig]:
    """The enabled sources of a validated `sources:` list."""
    return [SourceConfig(e["name"], e["type"], e["url"], e["schedule"],
                         {k: v for k, v in e.items() if k not in _COMMON})
            for e in entries if e.get("enabled", True)]


def source_errors(entries: Any, timezone: str = "UTC") -> list[str]:
    """One line per wrong key, named `sources[i].key`."""
    if not isinstance(entries, list):
        return []  # the type check of `sources` itself reports it
    errors: list[str] = []
    names: set[str] = set()
    for i, entry in enumerate(entries):
        at = f"sources[{i}]"
        if not isinstance(entry, dict):
            errors.append(f"{at}: must be a mapping with name, type, url and schedule")
            continue
        for key in ("name", "type", "url", "schedule"):
            if not isinstance(entry.get(key), str) or not entry.get(key).strip():
                errors.append(f"{at}.{key}: required (text)")
        name, kind, url = entry.get("name"), entry.get("type"), entry.get("url")
        if isinstance(name, str) and name:
            if not _NAME.match(name):
                errors.append(f"{at}.name: {name!r} must be letters, digits, '.', '_' or '-' (at most 64)")
            elif name in names:
                errors.append(f"{at}.name: {name!r} is used by another source")
            names.add(name)
        if isinstance(kind, str) and kind and kind not in TYPES:
            hint = difflib.get_close_matches(kind, TYPES, n=1)
            errors.append(f"{at}.type: {kind!r} is not one of {', '.join(TYPES)}"
                          + (f" (did you mean {hint[0]}?)" if hint else ""))
            kind = None
        if isinstance(url, str) and url:
            local = kind in ("json", "csv") and url.startswith("file://")
            if not url.startswith(("http://", "https://")) and not local:
                errors.append(f"{at}.url: must start with http:// or https://"
                              + (" (or file:// for json and csv)" if kind in ("json", "csv") else "") + f", not {url!r}")
        schedule = entry.get("schedule")
        if isinstance(schedule, str) and schedule.strip():
            problem = cron_problem(schedule, timezone)
            if problem:
                errors.append(f"{at}.schedule: {problem}")
        if "enabled" in entry and not isinstance(entry["enabled"], bool):
            errors.append(f"{at}.enabled: must be true or false")
        if kind in TYPES:
            errors.extend(_option_errors(at, kind, entry))
    return errors


def _option_errors(at: str, kind: str, entry: dict) -> list[str]:
    errors = []
    allowed = _OPTIONS[kind]
    for key, value in entry.items():
        if key in _COMMON:
            continue
        if key not in allowed:
            hint = difflib.get_close_matches(key, list(allowed) + list(_COMMON), n=1)
            errors.append(f"{at}.{key}: unknown option for a {kind} source"
                          + (f" (did you mean {hint[0]}?)" if hint else "")
                          + (f"; it takes {', '.join(allowed)}" if allowed and not hint else ""))
            continue
        kind_of, _default = allowed[key]
        if not isinstance(value, kind_of) or (kind_of is int and isinstance(value, bool)):
            errors.append(f"{at}.{key}: must be {kind_of.__name__}, not {type(value).__name__}")
        elif key == "max_items" and value < 1:
            errors.append(f"{at}.max_items: must be at least 1")
        elif key == "report_titles":
            for j, pattern in enumerate(value):
                try:
                    re.compile(str(pattern))
                except re.error as exc:
                    errors.append(f"{at}.report_titles[{j}]: not a valid regular expression: {exc}")
        elif key == "follow_hosts" and not all(isinstance(h, str) and h and "/" not in h for h in value):
            errors.append(f"{at}.follow_hosts: must be a list of host names (news.example.com), without scheme or path")
        elif key == "selectors":
            errors.extend(_selector_errors(f"{at}.selectors", kind, value))
    return errors


def _selector_errors(at: str, kind: str, selectors: dict) -> list[str]:
    import soupsieve

    errors = []
    for key, css in selectors.items():
        if key not in _SELECTORS_BY_TYPE[kind]:
            errors.append(f"{at}.{key}: unknown selector for a {kind} source; "
                          f"it takes {', '.join(_SELECTORS_BY_TYPE[kind])}")
            continue
        try:
            soupsieve.compile(str(css))
        except soupsieve.SelectorSyntaxError as exc:
            errors.append(f"{at}.{key}: not a valid CSS selector {css!r}: {str(exc).splitlines()[0]}")
    return errors


def cron_problem(expression: str, timezone: str = "UTC") -> str | None:
    """Why `expression` is not a five-field crontab line, or None."""
    from bot.cron import trigger

    try:
        trigger(expression, timezone)
    except (ValueError, TypeError) as exc:
        if "five fields" in str(exc):
            return str(exc)
        return f"{expression!r} is not a valid cron expression: {exc}"
    return None
