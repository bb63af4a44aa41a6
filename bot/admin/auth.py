"""Admin users, passwords, sign-in with growing delays, and server-side sessions with their CSRF token."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from bot.models import AdminSession, AdminUser, SignInFailure

MIN_PASSWORD = 8
FIRST_DELAY_SECONDS = 30  # the first delay after `admin.lockout_attempts` failures; each next one doubles
CHECK_WAIT_SECONDS = 5  # how long a sign-in waits for a free password check before it is told to retry
_checks: dict[int, threading.BoundedSemaphore] = {}  # per configured cap (one in production)
_checks_lock = threading.Lock()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Checked against when the username is unknown, so that a wrong name costs as long as a wrong password."""
    return generate_password_hash("not a password", method="scrypt")


class AdminError(Exception):
    """A user-management request that cannot be done; the message says why."""


class LoginRefused(Exception):
    """Sign-in failed. The user is told the same for an unknown name, a wrong password and a delay;
    `reason` ("wrong", "unknown", "delayed") is for the log only."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SignInBusy(Exception):
    """Every password check of this process is taken (admin.max_password_checks): try again shortly."""


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
    user = AdminUser(username=username, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> AdminUser:
    user = _user(session, username)
    if user is None:
        raise AdminError(f"no admin user {username!r}")
    return user


def set_password(session: Session, username: str, password: str) -> None:
    """New password; it also lifts any sign-in delay of that user and signs out every browser of that user."""
    user = get_user(session, username)
    user.password_hash = hash_password(password)
    session.execute(delete(SignInFailure).where(SignInFailure.key.startswith(_key(username, ""), autoescape=True)))
    session.execute(delete(AdminSession).where(AdminSession.user_id == user.id))


def remove_user(session: Session, username: str) -> None:
    user = get_user(session, username)
    session.execute(delete(AdminSession).where(AdminSession.user_id == user.id))
    session.delete(user)


def authenticate(session: Session, username: str, password: str, address: str, now: datetime, attempts: int,
                 longest_minutes: int, max_checks: int = 2) -> AdminUser:
    """The user whose name and password these are, or LoginRefused.

    Failures are counted per user name *and* client address, in the database and atomically: an attempt
    is reserved before its password is checked, so concurrent sign-ins never check more than `attempts`
    passwords. Past that, the name is refused from that address for a delay that doubles each time
    (30 s, 1 min, 2 min…, at most `longest_minutes`); another address (the real admin's) is not delayed.
    Every attempt costs one password check, refused or not, so that the answer time tells nothing.
    At most `max_checks` checks run at once in this process (SignInBusy after a short wait)."""
    key = _key(username, address)
    allowed = _reserve(session, key, now, attempts)
    user = _user(session, username.strip()) if allowed else None
    matches = _check_password(user.password_hash if user else _dummy_hash(), password, max_checks)
    if user is None or not matches:  # (the dummy hash's own password matches it: still no user)
        if allowed:
            _failed(session, key, now, attempts, longest_minutes)
        raise LoginRefused("wrong" if user else "unknown" if allowed else "delayed")
    session.execute(delete(SignInFailure).where(SignInFailure.key == key))
    user.last_login = now
    return user


def _key(username: str, address: str) -> str:
    return f"{username.strip().lower()[:64]}|{address[:100]}"


def _reserve(session: Session, key: str, now: datetime, attempts: int) -> bool:
    """Count one attempt unless the limit is reached or a delay runs; committed at once (atomic)."""
    if session.get(SignInFailure, key) is None:
        session.add(SignInFailure(key=key, failures=0, level=0, updated_at=now))
        try:
            session.commit()
        except IntegrityError:  # another sign-in created it at the same moment
            session.rollback()
    taken = session.execute(
        update(SignInFailure)
        .where(SignInFailure.key == key, SignInFailure.failures < attempts,
               (SignInFailure.blocked_until.is_(None)) | (SignInFailure.blocked_until <= now))
        .values(failures=SignInFailure.failures + 1, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    session.commit()
    return taken == 1


def _failed(session: Session, key: str, now: datetime, attempts: int, longest_minutes: int) -> None:
    """After a wrong password: the attempt stays counted; the one that reaches the limit starts a delay."""
    level = session.scalar(select(SignInFailure.level).where(SignInFailure.key == key))
    if level is not None:
        delay = min(FIRST_DELAY_SECONDS * 2 ** min(level, 20), longest_minutes * 60)
        session.execute(
            update(SignInFailure).where(SignInFailure.key == key, SignInFailure.failures >= attempts)
            .values(failures=0, level=SignInFailure.level + 1, blocked_until=now + timedelta(seconds=delay),
                    updated_at=now)
            .execution_options(synchronize_session=False))
    # Names and addresses not tried for a day are forgotten (an attacker's made-up names among them).
    session.execute(delete(SignInFailure).where(SignInFailure.updated_at < now - timedelta(days=1)))
    session.commit()


def _check_password(password_hash: str, password: str, max_checks: int) -> bool:
    """scrypt costs 32 MiB and ~0.1 s: at most `max_checks` at once in this process."""
    with _checks_lock:
        checks = _checks.setdefault(max_checks, threading.BoundedSemaphore(max_checks))
    if not checks.acquire(timeout=CHECK_WAIT_SECONDS):
        raise SignInBusy()
    try:
        return check_password_hash(password_hash, password)
    finally:
        checks.release()


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
