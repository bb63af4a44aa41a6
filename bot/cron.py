"""Crontab lines (minute hour day month day-of-week) as APScheduler triggers, with crontab's day numbers.

APScheduler 3 counts days of the week from Monday = 0, and its from_crontab() passes the field through:
'0 18 * * 1-5' would run Tuesday to Saturday. Here numbers mean what they mean in crontab (0 or 7 =
Sunday, 1 = Monday … 6 = Saturday) and are turned into day names, which APScheduler reads unambiguously.
"""
from __future__ import annotations

import re
from datetime import tzinfo

from apscheduler.triggers.cron import CronTrigger

_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_NUMERIC = re.compile(r"(\d+)(?:-(\d+))?(?:/(\d+))?")


def trigger(expression: str, timezone: tzinfo | str) -> CronTrigger:
    """The trigger of a five-field crontab line; ValueError says what is wrong."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r} must have five fields: minute hour day month day-of-week "
                         "(e.g. '0 18 * * 1-5')")
    minute, hour, day, month, weekdays = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_weekdays(weekdays),
                       timezone=timezone)


def _weekdays(field: str) -> str:
    names: list[str] = []
    for part in field.split(","):
        match = _NUMERIC.fullmatch(part)
        if match is None:  # *, */2, mon-fri, names: APScheduler's own syntax
            names.append(part)
            continue
        first = int(match[1])
        last = int(match[2]) if match[2] else (7 if match[3] else first)
        if last > 7 or first > last:
            raise ValueError(f"day of week {part!r}: use 0-7 (0 and 7 are Sunday), the lower number first")
        names.extend(_DAYS[d] for d in range(first, last + 1, int(match[3] or 1)))
    return ",".join(dict.fromkeys(names))
