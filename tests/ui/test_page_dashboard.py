"""Trading Dashboard page (AppTest): banner, price chart with levels, net GEX, heatmap, unusual
activity and the watchlist table, on a trading day and a Saturday; inputs change the numbers."""

from __future__ import annotations

import datetime as dt

from core import clock, fetch
from tests.conftest import SATURDAY
from tests.ui.apptest import (
    assert_page_ok, exceptions, page_key, plotly_charts, run_page, state_keys, texts,
)

PATH = "pages/2_Trading_Dashboard.py"
WL = "AAPL,NVDA,XOM"
SMALL = {"wl": WL}


def metrics(at) -> dict[str, str]:
    return dict(m.split(": ", 1) for m in texts(at, "metric"))


def titles(at) -> list[str]:
    return [f["layout"]["title"]["text"] for f in plotly_charts(at)]


def frames(at) -> list:
    return [d.value for d in at.dataframe]


def watchlist_table(at):
    return next(f for f in frames(at) if "net_gex_sign" in f.columns)


def test_trading_day_shows_banner_charts_unusual_and_watchlist():
    at = run_page(PATH, query=SMALL)
    assert_page_ok(at, charts=3)
    m = metrics(at)
    for label in ("SPY", "Zero gamma", "Call wall (OI)", "Put wall (OI)", "Max pain",
                  "P/C volume · OI", "RSI 14 (5-min)", "Expected move (1σ)",
                  "Most active strikes", "Net GEX"):
        assert label in m, label
    assert len(m["Most active strikes"].split(" · ")) == 3
    t = titles(at)
    assert t[0].startswith("SPY · 5-min bars") and "20 Nov" in t[0]
    assert t[1].startswith("Net GEX by strike") and t[2].startswith("Net GEX heatmap · 6 exp")
    price = plotly_charts(at)[0]
    names = {tr.get("name") for tr in price["data"]}
    assert {"VWAP", "Prev-day high", "Prev-day low", "OR high", "OR low", "Zero gamma",
            "Call wall (OI)", "Put wall (OI)"} <= names
    heat = next(f for f in plotly_charts(at) if f["data"][0]["type"] == "heatmap")
    assert len(heat["data"][0]["y"]) <= 40 and len(heat["data"][0]["x"]) == 6
    unusual = next(f for f in frames(at) if "tier" in f.columns)
    assert 0 < len(unusual) <= 15 and unusual["premium"].is_monotonic_decreasing
    assert set(unusual["side"].dropna()) <= {"ask", "bid", "mid"}
    wl = watchlist_table(at)
    assert list(wl["symbol"]) == WL.split(",")
    assert set(wl["net_gex_sign"]) <= {"+", "−", "0"}
    assert set(wl["trend"]) <= {"Strong up", "Up", "Mixed", "Down", "Strong down"}
    for key in state_keys(at):
        assert key.startswith(("g.", "p.trading.")), key
        assert not hasattr(at.session_state[key], "results"), key  # no ScanJob in state


def test_saturday_has_no_0dte_and_no_side():
    with clock.frozen(SATURDAY):
        at = run_page(PATH, query=SMALL)
        assert_page_ok(at, charts=3)
        assert any("No 0DTE" in i and "Mon 23 Nov" in i for i in texts(at, "info"))
        unusual = next(f for f in frames(at) if "tier" in f.columns)
        assert unusual["side"].isna().all()  # the market is closed: no side proxy
        assert set(watchlist_table(at)["expiry"]) == {dt.date(2026, 11, 27)}
        assert titles(at)[0].startswith("SPY · 5-min bars") and "23 Nov" in titles(at)[0]


def test_inputs_change_the_numbers():
    at = run_page(PATH, query=SMALL)
    before = metrics(at)
    at.segmented_control(key=page_key("trading", "tf")).set_value("Daily").run()
    assert_page_ok(at, charts=3)
    assert titles(at)[0].startswith("SPY · Daily bars")
    names = {tr.get("name") for tr in plotly_charts(at)[0]["data"]}
    assert {"EMA 21", "EMA 50"} <= names and "VWAP" not in names
    assert metrics(at)["RSI 14 (Daily)"] != before["RSI 14 (5-min)"]

    expiries = fetch.expirations("SPY")
    at.selectbox(key=page_key("trading", "expiry.SPY")).set_value(expiries[3]).run()
    after = metrics(at)
    assert after["Expected move (1σ)"] != before["Expected move (1σ)"]
    assert f"{expiries[3]:%d %b}" in titles(at)[1]

    at.number_input(key=page_key("trading", "n_exp")).set_value(2).run()
    assert "2 expiries" in titles(at)[2]

    at.button(key=page_key("trading", "symbol.quick.NVDA")).click().run()
    assert_page_ok(at, charts=3)
    assert "NVDA" in metrics(at) and titles(at)[0].startswith("NVDA")
    assert not any("No 0DTE" in i for i in texts(at, "info"))  # a weekly listing: no note


def test_watchlist_scan_is_cached_between_runs(upstream):
    at = run_page(PATH, query=SMALL)
    first = watchlist_table(at)
    history_calls = upstream.calls["history"]
    at.toggle(key=page_key("trading", "live")).set_value(False).run()  # paused: still renders
    assert_page_ok(at, charts=3)
    assert watchlist_table(at).equals(first)
    assert upstream.calls["history"] == history_calls


def test_invalid_and_unknown_symbols_are_messages():
    at = run_page(PATH, query=SMALL)
    at.text_input(key=page_key("trading", "symbol.input")).set_value("BAD$").run()
    assert not exceptions(at)
    assert any("Invalid symbol" in w for w in texts(at, "warning"))
    at.text_input(key=page_key("trading", "symbol.input")).set_value("ZZZZ").run()
    assert not exceptions(at)
    assert any("Symbol not found" in w for w in texts(at, "warning"))
