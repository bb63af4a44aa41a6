"""China's trading calendar: weekdays that are not public holidays, plus the adjusted working days (调休).

Holidays and adjusted working days come from the `chinesecalendar` package (the State Council's yearly
notices); `calendar.extra_holidays` / `calendar.extra_workdays` cover what it does not know yet (a year
beyond its data, a market closure). Beyond its years, weekdays count as trading days.
"""
from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
from chinese_calendar import constants

FIRST_YEAR = min(constants.holidays).year
LAST_YEAR = max(constants.holidays).year  # the last year the package knows


class TradingCalendar:
    """Tells trading days from holidays; one per configuration."""

    def __init__(self, extra_holidays: list[date] | tuple = (), extra_workdays: list[date] | tuple = ()):
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_workdays = frozenset(extra_workdays)

    def is_trading_day(self, day: date) -> bool:
        if day in self.extra_holidays:
            return False
        if day in self.extra_workdays:
            return True
        if FIRST_YEAR <= day.year <= LAST_YEAR:
            return chinese_calendar.is_workday(day)
        return day.weekday() < 5

    def last_trading_day(self, day: date) -> date:
        """`day` if it is a trading day, else the trading day before it."""
        for _ in range(60):  # the longest closure (春节) is 9 days
            if self.is_trading_day(day):
                return day
            day -= timedelta(days=1)
        return day

    def previous_trading_day(self, day: date) -> date:
        """The trading day before `day`."""
        return self.last_trading_day(day - timedelta(days=1))

    def holiday_name(self, day: date) -> str:
        """The public holiday `day` falls in, in Chinese (国庆节), or '' for none or an unknown year."""
        if not FIRST_YEAR <= day.year <= LAST_YEAR or day in self.extra_workdays:
            return ""
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        if not on_holiday or name is None:
            return ""
        return next((h.chinese for h in constants.Holiday if h.value == name), "")


def coverage_warning(today: date, extra_days: list[date] | tuple = ()) -> str | None:
    """A warning when the package does not know `today`'s year and no extra day of that year is configured."""
    if today.year <= LAST_YEAR or any(d.year == today.year for d in extra_days):
        return None
    return (f"calendar: chinesecalendar knows holidays up to {LAST_YEAR} only; {today.year}'s are unknown, so "
            f"every weekday counts as a trading day. Upgrade it (pip install -U chinesecalendar) or list the "
            f"year's holidays in calendar.extra_holidays and its working Saturdays in calendar.extra_workdays.")


_current = TradingCalendar()


def configure(extra_holidays=(), extra_workdays=()) -> TradingCalendar:
    """Install the configured extra days (the bot does at start); returns the calendar in force."""
    global _current
    _current = TradingCalendar(extra_holidays, extra_workdays)
    return _current


def current() -> TradingCalendar:
    """The calendar in force."""
    return _current
