"""Shared fixtures: a real SQLite file per test (copied from one migrated, demo-loaded template)."""
from __future__ import annotations

import itertools
import os
import shutil
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.app import create_app
from bot.config import build_config
from bot.db import Database
from bot.demo import load_demo
from emulator import Emulator

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The demo history ends on Wednesday 2025-06-11; at 18:00 that day its quotes are the latest.
DEMO_NOW = datetime(2025, 6, 11, 18, 0, tzinfo=SHANGHAI)
TOKEN = "rebot-test-token"
APP_ID = "wx0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
# e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test: run the storage tests on PostgreSQL.
TEST_DATABASE_URL = os.environ.get("REBOT_TEST_DATABASE_URL", "")
_counter = itertools.count()
# Database names unique to this test process: several checkouts may test on one server at once.
RUN = f"{os.getpid()}"


def _fill(url: str) -> None:
    db = Database(url)
    db.upgrade()
    with db.session() as session:
        load_demo(session)
    db.dispose()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory):
    """A database migrated to head and loaded with the demo data, made once per test process.

    SQLite by default (a file); the PostgreSQL server named by REBOT_TEST_DATABASE_URL when set
    (a template database that each test copies with CREATE DATABASE … TEMPLATE).
    """
    if not TEST_DATABASE_URL:
        path = tmp_path_factory.mktemp("template") / "rebot.db"
        _fill(f"sqlite:///{path}")
        yield path
        return
    name = f"rebot_tpl_{RUN}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    _fill(_pg_url(name))
    yield name
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture
def db_url(tmp_path, template_db):
    """The URL of this test's own copy of the demo database."""
    if not TEST_DATABASE_URL:
        path = tmp_path / "rebot.db"
        shutil.copy(template_db, path)
        yield f"sqlite:///{path}"
        return
    name = f"rebot_t_{RUN}_{next(_counter)}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield _pg_url(name)
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db_url(tmp_path):
    """The URL of an empty database (no tables): a new SQLite file, or a new PostgreSQL database."""
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"rebot_e_{RUN}_{next(_counter)}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    yield _pg_url(name)
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_url(database: str) -> str:
    return make_url(TEST_DATABASE_URL).set(database=database).render_as_string(hide_password=False)


def _pg_admin(*statements: str) -> None:
    """Run statements outside a transaction on the server's maintenance connection."""
    engine = create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


@pytest.fixture
def make_app(db_url):
    """Build an app on this test's database: make_app(clock=..., **{"wechat.token": ...})."""

    apps = []

    def factory(clock=lambda: DEMO_NOW, **settings):
        data = {"database_url": db_url, "wechat.token": TOKEN, **settings}
        apps.append(create_app(build_config(data, environ={}), clock=clock))
        return apps[-1]

    yield factory
    for app in apps:  # close pooled connections before the database goes away
        app.extensions["rebot"].db.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def bot(app):
    return app.extensions["rebot"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def emulator():
    """The WeChat/WeCom API emulator on a free port of 127.0.0.1 (see tests/emulator.py)."""
    emu = Emulator().start()
    yield emu
    emu.stop()


# Redis for the tests that share state through it; each test gets its own key prefix, removed afterwards.
TEST_REDIS_URL = os.environ.get("REBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_settings():
    """{"redis_url", "redis_prefix"} for this test; skipped (with the reason) when Redis does not answer."""
    import uuid

    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(f"Redis is not answering at {TEST_REDIS_URL}: {type(exc).__name__}")
    prefix = f"rebot-test:{uuid.uuid4().hex[:12]}:"
    yield {"redis_url": TEST_REDIS_URL, "redis_prefix": prefix}
    keys = list(client.scan_iter(prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def site():
    """A local web site over real HTTP serving tests/data/sites (listing, reports, feeds, faults)."""
    from fixture_site import FixtureSite

    server = FixtureSite()
    yield server
    server.close()


def trading_days_around_today() -> str:
    """Yesterday, today and tomorrow in Shanghai as `calendar.extra_workdays` (REBOT_CALENDAR_EXTRA_WORKDAYS):
    a test whose processes push "today" by the clock then pushes on a weekend or holiday too."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return ",".join(str(today + timedelta(days=d)) for d in (-1, 0, 1))
