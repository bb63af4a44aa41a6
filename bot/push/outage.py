"""Database and Redis errors during a push are outages to wait out, not reasons to abandon the run.

`Patience.call(fn)` retries `fn` with exponential backoff (1 s doubling to 30 s) while it fails with
a store error, and raises `Outage` once the errors have lasted `push.outage_seconds`: the run is then
left as it is (running, resumable) for the scheduler to resume.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from typing import Callable, TypeVar

import psycopg
import redis
from sqlalchemy.exc import InterfaceError, OperationalError

log = logging.getLogger(__name__)

# Connection lost, server shut down, database locked, Redis away (SQLAlchemy wraps the drivers' errors;
# the sending loop's plain DB-API statements raise them unwrapped).
STORE_ERRORS = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError,
                sqlite3.OperationalError, redis.RedisError)
FIRST_DELAY, MAX_DELAY = 1.0, 30.0
T = TypeVar("T")


class Outage(Exception):
    """The database or Redis stayed unreachable for `push.outage_seconds`."""


class Patience:
    """Waits out store errors for up to `seconds` of continuous failure."""

    def __init__(self, seconds: float, sleep: Callable[[float], None] = time.sleep, what: str = "push"):
        self.seconds, self.sleep, self.what = seconds, sleep, what
        self.since: float | None = None  # monotonic time of the first failure of the current outage
        self.delay = FIRST_DELAY

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        while True:
            try:
                result = fn(*args, **kwargs)
            except STORE_ERRORS as exc:
                self.failed(exc)
                continue
            self.recovered()
            return result

    def failed(self, exc: BaseException) -> None:
        """One more failure: wait before the next try, or raise Outage when it has lasted too long."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
            log.warning("%s: %s (%s); retrying for up to %g s", self.what, describe(exc), type(exc).__name__,
                        self.seconds)
        if now - self.since >= self.seconds:
            raise Outage(f"{describe(exc)} for {now - self.since:.0f} s") from exc
        self.sleep(min(self.delay, self.seconds - (now - self.since) + 0.01))
        self.delay = min(self.delay * 2, MAX_DELAY)

    def recovered(self) -> None:
        if self.since is not None:
            log.warning("%s: the store answers again after %.1f s", self.what, time.monotonic() - self.since)
        self.since, self.delay = None, FIRST_DELAY


def describe(exc: BaseException) -> str:
    """Which store failed, without the statement or its parameters."""
    return "Redis is unreachable" if isinstance(exc, redis.RedisError) else "the database is unreachable"
