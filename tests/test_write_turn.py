"""The callback writers of one SQLite file take turns across processes (bot.db `Database.turn`), and a
thread of each copies their writes from the WAL into the file (`_Checkpoints`)."""
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

from bot.db import Database, _Checkpoints
from bot.dedup import Seal, SqlStore

# Each process adds 1 to a counter kept in a plain file, 300 times, read and written inside the turn with a
# pause between: two processes inside at once would lose increments.
COUNT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from bot.db import Database
    db, counter = Database(sys.argv[1]), Path(sys.argv[2])
    for _ in range(300):
        with db.turn():
            value = int(counter.read_text())
            time.sleep(0.0001)
            counter.write_text(str(value + 1))
""")
HOLD = textwrap.dedent("""
    import sys, time
    from bot.db import Database
    db = Database(sys.argv[1])
    with db.turn():
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def test_two_processes_never_write_at_once(tmp_path):
    url, counter = f"sqlite:///{tmp_path / 'rebot.db'}", tmp_path / "counter"
    counter.write_text("0")
    writers = [subprocess.Popen([sys.executable, "-c", COUNT, url, str(counter)]) for _ in range(2)]
    assert [w.wait(60) for w in writers] == [0, 0]
    assert counter.read_text() == "600"


def test_a_writer_waits_for_a_long_turn_to_end_then_takes_it(tmp_path):
    # Held for far longer than a waiter spins (SPIN_SECONDS): the waiter sleeps until the holder lets go.
    url = f"sqlite:///{tmp_path / 'rebot.db'}"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, url, "0.5"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    db = Database(url)
    started = time.monotonic()
    with db.turn():
        waited = time.monotonic() - started
    assert holder.wait(10) == 0
    holder.stdout.close()
    db.dispose()
    assert waited >= 0.3


def test_the_callbacks_writes_reach_the_database_file_without_a_commit_doing_it(tmp_path):
    # 400 messages write ~1,600 WAL pages. Before, the commit that passed 1,000 pages copied the WAL into the file
    # (holding the turn), and what came after stayed in the WAL until another commit filled it again.
    path = tmp_path / "rebot.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    store, now = SqlStore(db), str(int(time.time()))
    for n in range(400):
        assert store.record(f"wechat:{n}:o_trader", Seal.of(now, str(n), "signature", b"<xml>%d</xml>" % n),
                            "<xml>PrNd 449,000</xml>" * 20) == (True, "<xml>PrNd 449,000</xml>" * 20)

    def in_the_file() -> int:  # immutable: the database file alone, not the WAL
        with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM processed_messages").fetchone()[0]

    deadline = time.monotonic() + 5
    while in_the_file() < 400 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert in_the_file() == 400
    db.dispose()
    assert "sqlite-checkpoints" not in [thread.name for thread in threading.enumerate()]


def test_under_steady_writes_the_wal_starts_afresh_without_a_commit_copying_it(tmp_path, monkeypatch):
    # A commit copies the WAL into the file only past the backstop (holding the turn while it syncs); the thread
    # must get the WAL copied and started afresh while commits keep coming, long before that.
    monkeypatch.setattr(_Checkpoints, "INTERVAL", 0.05)
    path = tmp_path / "rebot.db"
    db = Database(f"sqlite:///{path}")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE answers (id INTEGER PRIMARY KEY, body BLOB)")
    pages, page = 0, 4096 + 24  # a WAL frame: a page and its header
    deadline = time.monotonic() + 30
    while pages < 2 * _Checkpoints.AUTOCHECKPOINT_PAGES and time.monotonic() < deadline:
        with db.raw() as conn, db.turn():
            conn.cursor().execute("INSERT INTO answers (body) VALUES (randomblob(3000))")  # a page each
            conn.commit()
        pages += 1
        time.sleep(0.0001)  # a callback's network time, when the process's other threads run
    wal_bytes = (path.parent / "rebot.db-wal").stat().st_size  # its size when longest: SQLite reuses it
    db.dispose()
    assert pages == 2 * _Checkpoints.AUTOCHECKPOINT_PAGES  # the WAL would have filled twice over
    assert wal_bytes < _Checkpoints.AUTOCHECKPOINT_PAGES * page / 2, f"{wal_bytes // page} pages"
