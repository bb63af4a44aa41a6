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
    means the first attempt has not finished yet. The result is stored right after the work commits
    (in Redis when `redis_url` is set, else in `db.messages`); work that fails gives the key up again.
    `on_claim(True)` is told that this attempt has the key, `on_claim(False)` that it is a repeat.
    """
    def work() -> str:
        with db.session() as session:
            return produce(session)

    if db.redis is not None:
        return db.redis.answer_once(key, work, wait_seconds, on_claim)
    try:
        with db.write_turn(), db.messages.begin() as conn:
            conn.execute(_INSERT, {"key": key, "state": "running", "created_at": utcnow()})
    except IntegrityError:
        if on_claim is not None:
            on_claim(False)
        return _wait_for(db, key, wait_seconds)
    if on_claim is not None:
        on_claim(True)
    try:
        result = work()
    except BaseException:
        with db.write_turn(), db.messages.begin() as conn:
            conn.execute(_FORGET, {"k": key})
        raise
    with db.write_turn(), db.messages.begin() as conn:
        conn.execute(_FINISH, {"k": key, "reply": result})
    return result


_RECORD = "INSERT INTO processed_messages (key, state, reply, created_at) VALUES (?, 'done', ?, ?)"


def record_once(db: Database, key: str, result: str, wait_seconds: float,
                also: Callable[[Any], None] | None = None) -> str | None:
    """Keep `result`, made without side effects, as the answer to `key` unless there is one already.

    Returns the answer that stands: `result`, or the one an earlier attempt stored (None while that
    attempt still runs). Only when `result` is kept, `also(cursor)` runs on the main database and commits.
    The chat's quick path: plain DB-API on this thread's own connections (`db.own()`), one insert
    (with Redis: one SET NX)."""
    main, messages = db.own()

    def first() -> None:
        also(main.cursor())
        main.commit()

    if db.redis is not None:
        return db.redis.record_once(key, result, wait_seconds, first if also else None)
    with db.write_turn():
        try:
            messages.cursor().execute(db.sql(_RECORD), (key, result, db.timestamp(utcnow())))
            messages.commit()
        except db.IntegrityError:
            messages.rollback()
            kept = False
        else:
            kept = True
    if not kept:
        return _wait_for(db, key, wait_seconds)
    if also is not None:
        first()
    return result


def _wait_for(db: Database, key: str, wait_seconds: float) -> str | None:
    deadline = time.monotonic() + wait_seconds
    while True:
        with db.messages.connect() as conn:
            row = conn.execute(_READ, {"k": key}).first()
        if row is not None and row.state == "done":
            return row.reply
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_SECONDS)


def prune(db: Database, older_than: timedelta = timedelta(days=2)) -> int:
    """Forget message keys older than `older_than` (WeChat retries within seconds)."""
    with db.messages.begin() as conn:
        result = conn.execute(delete(ProcessedMessage).where(ProcessedMessage.created_at < utcnow() - older_than))
        return result.rowcount or 0
