"""Handle each inbound message once: WeChat's retries get the first attempt's reply."""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import Database
from bot.models import ProcessedMessage, utcnow

log = logging.getLogger(__name__)
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


_KEEP = ("INSERT INTO processed_messages (key, state, reply, created_at) VALUES (?, 'done', ?, ?) "
         "ON CONFLICT (key) DO NOTHING")
_LOOKUP = "SELECT state, reply FROM processed_messages WHERE key = ?"
FLUSH_SECONDS = 0.25


class Records:
    """The answers of the chat's quick path (replies from the cache, made without side effects), kept once
    per message key: a retry gets the first answer.

    Such an answer needs no record before it goes out: WeChat repeats a message only after 5 seconds
    without one. So the records wait here and a writer thread inserts them every FLUSH_SECONDS, in one
    transaction (a commit per message cost a fifth of the webhook's CPU). A retry finds the record in
    this process's memory or in the database; only a repeat reaching another process within
    FLUSH_SECONDS would be answered again, from the same cache. With Redis (`redis_url`) each record is
    one SET NX at once, as before."""

    def __init__(self, db: Database, flush_seconds: float = FLUSH_SECONDS):
        self.db, self.flush_seconds = db, flush_seconds
        self._pending: dict[str, tuple[str, datetime]] = {}  # key -> (answer, when), not written yet
        self._writing: dict[str, tuple[str, datetime]] = {}  # the group being written: still found here
        self._lock = threading.Lock()  # guards the two dicts and the writer
        self._flushing = threading.Lock()  # one group at a time
        self._writer_pid: int | None = None  # the process whose writer thread runs: a forked worker starts its own
        db.before_dispose(self.flush)
        atexit.register(_flush_at_exit, weakref.ref(self))  # a worker that stops writes what it holds

    def keep(self, key: str, result: str, wait_seconds: float,
             also: Callable[[Any], None] | None = None) -> str | None:
        """Keep `result` as the answer to `key` unless there is one already.

        Returns the answer that stands: `result`, or the one an earlier attempt keeps (None while that
        attempt still runs). Only when `result` is kept, `also(cursor)` runs on the main database and commits.
        Plain DB-API on this thread's own connections (`db.own()`): one lookup by primary key."""
        db = self.db
        main, messages = db.own()

        def first() -> None:
            also(main.cursor())
            main.commit()

        if db.redis is not None:
            return db.redis.record_once(key, result, wait_seconds, first if also else None)
        earlier = self._held(key)
        if earlier is None:
            cursor = messages.cursor()
            cursor.execute(db.sql(_LOOKUP), (key,))
            row = cursor.fetchone()
            messages.rollback()  # ends the read's transaction where the driver opened one (PostgreSQL)
            if row is not None:
                return row[1] if row[0] == "done" else _wait_for(db, key, wait_seconds)
            mine = (result, utcnow())
            with self._lock:
                earlier = self._pending.setdefault(key, mine)
                self._start_writer()
            if earlier is mine:
                if also is not None:
                    first()
                return result
        return earlier[0]

    def flush(self) -> None:
        """Write the records kept so far, in one transaction. One that cannot be written stays for the next try."""
        with self._flushing:
            with self._lock:
                group = self._writing = self._pending
                self._pending = {}
            if not group:
                return
            try:
                rows = [(key, answer, self.db.timestamp(when)) for key, (answer, when) in group.items()]
                with self.db.write_turn():
                    conn = self.db.messages.raw_connection()
                    try:
                        conn.cursor().executemany(self.db.sql(_KEEP), rows)
                        conn.commit()
                    finally:
                        conn.close()
            except Exception as exc:
                log.warning("could not write %d message records (kept for the next try): %s", len(group),
                            type(exc).__name__)
                with self._lock:
                    self._pending = {**group, **self._pending}
            finally:
                with self._lock:
                    self._writing = {}

    def _held(self, key: str) -> tuple[str, datetime] | None:
        with self._lock:
            return self._pending.get(key) or self._writing.get(key)

    def _start_writer(self) -> None:
        """Under the lock: a writer thread for this process unless one runs."""
        if self._writer_pid != os.getpid():
            self._writer_pid = os.getpid()
            threading.Thread(target=self._write, name="message-records", daemon=True).start()

    def _write(self) -> None:
        """Flush every FLUSH_SECONDS while there is something to write; then end (the next record starts another)."""
        while True:
            time.sleep(self.flush_seconds)
            self.flush()
            with self._lock:
                if not self._pending:
                    self._writer_pid = None
                    return


def _flush_at_exit(records: weakref.ref) -> None:
    if (alive := records()) is not None:
        alive.flush()


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
