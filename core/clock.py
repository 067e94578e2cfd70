"""The market clock: America/New_York time, NYSE sessions, time to expiry.

"now" is injectable. The process clock starts at env ``OPTIONS_DASH_NOW`` (an ISO time; naive
means ET) and from there advances in real time, so a Saturday demo can show a live Friday
afternoon whose pages still tick. Tests freeze it with :func:`frozen` / :func:`pin` and step it
with :func:`advance`. Nothing else in the code base reads the wall clock.

Sessions, holidays and early closes come from ``exchange_calendars`` (calendar ``XNYS``): it
knows 2026-11-26 (Thanksgiving) is closed and that 2026-11-27 closes at 13:00 ET.

Units: time to expiry is in years of 365 calendar days, measured to the close of the expiry
day's session (16:00 ET, or 13:00 ET on an early-close day), floored at :data:`MIN_T_YEARS`
so that 0DTE greeks stay finite at and after the close.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import os
import threading
import time
from zoneinfo import ZoneInfo

import pandas as pd

ET = ZoneInfo("America/New_York")
SECONDS_PER_YEAR = 365.0 * 24 * 3600
MIN_T_YEARS = 5 * 60 / SECONDS_PER_YEAR  # five minutes: the floor for 0DTE at the close
REGULAR_OPEN = dt.time(9, 30)
REGULAR_CLOSE = dt.time(16, 0)
_CAL_START, _CAL_END = "2018-01-01", "2032-12-31"


def parse_instant(text: str) -> dt.datetime:
    """ISO time -> tz-aware datetime; a naive time is taken as ET."""
    value = dt.datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=ET) if value.tzinfo is None else value.astimezone(ET)


class Clock:
    """A clock that is the wall clock, a pinned start that runs on, or frozen."""

    def __init__(self, start: dt.datetime | None = None, *, frozen: bool = False):
        self._lock = threading.Lock()
        self.set(start, frozen=frozen)

    def set(self, start: dt.datetime | None, *, frozen: bool = False) -> None:
        with self._lock:
            self._start = None if start is None else _aware(start)
            self._mono = time.monotonic()
            self._frozen = frozen and start is not None

    def now(self) -> dt.datetime:
        with self._lock:
            if self._start is None:
                return dt.datetime.now(ET)
            if self._frozen:
                return self._start
            return self._start + dt.timedelta(seconds=time.monotonic() - self._mono)

    def advance(self, seconds: float) -> None:
        """Move a pinned clock forward (frozen or running)."""
        with self._lock:
            if self._start is None:
                raise RuntimeError("advance() needs a pinned clock")
            self._start += dt.timedelta(seconds=seconds)

    @property
    def pinned(self) -> bool:
        return self._start is not None


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=ET) if value.tzinfo is None else value.astimezone(ET)


_env_now = os.environ.get("OPTIONS_DASH_NOW", "").strip()
CLOCK = Clock(parse_instant(_env_now) if _env_now else None)


def now() -> dt.datetime:
    """The current instant in ET (tz-aware)."""
    return CLOCK.now()


def timer() -> float:
    """Seconds on the process clock (epoch-based): the time base of every cache TTL, so a test
    that steps a pinned clock ages the caches with it."""
    return CLOCK.now().timestamp()


def today() -> dt.date:
    """Today's date in ET."""
    return now().date()


def pin(at: dt.datetime | str | None, *, frozen: bool = True) -> None:
    """Pin the process clock at ``at`` (frozen by default); ``None`` returns to the wall clock."""
    CLOCK.set(parse_instant(at) if isinstance(at, str) else at, frozen=frozen)


def advance(seconds: float) -> None:
    CLOCK.advance(seconds)


@contextlib.contextmanager
def frozen(at: dt.datetime | str):
    """``with clock.frozen("2026-11-20 10:30"):`` — freeze the clock, restore it after."""
    saved = (CLOCK._start, CLOCK._frozen)
    pin(at, frozen=True)
    try:
        yield CLOCK
    finally:
        CLOCK.set(saved[0], frozen=saved[1])


# --- the NYSE calendar -------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _calendar():
    import exchange_calendars  # imported lazily: ~0.3 s and a few MB, paid once

    return exchange_calendars.get_calendar("XNYS", start=_CAL_START, end=_CAL_END)


def _ts(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day)


def schedule() -> pd.DataFrame:
    """Every NYSE session in the calendar's range: a frame indexed by session date (naive
    midnight) with tz-aware UTC ``open`` and ``close`` columns (early closes included). For
    vectorised work (the simulated market); single-day questions use the functions below."""
    return _calendar().schedule[["open", "close"]]


@functools.lru_cache(maxsize=4096)  # pure in ``day``; ~4k entries is 16 years of days
def _bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
    """(open, close) of session ``day`` in ET, or None when NYSE does not trade that day."""
    cal = _calendar()
    ts = _ts(day)
    if not cal.is_session(ts):
        return None
    return (cal.session_open(ts).tz_convert(ET).to_pydatetime(),
            cal.session_close(ts).tz_convert(ET).to_pydatetime())


def is_session(day: dt.date) -> bool:
    """True when NYSE trades on ``day`` (weekends and holidays are not sessions)."""
    return _bounds(day) is not None


def _require(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    bounds = _bounds(day)
    if bounds is None:
        raise ValueError(f"{day} is not an NYSE session")
    return bounds


def session_open(day: dt.date) -> dt.datetime:
    """Regular open of session ``day`` in ET."""
    return _require(day)[0]


def session_close(day: dt.date) -> dt.datetime:
    """Regular close of session ``day`` in ET (13:00 on early-close days)."""
    return _require(day)[1]


def is_early_close(day: dt.date) -> bool:
    return is_session(day) and session_close(day).time() < REGULAR_CLOSE


def next_session(day: dt.date, *, include: bool = False) -> dt.date:
    """First session after ``day`` (or on it, with ``include=True``)."""
    cal = _calendar()
    ts = _ts(day)
    if include and cal.is_session(ts):
        return day
    return cal.date_to_session(ts + pd.Timedelta(days=1), direction="next").date()


def previous_session(day: dt.date, *, include: bool = False) -> dt.date:
    """Last session before ``day`` (or ``day`` itself, with ``include=True``)."""
    cal = _calendar()
    ts = _ts(day)
    if include and cal.is_session(ts):
        return day
    return cal.date_to_session(ts - pd.Timedelta(days=1), direction="previous").date()


def sessions(start: dt.date, end: dt.date) -> list[dt.date]:
    """Sessions in [start, end]."""
    if end < start:
        return []
    return [ts.date() for ts in _calendar().sessions_in_range(_ts(start), _ts(end))]


def add_sessions(day: dt.date, n: int) -> dt.date:
    """The session ``n`` sessions after (n > 0) or before (n < 0) ``day``'s session."""
    cal = _calendar()
    base = cal.date_to_session(_ts(day), direction="previous" if n < 0 else "next")
    return cal.session_offset(base, n).date()


def expiry_close(expiry: dt.date) -> dt.datetime:
    """When contracts expiring on ``expiry`` stop trading: that session's close, else 16:00 ET."""
    if is_session(expiry):
        return session_close(expiry)
    return dt.datetime.combine(expiry, REGULAR_CLOSE, tzinfo=ET)


def elapsed_seconds(start: dt.datetime, end: dt.datetime) -> float:
    """Elapsed seconds from ``start`` to ``end``, measured on UTC timestamps (DST-safe).

    Subtracting two datetimes that share one ZoneInfo gives WALL-CLOCK time in Python (the
    offsets are ignored), one hour off across a DST change; converting both to UTC first gives
    the time that actually passes: Fri 2026-10-30 16:00 ET → Mon 2026-11-02 16:00 ET is 73 h.
    """
    return (_aware(end).astimezone(dt.timezone.utc)
            - _aware(start).astimezone(dt.timezone.utc)).total_seconds()


def time_to_expiry(expiry: dt.date, at: dt.datetime | None = None) -> float:
    """Years (365 × 86 400 s) of ELAPSED time from ``at`` (default now) to the expiry's close,
    floored at MIN_T_YEARS. Elapsed, not wall-clock: measured on UTC timestamps
    (:func:`elapsed_seconds`), so a DST change in between counts its real hour."""
    at = now() if at is None else _aware(at)
    seconds = elapsed_seconds(at, expiry_close(expiry))
    return max(seconds / SECONDS_PER_YEAR, MIN_T_YEARS)


@dataclasses.dataclass(frozen=True)
class MarketStatus:
    """Where the market stands at ``at``.

    ``state`` is one of ``pre-market`` (a session day before the open), ``open``,
    ``after-hours`` (a session day after the close) or ``closed`` (weekend / holiday).
    ``session`` is the session day ``at`` falls in (None when closed); ``next_open`` is the next
    regular open strictly after ``at``.
    """

    at: dt.datetime
    state: str
    session: dt.date | None
    opens_at: dt.datetime | None
    closes_at: dt.datetime | None
    next_open: dt.datetime

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    @property
    def seconds_to_close(self) -> float:
        if not self.is_open:
            return 0.0
        return max((self.closes_at - self.at).total_seconds(), 0.0)

    @property
    def progress(self) -> float:
        """Fraction of today's regular session elapsed (0 before the open, 1 after the close)."""
        if self.session is None:
            return 1.0
        total = (self.closes_at - self.opens_at).total_seconds()
        done = (self.at - self.opens_at).total_seconds()
        return min(max(done / total, 0.0), 1.0)


def market_status(at: dt.datetime | None = None) -> MarketStatus:
    at = now() if at is None else _aware(at)
    day = at.date()
    if is_session(day):
        opens, closes = session_open(day), session_close(day)
        if at < opens:
            return MarketStatus(at, "pre-market", day, opens, closes, opens)
        nxt = session_open(next_session(day))
        state = "open" if at < closes else "after-hours"
        return MarketStatus(at, state, day, opens, closes, nxt)
    return MarketStatus(at, "closed", None, None, None, session_open(next_session(day)))


def remaining_session_years(at: dt.datetime | None = None) -> float:
    """Time left in today's regular session in years (floored), for 0DTE expected moves."""
    at = now() if at is None else _aware(at)
    return time_to_expiry(at.date(), at)


def last_session(at: dt.datetime | None = None) -> dt.date:
    """The session whose prices are current at ``at``: today once it has opened, else the last."""
    status = market_status(at)
    if status.session is not None and status.state != "pre-market":
        return status.session
    return previous_session(status.at.date())
