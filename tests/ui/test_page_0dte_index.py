"""Page 6 · 0DTE by Index (AppTest, simulated market): the combined chart, key strikes, signal and
Mag 7 cards at mid-session, 5 minutes before the close, on an early-close day and a Saturday;
picking an index changes the numbers; the Mag 7 reuse the shared cached chains."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from core import clock, fetch, symbols
from core.analytics import levels, zero_dte
from core.ui import charts_0dte, session
from tests.conftest import SATURDAY
from tests.ui.apptest import (
    assert_page_ok, namespace_keys, page_key, plotly_charts, run_page, state_bytes, state_keys,
    texts,
)

PAGE = "pages/6_0DTE_by_Index.py"
PAGE_ID = "zero_dte_index"
BEFORE_CLOSE = "2026-11-20 15:55"
EARLY_CLOSE = "2026-11-27 12:00"


def metrics(at) -> dict[str, str]:
    return dict(m.split(": ", 1) for m in texts(at, "metric"))


def progress_text(at) -> str:
    return at.get("progress")[0].proto.text


def values(array) -> list[float]:
    """A plotly array from the figure JSON (plain list, or plotly's base64 typed array)."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def the_chart(at) -> dict:
    (fig,) = plotly_charts(at)
    return fig


def test_mid_session_chart_has_price_volume_and_gex_panels_with_levels():
    at = run_page(PAGE)
    assert_page_ok(at, charts=1)
    fig = the_chart(at)
    title = fig["layout"]["title"]["text"]
    assert title.startswith("SPY · price (today, 5-min), volume and net GEX by strike")
    assert title.endswith("0DTE · Fri 20 Nov 2026")
    kinds = [t["type"] for t in fig["data"]]
    assert kinds[0] == "candlestick" and kinds.count("bar") == 3
    assert {"xaxis", "xaxis2", "xaxis3"} <= set(fig["layout"])
    kl = fetch.key_levels("SPY", clock.today())
    names = [t.get("name", "") for t in fig["data"]]
    assert f"Zero gamma {kl.zero_gamma:,.2f}" in names
    assert f"Max pain {kl.max_pain:,.2f}" in names
    assert f"Call wall (gamma) {kl.call_wall_gamma:,.2f}" in names
    # one line across all panels per level
    assert len(fig["layout"]["shapes"]) == sum(t["type"] == "scatter" for t in fig["data"])
    chain = fetch.chain("SPY", clock.today())
    volume = [t for t in fig["data"] if t.get("name") == "Call volume"][0]
    assert sorted(values(volume["y"])) == sorted(levels.by_strike(chain.frame)["strike"].tolist())
    assert progress_text(at) == "Session 31% done · closes 16:00 ET, in 4h 30m"


def test_signal_metrics_and_key_strikes_are_the_cores():
    at = run_page(PAGE)
    kl = fetch.key_levels("SPY", clock.today())
    m = metrics(at)
    sig = zero_dte.signal(kl.spot, kl.zero_gamma, kl.pc_volume)
    assert f"### :{'red' if sig.score < 0 else 'green' if sig.score else 'gray'}[{sig.label}]" \
        in texts(at, "markdown")
    assert f"{sig.reasons[0].capitalize()}; {sig.reasons[1]}." in texts(at, "caption")
    assert m["Zero gamma"] == f"{kl.zero_gamma:,.2f}"
    assert m["Put/call (volume)"] == f"{kl.pc_volume:,.2f}"
    assert m["Expected move (1σ)"] == f"±{kl.one_sigma_iv:,.2f}"
    (table,) = at.dataframe
    expected = zero_dte.key_strikes(kl)
    assert table.value["price"].tolist() == expected["level"].tolist()
    assert table.value["vs spot %"].tolist() == pytest.approx(expected["distance_pct"].tolist())
    assert table.value["definition"].map(bool).all()


def test_mag7_cards_show_each_names_walls_and_move():
    at = run_page(PAGE)
    m = metrics(at)
    cards = [t for t in texts(at, "markdown") if "Call wall]" in t]
    assert len(cards) == len(symbols.MAG7) == 7
    for sym, card in zip(symbols.MAG7, cards):
        assert m[sym] == f"{fetch.quote(sym).price:,.2f}"
        expiry = fetch.expirations(sym)[0]
        kl = fetch.key_levels(sym, expiry)
        assert f":green[Call wall] **{kl.call_wall_oi:,.0f}**" in card
        assert f":red[Put wall] **{kl.put_wall_oi:,.0f}**" in card
        assert f"EM **±{kl.one_sigma_iv:,.2f}" in card


def test_picking_an_index_changes_the_numbers_and_state_stays_in_the_namespace():
    at = run_page(PAGE)
    before = metrics(at)
    at.selectbox(key=page_key(PAGE_ID, "index")).set_value("^SPX").run()
    assert_page_ok(at, charts=1)
    after = metrics(at)
    assert after["^SPX price"] == f"{fetch.quote('^SPX').price:,.2f}"
    assert "SPY price" not in after and after["Zero gamma"] != before["Zero gamma"]
    assert the_chart(at)["layout"]["title"]["text"].startswith("^SPX · price")
    page_keys = [k for k in state_keys(at) if k.startswith(session.PAGE_PREFIX)]
    assert set(page_keys) <= set(namespace_keys(at, PAGE_ID))
    assert at.session_state[page_key(PAGE_ID, "index")] == "^SPX"
    assert state_bytes(at) < session.STATE_BUDGET_BYTES


def test_five_minutes_before_the_close():
    with clock.frozen(BEFORE_CLOSE):
        fetch.reset()
        at = run_page(PAGE)
        assert_page_ok(at, charts=1)
        assert progress_text(at) == "Session 99% done · closes 16:00 ET, in 5m"
        assert the_chart(at)["layout"]["title"]["text"].endswith("0DTE · Fri 20 Nov 2026")
        kl = fetch.key_levels("SPY", clock.today())
        # T is floored at 5 minutes: the 1σ move is S·σ·√(5 min)
        assert kl.one_sigma_iv == pytest.approx(kl.spot * kl.atm_iv * clock.MIN_T_YEARS ** 0.5)
        assert metrics(at)["Expected move (1σ)"] == f"±{kl.one_sigma_iv:,.2f}"


def test_early_close_day():
    with clock.frozen(EARLY_CLOSE):
        fetch.reset()
        at = run_page(PAGE)
        assert_page_ok(at, charts=1)
        assert progress_text(at) == ("Session 71% done · closes 13:00 ET (early close), "
                                     "in 1h 00m")
        assert the_chart(at)["layout"]["title"]["text"].endswith("0DTE · Fri 27 Nov 2026")


def test_saturday_shows_the_next_sessions_expiry_clearly_labelled():
    with clock.frozen(SATURDAY):
        fetch.reset()
        at = run_page(PAGE)
        assert_page_ok(at, charts=1)
        assert texts(at, "info") == [
            "No 0DTE today: the market is closed today (weekend). Showing the next session's "
            "expiry instead: Mon 23 Nov 2026 · 2 DTE."]
        title = the_chart(at)["layout"]["title"]["text"]
        assert "price (last session, 5-min)" in title
        assert title.endswith("Next session's expiry · Mon 23 Nov 2026")
        assert progress_text(at).startswith("Closed · next session Mon 23 Nov 09:30 ET")


def test_mag7_and_indexes_share_one_fetch_per_chain_across_sessions_and_pages(upstream):
    today = clock.today()
    run_page(PAGE)
    run_page(PAGE)                  # a second session
    run_page("pages/5_0DTE.py")     # another page showing SPY's 0DTE
    for sym in ("SPY", *symbols.MAG7):
        expiry = fetch.expirations(sym)[0]
        assert upstream.calls[("chain", sym, expiry)] == 1, sym
    assert upstream.calls[("chain", "SPY", today)] == 1
    assert upstream.calls[("expirations", "AAPL")] == 1


def test_spx_daily_0dte_uses_pm_settled_spxw_contracts():
    """On a daily (non-monthly) expiry the ^SPX 0DTE chain the page shows is SPXW only."""
    with clock.frozen("2026-11-23 11:30"):  # a Monday: a daily expiry
        fetch.reset()
        at = run_page(PAGE)
        at.selectbox(key=page_key(PAGE_ID, "index")).set_value("^SPX").run()
        assert_page_ok(at, charts=1)
        assert the_chart(at)["layout"]["title"]["text"].endswith("0DTE · Mon 23 Nov 2026")
        chain = fetch.chain("^SPX", clock.today())
        roots = set(chain.frame["contract"].str.extract(r"^([A-Z]+)\d")[0])
        assert roots == {"SPXW"}


def test_price_axis_focuses_on_the_expected_move_within_the_strikes():
    strikes = np.arange(80.0, 121.0)
    low, high = charts_0dte.y_range(strikes, None, 100.0, 1.0)     # ± 3 moves = 97..103
    assert (low, high) == pytest.approx((97 - 0.18, 103 + 0.18))   # + 3 % padding
    low, high = charts_0dte.y_range(strikes, None, 100.0, 50.0)    # clipped to the strikes
    assert (low, high) == pytest.approx((80 - 1.2, 120 + 1.2))
    low, high = charts_0dte.y_range(strikes, None, 100.0, None)    # no move: every strike
    assert (low, high) == pytest.approx((80 - 1.2, 120 + 1.2))
