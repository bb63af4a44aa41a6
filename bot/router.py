"""The command registry and the router: normalise input, find the command, run it, render the reply."""
from __future__ import annotations

import difflib
import importlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config
from bot.market.catalog import Catalog
from bot.messages import CommandError, Message, Reply, TemplateReply
from bot.models import Subscriber, utcnow
from bot.render import Renderer


HANDLER_MODULES = ("handlers.price", "handlers.news", "handlers.summary", "handlers.subscribe",
                   "handlers.help", "handlers.events")
# Events with a metrics label of their own; any other is counted as "event:other".
KNOWN_EVENTS = frozenset({"subscribe", "unsubscribe", "click", "scan", "view"})
_CJK = re.compile(r"[\u3400-\u9fff]")
_EDGE_PUNCT = " \t\r\n:;,.!?。！？，；：、\"'“”‘’"


@dataclass(frozen=True)
class Command:
    """One chat command: its names, argument forms and one-line help in both languages."""

    name: str
    handler: Callable[["Context", str], Any]
    aliases: tuple[str, ...] = ()
    usage: dict[str, str] = field(default_factory=dict)  # language -> argument forms
    help: dict[str, str] = field(default_factory=dict)  # language -> one line
    admin_only: bool = False
    hidden: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def command(name: str, *, aliases=(), usage_en="", usage_zh="", help_en="", help_zh="",
            admin_only=False, hidden=False):
    """Mark a handler function as the command `name`; the router collects it."""

    def mark(fn):
        fn.command = Command(name, fn, tuple(aliases), {"en": usage_en or name, "zh": usage_zh or usage_en or name},
                             {"en": help_en, "zh": help_zh}, admin_only, hidden)
        return fn

    return mark


def normalise(text: str) -> str:
    """Full-width to half-width, one space between words, no punctuation at the edges."""
    text = unicodedata.normalize("NFKC", text)
    text = " ".join(text.split())
    if text.strip() == "?":
        return "?"
    return text.strip(_EDGE_PUNCT)


def language_of(text: str, catalog: Catalog | None = None, commands=()) -> str:
    """zh for Chinese text, en for English words other than product names, else '' (unknown).

    `commands`: command names in lower case, so that a short English command ("my") counts as English."""
    if _CJK.search(text):
        return "zh"
    words = re.findall(r"[A-Za-z]{2,}", text)
    if any(len(w) >= 3 and not (catalog and catalog.resolve(w)) for w in words):
        return "en"
    if words and text.lower().startswith(words[0].lower()) and words[0].lower() in commands:
        return "en"
    return ""


def find_subscriber(session: Session, message: Message) -> Subscriber | None:
    """The subscriber row of a message's sender, if there is one."""
    return session.scalars(
        select(Subscriber).where(Subscriber.channel == message.channel, Subscriber.external_id == message.user_id)
    ).first()


@dataclass
class Context:
    """What a handler gets: the message, its language, the database session, config and helpers."""

    config: Config
    session: Session
    message: Message
    language: str
    now: datetime  # aware, in the configured time zone
    catalog: Catalog
    router: "Router"
    _subscriber: Subscriber | None = None
    _looked_up: bool = False
    command_name: str = ""  # the command that answers, for the metrics

    @property
    def today(self):
        return self.now.date()

    @property
    def is_admin(self) -> bool:
        return self.message.user_id in self.config["admins"]

    def subscriber(self, create: bool = True) -> Subscriber | None:
        """The sender's subscriber row, created on first use when `create`."""
        if not self._looked_up:
            self._subscriber = find_subscriber(self.session, self.message)
            self._looked_up = True
        if self._subscriber is None and create:
            msg = self.message
            self._subscriber = Subscriber(channel=msg.channel, external_id=msg.user_id, language=self.language,
                                          products=[], daily_summary=False, status="active")
            self.session.add(self._subscriber)
        return self._subscriber

    def followed_products(self):
        """The sender's followed products, else the configured default set."""
        sub = self.subscriber(create=False)
        codes = (sub.products if sub and sub.products else None) or self.config["default_products"]
        return [self.catalog.by_code[c] for c in codes if c in self.catalog.by_code]


class Router:
    """Finds the command for a message and turns its result into a rendered Reply."""

    def __init__(self, config: Config, renderer: Renderer | None = None, modules=HANDLER_MODULES):
        self.config = config
        self.renderer = renderer or Renderer()
        self.commands: list[Command] = []
        for module_name in modules:
            module = importlib.import_module(module_name)
            self.commands.extend(fn.command for fn in vars(module).values() if hasattr(fn, "command"))
        self._by_name: dict[str, Command] = {}
        for cmd in self.commands:
            for alias in cmd.names:
                key = alias.lower()
                if key in self._by_name:
                    raise ValueError(f"command name {alias!r} is registered twice")
                self._by_name[key] = cmd
        # Longest names first, so "latest news" wins over "latest".
        self._names = sorted(self._by_name, key=len, reverse=True)

    def get(self, name: str) -> Command:
        return self._by_name[name.lower()]

    def visible_commands(self, admin: bool) -> list[Command]:
        return [c for c in self.commands if not c.hidden and (admin or not c.admin_only)]

    def match(self, text: str, admin: bool) -> tuple[Command, str] | None:
        """The command `text` starts with and the rest as its argument, or None."""
        lowered = text.lower()
        for name in self._names:
            if not lowered.startswith(name):
                continue
            rest = text[len(name):]
            # An English name must end at a word boundary ("pricey" is not "price");
            # Chinese has no spaces ("价格镨钕").
            if rest and name[-1].isascii() and name[-1].isalnum() and rest[0].isalnum() and rest[0].isascii():
                continue
            cmd = self._by_name[name]
            if cmd.name.startswith("_"):
                continue  # internal (the channel events), never typed
            if cmd.admin_only and not admin:
                return None
            return cmd, rest.strip(_EDGE_PUNCT)
        return None

    def handle(self, session: Session, message: Message, now: datetime, catalog: Catalog,
               max_bytes: int = 2048) -> Reply:
        """Run the command a message asks for and render its reply."""
        text = normalise(message.text)
        sub = find_subscriber(session, message)
        detected = language_of(text, catalog, self._by_name) if text else ""
        language = detected or (sub.language if sub else self.config["language"])
        ctx = Context(self.config, session, message, language, now, catalog, self, sub, _looked_up=True)
        try:
            if message.event:
                ctx.command_name = "event:" + (message.event if message.event in KNOWN_EVENTS else "other")
                result = self.get("_event").handler(ctx, message.event)
            else:
                result = self.dispatch(ctx, text)
        except CommandError as err:
            result = err.reply
        except Exception as exc:
            exc.command_name = ctx.command_name  # the metrics count the error against the command that broke
            raise
        sub = ctx.subscriber(create=False)
        if sub is not None:
            sub.last_seen = utcnow()
            if detected:
                sub.language = detected
        return replace(self.renderer.render(result, ctx.language, max_bytes), command=ctx.command_name)

    def dispatch(self, ctx: Context, text: str):
        """The reply data for normalised `text` in `ctx`."""
        if not text:
            ctx.command_name = ctx.command_name or "empty"
            return TemplateReply("empty")
        found = self.match(text, ctx.is_admin)
        if found:
            cmd, args = found
            ctx.command_name = ctx.command_name or cmd.name
            return cmd.handler(ctx, args)
        product = ctx.catalog.resolve(text)
        if product:
            ctx.command_name = ctx.command_name or "price"
            return self.get("price").handler(ctx, text)
        ctx.command_name = ctx.command_name or "unknown"
        return TemplateReply("unknown", {"suggestion": self.suggest(ctx, text)})

    def suggest(self, ctx: Context, text: str) -> str | None:
        """The command line the user most likely meant, e.g. 'price PrNd', or None."""
        words = text.split(maxsplit=1)
        head, rest = words[0], (words[1] if len(words) > 1 else "")
        names = [n for n in self._names if not self._by_name[n].hidden
                 and (ctx.is_admin or not self._by_name[n].admin_only)]
        close = difflib.get_close_matches(head.lower(), names, n=1, cutoff=0.6)
        if close:
            if rest:
                product = ctx.catalog.resolve(rest) or next(iter(ctx.catalog.suggest(rest)), None)
                if product:
                    rest = product.code
            return f"{close[0]} {rest}".strip()
        products = ctx.catalog.suggest(text)
        if products:
            return f"{'价格' if ctx.language == 'zh' else 'price'} {products[0].code}"
        return None
