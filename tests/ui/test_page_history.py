"""The history views on the pages (AppTest): with simulated recordings they render; with none,
each says so plainly; before the open, yesterday's recorded OI is used and labelled."""

from __future__ import annotations

import dataclasses


from core import fetch
from core.ui import history as history_ui
from tests.conftest import CountingProvider
from tests.history.fixtures import no_history, recorded, with_history  # noqa: F401
from tests.ui.apptest import assert_page_ok, new_app, page_key, plotly_charts, run_page, texts

NO_HISTORY_START = "No recorded history for"
SMALL = {"wl": "SPY,AAPL,NVDA"}


def _all_text(at) -> str:
    return "\n".join(t for kind in ("markdown", "caption", "info", "warning") for t in
                     texts(at, kind)) + "\n".join(texts(at, "metric"))


def test_dashboard_history_renders_with_history(with_history):
    at = run_page("pages/2_Trading_Dashboard.py", query=SMALL)
    assert_page_ok(at)
    text = _all_text(at)
    assert "History: 3 days" in text and "3 days of history" in text
    assert "Closed inside the EM" in text and NO_HISTORY_START not in text
    titles = [f["layout"]["title"]["text"] for f in plotly_charts(at)]
    assert any(t.startswith("ΔOI (all)") for t in titles)
    assert any("were not recorded then and are left out" in t for t in texts(at, "caption"))
    assert any("30-day ATM IV by session" in t for t in titles)
    assert any("levels at the open vs the close" in t for t in titles)


def test_dashboard_history_says_so_without_history(no_history):
    at = run_page("pages/2_Trading_Dashboard.py", query=SMALL)
    assert_page_ok(at)
    infos = texts(at, "info")
    assert sum(i.startswith(NO_HISTORY_START) for i in infos) == 3  # ΔOI, IV rank, levels
    assert "History: 0 days" in _all_text(at)


def test_command_center_what_changed(with_history):
    at = run_page("pages/1_Command_Center.py", query=SMALL)
    assert_page_ok(at)
    assert any("What changed" in t for t in texts(at, "markdown"))
    assert any("symbols have no recording yet" in t for t in texts(at, "caption"))


def test_command_center_without_history(no_history):
    at = run_page("pages/1_Command_Center.py", query=SMALL)
    assert_page_ok(at)
    assert any(t.startswith("No recorded history for the watchlist yet") for t in
               texts(at, "info"))


def test_table_of_what_changed_has_yesterday_columns(with_history):
    table, missing = history_ui.what_changed_table(["SPY", "AAPL", "NVDA"])
    assert list(table["symbol"]) == ["SPY", "AAPL"] and missing == 1
    assert table["price_yday"].notna().all() and table["price_open"].isna().all()


def _whales_fresh_tab():
    at = new_app(SMALL)
    at.run()
    at.session_state[page_key("whales", "group")] = "Watchlist"
    at = run_page("pages/7_Whale_Flows.py", at=at)
    at.session_state[page_key("whales", "tab")] = "Fresh positioning"
    return at.run()


def test_whale_fresh_positioning_from_real_oi(with_history):
    at = _whales_fresh_tab()
    assert_page_ok(at)
    assert any("Fresh positioning from real ΔOI" in t for t in texts(at, "markdown"))
    assert any("No recording yet for: NVDA (proxy only)" in t for t in texts(at, "caption"))
    real = [d.value for d in at.dataframe if "oi_change" in d.value.columns]
    assert real and set(real[0]["symbol"]) <= {"SPY", "AAPL"} and (real[0]["oi_change"] > 0).all()


def test_whale_fresh_section_without_history(no_history):
    at = _whales_fresh_tab()
    assert_page_ok(at)
    assert any(t.startswith("No recorded history for these symbols yet") for t in
               texts(at, "info"))


class NoOIYet(CountingProvider):
    """The simulated upstream as Yahoo behaves before the open: open interest 0 everywhere."""

    def chain(self, symbol, expiry):
        c = super().chain(symbol, expiry)
        return dataclasses.replace(c, frame=c.frame.assign(open_interest=0))


def test_walls_pre_market_uses_yesterdays_recorded_oi(with_history):
    fetch.reset(NoOIYet())
    at = run_page("pages/4_Option_Volume_Walls.py", query={"symbol": "SPY"})
    assert not at.exception
    assert any("Open interest before the open" in t for t in texts(at, "markdown"))
    assert any("Yesterday's OI" in t and "Thu 19 Nov" in t for t in texts(at, "caption"))
    titles = [f["layout"]["title"]["text"] for f in plotly_charts(at)]
    assert any("as recorded Thu 19 Nov 16:15 ET" in t for t in titles)


def test_walls_pre_market_without_history_says_so(no_history):
    fetch.reset(NoOIYet())
    at = run_page("pages/4_Option_Volume_Walls.py", query={"symbol": "SPY"})
    assert not at.exception
    assert any("no previous session was recorded" in t for t in texts(at, "info"))


def test_walls_at_the_real_pre_market_use_recorded_oi(with_history):
    """The simulated market itself sends OI 0 before the open (like Yahoo)."""
    from core import clock

    with clock.frozen("2026-11-20 08:00"):
        fetch.reset()
        at = run_page("pages/4_Option_Volume_Walls.py", query={"symbol": "SPY"})
        assert not at.exception
        assert any("Yesterday's OI" in t and "Thu 19 Nov" in t for t in texts(at, "caption"))
