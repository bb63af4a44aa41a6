"""Admin users, passwords, sign-in with lockout, and server-side sessions with their CSRF token."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from bot.models import AdminSession, AdminUser

MIN_PASSWORD = 8


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Checked against when the username is unknown, so that a wrong name costs as long as a wrong password."""
    return generate_password_hash("not a password", method="scrypt")


class AdminError(Exception):
    """A user-management request that cannot be done; the message says why."""


class LoginRefused(Exception):
    """Sign-in failed: `reason` is "wrong" (name or password) or "locked" (with `until`)."""

    def __init__(self, reason: str, until: datetime | None = None):
        super().__init__(reason)
        self.reason = reason
        self.until = until


def hash_password(password: str) -> str:
    """A salted scrypt hash (werkzeug's default: N=2^15, r=8, p=1)."""
    if len(password) < MIN_PASSWORD:
        raise AdminError(f"the password must have at least {MIN_PASSWORD} characters")
    return generate_password_hash(password, method="scrypt")


def _user(session: Session, username: str) -> AdminUser | None:
    return session.scalar(select(AdminUser).where(AdminUser.username == username))


def add_user(session: Session, username: str, password: str) -> AdminUser:
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise AdminError("the user name must be 1 to 64 characters without spaces")
    if _user(session, username):
        raise AdminError(f"admin user {username!r} exists already (use set-password to change the password)")
    user = AdminUser(username=username, password_hash=hash_password(password), failed_logins=0)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> AdminUser:
    user = _user(session, username)
    if user is None:
        raise AdminError(f"no admin user {username!r}")
    return user


def set_password(session: Session, username: str, password: str) -> None:
    """New password; it also unlocks the account and signs out every browser of that user."""
    user = get_user(session, username)
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    session.execute(delete(AdminSession).where(AdminSession.user_id == user.id))


def remove_user(session: Session, username: str) -> None:
    user = get_user(session, username)
    session.execute(delete(AdminSession).where(AdminSession.user_id == user.id))
    session.delete(user)


def authenticate(session: Session, username: str, password: str, now: datetime, attempts: int,
                 lock_minutes: int) -> AdminUser:
    """The user whose name and password these are, or LoginRefused. `attempts` wrong passwords in a row
    lock the account for `lock_minutes`; while locked even the right password is refused."""
    user = _user(session, username.strip())
    if user is None:
        check_password_hash(_dummy_hash(), password)
        raise LoginRefused("wrong")
    if user.locked_until and user.locked_until > now:
        raise LoginRefused("locked", user.locked_until)
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= attempts:
            user.failed_logins, user.locked_until = 0, now + timedelta(minutes=lock_minutes)
            raise LoginRefused("locked", user.locked_until)
        raise LoginRefused("wrong")
    user.failed_logins, user.locked_until, user.last_login = 0, None, now
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: AdminUser, now: datetime, hours: int) -> str:
    """A new signed-in session; returns the token for the cookie (only its hash is stored)."""
    session.execute(delete(AdminSession).where(AdminSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(AdminSession(token_hash=_digest(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                             created_at=now, expires_at=now + timedelta(hours=hours)))
    return token


def find_session(session: Session, token: str | None, now: datetime) -> AdminSession | None:
    if not token:
        return None
    found = session.get(AdminSession, _digest(token))
    if found is None or found.expires_at <= now:
        return None
    return found


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(AdminSession).where(AdminSession.token_hash == _digest(token)))


def same_secret(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of two tokens; missing ones never match."""
    return bool(given and expected) and hmac.compare_digest(given.encode(), expected.encode())
