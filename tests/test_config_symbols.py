"""core.config (env overrides, caps) and core.symbols (validation gate, universe)."""

from __future__ import annotations

import pytest

from core import config, symbols
from core.errors import InvalidSymbol


def test_defaults_and_env_overrides():
    s = config.from_env({})
    assert (s.provider, s.cache_mb, s.max_strikes, s.max_expiries, s.max_watchlist) == (
        "auto", 128.0, 40, 8, 30)
    s = config.from_env({"OPTIONS_DASH_PROVIDER": "Simulated", "OPTIONS_DASH_CACHE_MB": "64",
                         "OPTIONS_DASH_MAX_STRIKES": "20", "OPTIONS_DASH_ALLOW_CACHE_CLEAR": "1",
                         "OPTIONS_DASH_NOW": "2026-11-20T10:00"})
    assert s.provider == "simulated" and s.cache_bytes == 64 * 1024 * 1024
    assert s.max_strikes == 20 and s.allow_cache_clear is True and s.now == "2026-11-20T10:00"


def test_bad_env_values_are_clear_errors():
    with pytest.raises(ValueError, match="OPTIONS_DASH_MAX_STRIKES"):
        config.from_env({"OPTIONS_DASH_MAX_STRIKES": "many"})
    with pytest.raises(ValueError, match="auto, yahoo or simulated"):
        config.from_env({"OPTIONS_DASH_PROVIDER": "bloomberg"})


def test_strike_cap_is_clamped_not_an_error():
    s = config.from_env({})
    assert s.strikes(None) == 40 and s.strikes(10) == 10
    assert s.strikes(10_000) == s.max_strikes_hard and s.strikes(-3) == 1


def test_reload_reads_the_environment(monkeypatch):
    monkeypatch.setenv("OPTIONS_DASH_MAX_WATCHLIST", "12")
    assert config.reload().max_watchlist == 12 and config.settings().max_watchlist == 12


@pytest.mark.parametrize("text, expected", [
    ("aapl", "AAPL"), ("  msft ", "MSFT"), ("spx", "^SPX"), ("$SPX", "^SPX"), ("^ndx", "^NDX"),
    ("BRK-B", "BRK-B"), ("BRK.B", "BRK.B"), ("^RUT", "^RUT"),
])
def test_validate_normalises(text, expected):
    assert symbols.validate(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "12AB", "AAPL;DROP", "A B", "../etc", "TOOLONGSYMBOL",
                                  None, 42, "^", "AAPL!"])
def test_validate_rejects(text):
    with pytest.raises(InvalidSymbol):
        symbols.validate(text)


def test_validate_many_dedupes_caps_and_explains():
    good, notes = symbols.validate_many(["aapl", "AAPL", "bad sym", "msft", "nvda"], cap=2)
    assert good == ["AAPL", "MSFT"]
    assert any("1 entry was not a symbol: 'bad sym'" in n for n in notes) and any("at most 2" in n and "NVDA" in n for n in notes)


def test_universe_groups_and_listing():
    u = symbols.universe()
    assert {"SPY", "QQQ", "IWM", "DIA", "^SPX", "^NDX", "^RUT"} <= set(u)
    assert set(symbols.MAG7) <= set(u) and set(symbols.DEFAULT_WATCHLIST) <= set(u)
    assert len(symbols.DEFAULT_WATCHLIST) == 30
    assert 20 <= len(symbols.group("tech")) <= 30 and 25 <= len(symbols.group("value")) <= 30
    assert symbols.listing("SPY").expiries == "daily" and symbols.listing("ZZZZ") is None
    assert symbols.dividend_yield("SPY") > 0 and symbols.dividend_yield("ZZZZ") == 0.0
