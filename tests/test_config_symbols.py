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
    with pytest.raises(ValueError, match="auto, yahoo, simulated or replay"):
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


# --- settings checked at startup ---------------------------------------------------------------

@pytest.mark.parametrize("env, needle", [
    ({"OPTIONS_DASH_CACHE_MB": "0"}, "OPTIONS_DASH_CACHE_MB=0.0: must be between 1"),
    ({"OPTIONS_DASH_RATE_PER_SEC": "0"}, "OPTIONS_DASH_RATE_PER_SEC=0.0: must be between"),
    ({"OPTIONS_DASH_MAX_WATCHLIST": "100000"}, "OPTIONS_DASH_MAX_WATCHLIST=100000"),
    ({"OPTIONS_DASH_WORKERS": "0"}, "OPTIONS_DASH_WORKERS=0"),
    ({"OPTIONS_DASH_UPSTREAM_TIMEOUT": "nan"}, "finite"),
    ({"OPTIONS_DASH_TTL_QUOTE": "-5"}, "OPTIONS_DASH_TTL_QUOTE=-5.0"),
    ({"OPTIONS_DASH_MAX_STRIKES": "300"}, "above OPTIONS_DASH_MAX_STRIKES_HARD"),
    ({"OPTIONS_DASH_ALLOW_CACHE_CLEAR": "maybe"}, "expected 1/0"),
    ({"OPTIONS_DASH_MEMORY_LIMIT_MB": "10"}, "OPTIONS_DASH_MEMORY_LIMIT_MB=10.0"),
])
def test_each_bad_setting_is_refused_with_one_clear_line(env, needle):
    with pytest.raises(config.SettingsError) as info:
        config.from_env(env)
    assert len(info.value.problems) == 1 and needle in info.value.problems[0]


def test_every_bad_value_is_named_at_once_and_a_secret_is_never_echoed():
    env = {"OPTIONS_DASH_CACHE_MB": "0", "OPTIONS_DASH_RATE_PER_SEC": "0",
           "OPTIONS_DASH_OPERATOR_TOKEN": "hunter2"}
    with pytest.raises(config.SettingsError) as info:
        config.from_env(env)
    assert len(info.value.problems) == 3
    assert not any("hunter2" in p for p in info.value.problems)


def test_the_startup_check_logs_one_line_per_bad_value_and_exits_non_zero(caplog):
    assert config.check({}) == 0
    env = {"OPTIONS_DASH_CACHE_MB": "0", "OPTIONS_DASH_MAX_WATCHLIST": "100000"}
    assert config.check(env) == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "core.config"]
    assert len(lines) == 2 and all(line.startswith("bad setting: OPTIONS_DASH_") for line in lines)


def test_the_startup_check_runs_as_a_command():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTIONS_DASH_")}
    bad = subprocess.run([sys.executable, "-m", "core.config"], capture_output=True, text=True,
                         env=env | {"OPTIONS_DASH_RATE_PER_SEC": "0"}, cwd=config.ROOT)
    assert bad.returncode == 2 and "OPTIONS_DASH_RATE_PER_SEC" in bad.stderr
    good = subprocess.run([sys.executable, "-m", "core.config"], capture_output=True, text=True,
                          env=env, cwd=config.ROOT)
    assert good.returncode == 0
