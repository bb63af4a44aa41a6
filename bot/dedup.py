"""Handle each inbound message once: WeChat's retries get the first attempt's reply."""
from __future__ import annotations

import time
from datetime import timedelta
from typing import Callable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import Database
from bot.models import ProcessedMessage, utcnow

POLL_SECONDS = 0.05


def answer_once(db: Database, key: str, produce: Callable[[Session], str], wait_seconds: float) -> str | None:
    """Run `produce` once per `key` and keep its result; a repeat returns that result.

    The claim is committed before the work starts, so a retry arriving on any worker while the first
    attempt still runs waits for its result (up to `wait_seconds`) instead of running it again; None
    means the first attempt has not finished yet. The work and its stored result commit together.
    """
    try:
        with db.session() as session:
            session.add(ProcessedMessage(key=key, state="running"))
    except IntegrityError:
        return _wait_for(db, key, wait_seconds)
    try:
        with db.session() as session:
            result = produce(session)
            row = session.get(ProcessedMessage, key)
            row.state, row.reply = "done", result
        return result
    except BaseException:
        with db.session() as session:
            session.execute(delete(ProcessedMessage).where(ProcessedMessage.key == key))
        raise


def _wait_for(db: Database, key: str, wait_seconds: float) -> str | None:
    deadline = time.monotonic() + wait_seconds
    while True:
        with db.session() as session:
            row = session.execute(
                select(ProcessedMessage.state, ProcessedMessage.reply).where(ProcessedMessage.key == key)
            ).first()
        if row is not None and row.state == "done":
            return row.reply
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_SECONDS)


def prune(db: Database, older_than: timedelta = timedelta(days=2)) -> int:
    """Forget message keys older than `older_than` (WeChat retries within seconds)."""
    with db.session() as session:
        result = session.execute(delete(ProcessedMessage).where(ProcessedMessage.created_at < utcnow() - older_than))
        return result.rowcount or 0
