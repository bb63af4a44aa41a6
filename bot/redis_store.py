"""Redis (optional, `redis_url`): what every process shares on the hot paths, faster than the database.

- access tokens and the lock that lets one process refresh them (bot.channels.api.TokenStore);
- inbound message de-duplication: the claim `SET NX` with an expiry, the reply stored with it (bot.dedup);
- rate counters per API account, so several push workers together keep to the account's rate.

Without `redis_url` the database does the first two jobs and each process keeps its own rate.
Keys start with `redis_prefix` ("rebot:"), so deployments (or tests) can share one Redis.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any, Callable

import redis

log = logging.getLogger(__name__)
KEEP_SECONDS = 2 * 24 * 3600  # how long a message's reply is kept (WeChat retries within seconds)
RUNNING_SECONDS = 300  # a first attempt that died this long ago no longer blocks its retries
POLL_SECONDS = 0.05
DONE = "done:"

_LOCK = ("local v = redis.call('get', KEYS[1]) if v == false or v == ARGV[1] then "
         "redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0")
_UNLOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_INVALIDATE = ("if redis.call('hget', KEYS[1], 'token') == ARGV[1] then "
               "return redis.call('hset', KEYS[1], 'expires_at', ARGV[2]) end return 0")


class Shared:
    """A Redis connection pool and the key prefix; one per process (see Bot)."""

    def __init__(self, url: str, prefix: str = "rebot:"):
        self.client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=3,
                                           health_check_interval=30)
        self.prefix = prefix
        self._lock = self.client.register_script(_LOCK)
        self._unlock = self.client.register_script(_UNLOCK)
        self._invalidate = self.client.register_script(_INVALIDATE)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def ping(self) -> bool:
        return bool(self.client.ping())

    def close(self) -> None:
        self.client.close()

    # ----- locks --------------------------------------------------------------------------------------
    def lock(self, name: str, owner: str, seconds: float) -> bool:
        """Take the lock `name` for `seconds` unless someone else holds it (renew it if we do)."""
        return bool(self._lock(keys=[self.key("lock", name)], args=[owner, max(1, int(seconds * 1000))]))

    def unlock(self, name: str, owner: str) -> None:
        self._unlock(keys=[self.key("lock", name)], args=[owner])

    # ----- access tokens ------------------------------------------------------------------------------
    def token(self, name: str) -> tuple[str, datetime] | None:
        found = self.client.hgetall(self.key("token", name))
        if not found.get("token"):
            return None
        return found["token"], datetime.fromisoformat(found["expires_at"])

    def save_token(self, name: str, token: str, expires_at: datetime, keep_seconds: int) -> None:
        key = self.key("token", name)
        with self.client.pipeline() as pipe:
            pipe.hset(key, mapping={"token": token, "expires_at": expires_at.isoformat()})
            pipe.expire(key, keep_seconds)
            pipe.execute()

    def invalidate_token(self, name: str, token: str, expired: datetime) -> None:
        """Mark `token` refused (unless another process has replaced it already)."""
        self._invalidate(keys=[self.key("token", name)], args=[token, expired.isoformat()])

    # ----- inbound message de-duplication -------------------------------------------------------------
    def record_once(self, key: str, result: str, wait_seconds: float, also: Callable[[], None] | None) -> str | None:
        """`result` as the answer to `key` unless one is stored; see bot.dedup.Records.keep."""
        if self.client.set(self.key("msg", key), DONE + result, nx=True, ex=KEEP_SECONDS):
            if also is not None:
                also()
            return result
        return self._wait_for(key, wait_seconds)

    def answer_once(self, key: str, produce: Callable[[], str], wait_seconds: float,
                    on_claim: Callable[[bool], None] | None = None) -> str | None:
        """Run `produce` once per `key`; see bot.dedup.answer_once."""
        stored = self.key("msg", key)
        first = bool(self.client.set(stored, "running", nx=True, ex=RUNNING_SECONDS))
        if on_claim is not None:
            on_claim(first)
        if not first:
            return self._wait_for(key, wait_seconds)
        try:
            result = produce()
        except BaseException:
            self.client.delete(stored)
            raise
        self.client.set(stored, DONE + result, ex=KEEP_SECONDS)
        return result

    def _wait_for(self, key: str, wait_seconds: float) -> str | None:
        deadline = time.monotonic() + wait_seconds
        while True:
            value = self.client.get(self.key("msg", key))
            if value is not None and value.startswith(DONE):
                return value[len(DONE):]
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_SECONDS)

    def message_state(self, key: str) -> Any:
        """'running', 'done' or None: for tests and the operator."""
        value = self.client.get(self.key("msg", key))
        return None if value is None else "done" if value.startswith(DONE) else value

    # ----- rate counters ------------------------------------------------------------------------------
    def rate_limiter(self, name: str, rate: float) -> "SharedRate":
        return SharedRate(self, name, rate)


class SharedRate:
    """At most `rate` calls a second for `name`, counted in Redis over every process (fixed windows).
    While Redis does not answer, this process keeps to `rate` alone (asking Redis again every few seconds)."""

    RETRY_SECONDS = 5.0

    def __init__(self, shared: Shared, name: str, rate: float):
        from bot.push.senders import RateLimiter

        self.shared, self.name = shared, name
        self.window = max(1.0, 1.0 / rate)
        self.limit = max(1, int(rate * self.window))
        self.local = RateLimiter(rate)
        self.away_until = 0.0

    def wait(self) -> None:
        if time.monotonic() < self.away_until:
            return self.local.wait()
        try:
            self._wait_shared()
        except redis.RedisError as exc:
            if not self.away_until:
                log.warning("rate %s: Redis is unreachable (%s); counting in this process", self.name,
                            type(exc).__name__)
            self.away_until = time.monotonic() + self.RETRY_SECONDS
            self.local.wait()
        else:
            if self.away_until:
                log.warning("rate %s: Redis answers again; counting there", self.name)
                self.away_until = 0.0

    def _wait_shared(self) -> None:
        while True:
            now = time.time()
            slot = int(now // self.window)
            key = self.shared.key("rate", self.name, str(slot))
            with self.shared.client.pipeline() as pipe:
                pipe.incr(key)
                pipe.expire(key, int(self.window) + 5)
                count, _ = pipe.execute()
            if count <= self.limit:
                return
            time.sleep((slot + 1) * self.window - now)
