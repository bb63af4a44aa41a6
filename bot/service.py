"""The bot itself: config, database, router and clock, shared by the webhook, `rebot chat` and jobs."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from functools import cached_property
from datetime import datetime
from typing import Callable

from sqlalchemy import text

from bot import alerts
from bot.config import Config, as_date
from bot.db import Database
from bot.dedup import store_for
from bot.market import calendar
from bot.market.catalog import Catalog
from bot.messages import Message, Reply
from bot.metrics import Metrics, quote_ages
from bot.push.resume import stalled_runs
from bot.reply_cache import ReplyCache, watch_statements
from bot.router import Router, Sightings, language_of

log = logging.getLogger(__name__)
_READ_VERSION = text("SELECT version FROM market_version WHERE id = 1")


@dataclass(frozen=True)
class Cached:
    """A reply from the reply cache, the language it is in and the market version it was made at."""

    reply: Reply
    language: str
    version: int


class Bot:
    """Answers messages; one per process, created by create_app or the CLI."""

    def __init__(self, config: Config, clock: Callable[[], datetime] | None = None):
        self.config = config
        self.db = Database(config["database_url"])
        if config["redis_url"]:
            from bot.redis_store import Shared

            self.db.redis = Shared(config["redis_url"], config["redis_prefix"])
        self.router = Router(config)
        self.sightings = Sightings(self.db)
        self.dedup = store_for(self.db, config)
        alerts.configure(self.db, config, self.router.renderer)
        calendar.configure([as_date(d) for d in config["calendar.extra_holidays"]],
                           [as_date(d) for d in config["calendar.extra_workdays"]])
        self.clock = clock or (lambda: datetime.now(config.zone))
        self.replies = ReplyCache()
        watch_statements(self.db.engine)
        self._version_seen: int | None = None  # the market version of the last answer (cached_reply's)
        self._catalog: tuple[int, Catalog] | None = None
        self._catalog_lock = threading.Lock()
        self.metrics = Metrics(lambda: quote_ages(self.db, self.clock))
        self.metrics.watch_stalled_runs(lambda: len(stalled_runs(self.db, config)))

    @cached_property
    def apis(self) -> dict:
        """The API client of each channel whose account is configured ("wechat", "wecom"), made once."""
        from bot.channels.api import WeChatClient, WeComClient

        config, made = self.config, {}
        if config["wechat.app_id"] and config["wechat.app_secret"]:
            made["wechat"] = WeChatClient(config, self.db)
        if config["wecom.corp_id"] and config["wecom.secret"]:
            made["wecom"] = WeComClient(config, self.db)
        return made

    @cached_property
    def late_answers(self):
        """This process's late answers (bot.channels.late), through `apis`."""
        from bot.channels.late import LateAnswers

        late = LateAnswers(self)
        for channel, api in self.apis.items():
            late.register(channel, api)
        return late

    def market_version(self, session=None) -> int:
        """The count of changes to products, quotes and news so far (moved by database triggers)."""
        if session is not None:
            return session.connection().execute(_READ_VERSION).scalar_one()
        with self.db.engine.connect() as conn:
            return conn.execute(_READ_VERSION).scalar_one()

    def catalog(self, version: int | None = None) -> Catalog:
        """The product catalog as of market `version` (default: now), read again only when that changes."""
        with self._catalog_lock:
            if version is None:
                version = self.market_version()
            if self._catalog is None or self._catalog[0] != version:
                with self.db.session() as session:
                    self._catalog = (version, Catalog.from_session(session))
            return self._catalog[1]

    def cached_reply(self, message: Message, max_bytes: int = 2048) -> Cached | None:
        """The reply to `message` in the reply cache at the market version this process saw last, or None: a
        dictionary lookup. Before it goes out, `still_current` confirms that version on the connection that records
        the message, just before the record and in its write turn (one commit: measured in the README)."""
        version = self._version_seen
        if message.event or not message.text or version is None:
            return None
        cached = self.replies.get(version, (message.text, self.clock().date(), max_bytes))
        return Cached(cached[0], cached[1], version) if cached is not None else None

    def still_current(self, cursor, message: Message, cached: Cached) -> bool:
        """On a DB-API `cursor` in a transaction: whether the market version is still `cached`'s (then the
        sender is noted as seen, as `answer` does). False: the market moved, and `message` needs `answer`."""
        cursor.execute(_READ_VERSION.text)
        version = cursor.fetchone()[0]
        if version != cached.version:
            self._version_seen = version
            return False
        self.sightings.note(cursor, message, cached.language)
        return True

    def answer(self, message: Message, max_bytes: int = 2048) -> Reply:
        """The reply to `message`. An unexpected error is logged and answered with an apology (outcome error)."""
        try:
            with self.db.session() as session:
                return self._answer(session, message, max_bytes)
        except Exception as exc:
            log.exception("command failed (channel=%s, event=%s)", message.channel, message.event)
            return replace(self.apology(message), command=getattr(exc, "command_name", ""))

    def _answer(self, session, message: Message, max_bytes: int) -> Reply:
        version = self._version_seen = self.market_version(session)
        now = self.clock()
        key = None if message.event else (message.text, now.date(), max_bytes)
        cached = self.replies.get(version, key) if key else None
        if cached is not None:
            reply, language = cached
        else:
            reply, language, cacheable = self.router.handle(self, session, message, now, self.catalog(version),
                                                            max_bytes)
            session.flush()  # a subscriber the command created is there to be touched
            if cacheable:
                self.replies.put(version, key, (reply, language))
        self.sightings.note(session.connection().connection.cursor(), message, language)
        return reply

    def apology(self, message: Message) -> Reply:
        """The short apology a user gets when something unexpected broke."""
        language = language_of(message.text) or self.config["language"]
        return Reply(text=self.router.renderer.text("error", language), outcome="error")
