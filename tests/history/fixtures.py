"""Simulated history shared by the history tests: three sessions (Tue 17 - Thu 19 Nov 2026)
of SPY and AAPL before the suite's pinned Friday, three snapshots a session."""

from __future__ import annotations

import datetime as dt
import pathlib

from core import recorder

SESSIONS = [dt.date(2026, 11, 17), dt.date(2026, 11, 18), dt.date(2026, 11, 19)]
SYMBOLS = ["SPY", "AAPL"]


def write_history(out: pathlib.Path) -> pathlib.Path:
    recorder.simulate_days(out, len(SESSIONS), SYMBOLS, every_minutes=130, expiries=3,
                           end=SESSIONS[-1])
    return out
