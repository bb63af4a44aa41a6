"""Chaos, fetching: a source that trickles one byte at a time is cut off at ingest.timeout, and `rebot fetch`
runs the other sources meanwhile instead of after it."""
from __future__ import annotations

import os
import subprocess
import time

import pytest
import yaml

from bot.db import Database
from bot.models import SourceStatus
from chaos_tools import REBOT

pytestmark = pytest.mark.slow


def test_8_a_trickling_source_is_cut_at_its_deadline_and_holds_up_no_other(tmp_path, db_url, site):
    site.delay = 0.5  # one byte every half second: the page would take half an hour
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "database_url": db_url, "ingest": {"timeout": 2, "retries": 0},
        "sources": [{"name": "trickle", "type": "report", "schedule": "0 18 * * 1-5",
                     "url": site.url("/trickle/daily-report-2025-06-12.html")},
                    {"name": "good", "type": "report", "schedule": "0 18 * * 1-5",
                     "url": site.url("/daily-report-2025-06-12.html")}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    started = time.monotonic()
    result = subprocess.run([str(REBOT), "--config", str(config), "fetch"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert "trickle: FAILED:" in result.stderr and "the response did not arrive within 2 s" in result.stderr
    assert "failed: trickle" in result.stderr
    assert "good: 13 items, 7 new quotes" in result.stdout
    assert took < 30, f"rebot fetch took {took:.1f} s"  # the deadline plus the process's start, not half an hour
    db = Database(db_url)
    try:
        with db.session() as session:
            good, trickle = session.get(SourceStatus, "good"), session.get(SourceStatus, "trickle")
            assert good.last_success < trickle.last_run  # fetched side by side, not after the stuck one
    finally:
        db.dispose()
