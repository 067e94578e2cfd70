"""Simulated history shared by the history tests: three sessions (Tue 17 - Thu 19 Nov 2026)
of SPY and AAPL before the suite's pinned Friday, three snapshots a session."""

from __future__ import annotations

import datetime as dt
import pathlib

import pytest

from core import config, fetch, recorder

SESSIONS = [dt.date(2026, 11, 17), dt.date(2026, 11, 18), dt.date(2026, 11, 19)]
SYMBOLS = ["SPY", "AAPL"]


def write_history(out: pathlib.Path) -> pathlib.Path:
    recorder.simulate_days(out, len(SESSIONS), SYMBOLS, every_minutes=130, expiries=3,
                           end=SESSIONS[-1])
    return out


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A folder of simulated history (written once per test module)."""
    return write_history(tmp_path_factory.mktemp("rec"))


@pytest.fixture
def with_history(recorded, monkeypatch):
    """The fetch layer reading :func:`recorded`."""
    monkeypatch.setenv("OPTIONS_DASH_RECORD_DIR", str(recorded))
    config.reload()
    fetch.reset()
    return recorded


@pytest.fixture
def no_history(tmp_path, monkeypatch):
    """The fetch layer reading an empty recordings folder."""
    monkeypatch.setenv("OPTIONS_DASH_RECORD_DIR", str(tmp_path / "none"))
    config.reload()
    fetch.reset()
