"""CPU per `price PrNd` callback inside one process: the WSGI app called directly (no HTTP, no gunicorn), each
callback signed afresh as bench/webhook.py signs them, every guarantee on. With --processes 2, two processes
answer at once on the same SQLite file, as two gunicorn workers do (their writes take turns).

Usage: python bench/callback_cpu.py [--messages 15000] [--processes 1|2]
"""
from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhook import APP_ID, TOKEN, write_messages  # noqa: E402


def environ(line: str) -> dict:
    path, body = line.split("\t")
    path, query = path.split("?")
    data = body.encode()
    return {"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": query, "CONTENT_LENGTH": str(len(data)),
            "CONTENT_TYPE": "text/xml", "wsgi.input": io.BytesIO(data), "REMOTE_ADDR": "127.0.0.1",
            "SERVER_NAME": "bench", "SERVER_PORT": "80", "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1"}


def answer_all(messages: Path) -> None:
    """Answer every callback of `messages` (the first fills the reply cache) and print the CPU per callback."""
    from bot import create_app

    app = create_app()
    statuses = []
    calls = [environ(line) for line in messages.read_text().splitlines()]
    first = b"".join(app(calls[0], lambda status, headers: statuses.append(status)))
    assert b"449,000" in first, first[:300]
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for call in calls[1:]:
        b"".join(app(call, lambda status, headers: statuses.append(status)))
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    assert all(status.startswith("200") for status in statuses), set(statuses)
    n = len(calls) - 1
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    print(f"pid {os.getpid()}: {cpu / n * 1e6:.0f} µs CPU per callback ({(after.ru_stime - before.ru_stime) / n * 1e6:.0f} "
          f"in the kernel), {wall / n * 1e6:.0f} µs wall, {n:,} callbacks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=15_000)
    parser.add_argument("--processes", type=int, default=1, choices=(1, 2))
    parser.add_argument("--answer", help=argparse.SUPPRESS)  # a child process: the file of its callbacks
    args = parser.parse_args()
    if args.answer:
        answer_all(Path(args.answer))
        return
    with tempfile.TemporaryDirectory() as tmp:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("REBOT_")},
               "REBOT_DATABASE_URL": f"sqlite:///{tmp}/bench.db", "REBOT_WECHAT_TOKEN": TOKEN,
               "REBOT_WECHAT_APP_ID": APP_ID, "REBOT_LOGGING_LEVEL": "WARNING"}
        subprocess.run([Path(sys.executable).parent / "rebot", "demo", "load"], env=env, check=True, capture_output=True)
        children = []
        for n in range(args.processes):
            messages = Path(tmp) / f"messages-{n}.txt"
            write_messages(messages, args.messages, 10_000_000_000 * (n + 1), safe=False)
            children.append(subprocess.Popen([sys.executable, __file__, "--answer", str(messages)], env=env))
        for child in children:
            if child.wait() != 0:
                raise SystemExit(f"a process failed (exit {child.returncode})")


if __name__ == "__main__":
    main()
