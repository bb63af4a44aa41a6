"""Named leases in the database: a lock every process (web workers, schedulers, CLI) can see."""
from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from bot.db import Database
from bot.models import Lease, utcnow


def new_owner() -> str:
    """A lease owner id naming this process (host, pid) and unique per call."""
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(db: Database, name: str, owner: str, seconds: float) -> bool:
    """Take (or renew) the lease `name` for `seconds` unless another owner holds an unexpired one."""
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
        return False
    return True


def release(db: Database, name: str, owner: str) -> None:
    with db.session() as session:
        session.execute(delete(Lease).where(Lease.name == name, Lease.owner == owner))
