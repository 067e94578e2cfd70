"""Whale Flows page (AppTest): the group scan renders its three tabs on a trading day and a
Saturday, the inputs change the numbers, the scan is shared and never kept in session state."""

from __future__ import annotations

import datetime as dt

from core import clock, symbols
from tests.conftest import SATURDAY
from tests.ui.apptest import (
    assert_page_ok, new_app, page_key, plotly_charts, run_page, state_keys, texts,
)

PATH = "pages/7_Whale_Flows.py"
WL = "NVDA,TSLA,SPY"


def open_on_watchlist(wl: str = WL):
    """A session whose Whale Flows page starts on the (small) watchlist group."""
    at = new_app({"wl": wl})
    at.run()
    at.session_state[page_key("whales", "group")] = "Watchlist"
    return run_page(PATH, at=at)


def metrics(at) -> dict[str, str]:
    return dict(m.split(": ", 1) for m in texts(at, "metric"))


def upstream_total(provider) -> int:
    return sum(v for k, v in provider.calls.items() if isinstance(k, str))


def show_tab(at, name):
    at.session_state[page_key("whales", "tab")] = name
    return at.run()


def test_default_tech_scan_is_cached_across_navigation_and_sessions(upstream):
    at = run_page(PATH)
    assert_page_ok(at)
    tech = symbols.group("tech")
    assert metrics(at)["Symbols"] == str(len(tech))
    assert any(f"Tech · {len(tech)} symbols × 2 expiries" in c for c in texts(at, "caption"))
    whales = at.dataframe[0].value
    assert set(whales["symbol"]) <= set(tech) and whales["whale_score"].is_monotonic_decreasing
    assert whales.groupby("symbol").size().max() <= 5  # top 5 per symbol by default
    calls = upstream_total(upstream)
    run_page("Home.py", at=at)  # leave the page and come back: no rescan
    run_page(PATH, at=at)
    assert upstream_total(upstream) == calls and at.dataframe[0].value.equals(whales)
    other = run_page(PATH)  # a second session gets the same cached result
    assert upstream_total(upstream) == calls and other.dataframe[0].value.equals(whales)


def test_three_tabs_on_a_trading_day():
    at = open_on_watchlist()
    assert_page_ok(at)
    assert [t.label for t in at.tabs] == ["Whale flows", "Fresh positioning",
                                          "Skew & implied move"]
    whales = at.dataframe[0].value
    assert set(whales["symbol"]) <= set(WL.split(",")) and len(whales) > 0
    assert set(whales["side"].dropna()) <= {"ask", "bid", "mid"}
    assert whales["tier"].isin(["$100k+", "$500k+", "$1M+"]).any()
    assert plotly_charts(at)[0]["layout"]["title"]["text"].startswith("Top ")
    assert [b.label for b in at.download_button] == [f"Download CSV · {len(whales)} rows"]

    show_tab(at, "Fresh positioning")
    assert_page_ok(at)
    fresh = at.dataframe[0].value
    assert (fresh["vol_oi"] >= 3).all() and fresh["fresh_score"].is_monotonic_decreasing

    show_tab(at, "Skew & implied move")
    assert_page_ok(at, charts=2)
    skew = at.dataframe[0].value
    assert len(skew) == 3 * 2  # one row per symbol and scanned expiry
    assert (skew["breakout_high"] > skew["spot"]).all() and (skew["sigma_low"] < skew["spot"]).all()
    for key in state_keys(at):
        assert key.startswith(("g.", "p.whales.")), key
        assert isinstance(at.session_state[key], (str, int, float, bool, tuple, type(None))), key


def test_saturday_uses_next_expiries_and_no_side():
    with clock.frozen(SATURDAY):
        at = open_on_watchlist()
        assert_page_ok(at)
        whales = at.dataframe[0].value
        assert whales["side"].isna().all()
        assert min(whales["expiry"]) >= dt.date(2026, 11, 23)


def test_inputs_change_the_numbers():
    at = open_on_watchlist()
    many = int(metrics(at)["Whale contracts"])
    at.number_input(key=page_key("whales", "top_n")).set_value(1).run()
    assert int(metrics(at)["Whale contracts"]) <= 3 < many
    at.number_input(key=page_key("whales", "min_score")).set_value(1e9).run()
    assert metrics(at)["Whale contracts"] == "0"
    assert any("No contract reaches this whale score" in i for i in texts(at, "info"))
    at.slider(key=page_key("whales", "n_exp")).set_value(3).run()
    show_tab(at, "Skew & implied move")
    assert len(at.dataframe[0].value) == 3 * 3


def test_filters_are_display_choices_not_new_scans(upstream):
    at = open_on_watchlist()
    calls = upstream_total(upstream)
    shown = at.dataframe[0].value
    other = open_on_watchlist()  # another session on the same group joins the cached scan
    assert upstream_total(upstream) == calls and other.dataframe[0].value.equals(shown)
    at.number_input(key=page_key("whales", "top_n")).set_value(2).run()
    at.number_input(key=page_key("whales", "min_score")).set_value(10.0).run()
    assert upstream_total(upstream) == calls
    assert not at.dataframe[0].value.equals(shown)
