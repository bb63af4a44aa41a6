"""The bot itself: config, database, router and clock, shared by the webhook, `rebot chat` and jobs."""
from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import datetime
from typing import Callable

from bot.config import Config
from bot.db import Database
from bot.market.catalog import Catalog
from bot.messages import Message, Reply
from bot.metrics import Metrics, quote_ages
from bot.router import Router, language_of

log = logging.getLogger(__name__)


class Bot:
    """Answers messages; one per process, created by create_app or the CLI."""

    def __init__(self, config: Config, clock: Callable[[], datetime] | None = None):
        self.config = config
        self.db = Database(config["database_url"])
        self.router = Router(config)
        self.clock = clock or (lambda: datetime.now(config.zone))
        self._catalog: Catalog | None = None
        self._catalog_lock = threading.Lock()
        self.metrics = Metrics(lambda: quote_ages(self.db, self.clock))

    def catalog(self) -> Catalog:
        """The product catalog, read from the database once (call `reload_catalog` after changing it)."""
        if self._catalog is None:
            with self._catalog_lock, self.db.session() as session:
                self._catalog = Catalog.from_session(session)
        return self._catalog

    def reload_catalog(self) -> None:
        self._catalog = None

    def answer(self, message: Message, max_bytes: int = 2048, session=None) -> Reply:
        """The reply to `message`. An unexpected error is logged and answered with an apology."""
        try:
            if session is not None:
                return self.router.handle(session, message, self.clock(), self.catalog(), max_bytes)
            with self.db.session() as own:
                return self.router.handle(own, message, self.clock(), self.catalog(), max_bytes)
        except Exception as exc:
            log.exception("command failed (channel=%s, event=%s)", message.channel, message.event)
            if session is not None:
                session.rollback()
            return replace(self.apology(message), command=getattr(exc, "command_name", ""))

    def apology(self, message: Message) -> Reply:
        """The short apology a user gets when something unexpected broke."""
        language = language_of(message.text) or self.config["language"]
        return Reply(text=self.router.renderer.text("error", language), outcome="error")
