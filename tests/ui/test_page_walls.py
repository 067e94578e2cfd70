"""Page 4 · Option Volume Walls (AppTest, simulated market, pinned clock): the cards show the
fetch layer's key levels, inputs change the numbers, caps clamp with a note, bad input gives a
message, and the page's state stays in its namespace."""

from __future__ import annotations

import base64
import dataclasses

import numpy as np
import pytest

from core import clock, fetch
from core.analytics import levels, walls
from core.schema import EMPTY_CHAIN, empty_chain_frame
from core.ui import session
from tests.conftest import SATURDAY, CountingProvider
from tests.ui.apptest import (
    HOME, assert_page_ok, exceptions, namespace_keys, page_key, plotly_charts, run_page,
    state_bytes, state_keys, texts,
)

PATH = "pages/4_Option_Volume_Walls.py"
PID = "walls"
CARDS = ("Call wall (volume)", "Put wall (volume)", "Zero gamma", "Max pain", "P/C (volume)",
         "Expected move (1σ)")


def _cards(at) -> dict[str, str]:
    return {m.proto.label: m.value for m in at.metric}


def _titles(at) -> list[str]:
    return [f["layout"]["title"]["text"] for f in plotly_charts(at)]


def _array(value) -> np.ndarray:
    """A plotly JSON array (a list, or plotly 6+'s typed {"dtype", "bdata"} form)."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def _fmt(value) -> str:
    return "none in range" if value is None else f"{value:,.2f}"


def test_renders_on_a_trading_day_with_the_fetch_layers_levels():
    at = run_page(PATH)
    assert_page_ok(at, charts=5)
    expiry = fetch.expirations("SPY")[0]
    kl = fetch.key_levels("SPY", expiry)
    cards = _cards(at)
    assert tuple(cards) == CARDS
    assert cards["Call wall (volume)"] == _fmt(kl.call_wall_volume)
    assert cards["Put wall (volume)"] == _fmt(kl.put_wall_volume)
    assert cards["Zero gamma"] == _fmt(kl.zero_gamma)
    assert cards["Max pain"] == _fmt(kl.max_pain)
    assert cards["P/C (volume)"] == f"{kl.pc_volume:.2f}"
    assert cards["Expected move (1σ)"] == f"±{kl.one_sigma_iv:,.2f}"
    titles = _titles(at)
    assert any("volume walls" in t for t in titles)
    assert any("open-interest walls" in t for t in titles)
    assert any("stacked across 3 expiries" in t for t in titles)
    assert any("net GEX by strike" in t for t in titles)
    assert any("5-min bars, Thu 19 – Fri 20 Nov" in t for t in titles)
    # every chart says what it shows, and every level drawn is defined under it
    assert any("**Zero gamma**" in c and "changes sign" in c for c in texts(at, "caption"))


def test_renders_on_a_saturday_with_the_closed_market_labelled():
    with clock.frozen(SATURDAY):
        at = run_page(PATH)
        assert_page_ok(at, charts=5)
        assert any("Market closed" in t for t in texts(at, "info"))
        expiry = at.selectbox(key=page_key(PID, "expiry.SPY")).value
        assert expiry == fetch.expirations("SPY")[0] and f"{expiry:%a}" == "Mon"
        assert any("5-min bars, Thu 19 – Fri 20 Nov" in t for t in _titles(at))
        kl = fetch.key_levels("SPY", expiry)
        assert kl.straddle is not None  # market closed: the straddle falls back to last trades
        assert _cards(at)["Max pain"] == _fmt(kl.max_pain)


def test_quick_button_switches_symbol_and_the_numbers():
    at = run_page(PATH)
    before = _cards(at)
    at.button(key=page_key(PID, "symbol.quick.NVDA")).click().run()
    assert_page_ok(at, charts=5)
    assert at.session_state[session.SYMBOL_KEY] == "NVDA"
    after = _cards(at)
    kl = fetch.key_levels("NVDA", fetch.expirations("NVDA")[0])
    assert after["Max pain"] == _fmt(kl.max_pain) != before["Max pain"]
    assert all(t.startswith("NVDA ·") for t in _titles(at))


def test_changing_the_expiry_changes_the_levels():
    at = run_page(PATH)
    listed = fetch.expirations("SPY")
    at.selectbox(key=page_key(PID, "expiry.SPY")).set_value(listed[2]).run()
    assert_page_ok(at, charts=5)
    kl = fetch.key_levels("SPY", listed[2])
    cards = _cards(at)
    assert cards["Max pain"] == _fmt(kl.max_pain)
    assert cards["Expected move (1σ)"] == f"±{kl.one_sigma_iv:,.2f}"
    assert any(f"{listed[2]:%d %b %Y}" in t for t in _titles(at))
    stacked = [c for c in texts(at, "caption") if c.startswith("Stacked:")][0]
    assert stacked.startswith(f"Stacked: {walls.expiry_list_text(listed[2:5])}")


def test_wall_kind_switches_the_cards_and_the_stacked_view():
    at = run_page(PATH)
    at.radio(key=page_key(PID, "kind")).set_value("gamma").run()
    assert_page_ok(at, charts=5)
    kl = fetch.key_levels("SPY", fetch.expirations("SPY")[0])
    cards = _cards(at)
    assert cards["Call wall (gamma)"] == _fmt(kl.call_wall_gamma)
    assert cards["Put wall (gamma)"] == _fmt(kl.put_wall_gamma)
    assert any(t.startswith("SPY · Gamma (GEX) walls stacked") for t in _titles(at))
    at.radio(key=page_key(PID, "kind")).set_value("oi").run()
    assert _cards(at)["Call wall (open interest)"] == _fmt(kl.call_wall_oi)


def test_strikes_shown_changes_the_bars_and_a_request_past_the_cap_is_clamped():
    at = run_page(PATH)

    def volume_strikes():
        fig = next(f for f in plotly_charts(at) if "volume walls" in f["layout"]["title"]["text"])
        return len(_array(fig["data"][0]["x"]))

    assert volume_strikes() == 40
    at.number_input(key=page_key(PID, "strikes")).set_value(10).run()
    assert volume_strikes() == 10
    assert not any("asked" in t for t in texts(at, "info"))
    # a full-chain level beyond the 10 strikes shown is named under the chart, not drawn
    kl = fetch.key_levels("SPY", fetch.expirations("SPY")[0])
    oi = next(f for f in plotly_charts(at) if "open-interest walls" in f["layout"]["title"]["text"])
    shown = _array(oi["data"][0]["x"])
    assert not shown.min() <= kl.put_wall_oi <= shown.max()
    assert "Put wall (OI)" not in [t.get("name") for t in oi["data"]]
    assert any("Beyond the strikes shown: " in c and f"Put wall (OI) {kl.put_wall_oi:,.2f}" in c
               for c in texts(at, "caption"))
    assert "Spot" in [t.get("name") for t in oi["data"]]
    at.number_input(key=page_key(PID, "strikes")).set_value(60).run()
    assert_page_ok(at, charts=5)
    assert volume_strikes() == 40
    assert "Showing 40 strikes: 60 asked, the cap is 40." in texts(at, "info")


@pytest.mark.parametrize("within", [0.5, 1.0])
def test_alerts_list_exactly_the_levels_within_the_alert_distance(within):
    at = run_page(PATH)
    at.slider(key=page_key(PID, "alert")).set_value(within).run()
    kl = fetch.key_levels("SPY", fetch.expirations("SPY")[0])
    expected = levels.proximity_alerts(kl.spot, walls.alert_levels(kl), within)
    alert = [t for t in texts(at, "warning") + texts(at, "success") if "spot" in t]
    assert len(alert) == 1
    if expected:
        assert f"within {within:.1f}% of {len(expected)} level" in alert[0]
        assert alert[0].count("\n- ") == len(expected)
        assert f"{expected[0].value:,.2f}" in alert[0]
    else:
        assert alert[0].startswith(f"No level within {within:.1f}%")


def test_state_stays_in_the_namespace_and_is_gone_after_leaving():
    at = run_page(PATH)
    at.slider(key=page_key(PID, "alert")).set_value(0.8).run()
    own = namespace_keys(at, PID)
    assert page_key(PID, "alert") in own and page_key(PID, "kind") in own
    assert all(k.startswith(("g.", page_key(PID, ""))) for k in state_keys(at)), state_keys(at)
    assert state_bytes(at) < session.STATE_BUDGET_BYTES
    run_page(HOME, at=at)
    assert not exceptions(at)
    assert namespace_keys(at, PID) == []


def test_invalid_and_unknown_symbols_give_messages_not_tracebacks():
    at = run_page(PATH)
    box = at.text_input(key=page_key(PID, "symbol.input"))
    box.set_value("12$$").run()
    assert_page_ok(at, charts=5)  # still showing SPY
    assert any("Invalid symbol" in t for t in texts(at, "warning"))
    at.text_input(key=page_key(PID, "symbol.input")).set_value("ZZZZ").run()
    assert not exceptions(at)
    assert any("Symbol not found" in t for t in texts(at, "warning"))


class _Quirky(CountingProvider):
    """The simulated market with GME listing no options and SPY's first expiry sent empty."""

    def expirations(self, symbol):
        return [] if symbol == "GME" else super().expirations(symbol)

    def chain(self, symbol, expiry):
        c = super().chain(symbol, expiry)
        if symbol == "SPY" and expiry == self.inner.expirations("SPY")[0]:
            return dataclasses.replace(c, frame=empty_chain_frame(), flags=c.flags | {EMPTY_CHAIN})
        return c


def test_a_symbol_without_options_and_an_empty_chain_get_clear_messages():
    fetch.reset(_Quirky())
    at = run_page(PATH)
    assert not exceptions(at) and not texts(at, "error")
    assert any("Empty chain" in t for t in texts(at, "info"))
    at.text_input(key=page_key(PID, "symbol.input")).set_value("GME").run()
    assert not exceptions(at) and not texts(at, "error")
    assert any("GME has no listed options" in t for t in texts(at, "info"))


def test_an_expiry_that_rolls_off_falls_back_to_the_next_with_a_note():
    with clock.frozen("2026-11-20 15:58"):
        at = run_page(PATH)
        assert at.selectbox(key=page_key(PID, "expiry.SPY")).value.day == 20
    with clock.frozen("2026-11-20 16:05"):
        at.run()
        assert_page_ok(at, charts=5)
        assert at.selectbox(key=page_key(PID, "expiry.SPY")).value.day == 23
        assert any("Fri 20 Nov expiry has expired and rolled off" in t
                   for t in texts(at, "info"))
