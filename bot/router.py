"""The command registry and the router: normalise input, find what it asks for, run it, render the reply.

The command grammar (`price PrNd`, `alert PrNd > 460000`) is matched first and answered exactly as typed; any
other message, and a command whose words the grammar cannot place but the parser reads without guessing
(`price of terbium metal`), is answered from the parser's Request (bot/market/parse.py) by the handler of its
intent (`answers`)."""
from __future__ import annotations

import difflib
import importlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config
from bot.db import Database
from bot.market.catalog import Catalog
from bot.market.parse import Parser, Request
from bot.messages import CommandError, Message, Reply, TemplateReply
from bot.models import Subscriber, utcnow
from bot.market.units import Units
from bot.render import Renderer, fit_bytes
from bot.reply_cache import Watch

if TYPE_CHECKING:
    from bot.service import Bot


HANDLER_MODULES = ("handlers.price", "handlers.news", "handlers.summary", "handlers.subscribe",
                   "handlers.help", "handlers.events", "handlers.admin",
                   "handlers.alerts", "handlers.trend")
# Commands whose every form the parser reads (news: the glossary widens a keyword to the other language).
PARSED_COMMANDS = frozenset({"news"})
# What a misspelt message is answered directly for: reading prices.
READ_ONLY = frozenset({"price", "compare", "price_on_date", "change", "trend"})
# The command an intent is counted as in the metrics.
INTENT_COMMAND = {"compare": "price", "price_on_date": "price", "change": "price", "alert_set": "alert",
                  "alerts_list": "alerts", "alert_delete": "alert del"}
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

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def command(name: str, *, aliases=(), usage_en="", usage_zh="", help_en="", help_zh="",
            admin_only=False):
    """Mark a handler function as the command `name`; the router collects it."""

    def mark(fn):
        fn.command = Command(name, fn, tuple(aliases), {"en": usage_en or name, "zh": usage_zh or usage_en or name},
                             {"en": help_en, "zh": help_zh}, admin_only)
        return fn

    return mark


def answers(*intents: str):
    """Mark a handler function `fn(ctx, request)` as the answer to the parser's `intents` (bot.market.parse)."""

    def mark(fn):
        fn.intents = intents
        return fn

    return mark


@dataclass(frozen=True)
class EventHandler:
    """What answers a channel event (follow, unfollow, a menu click…): never typed, so not a command."""

    events: tuple[str, ...]  # lower case: subscribe, unsubscribe, click, scan…
    handler: Callable[["Context"], Any]


def on_event(*events: str):
    """Mark a handler function as the answer to the channel `events`; the router collects it."""

    def mark(fn):
        fn.event_handler = EventHandler(tuple(e.lower() for e in events), fn)
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


LAST_SEEN_RESOLUTION = timedelta(minutes=1)
_TOUCH = "UPDATE subscribers SET last_seen = ? WHERE channel = ? AND external_id = ? AND last_seen < ?"
_TOUCH_LANGUAGE = ("UPDATE subscribers SET last_seen = ?, language = ? WHERE channel = ? AND external_id = ?"
                   " AND (last_seen < ? OR language <> ?)")


class Sightings:
    """Notes that a sender was seen: `subscribers.last_seen` to the minute and, when their words told it,
    their language. Written in every chat message's transaction, so this process remembers what it noted
    last: a sender writing several times a minute costs one statement a minute, not one a message."""

    REMEMBERED = 100_000  # senders; past that the memory starts afresh

    def __init__(self, db: Database):
        self.db = db
        self._noted: dict[tuple[str, str], tuple[datetime, str]] = {}

    def note(self, cursor, message: Message, language: str) -> None:
        """Note the sender of `message` on a DB-API `cursor`, unless this process did within the minute."""
        now = utcnow()
        sender = (message.channel, message.user_id)
        last = self._noted.get(sender)
        if last is not None and now - last[0] < LAST_SEEN_RESOLUTION and language in ("", last[1]):
            return
        db = self.db
        seen, stale = db.timestamp(now), db.timestamp(now - LAST_SEEN_RESOLUTION)
        if language:
            cursor.execute(db.sql(_TOUCH_LANGUAGE), (seen, language, message.channel, message.user_id, stale, language))
        else:
            cursor.execute(db.sql(_TOUCH), (seen, message.channel, message.user_id, stale))
        if len(self._noted) >= self.REMEMBERED:
            self._noted.clear()
        self._noted[sender] = (now, language or (last[1] if last else ""))


@dataclass
class Context:
    """What a handler gets: the message, its language, the database session, and `bot`, the running bot
    (its database, metrics, clock and renderer: what a push started from chat runs on)."""

    config: Config
    session: Session
    message: Message
    language: str
    now: datetime  # aware, in the configured time zone
    catalog: Catalog
    router: "Router"
    bot: "Bot"
    _subscriber: Subscriber | None = None
    _looked_up: bool = False
    command_name: str = ""  # the command that answers, for the metrics

    @property
    def today(self):
        return self.now.date()

    @property
    def is_admin(self) -> bool:
        return self.config.is_admin(self.message.channel, self.message.user_id)

    def usage_word(self, command: str) -> str:
        """`command` as the user would type it in the reply's language ("price", "价格")."""
        return self.router.get(command).usage[self.language].split()[0]

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
        self.renderer = renderer or Renderer(units=Units.from_config(config))
        self.commands: list[Command] = []
        self.events: dict[str, EventHandler] = {}
        self.intents: dict[str, Callable[[Context, Request], Any]] = {}
        self._parser: Parser | None = None
        for module_name in modules:
            module = importlib.import_module(module_name)
            for fn in vars(module).values():
                if hasattr(fn, "command"):
                    self.commands.append(fn.command)
                for intent in getattr(fn, "intents", ()):
                    if self.intents.setdefault(intent, fn) is not fn:
                        raise ValueError(f"intent {intent!r} has two handlers")
                for name in getattr(getattr(fn, "event_handler", None), "events", ()):
                    if name in self.events:
                        raise ValueError(f"event {name!r} has two handlers")
                    self.events[name] = fn.event_handler
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
        return [c for c in self.commands if admin or not c.admin_only]

    def match(self, text: str, admin: bool | Callable[[], bool]) -> tuple[Command, str] | None:
        """The command `text` starts with and the rest as its argument, or None.

        `admin` may be a function: it is asked only when an admin-only command matches (a reply that did not
        need the sender's rights can be cached for everyone, see bot.reply_cache)."""
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
            if cmd.admin_only and not (admin() if callable(admin) else admin):
                return None
            return cmd, rest.strip(_EDGE_PUNCT)
        return None

    def handle(self, bot: "Bot", session: Session, message: Message, now: datetime, catalog: Catalog,
               max_bytes: int = 2048) -> tuple[Reply, str, bool]:
        """Run the command a message asks for: its rendered reply, the language its words told ('' if none)
        and whether the reply is the same for anyone sending these words today (see bot.reply_cache).

        `bot`: the running bot, the handlers' services. The caller notes the sender as seen (`Sightings`)."""
        limit = self.config["chat.max_chars"]
        # Long input is cut before any parsing, and the reply says so; not an admin's (a broadcast's text).
        if self.config.is_admin(message.channel, message.user_id):
            limit = len(message.text)
        cut = len(message.text) > limit
        text = normalise(message.text[:limit])
        sub = find_subscriber(session, message)
        detected = (language_of(text, catalog, self._by_name) or self.parser(catalog).parse(text, now.date()).language
                    if text else "")
        language = detected or (sub.language if sub else self.config["language"])
        ctx = Context(self.config, session, message, language, now, catalog, self, bot, sub, _looked_up=True)
        watch = None
        try:
            if message.event:
                ctx.command_name = "event:" + (message.event if message.event in KNOWN_EVENTS else "other")
                found = self.events.get(message.event)
                result = found.handler(ctx) if found else None  # an event nobody answers: `success`
            else:
                with Watch(ctx, language_told=bool(detected)) as watch:
                    result = self.dispatch(watch, text)
        except CommandError as err:
            result = err.reply
        except Exception as exc:
            exc.command_name = ctx.command_name  # the metrics count the error against the command that broke
            raise
        reply = replace(self.renderer.render(result, ctx.language, max_bytes), command=ctx.command_name)
        if cut and reply.text:
            note = self.renderer.text("input_cut", ctx.language, limit=limit).strip()
            reply = replace(reply, text=fit_bytes(f"{note}\n{reply.text}", max_bytes))
        # Over-long words are answered afresh: the cut note (and an admin's uncut text) depend on the sender.
        cacheable = (watch is not None and bool(detected) and not watch.personal
                     and len(message.text) <= self.config["chat.max_chars"])
        return reply, detected, cacheable

    def parser(self, catalog: Catalog) -> Parser:
        """The parser of `catalog` (a new catalog, after a market change, gets a new one and an empty memo)."""
        parser = self._parser
        if parser is None or parser.catalog is not catalog:
            parser = self._parser = Parser(catalog)
        return parser

    def dispatch(self, ctx: Context, text: str):
        """The reply data for normalised `text` in `ctx`."""
        if not text:
            ctx.command_name = ctx.command_name or "empty"
            return TemplateReply("empty")
        found = self.match(text, lambda: ctx.is_admin)
        if (found is None and self.match(text, True)) or text.startswith("_"):
            # Another's admin command, or an internal name ("_event …"): not understood, and never guessed at.
            ctx.command_name = ctx.command_name or "unknown"
            return TemplateReply("unknown", {"suggestion": None})
        if found and found[0].name not in PARSED_COMMANDS:
            cmd, args = found
            named = ctx.command_name
            ctx.command_name = named or cmd.name
            try:
                return cmd.handler(ctx, args)
            except CommandError as err:
                # A word the grammar cannot place that names no product ("price of terbium metal", "提醒 镨钕 跌
                # 3%"): the parser's reading, when it needed no guess; else the command's answer ("Unknown product").
                if err.reply.name != "unknown_product":
                    raise
                parser = self.parser(ctx.catalog)
                request = parser.parse(text, ctx.today)
                if (request.guessed or request.corrected or not request.products
                        or any(parser.names.mentions(err.reply.data["query"]))):
                    raise
                ctx.command_name = named
                return self.answer(ctx, request, text)
        if not found and ctx.catalog.resolve(text):  # a bare product name, as it always was
            ctx.command_name = ctx.command_name or "price"
            return self.get("price").handler(ctx, text)
        return self.answer(ctx, self.parser(ctx.catalog).parse(text, ctx.today), text)

    def answer(self, ctx: Context, request: Request, text: str):
        """The reply data of the handler of `request.intent` (an admin's words from anyone else: not understood).

        A misspelt word is answered directly only when it asks for a product's price (the reply's first line says
        how it was read); anything else, such as a change to the subscription, asks first: "Did you mean …?"."""
        intent = request.intent
        if intent == "admin" and not ctx.is_admin:
            intent, request = "unknown", replace(request, intent="unknown")
        if request.corrected and (intent not in READ_ONLY or not request.products):
            suggestion = self.suggest(ctx, text, request)
            if suggestion:
                ctx.command_name = ctx.command_name or "unknown"
                return TemplateReply("unknown", {"suggestion": suggestion})
        ctx.command_name = ctx.command_name or INTENT_COMMAND.get(intent, intent)
        return self.intents[intent](ctx, request)

    def suggest(self, ctx: Context, text: str, request: Request) -> str | None:
        """The command line a misspelt command word most likely meant ("subscribe Dy-oxide"), or None."""
        head = text.split(maxsplit=1)[0]
        names = [n for n in self._names if ctx.is_admin or not self._by_name[n].admin_only]
        close = difflib.get_close_matches(head.lower(), names, n=1, cutoff=0.6)
        return " ".join([close[0], *request.products[:1]]) if close else None
