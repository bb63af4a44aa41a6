"""Replies that depend only on the words typed, the day and the market data, kept until that data changes.

Whether a reply may be kept is not declared by its command but observed while it runs (`Watch`): the
handler sees its Context through a watch that lets through only what is the same for every sender (the
config, the catalog, the router, the day, the language its words told) and notes anything else it reads
(the sender, their subscription, admin rights, the time of day, a service added later). Its database
statements are watched too: only reads of products, quotes and news. A reply built from anything else is
never kept, so one sender's reply cannot reach another. The market version is moved by the database
itself (triggers, migration 0012), so a change by any writer empties the cache at once.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any, Hashable

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.sql.util import find_tables

MARKET_TABLES = frozenset({"products", "price_quotes", "news_items"})
# The Context attributes whose values are the same for every sender of the same words on the same day.
# (usage_word reads the router and the language; a reply is kept only when the words told the language.)
IMPERSONAL = frozenset({"config", "catalog", "router", "today", "session", "command_name", "usage_word"})
_watching: ContextVar["Watch | None"] = ContextVar("reply_cache_watch", default=None)


class ReplyCache:
    """Rendered replies of one market version; a newer version empties it. Bounded, least recently used out."""

    def __init__(self, size: int = 4096):
        self.size = size
        self.version: int | None = None
        self._replies: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: int, key: Hashable) -> Any:
        with self._lock:
            self._adopt(version)
            reply = self._replies.get(key) if version == self.version else None
            if reply is not None:
                self._replies.move_to_end(key)
            return reply

    def put(self, version: int, key: Hashable, reply: Any) -> None:
        with self._lock:
            self._adopt(version)
            if version != self.version:  # built from data older than what the cache holds
                return
            self._replies[key] = reply
            if len(self._replies) > self.size:
                self._replies.popitem(last=False)

    def _adopt(self, version: int) -> None:
        """Move to a newer market version (versions only grow), forgetting the replies of the old one."""
        if self.version is None or version > self.version:
            self._replies.clear()
            self.version = version


class Watch:
    """A handler's Context as the handler sees it, noting whether the reply could depend on who asked.

    `ctx.language` passes only when the words told it (`language_told`); otherwise it is the sender's."""

    def __init__(self, ctx: Any, language_told: bool):
        object.__setattr__(self, "_ctx", ctx)
        object.__setattr__(self, "_allowed", IMPERSONAL | {"language"} if language_told else IMPERSONAL)
        object.__setattr__(self, "personal", False)

    def __getattr__(self, name: str) -> Any:
        if name not in self._allowed:
            object.__setattr__(self, "personal", True)
        return getattr(self._ctx, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._ctx, name, value)

    def __enter__(self) -> "Watch":
        object.__setattr__(self, "_token", _watching.set(self))
        return self

    def __exit__(self, *_exc) -> None:
        _watching.reset(self._token)

    def statement(self, context) -> None:
        """A statement ran while this watch was on: anything but a read of market tables makes the reply personal."""
        compiled = context.compiled
        if (compiled is None or context.isinsert or context.isupdate or context.isdelete
                or not {t.name for t in find_tables(compiled.statement, include_joins=True)} <= MARKET_TABLES):
            object.__setattr__(self, "personal", True)


def watch_statements(engine: Engine) -> None:
    """Tell the watch of the running handler (if any) about every statement `engine` executes."""

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(_conn, _cursor, _statement, _parameters, context, _executemany) -> None:
        watch = _watching.get()
        if watch is not None:
            watch.statement(context)
