"""`rebot fetch` as a user runs it: a subprocess on an empty database, sources on the local fixture site."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.main import main

REBOT = Path(sys.executable).parent / "rebot"


@pytest.fixture
def rebot(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    env["REBOT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(REBOT), *args], capture_output=True, text=True, cwd=tmp_path,
                              env={**env, **extra_env}, timeout=60)

    return run


def sources(site, *extra):
    return sources_json(site.url("/2025/06/daily-report-2025-06-12.html"), *extra)


def sources_json(report_url, *extra):
    report = {"name": "daily-en", "type": "report", "url": report_url, "schedule": "0 18 * * 1-5"}
    return json.dumps([report, *extra])


def test_fetch_then_chat_shows_the_fetched_price(rebot, site):
    fetched = rebot("fetch", REBOT_SOURCES=sources(site))
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.startswith("daily-en: 13 items, 7 new quotes, 0 updated, 0 quarantined")
    chat = rebot("chat", "price PrNd")
    assert chat.returncode == 0, chat.stderr
    lines = chat.stdout.splitlines()
    assert lines[0] == "PrNd oxide (PrNd-oxide) · 2025-06-12"
    assert "Range: 452,000–454,000 yuan/t" in lines and "Source: daily-en" in lines


def test_fetch_exits_non_zero_naming_the_failing_source(rebot, site):
    down = {"name": "down", "type": "rss", "url": site.url("/status/500"), "schedule": "0 * * * *"}
    result = rebot("fetch", REBOT_SOURCES=sources(site, down), REBOT_INGEST_RETRIES="0")
    assert result.returncode == 1
    assert "daily-en: 13 items, 7 new quotes" in result.stdout
    assert f"down: FAILED: {site.url('/status/500')}: HTTP 500 Internal Server Error" in result.stderr
    assert result.stderr.rstrip().endswith("failed: down")
    status = rebot("sources", REBOT_SOURCES=sources(site, down))
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].startswith("daily-en (report, '0 18 * * 1-5') http://127.0.0.1:")
    assert "0 failures in a row" in lines[1]
    assert lines[2] == "  last success found 13 items, 7 new quotes, 0 new news; 0 quotes wait in quarantine"
    assert lines[3].startswith("down (rss, '0 * * * *')")
    assert lines[4].startswith("  last run 20") and lines[4].endswith("last success never, 1 failures in a row")
    assert lines[6].endswith(f"{site.url('/status/500')}: HTTP 500 Internal Server Error")


def test_fetch_names_an_unknown_source_and_says_when_none_are_configured(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    one = runner.invoke(main, ["fetch", "nope"], env={"REBOT_SOURCES": sources_json("http://127.0.0.1:9/")})
    assert one.exit_code == 2 and "no source named 'nope' (sources: daily-en)" in one.stderr
    none = runner.invoke(main, ["fetch"], env={"REBOT_SOURCES": None})
    assert none.exit_code == 2 and "no sources configured" in none.stderr
