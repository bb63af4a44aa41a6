"""A WeRoBot bot answering `price PrNd` from rebot's SQLite file (bench/peer_app.py does the job),
session storage off (WeRoBot's fastest set-up); safe mode when BENCH_AES_KEY is set.

Run: <werobot venv>/bin/gunicorn -w 2 "bench.werobot_app:app"  (BENCH_TOKEN, BENCH_AES_KEY, BENCH_APP_ID,
BENCH_DATABASE from the environment)
"""
import os

from werobot import WeRoBot

from bench.peer_app import answer

robot = WeRoBot(token=os.environ.get("BENCH_TOKEN", "bench-token"),
                encoding_aes_key=os.environ.get("BENCH_AES_KEY") or None, app_id=os.environ.get("BENCH_APP_ID"))
robot.config["SESSION_STORAGE"] = False


@robot.text
def price(message):
    return answer(message.content)


app = robot.wsgi
