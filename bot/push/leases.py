"""Named leases in the database: a lock every process (web workers, schedulers, CLI) can see.

An owner id names its process (`host:pid:random`). A lease held by a process of this host that no longer
exists (killed with SIGKILL, say) is taken over at once instead of after it runs out.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from bot.db import Database
from bot.models import Lease, utcnow

log = logging.getLogger(__name__)


def _host() -> str:
    """This host's name, with the process-id namespace when there is one: two containers sharing a host
    name but not their pids must not read each other's pids."""
    name = socket.gethostname()[:24]
    try:
        return f"{name}.{os.stat('/proc/self/ns/pid').st_ino:x}"[:40]
    except OSError:
        return name


HOST = _host()


def new_owner() -> str:
    """A lease owner id naming this process (host, pid) and unique per call."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """True when `owner` names a process of this host that has exited (never for another host's)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != HOST or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def acquire(db: Database, name: str, owner: str, seconds: float, from_dead: bool = True) -> bool:
    """Take (or renew) the lease `name` for `seconds` unless another owner holds an unexpired one
    (with `from_dead`, one whose process is gone does not count)."""
    now = utcnow()
    until = now + timedelta(seconds=seconds)
    with db.session() as session:
        taken = session.execute(
            update(Lease).where(Lease.name == name, (Lease.owner == owner) | (Lease.expires_at < now))
            .values(owner=owner, expires_at=until)
        ).rowcount
    if taken:
        return True
    try:
        with db.session() as session:
            session.add(Lease(name=name, owner=owner, expires_at=until))
    except IntegrityError:  # someone else holds it (or took it between our two statements)
        return from_dead and _take_from_dead(db, name, owner, until)
    return True


def _take_from_dead(db: Database, name: str, owner: str, until) -> bool:
    with db.session() as session:
        holder = session.scalar(select(Lease.owner).where(Lease.name == name))
        if holder is None or not owner_is_dead(holder):
            return False
        taken = session.execute(update(Lease).where(Lease.name == name, Lease.owner == holder)
                                .values(owner=owner, expires_at=until)).rowcount
    if taken:
        log.warning("lease %s: its holder (process %s of this host) is gone; taken over", name,
                    holder.split(":")[1])
    return bool(taken)


def release(db: Database, name: str, owner: str) -> None:
    with db.session() as session:
        session.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner))


@contextmanager
def held(db: Database, name: str, seconds: float, take=acquire) -> Iterator[bool]:
    """Hold the lease `name` while the block runs, renewed every third of `seconds` by a thread, so that
    others may take it `seconds` after this process dies (at once on this host). Yields False (and runs
    nothing of its own) when another process holds it. `take` takes it first (e.g. waiting out an outage)."""
    owner = new_owner()
    if not take(db, name, owner, seconds):
        yield False
        return
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(seconds / 3):
            try:
                acquire(db, name, owner, seconds)
            except Exception as exc:  # the database is away: the lease may run out meanwhile
                log.warning("lease %s: cannot renew it: %s", name, type(exc).__name__)

    thread = threading.Thread(target=renew, name=f"lease:{name}", daemon=True)
    thread.start()
    try:
        yield True
    finally:
        stop.set()
        thread.join()
        try:
            release(db, name, owner)
        except Exception as exc:
            log.warning("lease %s: cannot release it (it runs out by itself): %s", name, type(exc).__name__)
