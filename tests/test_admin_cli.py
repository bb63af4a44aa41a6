"""`rebot admin …` and `rebot subscribers …` on their own empty database.

The real command line in-process (click's runner: the same code, without a process start per call);
one test runs the installed console script as a user does."""
from __future__ import annotations

import os
import subprocess
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli.main import main
from bot.db import Database
from bot.models import AdminUser, AuditLog
from test_cli import rebot as script  # noqa: F401  (the fixture that runs the console script)


@pytest.fixture
def rebot(tmp_path, monkeypatch):
    """Run `rebot ARGS…` in tmp_path on an empty SQLite database there."""
    for name in [n for n in os.environ if n.startswith("REBOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None):
        result = runner.invoke(main, list(args), input=stdin,
                               env={"REBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"})
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)

    return run


def test_the_console_script_adds_a_user_and_a_subscriber(script):
    added = script("admin", "add-user", "alice", "--password-stdin", stdin="correct horse battery\n")
    assert added.returncode == 0 and added.stdout.strip() == "admin user alice added"
    sub = script("subscribers", "add", "oAlice", "--product", "Nope")
    assert sub.returncode == 1 and sub.stderr.strip() == "error: unknown product code Nope (codes look like PrNd-oxide)"
    assert isinstance(sub, subprocess.CompletedProcess)


def test_admin_users_add_set_password_remove(rebot, tmp_path):
    added = rebot("admin", "add-user", "alice", "--password-stdin", stdin="correct horse battery\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "admin user alice added"
    assert "correct horse" not in added.stdout + added.stderr
    db = Database(f"sqlite:///{tmp_path / 'cli.db'}")
    with db.session() as session:
        stored = session.scalars(select(AdminUser)).one().password_hash
    assert stored.startswith("scrypt:") and "correct horse" not in stored

    again = rebot("admin", "add-user", "alice", "--password-stdin", stdin="another password\n")
    assert again.returncode == 1 and "exists already" in again.stderr
    short = rebot("admin", "set-password", "alice", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    empty = rebot("admin", "set-password", "alice", "--password-stdin", stdin="")
    assert empty.returncode == 1 and "no password given" in empty.stderr
    changed = rebot("admin", "set-password", "alice", "--password-stdin", stdin="a new long password\n")
    assert changed.returncode == 0 and changed.stdout.strip() == "password of alice changed"
    with db.session() as session:
        assert session.scalars(select(AdminUser)).one().password_hash != stored
    unknown = rebot("admin", "set-password", "bob", "--password-stdin", stdin="a new long password\n")
    assert unknown.returncode == 1 and "no admin user 'bob'" in unknown.stderr
    assert rebot("admin", "remove-user", "alice").stdout.strip() == "admin user alice removed"
    gone = rebot("admin", "remove-user", "alice")
    assert gone.returncode == 1 and "no admin user 'alice'" in gone.stderr
    db.dispose()


def rows(listed) -> str:
    """`subscribers list` output without its header line."""
    header, _, rest = listed.stdout.partition("\n")
    assert header == "id\tchannel\tuser_id\tstatus\tdaily\tproducts\tname"
    return rest


def test_subscribers_add_list_pause_resume_remove(rebot, tmp_path):
    added = rebot("subscribers", "add", "oAlice", "--name", "Alice", "--product", "PrNd-oxide",
                  "--product", "Dy-oxide")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "subscriber 1 added (wechat:oAlice)"
    rebot("subscribers", "add", "oBob", "--channel", "wecom", "--no-daily")
    listed = rebot("subscribers", "list")
    assert listed.stdout.splitlines() == ["id\tchannel\tuser_id\tstatus\tdaily\tproducts\tname",
                                          "2\twecom\toBob\tactive\t-\t-\t",
                                          "1\twechat\toAlice\tactive\tdaily\tPrNd-oxide,Dy-oxide\tAlice"]
    assert listed.stderr.strip() == "2 subscriber(s)"
    assert rebot("subscribers", "pause", "oAlice").stdout.strip() == "subscriber 1 (wechat:oAlice) paused"
    assert rebot("subscribers", "pause", "1").stdout.strip() == "subscriber 1 (wechat:oAlice) paused already"
    assert rows(rebot("subscribers", "list", "--status", "paused")).startswith("1\twechat\toAlice\tpaused")
    assert rows(rebot("subscribers", "list", "--product", "Dy-oxide", "--channel", "wechat")).startswith("1\t")
    assert rows(rebot("subscribers", "list", "--channel", "wecom")).startswith("2\t")
    assert rebot("subscribers", "resume", "wechat:oAlice").stdout.strip() == "subscriber 1 (wechat:oAlice) resumed"
    # one unknown id: nothing happens to the others
    partly = rebot("subscribers", "remove", "1", "nobody")
    assert partly.returncode == 1 and "no subscriber 'nobody'" in partly.stderr
    assert rebot("subscribers", "list").stderr.strip() == "2 subscriber(s)"
    assert rebot("subscribers", "remove", "1", "2").returncode == 0
    assert rebot("subscribers", "list").stderr.strip() == "0 subscriber(s)"
    db = Database(f"sqlite:///{tmp_path / 'cli.db'}")
    with db.session() as session:
        actions = [(a.actor, a.action) for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    db.dispose()
    assert actions == [("cli", "subscriber.add"), ("cli", "subscriber.add"), ("cli", "subscriber.pause"),
                       ("cli", "subscriber.resume"), ("cli", "subscriber.remove"), ("cli", "subscriber.remove")]


def test_subscribers_clear_errors(rebot):
    for args, message in [
        (("add", "oX", "--product", "PrNd"), "unknown product code PrNd"),
        (("add", "oX", "--channel", "fax"), "unknown channel 'fax'"),
        (("add", "oX", "--language", "fr"), "language must be zh or en"),
        (("pause", "42"), "no subscriber '42'"),
        (("list", "--status", "gone"), "unknown status 'gone'"),
        (("list", "--channel", "fax"), "unknown channel 'fax'"),
        (("list", "--product", "Nope"), "unknown product code 'Nope'"),
        (("import", "missing.csv"), "missing.csv: no such file"),
    ]:
        result = rebot("subscribers", *args)
        assert result.returncode == 1, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_subscribers_export_and_import(rebot, tmp_path):
    rebot("subscribers", "add", "oAlice", "--product", "Tb-oxide")
    assert rebot("subscribers", "export", "-o", "out.csv").returncode == 0
    text = (tmp_path / "out.csv").read_text(encoding="utf-8")
    assert text == ("\ufeffchannel,external_id,display_name,products,daily_summary,status,language\n"
                    "wechat,oAlice,,Tb-oxide,yes,active,zh\n")  # the BOM: Excel reads the Chinese right
    assert rebot("subscribers", "export").stdout == text
    (tmp_path / "more.csv").write_text(text.replace("yes,active", "no,paused") + "wecom,oBob,Bob,,yes,active,en\n",
                                       encoding="utf-8")
    imported = rebot("subscribers", "import", "more.csv")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "imported more.csv: 1 added, 1 updated"
    assert rows(rebot("subscribers", "list", "--status", "paused")).startswith("1\twechat\toAlice\tpaused\t-")

    (tmp_path / "bad.csv").write_text("channel,external_id,products\nwechat,oCarl,PrNd-oxide\nfax,oDan,Xx\n"
                                      "wechat,,\n", encoding="utf-8")
    bad = rebot("subscribers", "import", "bad.csv")
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == ["error: bad.csv: nothing imported; fix these lines:",
                                       "line 3: unknown channel 'fax' (one of wechat, wecom, wecom_robot, console)",
                                       "line 3: unknown product code Xx",
                                       "line 4: empty external_id"]
    assert rebot("subscribers", "list").stderr.strip() == "2 subscriber(s)"  # oCarl was not added either
    (tmp_path / "latin1.csv").write_bytes("channel,external_id,display_name\nwechat,o1,Jos\xe9\n".encode("latin-1"))
    assert "not UTF-8" in rebot("subscribers", "import", "latin1.csv").stderr
