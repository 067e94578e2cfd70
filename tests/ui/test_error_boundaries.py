"""Error boundaries: what a provider or one section gets wrong becomes a clear message in that
place, never a crash of the page (empty expiry list, NaN spot, a provider's non-DataError, a
bug in one section)."""

from __future__ import annotations

import dataclasses

import pytest

from core import fetch
from core.analytics import walls
from core.ui import layout
from tests.ui.apptest import ALL_PATHS, HOME, exceptions, run_page, texts


class _Odd:
    """The simulated market answering wrongly for the symbols in ``odd`` (one way per test)."""

    def __init__(self, inner, odd, how):
        self.inner, self.odd, self.how, self.name, self.remote = inner, odd, how, "simulated", False

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def expirations(self, symbol):
        if symbol in self.odd and self.how == "no-expiries":
            return []
        if symbol in self.odd and self.how == "crash":
            raise RuntimeError("'NoneType' object has no attribute 'options'")
        return self.inner.expirations(symbol)

    def chain(self, symbol, expiry):
        c = self.inner.chain(symbol, expiry)
        if symbol in self.odd and self.how == "nan-spot":
            return dataclasses.replace(c, spot=float("nan"))
        return c

    def quote(self, symbol):
        if symbol in self.odd and self.how == "crash":
            raise KeyError("regularMarketPrice")
        return self.inner.quote(symbol)


def test_home_with_a_symbol_that_lists_no_expiry_shows_a_note_on_its_card(upstream):
    fetch.reset(_Odd(upstream.inner, {"QQQ"}, "no-expiries"))
    at = run_page(HOME)
    assert not exceptions(at)
    assert any("QQQ has no listed expiry" in t.replace("\\", "") for t in texts(at, "info"))
    assert any(m.startswith("SPY:") for m in texts(at, "metric"))  # the other cards are there


@pytest.mark.parametrize("how", ["crash", "nan-spot"])
@pytest.mark.parametrize("path", ALL_PATHS)
def test_a_provider_that_crashes_or_sends_a_nan_spot_gives_messages_not_a_broken_page(
        upstream, path, how):
    fetch.reset(_Odd(upstream.inner, {"SPY", "QQQ", "AAPL", "NVDA", "^SPX"}, how))
    at = run_page(path)
    assert not exceptions(at), exceptions(at)
    assert not any(layout.SECTION_FAILED in t for t in texts(at, "error"))


def test_a_bug_in_one_section_leaves_the_rest_of_the_page(monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in one section")

    monkeypatch.setattr(walls, "apply_filters", broken)
    at = run_page("pages/3_Stock_Option_Finder.py")
    assert not exceptions(at)
    assert layout.SECTION_FAILED in texts(at, "error")
    assert len(at.get("plotly_chart")) >= 3  # the chain, gamma and vol sections still drew


def test_the_badge_says_source_down_since_when_the_breaker_is_open(upstream):
    from core.errors import Unavailable

    fetch.quote("SPY")
    upstream.fail_with = Unavailable("timed out")
    for sym in ("AAPL", "MSFT", "NVDA"):
        with pytest.raises(Unavailable):
            fetch.quote(sym)
    at = run_page("pages/4_Option_Volume_Walls.py")
    assert not exceptions(at)
    assert any("source down since 11:30 ET" in t for t in texts(at, "markdown"))  # the badge


def _broken(*args, **kwargs):
    raise ZeroDivisionError("a bug in one section")


@pytest.mark.parametrize("path, module, name, metric, charts", [
    # the stacked walls fail: the cards, volume, OI, GEX and intraday charts stay
    ("pages/4_Option_Volume_Walls.py", "core.analytics.walls", "stacked_walls", "Max pain:", 4),
    # the whale tab's chart fails: the scan's summary stays
    ("pages/7_Whale_Flows.py", "core.ui.charts_scan", "contract_bars", "Whale contracts:", 0),
])
def test_a_bug_in_one_section_of_walls_or_whales_leaves_the_rest(monkeypatch, path, module,
                                                                  name, metric, charts):
    import importlib

    monkeypatch.setattr(importlib.import_module(module), name, _broken)
    at = run_page(path)
    assert not exceptions(at)
    assert texts(at, "error").count(layout.SECTION_FAILED) == 1
    assert any(m.startswith(metric) for m in texts(at, "metric"))
    assert len(at.get("plotly_chart")) == charts


def test_a_bug_in_one_command_center_card_leaves_the_other_cards(monkeypatch):
    from core.ui import charts_scan

    real = charts_scan.card_chart
    calls = []

    def first_card_broken(*args, **kwargs):
        calls.append(1)
        return _broken() if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(charts_scan, "card_chart", first_card_broken)
    at = run_page("pages/1_Command_Center.py")
    assert not exceptions(at)
    assert texts(at, "error").count(layout.SECTION_FAILED) == 1
    assert len(calls) > 1 and any(m.startswith("Bullish:") for m in texts(at, "metric"))
