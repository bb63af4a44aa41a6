"""The bot itself: config, database, router and clock, shared by the webhook, `rebot chat` and jobs."""
from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import datetime
from typing import Callable

from bot import alerts
from bot.config import Config, as_date
from bot.db import Database
from bot.dedup import Records
from bot.market import calendar
from bot.market.catalog import Catalog
from bot.messages import Message, Reply
from bot.metrics import Metrics, quote_ages
from bot.reply_cache import ReplyCache
from bot.router import Router, Sightings, language_of

log = logging.getLogger(__name__)
_READ_VERSION = "SELECT version FROM market_version WHERE id = 1"


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
        self.records = Records(self.db)  # the quick path's answers, kept once per message
        alerts.configure(self.db, config, self.router.renderer)
        calendar.configure([as_date(d) for d in config["calendar.extra_holidays"]],
                           [as_date(d) for d in config["calendar.extra_workdays"]])
        self.clock = clock or (lambda: datetime.now(config.zone))
        self.replies = ReplyCache()
        self._catalog: tuple[int, Catalog] | None = None
        self._catalog_lock = threading.Lock()
        self.metrics = Metrics(lambda: quote_ages(self.db, self.clock))

    def market_version(self, conn=None) -> int:
        """The count of changes to products, quotes and news so far (see models.MarketVersion).

        `conn`: a DB-API connection from `db.raw()` to read it on (default: one of its own)."""
        with self.db.raw(conn) as conn:
            cursor = conn.cursor()
            cursor.execute(_READ_VERSION)
            return cursor.fetchone()[0]

    def catalog(self, version: int | None = None) -> Catalog:
        """The product catalog as of market `version` (default: now), read again only when that changes."""
        with self._catalog_lock:
            if version is None:
                version = self.market_version()
            if self._catalog is None or self._catalog[0] != version:
                with self.db.session() as session:
                    self._catalog = (version, Catalog.from_session(session))
            return self._catalog[1]

    def cached_reply(self, message: Message, max_bytes: int = 2048, conn=None) -> tuple[Reply, str] | None:
        """The reply to `message` and its language when a pure command's reply is cached for today's data."""
        version = self.market_version(conn)
        found = self.router.cache_key(message, self.catalog(version))
        if found is None:
            return None
        key, language = found
        reply = self.replies.get(version, (key, self.clock().date(), max_bytes))
        return (reply, language) if reply is not None else None

    def answer(self, message: Message, max_bytes: int = 2048, session=None) -> Reply:
        """The reply to `message`. An unexpected error is logged and answered with an apology."""
        try:
            if session is not None:
                return self._answer(session, message, max_bytes)
            with self.db.session() as own:
                return self._answer(own, message, max_bytes)
        except Exception as exc:
            log.exception("command failed (channel=%s, event=%s)", message.channel, message.event)
            if session is not None:
                session.rollback()
            return replace(self.apology(message), command=getattr(exc, "command_name", ""))

    def _answer(self, session, message: Message, max_bytes: int) -> Reply:
        version = self.market_version(session.connection().connection)
        catalog = self.catalog(version)
        now = self.clock()
        reply, language = self.router.handle(self, session, message, now, catalog, max_bytes)
        session.flush()  # a subscriber the command created is there to be touched
        self.sightings.note(session.connection().connection.cursor(), message, language)
        found = self.router.cache_key(message, catalog)
        if found is not None:
            self.replies.put(version, (found[0], now.date(), max_bytes), reply)
        return reply

    def apology(self, message: Message) -> Reply:
        """The short apology a user gets when something unexpected broke."""
        language = language_of(message.text) or self.config["language"]
        return Reply(text=self.router.renderer.text("error", language), outcome="error")
