"""The chaos suite's tools: rebot processes against the emulator, a TCP proxy that cuts a store away,
and a PostgreSQL database for the cases that need a server to lose."""
from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bot.config import build_config
from bot.db import Database
from bot.demo import load_demo
from bot.models import Delivery, PushRun
from bot.service import Bot
from conftest import TEST_DATABASE_URL, trading_days_around_today
from emulator import APP_ID, APP_SECRET
from test_push import REBOT, add_subscribers  # noqa: F401 (re-exported for the tests)

PG_URL = TEST_DATABASE_URL or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_names = itertools.count()


def wait_for(condition: Callable[[], object], seconds: float, what: str, every: float = 0.05):
    """The first truthy value of `condition()` within `seconds`; fails naming `what` otherwise."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


class Processes:
    """rebot subprocesses of one test, with the environment of a push to the emulator; all stopped at the end."""

    def __init__(self, tmp_path: Path, env: dict[str, str]):
        self.tmp_path, self.env, self.procs = tmp_path, env, []

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen:
        log = (self.tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen([str(REBOT), *args], cwd=self.tmp_path, env={**self.env, **env}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_name = name
        self.procs.append((proc, log))
        return proc

    def run(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(REBOT), *args], cwd=self.tmp_path, env={**self.env, **env}, capture_output=True,
                              text=True, timeout=timeout)

    def output(self, proc: subprocess.Popen) -> str:
        return (self.tmp_path / f"{proc.log_name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for proc, _log in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
        for proc, log in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def push_env(db_url: str, emulator, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    env["REBOT_CALENDAR_EXTRA_WORKDAYS"] = trading_days_around_today()
    env.update(REBOT_DATABASE_URL=db_url, REBOT_WECHAT_APP_ID=APP_ID, REBOT_WECHAT_APP_SECRET=APP_SECRET,
               REBOT_WECHAT_API_BASE_URL=emulator.url, REBOT_PUSH_WECHAT_TEMPLATE_ID="TPL-DAILY",
               REBOT_PUBLIC_BASE_URL="https://rebot.example", REBOT_HTTP_TIMEOUT_SECONDS="10", REBOT_PUSH_BACKOFF_SECONDS="0.05", **extra)
    return env


@pytest.fixture
def processes(tmp_path):
    made = []

    def make(env: dict[str, str]) -> Processes:
        made.append(Processes(tmp_path, env))
        return made[-1]

    yield make
    for procs in made:
        procs.stop_all()


@pytest.fixture
def observer():
    """observer(db_url): a Bot of the test process, to read the ledger (disposed at the end)."""
    bots = []

    def make(url: str) -> Bot:
        bots.append(Bot(build_config({"database_url": url}, environ={})))
        return bots[-1]

    yield make
    for bot in bots:
        bot.db.dispose()


def ledger_counts(bot) -> dict[str, int]:
    with bot.db.session() as session:
        return dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())


def the_run(bot) -> PushRun | None:
    with bot.db.session() as session:
        return session.scalars(select(PushRun).where(PushRun.kind == "daily")).first()


@pytest.fixture
def pg_url():
    """A PostgreSQL database with the demo data, for the cases that cut the database away (skipped, with the
    reason, when no server answers)."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"rebot_chaos_{os.getpid()}_{next(_names)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server is a reason to skip
        admin.dispose()
        pytest.skip(f"PostgreSQL is not answering at {make_url(PG_URL).render_as_string()}: {type(exc).__name__}")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    db.upgrade()
    with db.session() as session:
        load_demo(session)
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class TcpProxy:
    """127.0.0.1:<port> forwarding to `target`; cut() drops every connection and refuses new ones (the
    store is gone), restore() forwards again."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        """`url` (a database or Redis URL) pointed at this proxy."""
        parsed = make_url(url) if "://" in url and not url.startswith("redis") else None
        if parsed is not None:
            return parsed.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)
        scheme, _, rest = url.partition("://")
        path = rest.partition("/")[2]
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def cut(self) -> None:
        with self.lock:
            self.open = False
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.sockets.clear()

    def restore(self) -> None:
        with self.lock:
            self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if not self.open:
                    client.close()
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=3)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                self.sockets |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def proxy():
    made = []

    def make(host: str, port: int) -> TcpProxy:
        made.append(TcpProxy(host, port))
        return made[-1]

    yield make
    for p in made:
        p.close()


def assert_each_served_once(bot, emulator, users: list[str], max_unknown: int = 0) -> dict[str, int]:
    """Every user's row is `sent` and they got the message once, or `unknown` (the sender died during the
    call) and they got it at most once; nobody got it twice, nothing else is left. The ledger's counts."""
    with bot.db.session() as session:
        status = dict(session.execute(select(Delivery.recipient, Delivery.status)).all())
    received = Counter(d["to"] for d in emulator.delivered)
    assert set(status) == set(users)
    assert {u: received[u] for u in users if status[u] == "sent"} == {u: 1 for u in users if status[u] == "sent"}
    assert all(received[u] <= 1 for u in users), received.most_common(3)
    counts = Counter(status.values())
    assert set(counts) <= {"sent", "unknown"} and counts["unknown"] <= max_unknown, counts
    return dict(counts)
