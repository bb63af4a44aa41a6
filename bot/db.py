"""Database engine, sessions and schema migrations."""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import DateTime, create_engine, event, exc, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision id; a test keeps it equal to Alembic's head.
SCHEMA_REVISION = "0012"


class Database:
    """An engine and its session factory, one per app or process."""

    def __init__(self, url: str):
        self.url = url
        # bot.redis_store.Shared when `redis_url` is set (set by Bot): tokens, de-duplication and rate
        # counters then live in Redis, shared by every process; None: the database does those jobs.
        self.redis = None
        self.engine = _make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        dialect = self.engine.dialect
        self.IntegrityError = dialect.dbapi.IntegrityError
        self._before_dispose: list[Callable[[], None]] = []
        self._qmark = dialect.paramstyle == "qmark"
        self._own = threading.local()
        self._turn_thread_lock = threading.Lock()
        self._turn_file: tuple[int, int] | None = None  # (pid, fd): each process opens its own
        self._turn_path: str | None = None
        self.messages = self.engine  # where processed_messages lives: see _open_messages
        database = make_url(url).database if dialect.name == "sqlite" else None
        if database and database != ":memory:":
            self._turn_path = f"{database}-messages.write-lock"
            with self.write_turn():
                self.messages = _open_messages(f"{database}-messages")
        self._datetime = DateTime().dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)

    @contextmanager
    def raw(self, conn: Any = None) -> Iterator[Any]:
        """A pooled DB-API connection, for a few plain statements where the ORM costs too much; `conn`
        itself when one is given (a caller already holding one), left open.

        Write SQL with `?` placeholders and pass it through `sql()`; the pool rolls back what is not committed."""
        if conn is not None:
            yield conn
            return
        conn = self.engine.raw_connection()
        try:
            yield conn
        finally:
            conn.close()

    def own(self) -> tuple[Any, Any]:
        """This thread's own DB-API connections (main, messages), kept open from one call to the next.

        The chat's quick path runs on them: a pool checkout and return cost more than its statements.
        Detached from the pool, they close with the thread; after an error, `forget_own()`."""
        pid = os.getpid()
        pair = getattr(self._own, "pair", None)
        if pair is None or self._own.pid != pid:  # none yet, or inherited through a fork: not ours to use
            main = self.engine.raw_connection()
            main.detach()
            if self.messages is self.engine:
                messages = main
            else:
                messages = self.messages.raw_connection()
                messages.detach()
            pair = (main, messages)
            self._own.pair, self._own.pid = pair, pid
        return pair

    def forget_own(self) -> None:
        """Close this thread's own connections (a failed statement may have left them unusable)."""
        pair = getattr(self._own, "pair", None)
        if pair is None:
            return
        del self._own.pair
        if self._own.pid == os.getpid():
            for conn in {id(c): c for c in pair}.values():
                try:
                    conn.close()
                except Exception:  # already broken: nothing more to give back
                    pass

    @contextmanager
    def write_turn(self) -> Iterator[None]:
        """Wait for this host's turn to write to `messages`, around the write every chat message makes.

        For SQLite only: when two web workers write at once, SQLite's busy handler sleeps a millisecond
        or more, many times the write itself; a kernel file lock (`<file>.write-lock`) wakes the next
        writer the moment the first is done. Other databases queue writers themselves."""
        if self._turn_path is None:
            yield
            return
        with self._turn_thread_lock:  # flock is per open file: threads of one process queue here
            pid = os.getpid()
            if self._turn_file is None or self._turn_file[0] != pid:  # a forked worker: a file of its own
                self._turn_file = (pid, os.open(self._turn_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            fd = self._turn_file[1]
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def sql(self, statement: str) -> str:
        """`statement` with the driver's placeholders (`?` for SQLite, `%s` for psycopg)."""
        return statement if self._qmark else statement.replace("?", "%s")

    def timestamp(self, value: datetime) -> Any:
        """A naive UTC datetime as the driver stores it for a DateTime column."""
        return self._datetime(value)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> str:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"

    def upgrade(self, revision: str = "head") -> None:
        """Apply the Alembic migrations up to `revision`."""
        from alembic import command

        command.upgrade(alembic_config(self.url), revision)

    def revision(self) -> str | None:
        """The schema revision the database is at, or None for an empty database."""
        from sqlalchemy import inspect

        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def ensure_schema(self) -> None:
        """Migrate to the newest schema unless already there (saves importing Alembic on every start)."""
        if self.revision() != SCHEMA_REVISION:
            self.upgrade()

    def before_dispose(self, callback: Callable[[], None]) -> None:
        """Have `callback` run first when the database is disposed of (to write what is held in memory)."""
        self._before_dispose.append(callback)

    def dispose(self) -> None:
        for callback in self._before_dispose:
            callback()
        self.forget_own()
        self.engine.dispose()
        self.messages.dispose()
        if self._turn_file is not None and self._turn_file[0] == os.getpid():
            os.close(self._turn_file[1])
            self._turn_file = None
        if self.redis is not None:
            self.redis.close()


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _open_messages(path: str) -> Engine:
    """The de-duplication records of a SQLite database, in a file of their own: `<database>-messages`.

    One is written for every chat message; in the main file that write would clear the other web workers'
    page cache of the market data and wait on its checkpoints. They matter only for the minutes in which
    WeChat retries, so the file is written without fsync (synchronous=OFF), and one found damaged (after an
    operating-system crash) is replaced by an empty one."""
    from bot.models import ProcessedMessage

    engine = _make_engine(f"sqlite:///{path}", durable=False)
    try:
        with engine.begin() as conn:
            ProcessedMessage.__table__.create(conn, checkfirst=True)
            if conn.exec_driver_sql("PRAGMA quick_check").scalar() == "ok":
                return engine
    except exc.DatabaseError:
        pass
    engine.dispose()
    log.warning("the de-duplication file %s was damaged: starting it afresh", path)
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
    engine = _make_engine(f"sqlite:///{path}", durable=False)
    with engine.begin() as conn:
        ProcessedMessage.__table__.create(conn)
    return engine


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only (0600) in a folder of its own (0700) if they do
    not exist: it holds admin password hashes, openids, replies and the API access token. SQLite gives its
    -wal and -shm files the permissions of the database file."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))


def _make_engine(url: str, durable: bool = True) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, future=True, hide_parameters=True)
    if parsed.database and parsed.database != ":memory:":
        _private_file(Path(parsed.database))
    # hide_parameters: a failed statement's values (a user's words, a reply) stay out of tracebacks and logs.
    engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        # WAL lets the web workers read while one of them writes; foreign keys are off by default. The
        # de-duplication file: 16 KB pages take more of its ~0.5 KB rows (fewer splits, fewer WAL frames).
        if not durable:
            cur.execute("PRAGMA page_size=16384")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL" if durable else "PRAGMA synchronous=OFF")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.close()

    return engine
