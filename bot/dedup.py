"""Handle each inbound message once: WeChat's retries get the first attempt's reply."""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import Database
from bot.models import ProcessedMessage, utcnow

POLL_SECONDS = 0.05
_messages = ProcessedMessage.__table__
# Built once: these run on every message.
_INSERT = _messages.insert()
_FINISH = _messages.update().where(_messages.c.key == bindparam("k")).values(state="done", reply=bindparam("reply"))
_FORGET = _messages.delete().where(_messages.c.key == bindparam("k"))
_READ = select(_messages.c.state, _messages.c.reply).where(_messages.c.key == bindparam("k"))


def answer_once(db: Database, key: str, produce: Callable[[Session], str], wait_seconds: float,
                on_claim: Callable[[bool], None] | None = None) -> str | None:
    """Run `produce` once per `key` and keep its result; a repeat returns that result.

    The claim is committed before the work starts, so a retry arriving on any worker while the first
    attempt still runs waits for its result (up to `wait_seconds`) instead of running it again; None
    means the first attempt has not finished yet. The work and its stored result commit together
    (with Redis the claim and the result live there, stored right after the work commits).
    `on_claim(True)` is told that this attempt has the key, `on_claim(False)` that it is a repeat.
    """
    if db.redis is not None:
        def work() -> str:
            with db.session() as session:
                return produce(session)

        return db.redis.answer_once(key, work, wait_seconds, on_claim)
    try:
        with db.engine.begin() as conn:
            conn.execute(_INSERT, {"key": key, "state": "running", "created_at": utcnow()})
    except IntegrityError:
        if on_claim is not None:
            on_claim(False)
        return _wait_for(db, key, wait_seconds)
    if on_claim is not None:
        on_claim(True)
    try:
        with db.session() as session:
            result = produce(session)
            session.connection().execute(_FINISH, {"k": key, "reply": result})
        return result
    except BaseException:
        with db.engine.begin() as conn:
            conn.execute(_FORGET, {"k": key})
        raise


_RECORD = "INSERT INTO processed_messages (key, state, reply, created_at) VALUES (?, 'done', ?, ?)"


def record_once(db: Database, key: str, result: str, wait_seconds: float,
                also: Callable[[Any], None] | None = None, conn=None) -> str | None:
    """Keep `result`, made without side effects, as the answer to `key` unless there is one already.

    `also(cursor)` runs in the same transaction. Returns the answer that stands: `result`, or the one an
    earlier attempt stored (None while that attempt still runs). The hot path: plain DB-API (`conn` from
    `db.raw()`, or one of its own), one commit (with Redis: one SET NX, and the database only for `also`)."""
    if db.redis is not None:
        return db.redis.record_once(key, result, wait_seconds, (lambda: _also(db, also, conn)) if also else None)
    with db.raw(conn) as conn:
        try:
            cursor = conn.cursor()
            cursor.execute(db.sql(_RECORD), (key, result, db.timestamp(utcnow())))
            if also is not None:
                also(cursor)
            conn.commit()
            return result
        except db.IntegrityError:
            conn.rollback()
    return _wait_for(db, key, wait_seconds)


def _also(db: Database, also: Callable[[Any], None], conn=None) -> None:
    """Run `also(cursor)` in a transaction of its own (on `conn` if given)."""
    with db.raw(conn) as conn:
        also(conn.cursor())
        conn.commit()


def _wait_for(db: Database, key: str, wait_seconds: float) -> str | None:
    deadline = time.monotonic() + wait_seconds
    while True:
        with db.engine.connect() as conn:
            row = conn.execute(_READ, {"k": key}).first()
        if row is not None and row.state == "done":
            return row.reply
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_SECONDS)


def prune(db: Database, older_than: timedelta = timedelta(days=2)) -> int:
    """Forget message keys older than `older_than` (WeChat retries within seconds)."""
    with db.engine.begin() as conn:
        result = conn.execute(delete(ProcessedMessage).where(ProcessedMessage.created_at < utcnow() - older_than))
        return result.rowcount or 0
