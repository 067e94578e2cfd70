"""core.analytics.walls on hand-made chains where the answer is known: walls by kind, walls
stacked across expiries and their strength, the finder's filters and columns, top |GEX| strikes,
the 70 % gamma band, and the group comparison row."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from core.analytics import exposure as ex
from core.analytics import levels, walls
from tests.analytics.chains import make_chain

TODAY = dt.date(2026, 1, 9)
E1, E2, E3 = dt.date(2026, 1, 9), dt.date(2026, 1, 16), dt.date(2026, 1, 23)


def _sided(column: str, calls: dict, puts: dict, **kw) -> pd.DataFrame:
    rows = [{"type": "call", "strike": k, column: n} for k, n in calls.items()]
    rows += [{"type": "put", "strike": k, column: n} for k, n in puts.items()]
    return make_chain(rows, **kw)


def _key_levels(**values) -> levels.KeyLevels:
    base = {f.name: None for f in dataclasses.fields(levels.KeyLevels)}
    base.update(spot=100.0, net_gex=0.0)
    base.update(values)
    return levels.KeyLevels(**base)


# ---------------------------------------------------------------- small helpers


def test_clamp_keeps_a_request_inside_the_cap_and_says_so_when_it_changes_it():
    assert walls.clamp(30, 40, "strikes") == (30, None)
    assert walls.clamp(40, 40, "strikes") == (40, None)
    value, note = walls.clamp(60, 40, "strikes")
    assert value == 40 and "60 asked" in note and "cap is 40" in note
    value, note = walls.clamp(0, 8, "expiries")
    assert value == 1 and "minimum is 1" in note


def test_nearest_expiry_picks_the_listed_horizon_nearest_the_target():
    listed = [E1, E2, E3]  # 0, 7 and 14 DTE
    assert walls.nearest_expiry(listed, TODAY, 7) == E2
    assert walls.nearest_expiry(listed, TODAY, 30) == E3
    assert walls.nearest_expiry(listed, TODAY, 0) == E1
    assert walls.nearest_expiry([E3, E1], TODAY, 7) == E1  # tie (7 days either way): earlier
    assert walls.nearest_expiry([], TODAY, 7) is None


def test_last_sessions_keeps_the_last_n_et_days():
    idx = pd.DatetimeIndex(["2026-01-07 15:55", "2026-01-08 09:30", "2026-01-08 15:55",
                            "2026-01-09 09:30", "2026-01-09 09:35"]).tz_localize("America/New_York")
    bars = pd.DataFrame({"close": [1.0, 2.0, 3.0, 4.0, 5.0]}, index=idx)
    two = walls.last_sessions(bars, 2)
    assert two["close"].tolist() == [2.0, 3.0, 4.0, 5.0]
    # a UTC index is read in ET: 2026-01-08 01:00 UTC is still 7 Jan in New York
    utc = pd.DataFrame({"close": [1.0, 2.0]},
                       index=pd.DatetimeIndex(["2026-01-08 01:00", "2026-01-08 15:00"], tz="UTC"))
    assert walls.last_sessions(utc, 1)["close"].tolist() == [2.0]
    assert walls.last_sessions(bars.iloc[:0], 2).empty


def test_pct_from_spot():
    assert walls.pct_from_spot(102.0, 100.0) == pytest.approx(2.0)
    assert walls.pct_from_spot(95.0, 100.0) == pytest.approx(-5.0)
    assert walls.pct_from_spot(None, 100.0) is None
    assert walls.pct_from_spot(float("nan"), 100.0) is None


def test_concat_joins_expiries_and_skips_empty_frames():
    a = _sided("open_interest", {100: 1}, {95: 2}, expiry=E1)
    b = _sided("open_interest", {100: 3}, {}, expiry=E2)
    both = walls.concat([a, b.iloc[:0], b])
    assert len(both) == 3 and set(both["expiry"]) == {E1, E2}
    assert walls.concat([]).empty


def test_split_by_range_keeps_levels_near_the_price_window():
    named = {"a": 100.0, "b": 104.0, "c": 120.0, "d": None, "e": float("nan"), "f": 97.6}
    inside, outside = walls.split_by_range(named, 98.0, 102.0, pad=0.25)  # window 97 .. 103
    assert inside == {"a": 100.0, "f": 97.6}
    assert outside == {"b": 104.0, "c": 120.0}


# ---------------------------------------------------------------- walls by kind


def test_side_sizes_and_walls_by_kind_on_a_chain_with_one_dominant_strike():
    frame = make_chain([
        {"type": "call", "strike": 100, "volume": 50, "open_interest": 9000},
        {"type": "call", "strike": 105, "volume": 4000, "open_interest": 100},
        {"type": "put", "strike": 95, "volume": 30, "open_interest": 7000},
        {"type": "put", "strike": 90, "volume": 2500, "open_interest": 10},
    ])
    assert walls.walls(frame, 100.0, "volume") == levels.Walls("volume", 105.0, 90.0)
    assert walls.walls(frame, 100.0, "oi") == levels.Walls("oi", 100.0, 95.0)
    sizes = walls.side_sizes(frame, 100.0, "oi")
    assert sizes["strike"].tolist() == [90.0, 95.0, 100.0, 105.0]
    assert sizes["call"].tolist() == [0, 0, 9000, 100]
    assert sizes["put"].tolist() == [10, 7000, 0, 0]
    with pytest.raises(ValueError):
        walls.side_sizes(frame, 100.0, "delta")


def test_gamma_sizes_are_gex_with_the_put_side_made_positive():
    # gamma set by hand: GEX = 0.01 * OI * 100 * 100^2 * 0.01 = 100 * OI ($ per 1% move)
    frame = make_chain([
        {"type": "call", "strike": 100, "open_interest": 500, "gamma": 0.01},
        {"type": "put", "strike": 95, "open_interest": 800, "gamma": 0.01},
        {"type": "put", "strike": 100, "open_interest": 200, "gamma": 0.01},
    ])
    sizes = walls.side_sizes(frame, 100.0, "gamma")
    np.testing.assert_allclose(sizes["call"], [0.0, 50_000.0])
    np.testing.assert_allclose(sizes["put"], [80_000.0, 20_000.0])
    assert walls.walls(frame, 100.0, "gamma") == levels.Walls("gamma", 100.0, 95.0)


# ---------------------------------------------------------------- stacked walls


def _three_expiries():
    """Call OI: 110 is the wall in all three expiries; 105 is the wall in E1 only; 120 is a
    near-wall (90 %) in each but never the wall. Put OI: 90 is the wall in E2 and E3, 95 in E1."""
    e1 = _sided("open_interest", {105: 1000, 110: 800, 120: 900},
                {90: 300, 95: 600}, expiry=E1, T=1 / 365)
    e2 = _sided("open_interest", {105: 100, 110: 2000, 120: 1800},
                {90: 5000, 95: 1000}, expiry=E2, T=8 / 365)
    e3 = _sided("open_interest", {105: 0, 110: 400, 120: 360},
                {90: 800, 95: 400}, expiry=E3, T=15 / 365)
    return [e1, e2, e3]


def test_stacked_walls_strength_is_the_sum_of_each_expirys_relative_size():
    stack = walls.stacked_walls(_three_expiries(), 100.0, "oi")
    assert stack.expiries == (E1, E2, E3)
    assert stack.per_expiry["call_wall"].tolist() == [105.0, 110.0, 110.0]
    assert stack.per_expiry["put_wall"].tolist() == [95.0, 90.0, 90.0]
    calls = stack.top("call", 5).set_index("strike")
    # 110: 800/1000 + 2000/2000 + 400/400 = 2.8 ; 120: 0.9 + 0.9 + 0.9 = 2.7 ;
    # 105: 1.0 + 100/2000 + 0 = 1.05
    assert calls.index.tolist() == [110.0, 120.0, 105.0]
    np.testing.assert_allclose(calls["strength"], [2.8, 2.7, 1.05])
    assert calls["walls"].tolist() == [2, 0, 1]
    assert calls.loc[110.0, "expiries"] == "16 Jan, 23 Jan"
    assert calls.loc[120.0, "expiries"] == ""
    assert calls.loc[110.0, "size"] == 3200
    assert calls.loc[110.0, "distance_pct"] == pytest.approx(10.0)
    puts = stack.top("put", 1)
    # 90: 0.5 + 1 + 1 = 2.5 beats 95: 1 + 0.2 + 0.5 = 1.7
    assert puts["strike"].tolist() == [90.0] and puts["strength"].iloc[0] == pytest.approx(2.5)


def test_a_strike_that_is_the_wall_in_every_expiry_scores_the_number_of_expiries():
    frames = [_sided("volume", {100: 50, 110: 500}, {90: 70}, expiry=e) for e in (E1, E2, E3)]
    stack = walls.stacked_walls(frames, 100.0, "volume")
    best = stack.top("call", 1)
    assert best["strike"].iloc[0] == 110.0
    assert best["strength"].iloc[0] == pytest.approx(3.0) and best["walls"].iloc[0] == 3
    layers = stack.layers
    # each expiry-side's relative size peaks at exactly 1 (its wall)
    assert (layers.groupby(["expiry", "side"])["relative"].max() == 1.0).all()
    assert layers.loc[layers["is_wall"], "strike"].tolist() == [110.0, 90.0] * 3


def test_stacked_walls_skip_empty_expiries_and_reject_unknown_kinds():
    frames = [_sided("open_interest", {100: 10}, {}, expiry=E1),
              _sided("open_interest", {}, {}, expiry=E2)]
    stack = walls.stacked_walls(frames, 100.0, "oi")
    assert stack.expiries == (E1,)
    assert math.isnan(stack.per_expiry["put_wall"].iloc[0])  # no put OI: no put wall
    assert stack.top("put").empty
    empty = walls.stacked_walls([], 100.0, "oi")
    assert empty.expiries == () and empty.strength.empty
    with pytest.raises(ValueError):
        walls.stacked_walls(frames, 100.0, "vega")


# ---------------------------------------------------------------- the Walls page's levels


def test_alert_levels_feed_proximity_alerts():
    kl = _key_levels(spot=100.0, call_wall_volume=100.6, put_wall_oi=99.0, zero_gamma=100.2,
                     max_pain=95.0)
    named = walls.alert_levels(kl)
    assert named["call_wall_volume"] == 100.6 and named["put_wall_gamma"] is None
    hits = levels.proximity_alerts(kl.spot, named, 0.7)
    assert [(a.level, a.side) for a in hits] == [("zero_gamma", "above"),
                                                 ("call_wall_volume", "above")]
    assert [a.level for a in levels.proximity_alerts(kl.spot, named, 1.0)][-1] == "put_wall_oi"


def test_expected_move_pct():
    assert walls.expected_move_pct(_key_levels(spot=200.0, one_sigma_iv=5.0)) == 2.5
    assert walls.expected_move_pct(_key_levels(one_sigma_iv=None)) is None


# ---------------------------------------------------------------- the finder


def _finder_chain():
    e1 = make_chain([
        {"type": "call", "strike": 100, "mid": 2.5, "open_interest": 500, "delta": 0.55},
        {"type": "call", "strike": 110, "mid": 0.4, "open_interest": 50, "delta": 0.12},
        {"type": "put", "strike": 95, "mid": 1.2, "open_interest": 800, "delta": -0.30},
        {"type": "put", "strike": 80, "mid": 0.0, "last": 0.0, "open_interest": 900,
         "iv_ok": False, "delta": float("nan")},
    ], expiry=E1)
    e2 = make_chain([
        {"type": "call", "strike": 105, "mid": 3.0, "open_interest": 300, "delta": 0.40},
        {"type": "put", "strike": 100, "mid": 4.0, "open_interest": 1000, "delta": -0.48},
    ], expiry=E3)
    return walls.concat([e1, e2])


def test_breakeven_probability_itm_and_moneyness_by_hand():
    frame = _finder_chain()
    table = walls.with_finder_columns(frame, 100.0, TODAY, {E1: 0.1, E3: 0.2}, 0.0, 0.0
                                      ).set_index(["expiry", "type", "strike"])
    assert table.loc[(E1, "call", 100.0), "breakeven"] == pytest.approx(102.5)   # K + mid
    assert table.loc[(E1, "put", 95.0), "breakeven"] == pytest.approx(93.8)      # K - mid
    assert table.loc[(E1, "put", 95.0), "breakeven_pct"] == pytest.approx(-6.2)
    assert math.isnan(table.loc[(E1, "put", 80.0), "breakeven"])                # no price
    # N(-d2), d2 = [ln(100/95) - 0.02 · 0.1] / (0.2 · √0.1) (make_chain's IV is 20 %)
    d2 = (math.log(100 / 95) - 0.5 * 0.04 * 0.1) / (0.2 * math.sqrt(0.1))
    assert table.loc[(E1, "put", 95.0), "prob_itm"] == pytest.approx(norm.cdf(-d2))
    assert math.isnan(table.loc[(E1, "put", 80.0), "prob_itm"])                 # IV unusable
    assert table.loc[(E3, "call", 105.0), "moneyness_pct"] == pytest.approx(5.0)
    assert table.loc[(E1, "put", 80.0), "moneyness_pct"] == pytest.approx(-20.0)
    assert table.loc[(E3, "put", 100.0), "dte"] == 14
    assert "breakeven" not in frame.columns  # the input is not modified


def test_probability_itm_is_n_d2_not_delta():
    # S = K = 100, σ = 80 %, T = 1, r = 5 %, q = 2 %: d1 = (0.03 + 0.32) / 0.8 = 0.4375,
    # d2 = d1 − 0.8 = −0.3625. P(call ITM) = N(−0.3625) = 0.3585 while Δ_call = e^{−0.02}·N(0.4375)
    # = 0.6559: delta would say 66 %, the risk-neutral odds are 36 %. Puts: N(0.3625) = 0.6415.
    frame = make_chain([{"type": "call", "strike": 100, "iv": 0.8},
                        {"type": "put", "strike": 100, "iv": 0.8}], spot=100.0, T=1.0,
                       r=0.05, q=0.02)
    p = walls.prob_itm(frame, 100.0, 1.0, 0.05, 0.02)
    calls = (frame["type"] == "call").to_numpy()
    assert p[calls].iloc[0] == pytest.approx(norm.cdf(-0.3625))
    assert p[~calls].iloc[0] == pytest.approx(norm.cdf(0.3625))
    assert frame.loc[calls, "delta"].iloc[0] == pytest.approx(0.6559, abs=1e-4)  # not |Δ|


def test_each_finder_filter_on_its_own():
    frame = _finder_chain()
    strikes = lambda f: sorted(zip(f["type"], f["strike"]))  # noqa: E731
    assert strikes(walls.by_type(frame, "put")) == [("put", 80.0), ("put", 95.0), ("put", 100.0)]
    assert len(walls.by_type(frame, "both")) == 6
    with pytest.raises(ValueError):
        walls.by_type(frame, "straddle")
    assert strikes(walls.by_min_oi(frame, 800)) == [("put", 80.0), ("put", 95.0),
                                                    ("put", 100.0)]
    # band -5 % .. +5 % around 100 keeps 95, 100, 105 (edges inclusive)
    assert strikes(walls.by_moneyness(frame, 100.0, -5, 5)) == [
        ("call", 100.0), ("call", 105.0), ("put", 95.0), ("put", 100.0)]
    assert set(walls.by_dte(frame, TODAY, 7, 30)["expiry"]) == {E3}
    assert set(walls.by_dte(frame, TODAY, 0, 0)["expiry"]) == {E1}
    # |delta| 0.3 .. 0.5 keeps the -0.30 put, the 0.40 call and the -0.48 put; NaN delta fails
    assert strikes(walls.by_delta(frame, 0.3, 0.5)) == [("call", 105.0), ("put", 95.0),
                                                        ("put", 100.0)]
    assert len(walls.by_delta(frame, 0.0, 1.0)) == 6  # the full band keeps rows without delta


def test_apply_filters_combines_every_filter():
    frame = _finder_chain()
    f = walls.FinderFilters(kind="put", min_oi=500, moneyness=(-10, 0), dte=(0, 30),
                            delta=(0.2, 1.0))
    out = walls.apply_filters(frame, 100.0, TODAY, f, {E1: 0.1, E3: 0.2}, 0.0, 0.0)
    assert list(zip(out["expiry"], out["strike"])) == [(E1, 95.0), (E3, 100.0)]
    assert out["prob_itm"].tolist() == pytest.approx(
        [norm.cdf(-(math.log(100 / 95) - 0.002) / (0.2 * math.sqrt(0.1))),
         norm.cdf(0.02 * 0.2 / (0.2 * math.sqrt(0.2)))])  # ATM put: N(-d2), d2 = -σ√T/2
    none = walls.apply_filters(frame, 100.0, TODAY, dataclasses.replace(f, min_oi=5000),
                               {E1: 0.1, E3: 0.2}, 0.0, 0.0)
    assert none.empty and "breakeven" in none.columns


def test_top_gex_strikes_rank_by_absolute_net_gex():
    # gamma set by hand: GEX = 100 * OI -> 95: -80k (put), 100: +50k, 105: +10k, 110: 0
    frame = make_chain([
        {"type": "call", "strike": 100, "open_interest": 500, "gamma": 0.01},
        {"type": "put", "strike": 95, "open_interest": 800, "gamma": 0.01},
        {"type": "call", "strike": 105, "open_interest": 100, "gamma": 0.01},
        {"type": "call", "strike": 110, "open_interest": 0, "gamma": 0.01},
    ])
    top = walls.top_gex_strikes(frame, 100.0, n=5)
    assert top["strike"].tolist() == [95.0, 100.0, 105.0]  # 110 has no GEX: left out
    np.testing.assert_allclose(top["net_gex"], [-80_000.0, 50_000.0, 10_000.0])
    np.testing.assert_allclose(top["share"], [80 / 140, 50 / 140, 10 / 140])
    assert top["distance_pct"].tolist() == pytest.approx([-5.0, 0.0, 5.0])
    assert walls.top_gex_strikes(frame, 100.0, n=1)["strike"].tolist() == [95.0]


def test_gamma_summary_band_net_gex_and_no_zero_gamma_when_all_calls():
    frame = make_chain([
        {"type": "call", "strike": 100, "open_interest": 500, "gamma": 0.01},
        {"type": "call", "strike": 95, "open_interest": 800, "gamma": 0.01},
        {"type": "call", "strike": 105, "open_interest": 100, "gamma": 0.01},
        {"type": "call", "strike": 120, "open_interest": 10, "gamma": 0.01},
    ])
    s = walls.gamma_summary(frame, 100.0, 0.0, 0.0, 30 / 365)
    # gross gamma 100: 50k (35 %), within 5 of spot: +80k +10k -> 140k of 141k >= 70 %
    assert s.band == (95.0, 105.0)
    assert s.net_gex == pytest.approx(141_000.0)
    assert s.zero_gamma is None  # calls only: GEX > 0 everywhere, no sign change
    assert s.top["strike"].iloc[0] == 95.0
    assert list(s.heat.columns) == [walls.concat([frame])["expiry"].iloc[0]]


def test_gamma_summary_is_not_a_number_while_open_interest_is_not_published():
    """Pre-market every OI is 0 (OCC's file is not out): no net GEX of 0.0, no zero gamma."""
    frame = make_chain([
        {"type": t, "strike": k, "open_interest": 0, "gamma": 0.01}
        for t in ("call", "put") for k in (95, 100, 105)])
    s = walls.gamma_summary(frame, 100.0, 0.0, 0.0, 30 / 365)
    assert s.oi_published is False and s.zero_gamma is None and s.band is None
    assert math.isnan(s.net_gex)


def test_gamma_summary_finds_zero_gamma_on_a_symmetric_chain():
    # puts below and calls above 100 in mirror image: net GEX changes sign near 100
    rows = []
    for k in (90, 95):
        rows.append({"type": "put", "strike": k, "open_interest": 1000})
    for k in (105, 110):
        rows.append({"type": "call", "strike": k, "open_interest": 1000})
    s = walls.gamma_summary(make_chain(rows), 100.0, 0.0, 0.0, 30 / 365)
    assert s.zero_gamma == pytest.approx(100.0, abs=0.5)


# ---------------------------------------------------------------- comparison


def test_gamma_regime_is_the_sign_of_gex_at_spot_not_the_side_of_zero_gamma():
    # spot above the nearest zero-gamma crossing but net GEX at spot −$36.6M (a second crossing
    # lies between): the regime is negative (amplified), and zero gamma is the distance to a flip
    r = ex.gamma_regime(-36.6e6, 101.0, 100.0)
    assert (r.state, r.effect, r.label) == ("negative", "amplified", "negative · amplified")
    assert r.flip_pct == pytest.approx(-100 / 101)
    assert ex.gamma_regime(5.0, 99.0, 100.0).label == "positive · damped"
    assert ex.gamma_regime(5.0, 99.0, None).flip_pct is None
    assert ex.gamma_regime(0.0, 99.0).state == "flat"
    assert ex.gamma_regime(float("nan"), 99.0).state == "unknown"


def test_comparison_row_and_table():
    kl = _key_levels(spot=200.0, call_wall_oi=210.0, put_wall_oi=190.0, zero_gamma=195.0,
                     max_pain=200.0, pc_oi=1.2, atm_iv=0.3, one_sigma_iv=4.0, net_gex=1e6)
    row = walls.comparison_row("AAPL", E2, TODAY, kl)
    assert row["symbol"] == "AAPL" and row["dte"] == 7 and row["expiry"] == E2
    assert row["em_pct"] == pytest.approx(2.0) and row["regime"] == "positive · damped"
    assert row["flip_pct"] == pytest.approx(-2.5)  # zero gamma 195 on a 200 spot
    assert row["call_wall_gamma"] is None
    table = walls.comparison_table([row, walls.comparison_row("MSFT", E1, TODAY,
                                                              _key_levels(spot=50.0))])
    assert list(table.columns) == list(walls.COMPARISON_COLUMNS)
    assert table["symbol"].tolist() == ["AAPL", "MSFT"]
    assert math.isnan(table["zero_gamma"].iloc[1])
    assert walls.comparison_table([]).empty
