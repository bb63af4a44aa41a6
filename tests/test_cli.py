"""The `rebot` console script, run as a user runs it: a subprocess with its own database and directory."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REBOT = Path(sys.executable).parent / "rebot"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
def rebot(tmp_path):
    """Run `rebot ARGS…` in tmp_path on an empty SQLite database there; returns the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    env["REBOT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str, stdin: str | None = None, **extra_env: str) -> subprocess.CompletedProcess:
        assert REBOT.exists(), f"{REBOT} is not installed (pip install -e .)"
        return subprocess.run([str(REBOT), *args], input=stdin, capture_output=True, text=True, cwd=tmp_path,
                              env={**env, **extra_env}, timeout=60)

    return run


def test_help_lists_every_command(rebot):
    result = rebot("--help")
    assert result.returncode == 0
    listed = re.findall(r"^  (\S+)", result.stdout.split("Commands:")[1], re.M)
    assert listed == ["admin", "chat", "check-config", "db", "demo", "extract", "fetch", "menu", "push", "qrcode",
                      "scheduler", "serve", "sources", "subscribers", "worker"]


def test_chat_on_an_empty_database_prepares_it_and_answers(rebot, tmp_path):
    assert not (tmp_path / "cli.db").exists()
    result = rebot("chat", "price PrNd")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "PrNd oxide (PrNd-oxide) · 2025-06-11"
    assert "Price: 449,000 yuan/t" in lines
    assert (tmp_path / "cli.db").exists()


def test_interactive_chat_answers_every_line_until_eof(rebot):
    result = rebot("chat", "--user", "trader", stdin="价格 镨钕\n\nnews 2\nsubscribe Dy\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "氧化镨钕（PrNd-oxide）· 2025-06-11" in out and "价格：44.9 万元/吨" in out
    assert out.count("https://news.example-rareearth.com/") == 2
    assert "Added: Dy oxide" in out
    assert "> " not in out  # no prompt when stdin is not a terminal


def test_check_config_names_every_bad_key(rebot, tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "timezone: Mars/Olympus\nlanguage: fr\nwechat:\n  tokn: x\n"
        f"  encoding_aes_key: {AES_KEY}\n  token: t\n",
        encoding="utf-8",
    )
    result = rebot("--config", "bad.yaml", "check-config")
    assert result.returncode == 1
    for key in ("timezone", "language", "wechat.tokn", "wechat.app_id"):
        assert f"  - {key}: " in result.stderr, key
    assert "did you mean wechat.token?" in result.stderr


def test_check_config_accepts_a_good_file_from_rebot_config(rebot, tmp_path):
    (tmp_path / "good.yaml").write_text(
        f"language: en\nwechat:\n  token: tok-secret\n  app_id: wx1\n  encoding_aes_key: {AES_KEY}\n",
        encoding="utf-8",
    )
    result = rebot("check-config", "--show", REBOT_CONFIG="good.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration OK (good.yaml)")
    assert "language: 'en'" in result.stdout
    assert "tok-secret" not in result.stdout and AES_KEY not in result.stdout


def test_db_upgrade_then_demo_load_twice(rebot):
    upgrade = rebot("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert "database is at head" in upgrade.stdout

    first = rebot("demo", "load")
    assert first.returncode == 0, first.stderr
    added = [int(n) for n in re.findall(r"\d+", first.stdout)]
    assert len(added) == 3 and all(n > 0 for n in added)
    assert added[0] == 26 and added[2] == 5

    second = rebot("demo", "load")
    assert second.returncode == 0, second.stderr
    assert [int(n) for n in re.findall(r"\d+", second.stdout)] == [0, 0, 0]


def test_a_bad_config_stops_chat_with_the_key_named(rebot, tmp_path):
    (tmp_path / "config.yaml").write_text("server:\n  prot: 80\n", encoding="utf-8")  # found in the cwd
    result = rebot("chat", "price PrNd")
    assert result.returncode == 2
    assert "server.prot: unknown key (did you mean server.port?)" in result.stderr
    assert "449,000" not in result.stdout
