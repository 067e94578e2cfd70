"""Page 5 · 0DTE (AppTest, simulated market): mid-session, 5 minutes before the close, an
early-close day and a Saturday; the numbers shown are the core's; inputs change them; the
state stays small and in the page's namespace."""

from __future__ import annotations

import re

import pytest

from core import clock, config, fetch
from core.analytics import exposure, zero_dte
from core.ui import session
from tests.conftest import SATURDAY
from tests.ui.apptest import (
    assert_page_ok, exceptions, namespace_keys, page_key, plotly_charts, run_page, state_bytes,
    state_keys, texts,
)

PAGE = "pages/5_0DTE.py"
PAGE_ID = "zero_dte"
MID_SESSION = "2026-11-20 11:30"
BEFORE_CLOSE = "2026-11-20 15:55"
EARLY_CLOSE = "2026-11-27 12:00"
DEFAULT = ("SPY", "QQQ", "^SPX", "IWM")


def metrics(at) -> dict[str, str]:
    return dict(m.split(": ", 1) for m in texts(at, "metric"))


def markdown(at) -> list[str]:
    return texts(at, "markdown")


def expected_move(at, sym: str) -> float:
    """The ± expected move shown in ``sym``'s column (the columns come in DEFAULT order)."""
    moves = [float(m.group(1).replace(",", "")) for t in markdown(at)
             for m in [re.search(r"\*\*Expected move\*\* \([^)]*\): \*\*±([\d,.]+)\*\*", t)] if m]
    return moves[DEFAULT.index(sym)]


def test_mid_session_shows_timer_four_indexes_and_the_core_numbers():
    at = run_page(PAGE)
    assert_page_ok(at, charts=4)
    m = metrics(at)
    assert m["Time to close"] == "4h 30m"
    assert m["Session done"] == "31%"
    assert m["Closes"] == "16:00 ET"
    assert m["0DTE time left"] == "270 min"
    for sym in DEFAULT:
        q = fetch.quote(sym)
        assert m[f"{sym} price"] == f"{q.price:,.2f}"
    assert sum(t == ":green-badge[0DTE · Fri 20 Nov 2026]" for t in markdown(at)) == 4
    assert not any("No 0DTE" in t for t in texts(at, "info"))
    titles = [fig["layout"]["title"]["text"] for fig in plotly_charts(at)]
    assert titles == [f"{s} · volume by strike" for s in DEFAULT]
    # every column has its freshness badge (plus the divergence section's)
    assert sum("as of 11:30:00 ET" in t for t in markdown(at)) == 5


def test_levels_bias_alerts_and_flags_are_the_cores():
    at = run_page(PAGE)
    shown = "\n".join(markdown(at))
    today = clock.today()
    snaps = []
    for sym in DEFAULT:
        kl = fetch.key_levels(sym, today)
        b = zero_dte.bias(kl.spot, kl.zero_gamma)
        snaps.append(zero_dte.IndexSnapshot(sym, b.state, kl.pc_volume,
                                            fetch.quote(sym).change_pct))
        assert f"**Zero gamma** {kl.zero_gamma:,.2f} · **Max pain** {kl.max_pain:,.2f}" in shown
        assert f"Call wall** OI {kl.call_wall_oi:,.0f}" in shown
        regime = exposure.gamma_regime(kl.net_gex, kl.spot, kl.zero_gamma)
        assert regime.state == ("positive" if kl.net_gex > 0 else "negative")  # GEX sign at spot
        word = "damped" if regime.state == "positive" else "amplified"
        assert f"gamma · moves {word} · flip {regime.flip_pct:+.2f}%]" in shown
        for alert in zero_dte.level_alerts(kl):
            assert f"{alert.value:,.2f} {'↑' if alert.side == 'above' else '↓'}" \
                   f"{alert.distance_pct:.2f}%]" in shown
        rng = zero_dte.expected_range(kl)
        assert expected_move(at, sym) == pytest.approx(rng.move, abs=0.006)
    flags = zero_dte.divergences(snaps)
    for flag in flags:
        assert flag.message in shown
    if not flags:
        assert any(c.startswith("None: bias agrees") for c in texts(at, "caption"))


def test_five_minutes_before_the_close_the_move_uses_the_floored_time_left():
    at_mid = run_page(PAGE)
    move_mid = expected_move(at_mid, "SPY")
    with clock.frozen(BEFORE_CLOSE):
        fetch.reset()
        at = run_page(PAGE)
        assert_page_ok(at, charts=4)
        m = metrics(at)
        assert m["Time to close"] == "5m"
        assert m["Session done"] == "99%"
        assert m["0DTE time left"] == "5 min"
        assert sum(t == ":green-badge[0DTE · Fri 20 Nov 2026]" for t in markdown(at)) == 4
        move_late = expected_move(at, "SPY")
    # T: 5 minutes against 270 -> the 1σ move shrinks by ~√(5/270) ≈ 0.14 (IV moves a little)
    assert move_late < 0.3 * move_mid


def test_early_close_day_ends_at_13_00():
    with clock.frozen(EARLY_CLOSE):
        fetch.reset()
        at = run_page(PAGE)
        assert_page_ok(at, charts=4)
        m = metrics(at)
        assert m["Closes"] == "13:00 ET (early close)"
        assert m["Time to close"] == "1h 00m"
        assert m["0DTE time left"] == "60 min"
        assert m["Session done"] == "71%"
        assert sum(t == ":green-badge[0DTE · Fri 27 Nov 2026]" for t in markdown(at)) == 4


def test_saturday_says_no_0dte_and_labels_the_next_sessions_expiry():
    with clock.frozen(SATURDAY):
        fetch.reset()
        at = run_page(PAGE)
        assert_page_ok(at, charts=4)
        m = metrics(at)
        assert m["Market"] == "Closed"
        assert m["Next open"] == "Mon 09:30 ET"
        assert m["Opens in"] == "1d 21h"
        assert "Time to close" not in m
        assert texts(at, "info") == [
            "No 0DTE today: the market is closed today (weekend). Showing the next session's "
            "expiry instead: Mon 23 Nov 2026."]
        labels = [t for t in markdown(at) if "expiry · " in t]
        assert labels == [":orange-badge[Next session's expiry · Mon 23 Nov 2026]"] * 4
        assert any("to Mon close" in t for t in markdown(at))
        # off hours the page refreshes less often (nothing moves)
        assert any(f"refresh every {60 * zero_dte.CLOSED_FACTOR} s" in c
                   for c in texts(at, "caption"))


def test_picking_indexes_changes_the_columns_and_state_stays_in_the_namespace():
    at = run_page(PAGE)
    at.multiselect(key=page_key(PAGE_ID, "indexes")).set_value(["^NDX", "QQQ"]).run()
    assert_page_ok(at, charts=2)
    m = metrics(at)
    assert m["^NDX price"] == f"{fetch.quote('^NDX').price:,.2f}"
    assert "SPY price" not in m and "IWM price" not in m
    assert [f["layout"]["title"]["text"] for f in plotly_charts(at)] == [
        "^NDX · volume by strike", "QQQ · volume by strike"]
    page_keys = [k for k in state_keys(at) if k.startswith(session.PAGE_PREFIX)]
    assert page_keys and set(page_keys) <= set(namespace_keys(at, PAGE_ID))
    assert page_key(PAGE_ID, "indexes") in page_keys
    assert state_bytes(at) < session.STATE_BUDGET_BYTES


def test_no_index_picked_is_a_prompt_not_an_error():
    at = run_page(PAGE)
    at.multiselect(key=page_key(PAGE_ID, "indexes")).set_value([]).run()
    assert not exceptions(at)
    assert "Pick at least one index." in texts(at, "info")


def test_pause_toggle_says_paused():
    at = run_page(PAGE)
    assert any("Live] refresh every 60 s" in c for c in texts(at, "caption"))
    at.toggle(key=page_key(PAGE_ID, "paused")).set_value(True).run()
    assert_page_ok(at, charts=4)
    assert any("Paused]" in c for c in texts(at, "caption"))
    assert not any("Live]" in c for c in texts(at, "caption"))


def test_refresh_interval_follows_the_chain_ttl(monkeypatch):
    monkeypatch.setenv("OPTIONS_DASH_TTL_CHAIN_NEAR", "90")
    config.reload()
    fetch.reset()
    at = run_page(PAGE)
    assert any("refresh every 90 s" in c for c in texts(at, "caption"))


def test_index_cap_clamps_the_default(monkeypatch):
    monkeypatch.setenv("OPTIONS_DASH_MAX_INDEXES", "2")
    config.reload()
    fetch.reset()
    at = run_page(PAGE)
    assert_page_ok(at, charts=2)
    assert at.multiselect(key=page_key(PAGE_ID, "indexes")).value == ["SPY", "QQQ"]
