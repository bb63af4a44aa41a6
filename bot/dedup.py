"""Handle each inbound message once: WeChat's retries get the first attempt's reply.

One interface (`Store`), one implementation per backend: `SqlStore` (the database, the default) and
`bot.redis_store.RedisStore` (with `redis_url`). A message is known by its key (`message_key`: channel,
sender and MsgId; events: channel, sender, CreateTime and Event). The first attempt claims the key before
the work starts, so a retry arriving on any worker while it runs waits for its reply instead of running the
command again; a retry after it gets the stored reply. The same call checks the callback's signature
(`Seal`): a signed query authorises one body, so a captured URL cannot carry another message.
Records are pruned after `dedup.retention_hours` by the scheduled job `dedup.prune`.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Protocol

from sqlalchemy import bindparam, delete, select, update

from bot.db import Database
from bot.models import CallbackSignature, LateAnswer, ProcessedMessage, utcnow

log = logging.getLogger(__name__)
POLL_SECONDS = 0.05


def message_key(channel: str, fields: dict[str, str]) -> str:
    """The one key of an inbound message: channel, sender and MsgId (events: CreateTime and Event).

    The MsgId (an event's CreateTime) comes before the sender: it grows with time, so each new key goes to the end
    of the key index rather than to a random page of it (interleaved runs, 2026-12-05: 2846 → 2957 req/s plain,
    2659 → 2713 safe)."""
    sender = fields.get("FromUserName", "")
    if fields.get("MsgId"):
        return f"{channel}:{fields['MsgId']}:{sender}"
    return f"{channel}:{fields.get('CreateTime', '')}:{sender}:{fields.get('Event', '')}"


@dataclass(frozen=True)
class Seal:
    """The signed query of a callback (timestamp, nonce, signature) and a digest of the body it came with.

    Only a plain signature needs one: it covers the token, timestamp and nonce but not the body, so a captured
    query would carry any message for the clock-skew window. An encrypted callback's msg_signature covers its
    body, and a repeat of the same body is a repeat of its message (de-duplicated by its key)."""

    signature: str
    body_sha256: str

    @classmethod
    def of(cls, timestamp: str, nonce: str, signature: str, body: bytes) -> "Seal":
        return cls(f"{timestamp}:{nonce}:{signature}"[:200], hashlib.sha256(body).hexdigest())


# A check run on the DB-API cursor that records a message, just before the record (Bot.still_current).
Within = Callable[[Any], bool]


class Replayed(Exception):
    """The signed query was used before with another body."""


class Store(Protocol):
    """Where message keys, their replies and used signatures are kept."""

    def begin(self, key: str, seal: Seal | None) -> bool:
        """Claim `key` for this attempt: True when it is the first, False for a repeat.
        Raises Replayed when `seal`'s signature came before with another body (None: nothing to remember)."""

    def record(self, key: str, seal: Seal | None, reply: str, within: Within | None = None) -> tuple[bool, str | None] | None:
        """`begin` and `finish` at once, for a reply made without effects (from the reply cache): keep `reply`
        unless an attempt came first. (True, reply) when kept; else (False, the first attempt's reply or None
        while it runs). `within(cursor)` runs first, on the cursor that records: when it returns False,
        nothing is recorded and the answer is None. Raises Replayed like `begin`."""

    def finish(self, key: str, reply: str) -> None:
        """Store the first attempt's reply (the passive reply body; "" for `success`)."""

    def give_up(self, key: str) -> None:
        """Forget the claim of a failed attempt, so that WeChat's retry runs it again."""

    def reply(self, key: str) -> str | None:
        """The stored reply, or None while the first attempt runs (or when the key is unknown)."""


def wait_for_reply(store: Store, key: str, wait_seconds: float) -> str | None:
    """The reply of the first attempt, polled for up to `wait_seconds`; None if it is not ready by then."""
    deadline = time.monotonic() + wait_seconds
    while True:
        reply = store.reply(key)
        if reply is not None or time.monotonic() >= deadline:
            return reply
        time.sleep(POLL_SECONDS)


_messages, _signatures, _late = ProcessedMessage.__table__, CallbackSignature.__table__, LateAnswer.__table__
# Both SQLite and PostgreSQL (`?` made `%s` by Database.sql): a conflict leaves the first row and counts 0 rows.
_CLAIM_RAW = "INSERT INTO processed_messages (key, state, created_at) VALUES (?, 'running', ?) ON CONFLICT (key) DO NOTHING"
_SEAL_RAW = ("INSERT INTO callback_signatures (signature, body_sha256, created_at) VALUES (?, ?, ?) "
             "ON CONFLICT (signature) DO NOTHING")
_SEALED_RAW = "SELECT body_sha256 FROM callback_signatures WHERE signature = ?"
_RECORD_RAW = ("INSERT INTO processed_messages (key, state, reply, created_at) VALUES (?, 'done', ?, ?) "
               "ON CONFLICT (key) DO NOTHING")
_READ_RAW = "SELECT state, reply FROM processed_messages WHERE key = ?"
_FINISH = update(_messages).where(_messages.c.key == bindparam("k")).values(state="done", reply=bindparam("reply"))
_GIVE_UP = delete(_messages).where(_messages.c.key == bindparam("k"))
_READ = select(_messages.c.state, _messages.c.reply).where(_messages.c.key == bindparam("k"))


class SqlStore:
    """The records in the database (`processed_messages`, `callback_signatures`), through the pool."""

    def __init__(self, db: Database):
        self.db = db

    def begin(self, key: str, seal: Seal | None) -> bool:
        # On plain DB-API like `record` (measured there), so that the seal is written one way.
        db, now = self.db, self.db.timestamp(utcnow())
        with db.raw() as conn, db.turn():
            cursor = conn.cursor()
            self._seal(conn, cursor, seal, now)
            cursor.execute(db.sql(_CLAIM_RAW), (key, now))
            first = cursor.rowcount == 1
            conn.commit()
        return first

    def record(self, key: str, seal: Seal | None, reply: str, within: Within | None = None) -> tuple[bool, str | None] | None:
        # Plain DB-API on a pooled connection: this runs for most messages, and SQLAlchemy's Core cost about
        # as much as the statements themselves (in-process profile of the webhook, README "Benchmarks").
        db, now = self.db, self.db.timestamp(utcnow())
        with db.raw() as conn, db.turn():  # the turn held for the transaction only (+3 % req/s, 2026-12-05)
            cursor = conn.cursor()
            if within is not None and not within(cursor):
                conn.rollback()
                return None
            self._seal(conn, cursor, seal, now)
            cursor.execute(db.sql(_RECORD_RAW), (key, reply, now))
            if cursor.rowcount == 1:
                conn.commit()
                return True, reply
            cursor.execute(db.sql(_READ_RAW), (key,))
            row = cursor.fetchone()
            conn.commit()
        return False, row[1] if row is not None and row[0] == "done" else None

    def _seal(self, conn, cursor, seal: Seal | None, now) -> None:
        """Remember the signature of `seal` with its body's digest; Replayed (rolled back) if it came with another."""
        if seal is None:
            return
        cursor.execute(self.db.sql(_SEAL_RAW), (seal.signature, seal.body_sha256, now))
        if cursor.rowcount != 1:
            cursor.execute(self.db.sql(_SEALED_RAW), (seal.signature,))
            if cursor.fetchone()[0] != seal.body_sha256:
                conn.rollback()
                raise Replayed

    def finish(self, key: str, reply: str) -> None:
        with self.db.turn(), self.db.engine.begin() as conn:
            conn.execute(_FINISH, {"k": key, "reply": reply})

    def give_up(self, key: str) -> None:
        with self.db.turn(), self.db.engine.begin() as conn:
            conn.execute(_GIVE_UP, {"k": key})

    def reply(self, key: str) -> str | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(_READ, {"k": key}).first()
        return row.reply if row is not None and row.state == "done" else None

    def prune(self, messages_before: datetime, signatures_before: datetime) -> int:
        with self.db.engine.begin() as conn:
            removed = conn.execute(delete(_messages).where(_messages.c.created_at < messages_before)).rowcount
            removed += conn.execute(delete(_signatures).where(_signatures.c.created_at < signatures_before)).rowcount
        return removed or 0


class RedisFirst:
    """The Redis store, and the database's while Redis does not answer (bot.redis_store.Shared.try_first): a
    message is still handled once unless its retry comes in while the store changes."""

    def __init__(self, redis_store, sql: SqlStore):
        self.redis, self.sql = redis_store, sql

    def _either(self, name: str, *args):
        return self.redis.shared.try_first(f"de-duplication ({name})", lambda: getattr(self.redis, name)(*args),
                                           lambda: getattr(self.sql, name)(*args))

    def begin(self, key: str, seal: Seal | None) -> bool:
        return self._either("begin", key, seal)

    def record(self, key: str, seal: Seal | None, reply: str, within: Within | None = None) -> tuple[bool, str | None] | None:
        if within is not None:  # the market version and the sender's note are in the database
            with self.sql.db.raw() as conn:
                if not within(conn.cursor()):
                    conn.rollback()
                    return None
                conn.commit()
        return self._either("record", key, seal, reply)

    def finish(self, key: str, reply: str) -> None:
        self._either("finish", key, reply)

    def give_up(self, key: str) -> None:
        self._either("give_up", key)

    def reply(self, key: str) -> str | None:
        return self._either("reply", key)

    def state(self, key: str) -> str | None:
        """'running', 'done' or None in Redis: for tests and the operator."""
        return self.redis.state(key)


def store_for(db: Database, config) -> Store:
    """Redis when `redis_url` is set (shared by every process, faster; the database while it is away), else
    the database."""
    if db.redis is not None:
        from bot.redis_store import RedisStore

        return RedisFirst(RedisStore(db.redis, keep_seconds=int(config["dedup.retention_hours"] * 3600),
                                     signature_seconds=2 * config["wechat.max_clock_skew"]), SqlStore(db))
    return SqlStore(db)


def prune(bot) -> int:
    """Forget message records and settled late answers older than `dedup.retention_hours`, and signatures past
    the clock-skew window."""
    now = utcnow()
    before = now - timedelta(hours=bot.config["dedup.retention_hours"])
    removed = SqlStore(bot.db).prune(before, now - timedelta(seconds=2 * bot.config["wechat.max_clock_skew"]))
    with bot.db.engine.begin() as conn:  # late answers settled (sent or given up) are kept as long
        removed += conn.execute(delete(_late).where(_late.c.status != "queued", _late.c.created_at < before)).rowcount
    log.info("dedup: pruned %d old message records and signatures", removed)
    return removed


def dedup_jobs(config) -> list:
    """The scheduled job that prunes the records (Redis keys expire by themselves)."""
    from bot.push.scheduler import ScheduledJob

    return [ScheduledJob("dedup.prune", "17 * * * *", prune, lease_seconds=600)]
