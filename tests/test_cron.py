"""Crontab lines mean what they mean in crontab, whatever APScheduler counts from."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.cron import trigger

SHANGHAI = ZoneInfo("Asia/Shanghai")
FRIDAY_EVENING = datetime(2025, 6, 13, 19, 0, tzinfo=SHANGHAI)


def next_day(expression: str, after: datetime = FRIDAY_EVENING) -> str:
    return trigger(expression, SHANGHAI).get_next_fire_time(None, after).strftime("%a %d %H:%M")


@pytest.mark.parametrize("expression, fires", [
    ("0 18 * * 1-5", "Mon 16 18:00"),  # weekdays: not Saturday
    ("0 18 * * mon-fri", "Mon 16 18:00"),
    ("0 9 * * 0", "Sun 15 09:00"),
    ("0 9 * * 7", "Sun 15 09:00"),
    ("0 9 * * 6,0", "Sat 14 09:00"),
    ("30 17 * * *", "Sat 14 17:30"),
    ("0 10 * * 1/2", "Sun 15 10:00"),  # from Monday every second day: mon, wed, fri, sun
])
def test_day_of_week_numbers_are_crontab_numbers(expression, fires):
    assert next_day(expression) == fires


@pytest.mark.parametrize("expression, message", [
    ("0 18 * *", "must have five fields"),
    ("0 18 * * 8", "day of week '8'"),
    ("0 18 * * 5-1", "the lower number first"),
    ("61 * * * *", "the last value (61) is higher than the maximum value (59)"),
])
def test_bad_lines_say_why(expression, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        trigger(expression, SHANGHAI)
