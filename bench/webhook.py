"""Webhook throughput: rebot beside two peers doing the same job, plain and safe mode.

The peers, a Flask + wechatpy bot and a WeRoBot bot, resolve the product in a SQLite file of the demo
data, read its last two quotes and render a Jinja2 template (bench/peer_app.py); rebot answers from its
own SQLite file with every guarantee on (de-duplication, one signature per message). Each server runs under
gunicorn with 2 sync workers on loopback; wrk sends `price PrNd` text messages, each signed afresh with
its own timestamp, nonce and MsgId (safe mode: encrypted the way WeChat does, by wechatpy). WeRoBot is
installed by this script only, into bench/.venv-werobot. The servers run side by side and are measured
in interleaved rounds (wrk on each in turn), so the machine's drift in speed falls on all of them alike.
Usage: python bench/webhook.py [--seconds 15] [--connections 16] [--rounds 3]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
    per_round: list[float]  # req/s of each round


@dataclass
class Round:
    """One wrk run against one server."""
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ticks: int


@dataclass
class Server:
    name: str
    mode: str  # plain | safe
    command: list
    env: dict
    process: subprocess.Popen | None = None
    base: str = ""
    rounds: list[Round] = field(default_factory=list)

    def result(self) -> Result:
        requests = sum(r.requests for r in self.rounds)
        seconds = sum(r.seconds for r in self.rounds)
        ticks = sum(r.cpu_ticks for r in self.rounds)
        return Result(self.name, self.mode, requests / seconds,
                      f"{statistics.median(r.p50_ms for r in self.rounds):.2f}ms",
                      f"{statistics.median(r.p99_ms for r in self.rounds):.2f}ms",
                      sum(r.errors for r in self.rounds),
                      ticks / os.sysconf("SC_CLK_TCK") / max(requests, 1) * 1e6,
                      [r.requests / r.seconds for r in self.rounds])


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
        subprocess.run([WEROBOT_VENV / "bin" / "pip", "install", "-q", "werobot==1.13.1", "gunicorn", "jinja2",
                        "cryptography"], check=True)
    except subprocess.CalledProcessError:
        print("WeRoBot: could not install it (pip install werobot failed); skipped", file=sys.stderr)
        return None
    return gunicorn


def signed_query(timestamp: str, nonce: str) -> str:
    signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()
    return f"signature={signature}&timestamp={timestamp}&nonce={nonce}"


def write_messages(path: Path, count: int, first_id: int, safe: bool) -> None:
    """`count` callbacks, one 'path<TAB>body' line each, signed one by one as WeChat does (safe mode:
    encrypted too). A signature authorises one message: a request that reused one would be refused."""
    from wechatpy.crypto import WeChatCrypto

    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    timestamp = str(int(time.time()))
    with path.open("w") as out:
        for i in range(count):
            nonce = f"{first_id + i}"
            message = MESSAGE.format(user=i % 500, time=timestamp, msg_id=first_id + i)
            if not safe:
                out.write(f"/wechat?{signed_query(timestamp, nonce)}\t{message}\n")
                continue
            envelope = crypto.encrypt_message(message, nonce, timestamp)
            encrypted = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", envelope).group(1)
            msg_signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", envelope).group(1)
            body = f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
            query = f"{signed_query(timestamp, nonce)}&openid=o_bench&encrypt_type=aes&msg_signature={msg_signature}"
            out.write(f"/wechat?{query}\t{body}\n")


def start(server: Server, check_file: Path) -> None:
    """Start the server and check that it answers the price (safe mode: with an encrypted reply)."""
    port = free_port()
    server.process = subprocess.Popen([*server.command[:1], "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level",
                                       "warning", *server.command[1:]], env=server.env, cwd=ROOT)
    server.base = base = f"http://127.0.0.1:{port}"
    for _ in range(300):  # until a worker answers anything
        try:
            requests.get(base + "/", timeout=2)
            break
        except requests.RequestException:
            time.sleep(0.1)
    path, body = check_file.read_text().split("\n")[0 if server.mode == "plain" else 1].split("\t")
    check = requests.post(base + path, data=body.encode(), timeout=10)
    if server.mode == "plain":
        assert "449,000" in check.text, f"{server.name}: {check.status_code} {check.text[:300]}"
    else:
        assert check.status_code == 200 and "<Encrypt>" in check.text, f"{server.name}: {check.text[:300]}"


def milliseconds(text: str) -> float:
    """wrk's '812.00us', '5.03ms' or '1.20s' in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_round(server: Server, seconds: int, connections: int, messages: Path) -> Round:
    """One wrk run of `seconds` against `server` with the callbacks of `messages` (new to it)."""
    script = [str(ROOT / "bench/webhook.lua"), server.base, "--", str(messages), "2"]
    before = cpu_ticks(server.process.pid)
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", *script],
                         check=True, capture_output=True, text=True).stdout
    used = cpu_ticks(server.process.pid) - before
    total, took = re.search(r"(\d+) requests in ([\d.]+\w+),", out).groups()
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Round(int(total), milliseconds(took) / 1000, milliseconds(latency["50"]), milliseconds(latency["99"]),
                 int(errors.group(1)) if errors else 0, used)


def measure(seconds: int = 15, connections: int = 16, rounds: int = 3) -> list[Result]:
    """Every server's figures over `seconds`, measured in `rounds` interleaved wrk runs: the machine's
    speed drifts from minute to minute, and every server sees the same drift."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (Debian package wrk: apt-get install wrk)")
    each = max(1, round(seconds / rounds))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("REBOT_", "BENCH_"))}
        base_env.update(PYTHONPATH=str(ROOT), BENCH_TOKEN=TOKEN, BENCH_APP_ID=APP_ID)
        messages_per_round = 8000 * each  # more than a server answers in a round: no message is sent twice
        files = {}
        for mode in ("plain", "safe"):
            for n in range(rounds):
                files[mode, n] = tmp / f"{mode}-{n}.txt"
                write_messages(files[mode, n], messages_per_round, 10_000_000_000 * (n + 1), mode == "safe")
        check_file = tmp / "check.txt"
        write_messages(tmp / "check-plain.txt", 1, 1, False)
        write_messages(tmp / "check-safe.txt", 1, 2, True)
        check_file.write_text((tmp / "check-plain.txt").read_text() + (tmp / "check-safe.txt").read_text())

        def rebot_env(name: str, safe: bool) -> dict:
            db = tmp / f"{name}.db"  # a database of its own: every MsgId is new to it
            env = {**base_env, "REBOT_DATABASE_URL": f"sqlite:///{db}", "REBOT_WECHAT_TOKEN": TOKEN,
                   "REBOT_LOGGING_LEVEL": "WARNING", "REBOT_WECHAT_APP_ID": APP_ID}
            if safe:
                env["REBOT_WECHAT_ENCODING_AES_KEY"] = AES_KEY
            subprocess.run([BIN / "rebot", "demo", "load"], env=env, check=True, capture_output=True)
            return env

        peers_db = rebot_env("peers", False)["REBOT_DATABASE_URL"].removeprefix("sqlite:///")
        peer_env = {**base_env, "BENCH_DATABASE": peers_db}
        gunicorn, werobot = str(BIN / "gunicorn"), werobot_gunicorn()
        servers = []
        for mode in ("plain", "safe"):
            env = {**peer_env, "BENCH_AES_KEY": AES_KEY} if mode == "safe" else peer_env
            servers.append(Server("Flask + wechatpy", mode, [gunicorn, "bench.wechatpy_app:create_app()"], env))
            if werobot:
                servers.append(Server("WeRoBot", mode, [str(werobot), "bench.werobot_app:app"], env))
            servers.append(Server("rebot", mode, [gunicorn, "bot:create_app()"], rebot_env(mode, mode == "safe")))
        try:
            for server in servers:
                start(server, check_file)
            for number in range(rounds):
                for server in servers:
                    server.rounds.append(run_round(server, each, connections, files[server.mode, number]))
                    if server.rounds[-1].requests > messages_per_round:
                        print(f"{server.name} ({server.mode}): more requests than messages in a round; some were "
                              "repeats", file=sys.stderr)
        finally:
            for server in servers:
                if server.process is not None:
                    server.process.terminate()
                    server.process.wait(10)
    return [server.result() for server in servers]


def table(results: list[Result]) -> str:
    by = {(r.name, r.mode): r for r in results}
    lines = ["| server | mode | req/s | each round | p50 | p99 | non-2xx | server CPU µs/req | rebot ÷ this (same mode) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        mine = by[("rebot", r.mode)]
        ratio = "" if r.name == "rebot" else f"{mine.rps / r.rps:.2f}×"
        rounds = " · ".join(f"{x:.0f}" for x in r.per_round)
        lines.append(f"| {r.name} | {r.mode} | {r.rps:.0f} | {rounds} | {r.p50} | {r.p99} | {r.errors} | {r.cpu_us:.0f} "
                     f"| {ratio} |")
    for mode in ("plain", "safe"):
        peers = [r for r in results if r.mode == mode and r.name != "rebot"]
        if peers:
            fastest = max(peers, key=lambda r: r.rps)
            lines.append(f"\nrebot ÷ the faster peer, {mode} mode ({fastest.name}): "
                         f"{by[('rebot', mode)].rps / fastest.rps:.2f}×")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved wrk runs per server (seconds split)")
    args = parser.parse_args()
    print(table(measure(args.seconds, args.connections, args.rounds)))


if __name__ == "__main__":
    main()
