"""Database engine, sessions and schema migrations."""
from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import DateTime, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision id; a test keeps it equal to Alembic's head.
SCHEMA_REVISION = "0017"
# Seconds a statement (or a wait for a lock) may take on the connections taken inside `Database.short()`: the
# callbacks' (bot.channels.inbound), so that a locked row cannot hold a reply past WeChat's 5 s. None: the
# connection's own default (no limit on PostgreSQL, 15 s of busy waiting on SQLite).
_statement_limit: ContextVar["_Limit | None"] = ContextVar("statement_limit", default=None)
SQLITE_BUSY_MS = 15000
# PostgreSQL's SQLSTATEs of a statement cancelled by statement_timeout and of a lock not granted in lock_timeout.
_PG_TIMEOUTS = {"57014", "55P03"}


class _Limit:
    """The statement limit of a `Database.short()` block, and whether a statement ran into it."""

    def __init__(self, seconds: float | None):
        self.seconds, self.hit = seconds, False


class Database:
    """An engine and its session factory, one per app or process."""

    def __init__(self, url: str):
        self.url = url
        # bot.redis_store.Shared when `redis_url` is set (set by Bot): tokens, de-duplication and rate
        # counters then live in Redis, shared by every process; None: the database does those jobs.
        self.redis = None
        # Work that may outlive a request (late answers, answer threads) stops here before the pool closes:
        # run after dispose() it would open a connection in a fresh pool that nobody closes.
        self._stoppers: list = []
        self.engine = _make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        dialect = self.engine.dialect
        self.IntegrityError = dialect.dbapi.IntegrityError
        self._qmark = dialect.paramstyle == "qmark"
        self._datetime = DateTime().dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)
        database = make_url(url).database if dialect.name == "sqlite" else None
        on_file = bool(database) and database != ":memory:"
        self._checkpoints = _Checkpoints(self) if on_file else None
        self._turn = _WriteTurn(f"{database}-turn", self._checkpoints) if on_file else None

    def turn(self):
        """Around a write transaction on the callback path: on a SQLite file, taken in turn with the other
        processes' (`_WriteTurn`; a process's first turn starts its `_Checkpoints`); elsewhere nothing."""
        return self._turn.taken() if self._turn is not None else nullcontext()

    @contextmanager
    def short(self, seconds: float | None) -> Iterator[_Limit]:
        """Connections taken from the pool inside this block (in this thread) give up on a statement or a lock
        after `seconds` (PostgreSQL statement_timeout and lock_timeout, SQLite busy_timeout; None: no limit
        even inside an outer block); `.hit` tells whether one did."""
        limit = _Limit(seconds)
        token = _statement_limit.set(limit)
        try:
            yield limit
        finally:
            _statement_limit.reset(token)

    @staticmethod
    def timed_out(exc: BaseException) -> bool:
        """Whether `exc` (SQLAlchemy's or the driver's) is a statement or lock wait that ran out of time."""
        orig = getattr(exc, "orig", None) or exc
        if getattr(orig, "sqlstate", None) in _PG_TIMEOUTS:
            return True
        return type(orig).__name__ == "OperationalError" and "locked" in str(orig)  # SQLite: database is locked

    @contextmanager
    def raw(self) -> Iterator[Any]:
        """A pooled DB-API connection, for a few plain statements where the ORM costs too much (the push
        ledger's marks, bot/push/run.py: measured there).

        Write SQL with `?` placeholders and pass it through `sql()`; the pool rolls back what is not committed."""
        conn = self.engine.raw_connection()
        try:
            yield conn
        finally:
            conn.close()

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

    def on_dispose(self, stop) -> None:
        """Call `stop()` first when this database is disposed."""
        self._stoppers.append(stop)

    def dispose(self) -> None:
        while self._stoppers:
            self._stoppers.pop()()
        if self._checkpoints is not None:
            self._checkpoints.stop()
        self.engine.dispose()
        if self._turn is not None:
            self._turn.close()
        if self.redis is not None:
            self.redis.close()


class _WriteTurn:
    """The processes writing one SQLite file take turns under a kernel file lock (`<database>-turn`): SQLite's
    own busy handler sleeps 1, 2, 5… ms when another process holds the write lock, many times the write itself
    (~60 µs), while a waiter for the file lock wakes when it is released. Measured on the webhook
    (bench/webhook.py, interleaved runs, 2026-12-05): 2637 → 2889 req/s and 2760 → 2910 req/s; waiting with
    LOCK_NB and 20–100 µs sleeps instead (to bound the wait) served no more than without a turn (2625–2695).
    A waiter yields the CPU and asks again for up to `SPIN_SECONDS` before it sleeps in the kernel: a turn is held
    ~120 µs, and a sleeping waiter wakes tens of µs after its release (2776 → 2915 req/s plain, 2507 → 2659
    safe, 2026-12-05 13:30 UTC). A writer waits for those before it, each of whom waits for SQLite's lock no
    longer than its statement limit."""

    SPIN_SECONDS = 0.002

    def __init__(self, path: str, checkpoints: "_Checkpoints | None" = None):
        self.path, self.checkpoints = path, checkpoints
        self._thread_lock = threading.Lock()  # flock is per open file: the threads of a process queue here
        self._file: tuple[int, int] | None = None  # (pid, fd): a forked worker opens its own

    @contextmanager
    def taken(self) -> Iterator[None]:
        with self._thread_lock:
            if self._file is None or self._file[0] != os.getpid():
                self._file = (os.getpid(), os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
                if self.checkpoints is not None:  # this process's first turn (a forked worker's too)
                    self.checkpoints.start(self)
            self._lock(self._file[1])
            try:
                yield
            finally:
                fcntl.flock(self._file[1], fcntl.LOCK_UN)

    def _lock(self, fd: int) -> None:
        deadline = None
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.SPIN_SECONDS
                elif now >= deadline:  # a long hold (a writer ahead waiting for SQLite's lock): sleep until it ends
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    return
                os.sched_yield()

    def close(self) -> None:
        with self._thread_lock:
            if self._file is not None and self._file[0] == os.getpid():
                os.close(self._file[1])
            self._file = None


class _Checkpoints:
    """A thread of each process that writes on the callback path copies the WAL back into the SQLite file every
    `INTERVAL` seconds, so that no callback's commit does. A checkpoint syncs the WAL and the file (~1 ms each
    here); run by the commit that filled the WAL (every 1,000 pages, SQLite's default), it held the write turn
    while it did, and the other workers waited. Commits now checkpoint only past `AUTOCHECKPOINT_PAGES`, a
    backstop that a process without this thread (the scheduler, the CLI) relies on.

    The WAL starts again from its beginning only once all of it is copied, which cannot happen while commits come
    in. So the thread copies in two steps: the bulk while the callbacks write on, then, in the write turn, what
    they wrote meanwhile (a few hundred pages). Copying in one step, the WAL grew to the backstop under steady
    traffic and a commit copied what was left, holding the turn ~10 ms.

    Webhook, two workers, interleaved runs of 10–12 × 5 s (2026-12-06): 3209 → 3384 req/s plain (one step: 3370);
    two steps against one: 3304 → 3363 req/s and p99 11.8 → 8.8 ms (WeRoBot 7.2). Without any sync at all
    (`synchronous=OFF`, not shippable: a power cut could corrupt the file) 3258 beside 3060."""

    INTERVAL = 0.5
    AUTOCHECKPOINT_PAGES = 10_000

    def __init__(self, db: "Database"):
        self.db = db
        self._running: tuple[threading.Event, threading.Thread] | None = None  # (stop, thread)

    def start(self, turn: _WriteTurn) -> None:
        """Start this process's thread: called by its first write `turn`, which the thread takes too."""
        stop = threading.Event()
        thread = threading.Thread(target=self._run, args=(turn, stop), name="sqlite-checkpoints", daemon=True)
        self._running = (stop, thread)
        thread.start()

    def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None and running[1].is_alive():  # a forked child holds its parent's, not running here
            running[0].set()
            running[1].join(10)

    def _run(self, turn: _WriteTurn, stop: threading.Event) -> None:
        failing = False
        while not stop.wait(self.INTERVAL):
            try:
                with self.db.raw() as conn:
                    # PASSIVE: copies what no reader still needs, never waits for a writer or a reader.
                    cursor = conn.cursor()
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    with turn.taken():
                        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("SQLite checkpoint failed (%s: %s); commits checkpoint past %d WAL pages meanwhile",
                                type(exc).__name__, exc, self.AUTOCHECKPOINT_PAGES)
                failing = True


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only (0600) in a folder of its own (0700) if they do
    not exist: it holds admin password hashes, openids, replies and the API access token. SQLite gives its
    -wal and -shm files the permissions of the database file."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))


def _make_engine(url: str) -> Engine:
    """Every statement goes through this engine's pool. A server database's connections are tested when taken
    from the pool (pre-ping: a restarted PostgreSQL costs no one an apology); a SQLite file has none to lose."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
        _limit_statements(engine, _postgresql_limit)
        return engine
    if parsed.database and parsed.database != ":memory:":
        _private_file(Path(parsed.database))
    # hide_parameters: a failed statement's values (a user's words, a reply) stay out of tracebacks and logs.
    # pool_use_lifo: the connection used last is taken again. Taken in turn (the pool's default), each message's
    # connection had missed the other's commit, so SQLite dropped its page cache and read the pages again even in
    # one process (10 reads a message, 0.4 with LIFO). Webhook, two workers, interleaved runs, 2026-12-06:
    # 2640 → 2838, 2431 → 2577 and 2603 → 2711 req/s plain, 572 → 544 µs of CPU a request; safe mode unchanged.
    engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False}, hide_parameters=True,
                           pool_use_lifo=True)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        # WAL lets the web workers read while one of them writes; foreign keys are off by default.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA wal_autocheckpoint={_Checkpoints.AUTOCHECKPOINT_PAGES}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.close()

    _limit_statements(engine, _sqlite_limit)
    return engine


def _limit_statements(engine: Engine, apply) -> None:
    """On checkout, give the connection the statement limit of the block it is taken in (see Database.short);
    a connection remembers its limit, so only a change costs a statement."""

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy):
        limit = _statement_limit.get()
        wanted = None if limit is None or limit.seconds is None else int(limit.seconds * 1000)
        if record.info.get("limit_ms", None) != wanted:
            apply(dbapi_conn, wanted)
            record.info["limit_ms"] = wanted

    @event.listens_for(engine, "handle_error")
    def _note_timeout(context):
        limit = _statement_limit.get()
        if limit is not None and Database.timed_out(context.original_exception):
            limit.hit = True


def _postgresql_limit(dbapi_conn, ms: int | None) -> None:
    cur = dbapi_conn.cursor()
    value = ms or 0  # 0: no limit
    cur.execute(f"SET statement_timeout = {value}; SET lock_timeout = {value}")
    cur.close()
    dbapi_conn.commit()  # a SET inside a transaction rolled back later would be undone


def _sqlite_limit(dbapi_conn, ms: int | None) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={ms or SQLITE_BUSY_MS}")
    cur.close()
