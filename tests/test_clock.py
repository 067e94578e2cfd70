"""core.clock: NYSE sessions (holidays, early closes), time to expiry, pinning."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock

D = dt.date


def at(text: str) -> dt.datetime:
    return clock.parse_instant(text)


def test_thanksgiving_closed_and_black_friday_early_close():
    assert not clock.is_session(D(2026, 11, 26))
    assert clock.is_session(D(2026, 11, 27))
    assert clock.session_close(D(2026, 11, 27)).time() == dt.time(13, 0)
    assert clock.is_early_close(D(2026, 11, 27)) and not clock.is_early_close(D(2026, 11, 25))
    assert clock.session_open(D(2026, 11, 27)).time() == dt.time(9, 30)


def test_session_arithmetic_skips_weekends_and_holidays():
    assert clock.next_session(D(2026, 11, 25)) == D(2026, 11, 27)
    assert clock.previous_session(D(2026, 11, 27)) == D(2026, 11, 25)
    assert clock.next_session(D(2026, 11, 21)) == D(2026, 11, 23)
    assert clock.next_session(D(2026, 11, 23), include=True) == D(2026, 11, 23)
    assert clock.previous_session(D(2026, 11, 23), include=True) == D(2026, 11, 23)
    assert clock.add_sessions(D(2026, 11, 25), 1) == D(2026, 11, 27)
    assert clock.add_sessions(D(2026, 11, 27), -1) == D(2026, 11, 25)
    assert clock.sessions(D(2026, 11, 23), D(2026, 11, 29)) == [
        D(2026, 11, 23), D(2026, 11, 24), D(2026, 11, 25), D(2026, 11, 27)]
    assert clock.sessions(D(2026, 11, 29), D(2026, 11, 23)) == []


@pytest.mark.parametrize("when, state", [
    ("2026-11-20 08:00", "pre-market"),
    ("2026-11-20 09:30", "open"),
    ("2026-11-20 15:59", "open"),
    ("2026-11-20 16:00", "after-hours"),
    ("2026-11-21 12:00", "closed"),
    ("2026-11-26 12:00", "closed"),
    ("2026-11-27 13:30", "after-hours"),
])
def test_market_status(when, state):
    assert clock.market_status(at(when)).state == state


def test_market_status_details():
    s = clock.market_status(at("2026-11-20 12:45"))
    assert s.is_open and s.seconds_to_close == 3.25 * 3600
    assert s.progress == pytest.approx(3.25 / 6.5)
    assert s.next_open == at("2026-11-23 09:30")
    weekend = clock.market_status(at("2026-11-21 12:00"))
    assert weekend.session is None and weekend.progress == 1.0 and weekend.seconds_to_close == 0
    assert weekend.next_open == at("2026-11-23 09:30")
    assert clock.market_status(at("2026-11-25 17:00")).next_open == at("2026-11-27 09:30")


def test_time_to_expiry_measured_to_the_close_in_365_day_years():
    assert clock.time_to_expiry(D(2026, 11, 20), at("2026-11-20 15:00")) == pytest.approx(
        1 / (365 * 24))
    # early-close day: 13:00 ET
    assert clock.time_to_expiry(D(2026, 11, 27), at("2026-11-27 12:00")) == pytest.approx(
        1 / (365 * 24))
    assert clock.time_to_expiry(D(2026, 12, 18), at("2026-11-18 16:00")) == pytest.approx(30 / 365)
    # at/after the close, the floor keeps 0DTE greeks finite
    assert clock.time_to_expiry(D(2026, 11, 20), at("2026-11-20 16:30")) == clock.MIN_T_YEARS
    assert clock.remaining_session_years(at("2026-11-20 15:59:59")) == clock.MIN_T_YEARS


def test_time_to_expiry_is_elapsed_time_across_a_dst_change():
    # US clocks fall back on Sun 2026-11-01 02:00 EDT -> 01:00 EST: Fri 16:00 EDT (20:00 UTC)
    # to Mon 16:00 EST (21:00 UTC) is 73 hours elapsed, not the 72 of the wall clock.
    assert clock.time_to_expiry(D(2026, 11, 2), at("2026-10-30 16:00")) * 365 * 24 \
        == pytest.approx(73.0)
    assert clock.elapsed_seconds(at("2026-10-30 16:00"), at("2026-11-02 16:00")) == 73 * 3600
    # spring forward (Sun 2026-03-08): Fri 16:00 EST -> Mon 16:00 EDT is 71 h
    assert clock.time_to_expiry(D(2026, 3, 9), at("2026-03-06 16:00")) * 365 * 24 \
        == pytest.approx(71.0)


def test_last_session():
    assert clock.last_session(at("2026-11-20 08:00")) == D(2026, 11, 19)
    assert clock.last_session(at("2026-11-20 10:00")) == D(2026, 11, 20)
    assert clock.last_session(at("2026-11-22 10:00")) == D(2026, 11, 20)


def test_frozen_pinned_and_running_clock():
    with clock.frozen("2026-11-20 10:00") as c:
        assert clock.now() == at("2026-11-20 10:00")
        assert clock.today() == D(2026, 11, 20)
        clock.advance(90)
        assert clock.now() == at("2026-11-20 10:01:30")
        assert clock.timer() == at("2026-11-20 10:01:30").timestamp()
        assert c.pinned
    running = clock.Clock(at("2026-11-20 10:00"))
    first = running.now()
    assert first >= at("2026-11-20 10:00") and running.now() >= first
    wall = clock.Clock()
    assert not wall.pinned and wall.now().tzinfo is not None
    with pytest.raises(RuntimeError):
        wall.advance(1)


def test_parse_instant_naive_is_et_and_aware_is_converted():
    assert at("2026-11-20T10:00").tzinfo == clock.ET
    assert at("2026-11-20T15:00:00+00:00") == at("2026-11-20 10:00")


def test_non_session_days_have_no_open_or_close():
    with pytest.raises(ValueError):
        clock.session_close(D(2026, 11, 26))
    assert clock.expiry_close(D(2026, 11, 26)) == at("2026-11-26 16:00")
    sched = clock.schedule()
    assert {"open", "close"} <= set(sched.columns) and len(sched) > 2000
