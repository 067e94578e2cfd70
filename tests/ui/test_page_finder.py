"""Page 3 · Stock Option Finder (AppTest, simulated market, pinned clock): the filters change
the contracts shown exactly as core.analytics.walls.apply_filters says, caps clamp with a note,
the group comparison comes from one shared scan, bad input gives a message, and the page's state
stays in its namespace."""

from __future__ import annotations

import re

from core import clock, config, fetch, symbols
from core.analytics import walls
from core.ui import session
from tests.conftest import SATURDAY, CountingProvider
from tests.ui.apptest import (
    HOME, assert_page_ok, exceptions, namespace_keys, page_key, plotly_array, plotly_charts,
    run_page,
    state_bytes, state_keys, texts,
)

PATH = "pages/3_Stock_Option_Finder.py"
PID = "finder"
MATCH = re.compile(r"Contracts matching the filters · ([\d,]+) of ([\d,]+)")


def _matching(at) -> tuple[int, int]:
    for text in texts(at, "markdown"):
        found = MATCH.search(text)
        if found:
            return tuple(int(g.replace(",", "")) for g in found.groups())
    raise AssertionError("no 'Contracts matching' header")


def _expected(sym: str, f: walls.FinderFilters, n: int = 4, strikes: int = 40) -> int:
    chains = fetch.chains(sym, n=n, strikes=strikes)
    frame = walls.concat([c.frame for c in chains])
    years = {c.expiry: clock.time_to_expiry(c.expiry, c.as_of) for c in chains}
    return len(walls.apply_filters(frame, chains[0].spot, clock.today(), f, years,
                                   chains[0].rate, chains[0].div_yield))


def _titles(at) -> list[str]:
    return [f["layout"]["title"]["text"] for f in plotly_charts(at)]


def _cards(at) -> dict[str, str]:
    return {m.proto.label: m.value for m in at.metric}


def _wait_for_scan(names, horizon=7):
    job = fetch.scan("finder.compare", lambda s: None, names, target_dte=horizon)  # joins it
    assert job.wait(60)


def test_renders_on_a_trading_day():
    at = run_page(PATH)
    assert_page_ok(at, charts=4)
    shown, total = _matching(at)
    assert (shown, total) == (_expected("SPY", walls.FinderFilters()), 4 * 80)
    chains = fetch.chains("SPY", n=4, strikes=40)
    cards = _cards(at)
    assert cards["Spot"] == f"{chains[0].spot:,.2f}"
    titles = _titles(at)
    for part in ("IV smile", "net GEX by strike, 4 expiries", "net GEX by strike and expiry",
                 "ATM IV term structure"):
        assert any(part in t for t in titles), part
    assert any("Gamma band low" in c for c in texts(at, "caption"))


def _summary(chains):
    years = {c.expiry: clock.time_to_expiry(c.expiry, c.as_of) for c in chains}
    return walls.gamma_summary(walls.concat([c.frame for c in chains]), chains[0].spot,
                               chains[0].rate, chains[0].div_yield, years)


def test_zero_gamma_net_gex_and_band_come_from_the_full_chains_not_the_view():
    at = run_page(PATH)
    hard = fetch.settings().max_strikes_hard
    full = _summary(fetch.chains("SPY", n=4, strikes=hard))
    view = _summary(fetch.chains("SPY", n=4, strikes=40))
    assert full.net_gex != view.net_gex  # the 40-strike view would show another number
    cards = _cards(at)
    sign = "−" if full.net_gex < 0 else ""
    assert cards["Net GEX"] == f"{sign}${abs(full.net_gex) / 1e6:,.1f}M"
    assert cards["Zero gamma"] == ("none in range" if full.zero_gamma is None
                                   else f"{full.zero_gamma:,.2f}")
    assert cards["70% gamma band"] == f"{full.band[0]:,.2f} – {full.band[1]:,.2f}"
    # the chart shows the 40 strikes nearest spot (a display cap) of the full-chain table
    bars = [f for f in plotly_charts(at) if "net GEX by strike, 4" in f["layout"]["title"]["text"]]
    assert len(plotly_array(bars[0]["data"][0]["x"])) == 40


def test_renders_on_a_saturday():
    with clock.frozen(SATURDAY):
        at = run_page(PATH)
        assert_page_ok(at, charts=4)
        assert any("Market closed" in t for t in texts(at, "info"))
        loaded = [c for c in texts(at, "caption") if c.startswith("Expiries loaded")][0]
        assert "Mon 23 Nov 2026 · 2 DTE" in loaded and "Fri 20 Nov" not in loaded
        assert _matching(at)[0] == _expected("SPY", walls.FinderFilters())


def test_each_filter_changes_the_contracts_shown():
    at = run_page(PATH)
    default = _matching(at)[0]
    at.radio(key=page_key(PID, "kind")).set_value("put").run()
    puts = _matching(at)[0]
    assert puts == _expected("SPY", walls.FinderFilters(kind="put")) < default
    at.number_input(key=page_key(PID, "min_oi")).set_value(2000).run()
    f = walls.FinderFilters(kind="put", min_oi=2000)
    assert _matching(at)[0] == _expected("SPY", f) < puts
    at.slider(key=page_key(PID, "delta")).set_value((0.2, 0.6)).run()
    f = walls.FinderFilters(kind="put", min_oi=2000, delta=(0.2, 0.6))
    assert _matching(at)[0] == _expected("SPY", f)
    at.slider(key=page_key(PID, "moneyness")).set_value((-2, 0)).run()
    f = walls.FinderFilters(kind="put", min_oi=2000, moneyness=(-2.0, 0.0), delta=(0.2, 0.6))
    assert _matching(at)[0] == _expected("SPY", f)
    at.slider(key=page_key(PID, "dte")).set_value((3, 30)).run()  # drops today's 0DTE
    f = walls.FinderFilters(kind="put", min_oi=2000, moneyness=(-2.0, 0.0), dte=(3, 30),
                            delta=(0.2, 0.6))
    assert _matching(at)[0] == _expected("SPY", f)
    assert_page_ok(at, charts=4)
    table = at.dataframe[0].value
    assert set(table["type"]) <= {"put"} and (table["open_interest"] >= 2000).all()
    assert (table["dte"] >= 3).all()


def test_no_match_says_how_to_widen_the_filters():
    at = run_page(PATH)
    at.number_input(key=page_key(PID, "min_oi")).set_value(10_000_000).run()
    assert _matching(at)[0] == 0
    assert any("No contract passes every filter" in t for t in texts(at, "info"))


def test_expiries_past_the_cap_are_clamped_with_a_note():
    at = run_page(PATH)
    at.number_input(key=page_key(PID, "n_expiries")).set_value(12).run()
    assert_page_ok(at, charts=4)
    assert "Showing 8 expiries: 12 asked, the cap is 8." in texts(at, "info")
    loaded = [c for c in texts(at, "caption") if c.startswith("Expiries loaded")][0]
    assert loaded.count("DTE") == 8
    assert _matching(at)[1] == 8 * 80
    assert any("net GEX by strike, 8 expiries" in t for t in _titles(at))


def test_symbol_and_chain_expiry_change_the_numbers():
    at = run_page(PATH)
    at.text_input(key=page_key(PID, "symbol.input")).set_value("NVDA").run()
    assert_page_ok(at, charts=4)
    nvda = fetch.chains("NVDA", n=4, strikes=40)
    assert _cards(at)["Spot"] == f"{nvda[0].spot:,.2f}"
    assert _matching(at)[0] == _expected("NVDA", walls.FinderFilters())
    listed = fetch.expirations("NVDA")
    at.selectbox(key=page_key(PID, "chain_expiry.NVDA")).set_value(listed[1]).run()
    assert any(t == f"NVDA · IV smile, {listed[1]:%d %b %Y}" for t in _titles(at))


def test_group_comparison_comes_from_one_shared_scan():
    at = run_page(PATH)
    _wait_for_scan(list(symbols.MAG7))
    at.run()
    assert_page_ok(at, charts=4)
    table = at.dataframe[-1].value
    assert table["symbol"].tolist() == list(symbols.MAG7)
    today = clock.today()
    expiry = walls.nearest_expiry(fetch.expirations("AAPL"), today, 7)
    kl = fetch.key_levels("AAPL", expiry)
    row = table.set_index("symbol").loc["AAPL"]
    assert row["max_pain"] == kl.max_pain and row["call_wall_oi"] == kl.call_wall_oi
    assert row["dte"] == (expiry - today).days
    # a different horizon is a different shared scan, with the levels of another expiry
    at.number_input(key=page_key(PID, "horizon")).set_value(30).run()
    _wait_for_scan(list(symbols.MAG7), 30)
    at.run()
    far = at.dataframe[-1].value.set_index("symbol").loc["AAPL"]
    assert far["dte"] == (walls.nearest_expiry(fetch.expirations("AAPL"), today, 30)
                          - today).days > row["dte"]


def test_a_custom_group_past_the_cap_is_clamped_with_a_note(monkeypatch):
    monkeypatch.setenv("OPTIONS_DASH_MAX_WATCHLIST", "3")
    config.reload()
    fetch.reset()
    at = run_page(PATH)
    at.selectbox(key=page_key(PID, "group")).set_value("custom").run()
    at.text_input(key=page_key(PID, "custom")).set_value("AAPL, MSFT NVDA TSLA bad$").run()
    assert not exceptions(at)
    notes = texts(at, "info")
    assert any("at most 3 symbols: dropped TSLA" in t.replace("\\", "") for t in notes)
    _wait_for_scan(["AAPL", "MSFT", "NVDA"])
    at.run()
    assert at.dataframe[-1].value["symbol"].tolist() == ["AAPL", "MSFT", "NVDA"]


def test_state_stays_in_the_namespace_and_is_gone_after_leaving():
    at = run_page(PATH)
    at.radio(key=page_key(PID, "kind")).set_value("call").run()
    own = namespace_keys(at, PID)
    assert page_key(PID, "kind") in own and page_key(PID, "moneyness") in own
    assert all(k.startswith(("g.", page_key(PID, ""))) for k in state_keys(at)), state_keys(at)
    assert state_bytes(at) < session.STATE_BUDGET_BYTES
    run_page("pages/4_Option_Volume_Walls.py", at=at)
    assert not exceptions(at)
    assert namespace_keys(at, PID) == []
    run_page(HOME, at=at)
    assert namespace_keys(at, "walls") == []


class _NoOptions(CountingProvider):
    def expirations(self, symbol):
        return [] if symbol == "GME" else super().expirations(symbol)


def test_bad_symbols_give_messages_not_tracebacks():
    fetch.reset(_NoOptions())
    at = run_page(PATH)
    at.text_input(key=page_key(PID, "symbol.input")).set_value("not a symbol").run()
    assert_page_ok(at, charts=4)  # keeps showing SPY
    assert any("Invalid symbol" in t for t in texts(at, "warning"))
    at.text_input(key=page_key(PID, "symbol.input")).set_value("QQQQQ").run()
    assert not exceptions(at)
    assert any("Symbol not found" in t for t in texts(at, "warning"))
    at.text_input(key=page_key(PID, "symbol.input")).set_value("GME").run()
    assert not exceptions(at) and not texts(at, "error")
    assert any("GME has no listed options" in t for t in texts(at, "info"))


def test_a_chain_expiry_that_rolls_off_falls_back_to_the_next_with_a_note():
    with clock.frozen("2026-11-20 15:58"):
        at = run_page(PATH)
        assert at.selectbox(key=page_key(PID, "chain_expiry.SPY")).value.day == 20
    with clock.frozen("2026-11-20 16:05"):
        at.run()
        assert_page_ok(at, charts=4)
        assert at.selectbox(key=page_key(PID, "chain_expiry.SPY")).value.day == 23
        assert any("Fri 20 Nov expiry has expired and rolled off" in t
                   for t in texts(at, "info"))
        loaded = [c for c in texts(at, "caption") if c.startswith("Expiries loaded")][0]
        assert "Fri 20 Nov" not in loaded
