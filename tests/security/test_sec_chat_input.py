"""Finding 2: one chat message of hostile length must not stall a worker (ReDoS); long text is cut and said so."""
from __future__ import annotations

from tests.security.live import live_server, say  # noqa: F401 - a fixture

N = 50_000
HOSTILE = {
    "digits": "1" * N,
    "period": "PrNd " + "1" * N + "x",  # trend's period: a long digit run that does not end in a unit
    "line": "PrNd > " + "1" * N + "x",  # alert's line
    "move": "PrNd " + "1" * N + ".5x%",  # alert's move
    "words": "PrNd " * (N // 5),
}


def test_every_command_answers_50000_character_input_sensibly_and_says_it_was_cut(bot, live_server):  # noqa: F811
    names = sorted({name for cmd in bot.router.commands for name in cmd.names if not name.startswith("_")})
    for name in names:
        for kind, tail in HOSTILE.items():
            reply = say(live_server, f"{name} {tail}")
            assert "500" in reply.splitlines()[0], (name, kind, reply[:200])  # the note comes first
            assert "系统出了点问题" not in reply and "went wrong" not in reply, (name, kind, reply[:200])  # no apology


def test_a_message_within_the_limit_is_read_whole(live_server):  # noqa: F811
    assert "500" not in say(live_server, "价格 镨钕").splitlines()[0]
    reply = say(live_server, "价格 镨钕" + "！" * 600)  # cut, and the command still runs
    assert "只读了前 500 字" in reply and "镨钕" in reply
