"""What the channels and the handlers exchange: a normalised message in, reply data out."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Message:
    """An inbound message, whatever channel it came from."""

    channel: str  # wechat | wecom | console
    user_id: str
    text: str = ""
    event: str | None = None  # subscribe | unsubscribe | click | scan | view
    event_key: str = ""
    msg_id: str | None = None
    received_at: datetime | None = None


@dataclass(frozen=True)
class Article:
    title: str
    description: str
    url: str
    picurl: str = ""


@dataclass(frozen=True)
class TemplateReply:
    """Text to render from `templates/replies/<name>.<lang>.j2` with `data`."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArticlesReply:
    """A news (article list) reply, 1 to 8 articles, with a text version from `template` for text-only channels."""

    articles: tuple[Article, ...]
    template: str = "news"
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChartReply:
    """A chart (bot.charts.ChartData) sent as an image where the channel takes one; `fallback` is its text."""

    chart: Any
    fallback: TemplateReply


@dataclass(frozen=True)
class Reply:
    """A rendered reply: text, or articles, or nothing (the channel answers `success`)."""

    text: str = ""
    articles: tuple[Article, ...] = ()
    # For the metrics: the command that answered ("price", "event:subscribe", "unknown"…) and how it went.
    command: str = field(default="", compare=False)
    outcome: str = field(default="ok", compare=False)  # ok | error (the apology)
    chart: Any = field(default=None, compare=False)  # a chart the channel may send as an image instead of text
    media_id: str = field(default="", compare=False)  # the chart uploaded: the channel sends an image message

    @property
    def empty(self) -> bool:
        return not self.text and not self.articles


class CommandError(Exception):
    """An expected failure whose message (a TemplateReply) the user sees."""

    def __init__(self, name: str, **data: Any):
        super().__init__(name)
        self.reply = TemplateReply(name, data)
