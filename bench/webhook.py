"""Webhook throughput: rebot beside a Flask + wechatpy baseline and WeRoBot, plain and safe mode.

Each server runs under gunicorn with 2 sync workers on loopback; wrk sends signed `price PrNd` text
messages with a fresh MsgId each (safe mode: encrypted the way WeChat does, by wechatpy). rebot answers
from its SQLite database with de-duplication on. WeRoBot is installed by this script only, into
bench/.venv-werobot. Usage: python bench/webhook.py [--seconds 15] [--connections 16]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WEROBOT_VENV = ROOT / "bench" / ".venv-werobot"
TOKEN = "bench-token"
APP_ID = "wx0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
MESSAGE = ("<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o_bench_{user}]]></FromUserName>"
           "<CreateTime>{time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
           "<Content><![CDATA[price PrNd]]></Content><MsgId>{msg_id}</MsgId></xml>")


@dataclass
class Result:
    name: str
    mode: str
    rps: float
    p50: str
    p99: str
    errors: int
    cpu_us: float  # server CPU time (all processes) per request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid: int) -> int:
    """utime + stime of `pid` and its children (the gunicorn workers), in clock ticks."""
    total = 0
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for p in [pid, *map(int, children)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def werobot_gunicorn() -> Path | None:
    """gunicorn of a venv with WeRoBot, made on first use; None if it cannot be installed."""
    gunicorn = WEROBOT_VENV / "bin" / "gunicorn"
    if gunicorn.exists():
        return gunicorn
    try:
        subprocess.run([sys.executable, "-m", "venv", str(WEROBOT_VENV)], check=True)
        subprocess.run([WEROBOT_VENV / "bin" / "pip", "install", "-q", "werobot==1.13.1", "gunicorn"], check=True)
    except subprocess.CalledProcessError:
        print("WeRoBot: could not install it (pip install werobot failed); skipped", file=sys.stderr)
        return None
    return gunicorn


def signed_query(timestamp: str, nonce: str) -> str:
    signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()
    return f"signature={signature}&timestamp={timestamp}&nonce={nonce}"


def safe_messages(path: Path, count: int) -> None:
    """`count` encrypted messages, one 'path<TAB>body' line each, as WeChat sends them in safe mode."""
    from wechatpy.crypto import WeChatCrypto

    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    timestamp = str(int(time.time()))
    with path.open("w") as out:
        for i in range(count):
            nonce = f"n{i}"
            envelope = crypto.encrypt_message(MESSAGE.format(user=i % 500, time=timestamp, msg_id=9_000_000_000 + i),
                                              nonce, timestamp)
            encrypted = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", envelope).group(1)
            msg_signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", envelope).group(1)
            body = f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
            query = f"{signed_query(timestamp, nonce)}&openid=o_bench&encrypt_type=aes&msg_signature={msg_signature}"
            out.write(f"/wechat?{query}\t{body}\n")


def run_server(name: str, mode: str, command: list, env: dict, seconds: int, connections: int,
               safe_file: Path | None) -> Result:
    port = free_port()
    server = subprocess.Popen([*command[:1], "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                               *command[1:]], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # until a worker answers anything
            try:
                requests.get(base + "/", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.1)
        timestamp = str(int(time.time()))
        path = f"/wechat?{signed_query(timestamp, 'benchnonce')}"
        if safe_file is None:  # a plain message first: the server must answer the price
            body = MESSAGE.format(user="check", time=timestamp, msg_id=1).encode()
            check = requests.post(base + path, data=body, timeout=10)
            assert "449,000" in check.text, f"{name}: {check.status_code} {check.text[:300]}"
            script = [str(ROOT / "bench/webhook.lua"), base, "--", path]
        else:
            first = safe_file.read_text().split("\n", 1)[0]
            check = requests.post(base + first.split("\t")[0], data=first.split("\t")[1].encode(), timeout=10)
            assert check.status_code == 200 and "<Encrypt>" in check.text, f"{name}: {check.text[:300]}"
            script = [str(ROOT / "bench/webhook_safe.lua"), base, "--", str(safe_file), "2"]
        before = cpu_ticks(server.pid)
        out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", *script],
                             check=True, capture_output=True, text=True).stdout
        used = cpu_ticks(server.pid) - before
    finally:
        server.terminate()
        server.wait(10)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(name, mode, float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), latency.get("50", "?"),
                  latency.get("99", "?"), int(errors.group(1)) if errors else 0,
                  used / os.sysconf("SC_CLK_TCK") / max(total, 1) * 1e6)


def measure(seconds: int = 15, connections: int = 16) -> list[Result]:
    """Run every server in turn and return their figures."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (Debian package wrk: apt-get install wrk)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("REBOT_", "BENCH_"))}
        base_env.update(PYTHONPATH=str(ROOT), BENCH_TOKEN=TOKEN, BENCH_APP_ID=APP_ID)
        safe_file = tmp / "safe.txt"
        safe_messages(safe_file, 4000 * seconds)

        def rebot_env(safe: bool) -> dict:
            db = tmp / f"rebot-{len(results)}.db"  # a fresh database: every MsgId is new to it
            env = {**base_env, "REBOT_DATABASE_URL": f"sqlite:///{db}", "REBOT_WECHAT_TOKEN": TOKEN,
                   "REBOT_LOGGING_LEVEL": "WARNING", "REBOT_WECHAT_APP_ID": APP_ID}
            if safe:
                env["REBOT_WECHAT_ENCODING_AES_KEY"] = AES_KEY
            subprocess.run([BIN / "rebot", "demo", "load"], env=env, check=True, capture_output=True)
            return env

        gunicorn = str(BIN / "gunicorn")
        plan = [("baseline", "plain", [gunicorn, "bench.baseline_app:create_app()"], base_env, None),
                ("rebot", "plain", [gunicorn, "bot:create_app()"], rebot_env(False), None)]
        werobot = werobot_gunicorn()
        if werobot:
            plan.append(("WeRoBot", "plain", [str(werobot), "bench.werobot_app:app"], base_env, None))
        plan += [("baseline", "safe", [gunicorn, "bench.baseline_app:create_app()"],
                  {**base_env, "BENCH_AES_KEY": AES_KEY}, safe_file),
                 ("rebot", "safe", [gunicorn, "bot:create_app()"], rebot_env(True), safe_file)]
        for name, mode, command, env, safe in plan:
            results.append(run_server(name, mode, command, env, seconds, connections, safe))
    return results


def table(results: list[Result]) -> str:
    by = {(r.name, r.mode): r for r in results}
    rebot = by[("rebot", "plain")]
    lines = ["| server | mode | req/s | p50 | p99 | non-2xx | server CPU µs/req | rebot (same mode) ÷ this |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        mine = by.get(("rebot", r.mode), rebot)
        ratio = "" if r.name == "rebot" else f"{mine.rps / r.rps:.2f}×"
        lines.append(f"| {r.name} | {r.mode} | {r.rps:.0f} | {r.p50} | {r.p99} | {r.errors} | {r.cpu_us:.0f} | {ratio} |")
    if ("baseline", "plain") in by and ("rebot", "safe") in by:
        lines.append(f"\nrebot safe mode ÷ baseline plain: {by[('rebot', 'safe')].rps / by[('baseline', 'plain')].rps:.2f}×")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    print(table(measure(args.seconds, args.connections)))


if __name__ == "__main__":
    main()
