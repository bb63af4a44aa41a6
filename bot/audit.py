"""The audit log: who changed what, from the console, the command line or chat."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import AuditLog


def audit(session: Session, actor: str, action: str, target: str = "", **detail) -> None:
    """Record one change. `actor` is "web:NAME", "chat:OPENID" or "cli"; `detail` must be JSON-able."""
    session.add(AuditLog(actor=actor, action=action, target=target, detail=detail))


def recent(session: Session, limit: int = 100) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)))
