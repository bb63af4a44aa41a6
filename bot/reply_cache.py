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
            self._adopt(version)
            reply = self._replies.get(key) if version == self.version else None
            if reply is not None:
                self._replies.move_to_end(key)
            return reply

    def put(self, version: int, key: Hashable, reply: Reply) -> None:
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
