"""`rebot push daily` and `rebot scheduler` as a user runs them (subprocesses)."""
from __future__ import annotations

import os
import subprocess

from emulator import APP_ID, APP_SECRET
from test_cli import REBOT, rebot  # noqa: F401 - the fixture


def test_dry_run_without_channels_says_so(rebot):  # noqa: F811
    result = rebot("push", "daily", "--dry-run", "--date", "2025-06-11")
    assert result.returncode == 0, result.stderr
    assert "Daily summary for 2025-06-11 — dry run, nothing is sent." in result.stdout
    assert "No channel is configured" in result.stdout and "0 message(s) would be sent." in result.stdout


def test_a_bad_date_is_named(rebot):  # noqa: F811
    result = rebot("push", "daily", "--date", "11/06/2025")
    assert result.returncode == 2 and "--date" in result.stderr and "2025-06-11" in result.stderr


def test_template_mode_without_template_id_is_a_config_error(rebot):  # noqa: F811
    result = rebot("push", "daily", "--dry-run", REBOT_WECHAT_APP_ID=APP_ID, REBOT_WECHAT_APP_SECRET=APP_SECRET)
    assert result.returncode == 2 and "push.wechat.template_id: required" in result.stderr


def test_push_sends_and_prints_the_report(rebot, emulator):  # noqa: F811
    env = {"REBOT_WECHAT_APP_ID": APP_ID, "REBOT_WECHAT_APP_SECRET": APP_SECRET,
           "REBOT_WECHAT_API_BASE_URL": emulator.url, "REBOT_PUSH_WECHAT_TEMPLATE_ID": "TPL"}
    rebot("chat", "--user", "o-cli", "subscribe")  # console user: not a WeChat follower
    result = rebot("push", "daily", "--date", "2025-06-11", **env)
    assert result.returncode == 0, result.stderr
    assert "Daily summary 2025-06-11: done" in result.stdout and "sent 0" in result.stdout


def test_scheduler_starts_and_lists_its_jobs(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    env["REBOT_DATABASE_URL"] = f"sqlite:///{tmp_path / 's.db'}"
    proc = subprocess.Popen([str(REBOT), "scheduler"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    lines = []
    try:
        while not lines or not lines[-1].startswith(("scheduler running", "Traceback")) and lines[-1]:
            lines.append(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
    jobs = {line.split(":")[0]: line for line in lines if line.startswith("job ")}
    assert "day_of_week='*', hour='17', minute='30'" in jobs["job push.daily"]
    assert "scheduler running in Asia/Shanghai" in lines[-1]
