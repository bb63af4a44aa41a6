"""WeRoBot answering `price PrNd` from a dict, session storage off (WeRoBot's fastest set-up).

Run: <werobot venv>/bin/gunicorn -w 2 "bench.werobot_app:app"  (BENCH_TOKEN from the environment)
"""
import os

from werobot import WeRoBot

PRICES = {"price prnd": "PrNd oxide 449,000 yuan/t"}

robot = WeRoBot(token=os.environ.get("BENCH_TOKEN", "bench-token"))
robot.config["SESSION_STORAGE"] = False


@robot.text
def price(message):
    return PRICES.get(message.content.strip().lower(), "unknown command")


app = robot.wsgi
