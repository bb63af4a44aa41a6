"""Shared fixtures: a real SQLite file per test (copied from one migrated, demo-loaded template)."""
from __future__ import annotations

import shutil
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.app import create_app
from bot.config import build_config
from bot.db import Database
from bot.demo import load_demo

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The demo history ends on Wednesday 2025-06-11; at 18:00 that day its quotes are the latest.
DEMO_NOW = datetime(2025, 6, 11, 18, 0, tzinfo=SHANGHAI)
TOKEN = "rebot-test-token"
APP_ID = "wx0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture(scope="session")
def template_db(tmp_path_factory):
    """A database file migrated to head and loaded with the demo data, made once per test run."""
    path = tmp_path_factory.mktemp("template") / "rebot.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    with db.session() as session:
        load_demo(session)
    db.dispose()
    return path


@pytest.fixture
def db_url(tmp_path, template_db):
    """The URL of this test's own copy of the demo database."""
    path = tmp_path / "rebot.db"
    shutil.copy(template_db, path)
    return f"sqlite:///{path}"


@pytest.fixture
def make_app(db_url):
    """Build an app on this test's database: make_app(clock=..., **{"wechat.token": ...})."""

    def factory(clock=lambda: DEMO_NOW, **settings):
        data = {"database_url": db_url, "wechat.token": TOKEN, **settings}
        return create_app(build_config(data, environ={}), clock=clock)

    return factory


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def bot(app):
    return app.extensions["rebot"]


@pytest.fixture
def client(app):
    return app.test_client()
