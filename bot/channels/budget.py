"""The 5-second rule: answer in the callback when quick, else reply `success` and send the answer later.

WeChat and WeCom drop a callback that takes 5 s and retry it; a passive reply that comes too late is
lost. So the work runs in a thread: ready within the budget → the passive reply; not ready → the
request answers `success` at once, and the reply goes out through the API (customer-service message,
WeCom app message) when it is ready. The reply is stored as "" then, so WeChat's retries of the same
message get `success` and the user gets the answer once.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from sqlalchemy.orm import Session

from bot.db import Database
from bot.dedup import answer_once
from bot.messages import Reply

log = logging.getLogger(__name__)
CLAIM_WAIT = 1.0  # seconds the request waits to learn whether it holds the message's key


def answer_within(db: Database, key: str, produce: Callable[[Session], tuple[str, Reply]], budget: float,
                  wait_seconds: float, send_later: Callable[[Reply], None] | None,
                  on_claim: Callable[[bool], None] | None = None) -> str | None:
    """The passive reply body for `key` (once per key, see answer_once), or None to answer `success`.

    `produce(session)` returns (the passive reply body, the Reply); without `send_later` (no API
    configured) the work simply runs in the request, as before. `on_claim(first)` hears whether this
    attempt got the key (a retry did not); it has been called by the time this returns."""
    if send_later is None:
        return answer_once(db, key, lambda session: produce(session)[0], wait_seconds, on_claim)
    lock = threading.Lock()
    state = {"late": False, "passive": False}
    done = threading.Event()
    decided = threading.Event()  # the claim is made or refused: the request knows whether it is a repeat
    out: dict = {}

    def claimed(first: bool) -> None:
        if on_claim is not None:
            on_claim(first)
        decided.set()

    def passive_or_later(session: Session) -> str:
        body, reply = produce(session)
        with lock:
            if not state["late"]:
                state["passive"] = True
                return body
        out["later"] = reply  # the request has answered `success`; send after the result is stored
        return ""

    def work() -> None:
        try:
            out["body"] = answer_once(db, key, passive_or_later, wait_seconds, claimed)
        except Exception as exc:  # handed to the request if it still waits, else logged
            out["error"] = exc
        finally:
            decided.set()
            done.set()
        reply = out.get("later")
        if reply is not None and not reply.empty:
            try:
                send_later(reply)
            except Exception:
                log.exception("could not send a late answer through the API")
        elif "error" in out and state["late"]:
            log.error("a late answer failed: %s", type(out["error"]).__name__)

    started = time.monotonic()
    threading.Thread(target=work, name="answer", daemon=True).start()
    decided.wait(max(budget, CLAIM_WAIT))  # a single insert: worth waiting for even with a tiny budget
    if not done.wait(max(budget - (time.monotonic() - started), 0)):
        with lock:
            if not state["passive"]:
                state["late"] = True
        if state["late"]:
            decided.wait(CLAIM_WAIT)  # a database insert: the caller learns whether it was the first attempt
            return None
        done.wait()
    if "error" in out:
        raise out["error"]
    return out["body"]
