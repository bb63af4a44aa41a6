"""Finding 7: private data at rest and in logs — database files readable by anyone, openids and signatures
in the access log, secrets in config errors and fetch logs."""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.security.hostile_server import HostileServer
from tests.security.live import say

REBOT = Path(sys.executable).parent / "rebot"
OPENID = "oSecretOpenid-4711"


def rebot_env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    return {**env, "REBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'rebot.db'}", **extra}


def run(tmp_path, *args, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([str(REBOT), *args], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env=rebot_env(tmp_path, **extra), preexec_fn=lambda: os.umask(0o022))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_its_folder_are_created_private_even_under_a_lax_umask(tmp_path):
    result = run(tmp_path, "chat", "price PrNd")  # creates, migrates, loads the demo data, answers
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "instance"
    assert mode(folder) == 0o700
    files = [p for p in folder.iterdir() if p.name.startswith("rebot.db")]
    assert "rebot.db" in {p.name for p in files}
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_logs_requests_without_their_query_string(tmp_path):
    port = _free_port()
    assert run(tmp_path, "db", "upgrade").returncode == 0
    env = rebot_env(tmp_path, REBOT_WECHAT_TOKEN="rebot-test-token")
    server = subprocess.Popen([str(REBOT), "serve", "--port", str(port), "--no-scheduler"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        say(base, "price PrNd", user=OPENID)
        requests.get(f"{base}/wechat", params={"signature": "deadbeef", "openid": OPENID}, timeout=5)
    finally:
        server.terminate()
        log = server.communicate(timeout=10)[0]
    assert "POST /wechat HTTP/1.1" in log
    assert "signature=" not in log and OPENID not in log and "nonce=" not in log


@pytest.mark.parametrize("settings,secret", [
    ({"REBOT_ROBOTS": "[{name: ops, webhook: 'qyapi.weixin.qq.com/cgi-bin/webhook/send?key=robot-key-4711'}]"},
     "robot-key-4711"),
    ({"REBOT_REDIS_URL": "http://:redis-pass-4711@redis:6379/0"}, "redis-pass-4711"),
    ({"REBOT_DATABASE_URL": "postgres ql://rebot:db-pass-4711@db/rebot"}, "db-pass-4711"),
    ({"REBOT_WECHAT_MAX_CLOCK_SKEW": "x", "REBOT_WECHAT_APP_SECRET": "[app-secret-4711"}, "app-secret-4711"),
])
def test_config_errors_never_print_a_secret(tmp_path, settings, secret):
    result = run(tmp_path, "check-config", **settings)
    assert result.returncode != 0
    assert secret not in result.stdout + result.stderr, result.stdout + result.stderr


def test_a_failed_fetch_logs_its_url_without_the_api_key(tmp_path):
    feed = HostileServer()
    feed.routes["/prices.json?apikey=feed-key-4711"] = (500, {}, b"down")
    config = tmp_path / "config.yaml"
    config.write_text(f"""sources:
  - name: vendor
    type: json
    url: "{feed.url('/prices.json?apikey=feed-key-4711')}"
    schedule: "0 18 * * 1-5"
ingest: {{retries: 0}}
""")
    try:
        result = run(tmp_path, "--config", str(config), "fetch")
    finally:
        feed.close()
    assert result.returncode == 1 and "vendor" in result.stdout + result.stderr
    assert feed.hits  # it did try
    assert "feed-key-4711" not in result.stdout + result.stderr
    assert "apikey=***" in result.stdout + result.stderr
