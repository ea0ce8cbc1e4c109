"""Exchange trading days, from the `exchange_calendars` library (not a hand-written holiday list)."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from finrnn_core.errors import ConfigError

WEEKDAYS = "weekdays"
"""Calendar name for 'every Monday to Friday' (no holidays), e.g. for 24/5 markets."""


@lru_cache(maxsize=16)
def _calendar(name: str):
    import exchange_calendars as xcals

    try:
        return xcals.get_calendar(name)
    except Exception as exc:  # the library raises its own InvalidCalendarName
        known = ", ".join(sorted(xcals.get_calendar_names(include_aliases=False))[:12])
        raise ConfigError(
            f"`calendar` must be an exchange calendar code such as XNYS, XLON, XTKS "
            f"(or {WEEKDAYS!r}). Received: calendar={name!r}. Known codes include {known}, ..."
        ) from exc


def trading_sessions(
    calendar: str, start: str | pd.Timestamp, end: str | pd.Timestamp
) -> pd.DatetimeIndex:
    """Trading days of ``calendar`` in ``[start, end]`` as midnight timestamps.

    Args:
        calendar: an exchange code known to ``exchange_calendars`` (``"XNYS"``, ``"XLON"``, ...)
            or ``"weekdays"``.
        start: first day (inclusive).
        end: last day (inclusive).

    Returns:
        A ``DatetimeIndex`` of sessions (datetime64[ns], no time zone). Days outside the
        calendar's supported range are treated as weekdays.

    Raises:
        ConfigError: the calendar code is unknown.
    """
    start_ts, end_ts = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    weekdays = pd.bdate_range(start_ts, end_ts).astype("datetime64[ns]")
    if calendar == WEEKDAYS:
        return weekdays
    cal = _calendar(calendar)
    first, last = cal.first_session.tz_localize(None), cal.last_session.tz_localize(None)
    lo, hi = max(start_ts, first), min(end_ts, last)
    inside = cal.sessions_in_range(lo, hi).tz_localize(None) if lo <= hi else pd.DatetimeIndex([])
    outside = weekdays[(weekdays < first) | (weekdays > last)]
    return inside.append(outside).sort_values().astype("datetime64[ns]")


def exchange_timezone(calendar: str) -> str:
    """The calendar's time zone name (``America/New_York`` for ``"weekdays"``)."""
    if calendar == WEEKDAYS:
        return "America/New_York"
    return str(_calendar(calendar).tz)
