"""Replies that depend only on the words typed, the day and the market data, kept until that data changes."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Hashable

from bot.messages import Reply


class ReplyCache:
    """Rendered replies of one market version; a newer version empties it. Bounded, least recently used out."""

    def __init__(self, size: int = 4096):
        self.size = size
        self.version: int | None = None
        self._replies: OrderedDict[Hashable, Reply] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: int, key: Hashable) -> Reply | None:
        with self._lock:
            if version != self.version:
                self._replies.clear()
                self.version = version
                return None
            reply = self._replies.get(key)
            if reply is not None:
                self._replies.move_to_end(key)
            return reply

    def put(self, version: int, key: Hashable, reply: Reply) -> None:
        with self._lock:
            if version != self.version:  # built from data that has changed since (or before) the cache's
                return
            self._replies[key] = reply
            if len(self._replies) > self.size:
                self._replies.popitem(last=False)
