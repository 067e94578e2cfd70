"""The pure text helpers of core.ui.layout and core.ui.widgets: clock, freshness, errors,
cache table, expiry labels, 0DTE fallback."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock, errors, symbols
from core.ui import layout, widgets

ET = clock.ET


def _at(text: str) -> dt.datetime:
    return clock.parse_instant(text)


@pytest.mark.parametrize("when, time_line, session_line", [
    ("2026-11-20 11:30", "Fri 20 Nov · 11:30:00 ET", "Open · closes 16:00 ET, in 4h 30m"),
    ("2026-11-20 08:00", "Fri 20 Nov · 08:00:00 ET", "Pre-market · opens 09:30 ET, in 1h 30m"),
    ("2026-11-20 17:00", "Fri 20 Nov · 17:00:00 ET",
     "After hours · next session Mon 23 Nov 09:30 ET, in 2d 16h"),
    ("2026-11-21 12:00", "Sat 21 Nov · 12:00:00 ET",
     "Closed (weekend) · next session Mon 23 Nov 09:30 ET, in 1d 21h"),
    ("2026-11-26 12:00", "Thu 26 Nov · 12:00:00 ET",
     "Closed (holiday) · next session Fri 27 Nov 09:30 ET, in 21h 30m"),
    ("2026-11-27 11:00", "Fri 27 Nov · 11:00:00 ET",
     "Open · closes 13:00 ET (early close), in 2h 00m"),
])
def test_clock_text(when, time_line, session_line):
    assert layout.clock_text(clock.market_status(_at(when))) == (time_line, session_line)


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s old"), (12.4, "12 s old"), (89, "89 s old"), (300, "5 min old"),
    (3 * 3600, "3 h old"), (3 * 86400, "3 d old"), (-5, "0 s old"),
])
def test_format_age(seconds, text):
    assert layout.format_age(seconds) == text


def test_freshness_text_today_and_stale():
    now = _at("2026-11-20 14:32:17")
    assert layout.freshness_text(_at("2026-11-20 14:32:05"), now) == \
        "as of 14:32:05 ET · 12 s old"
    assert layout.freshness_text(_at("2026-11-20 14:30:05"), now, stale=True) == \
        "as of 14:30:05 ET · 2 min old · stale — upstream unavailable"
    utc = dt.datetime(2026, 11, 20, 19, 32, 5, tzinfo=dt.timezone.utc)  # shown in ET
    assert layout.freshness_text(utc, now).startswith("as of 14:32:05 ET")


def test_freshness_text_from_an_earlier_day_names_the_day():
    text = layout.freshness_text(_at("2026-11-20 16:00"), _at("2026-11-21 12:00"))
    assert text == "as of Fri 20 Nov 16:00:00 ET · 20 h old"


@pytest.mark.parametrize("exc, kind, phrase", [
    (errors.InvalidSymbol("'X!' is not a valid ticker symbol."), "warning", "Invalid symbol"),
    (errors.SymbolNotFound("No options for ZZZZ."), "warning", "Symbol not found"),
    (errors.NoExpiry("SPY has no expiry on Sat 21 Nov 2026", next_expiry=dt.date(2026, 11, 23)),
     "info", "Next expiry: Mon 23 Nov 2026"),
    (errors.RateLimited("Too many requests."), "error", "rate-limiting"),
    (errors.Unavailable("Timed out."), "error", "Data source unavailable"),
    (errors.DataError("Odd."), "error", "Data problem"),
])
def test_error_view(exc, kind, phrase):
    got_kind, text = layout.error_view(exc)
    assert got_kind == kind and phrase in text
    assert symbols.md_escape(exc.message) in text  # escaped: a message may echo user input
    assert "Traceback" not in text


def test_error_view_does_not_repeat_a_next_expiry_the_message_names():
    exc = errors.NoExpiry("No expiry today; the next is Mon 23 Nov.",
                          next_expiry=dt.date(2026, 11, 23))
    assert layout.error_view(exc)[1].count("23 Nov") == 1


def test_cache_table():
    stats = [{"name": "chain", "entries": 3, "max_entries": 256, "bytes": 3 * 1024 * 1024,
              "frozen": 2, "hit_rate": 0.75, "evictions_by_reason": {"capacity": 0, "expired": 2, "budget": 1},
              "upstream_calls": 4, "errors": 1, "fresh_ttl": 60.0},
             {"name": "quote", "entries": 0, "max_entries": 512, "bytes": 0, "hit_rate": None,
              "evictions_by_reason": {}, "upstream_calls": 0, "errors": 0, "fresh_ttl": 15.0}]
    table = layout.cache_table(stats)
    row = table.iloc[0].to_dict()
    assert row == {"cache": "chain", "entries / cap": "3 / 256", "frozen": 2, "MB": 3.0,
                   "hit rate": 75.0,
                   "evictions": "expired 2 · budget 1", "upstream calls": 4, "errors": 1,
                   "fresh TTL s": 60.0}
    assert table.iloc[1]["evictions"] == "0" and table.iloc[1]["frozen"] == 0


def test_pages_registry_matches_the_files():
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[2]
    assert [p.path for p in layout.PAGES] == sorted(
        f"pages/{f.name}" for f in (root / "pages").glob("[1-7]_*.py"))
    assert len({p.page_id for p in layout.PAGES}) == 7


# --- widgets' pure helpers ---------------------------------------------------------------------

def test_expiry_label_marks_0dte():
    today = dt.date(2026, 11, 20)
    assert widgets.expiry_label(today, today) == "Fri 20 Nov 2026 · 0DTE"
    assert widgets.expiry_label(dt.date(2026, 11, 23), today) == "Mon 23 Nov 2026 · 3 DTE"
    assert widgets.dte(dt.date(2026, 12, 18), today) == 28


def test_zero_dte_or_next():
    friday, saturday, thanksgiving = (dt.date(2026, 11, 20), dt.date(2026, 11, 21),
                                      dt.date(2026, 11, 26))
    monday = dt.date(2026, 11, 23)
    assert widgets.zero_dte_or_next([friday, monday], friday) == (friday, None)
    day, note = widgets.zero_dte_or_next([monday], saturday)
    assert day == monday and "weekend" in note and "Mon 23 Nov 2026 · 2 DTE" in note
    day, note = widgets.zero_dte_or_next([dt.date(2026, 11, 27)], thanksgiving)
    assert "holiday" in note
    day, note = widgets.zero_dte_or_next([dt.date(2026, 11, 27)], friday)
    assert "no expiry today" in note
    assert widgets.zero_dte_or_next([], friday) == (None, "No listed expiries.")


def test_freshness_text_says_since_when_the_source_is_down():
    now = _at("2026-11-20 14:32:17")
    text = layout.freshness_text(_at("2026-11-20 14:00:05"), now, stale=True,
                                 down_since=_at("2026-11-20 14:02:40"))
    assert text == "as of 14:00:05 ET · 32 min old · stale — source down since 14:02 ET"
    assert "down" not in layout.freshness_text(_at("2026-11-20 14:00:05"), now,
                                               down_since=_at("2026-11-20 14:02"))
