"""GEX / DEX / zero gamma / gamma walls / gamma range on hand-made chains."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from core.analytics import exposure as ex
from core.analytics import greeks
from tests.analytics.chains import make_chain

E1, E2, E3 = dt.date(2026, 1, 16), dt.date(2026, 2, 20), dt.date(2026, 3, 20)


def _flat_gamma_chain(call_oi: dict, put_oi: dict, gamma: float = 0.05, **kw):
    """Every row has the same gamma, so GEX is proportional to OI."""
    rows = [{"type": "call", "strike": k, "open_interest": n, "gamma": gamma}
            for k, n in call_oi.items()]
    rows += [{"type": "put", "strike": k, "open_interest": n, "gamma": gamma}
             for k, n in put_oi.items()]
    return make_chain(rows, **kw)


# ---------------------------------------------------------------- units and signs


def test_gex_units_and_sign_by_hand():
    # gamma 0.05 per $1, OI 1,000, S = 100: 0.05 * 1000 * 100 * 100^2 * 0.01 = $500,000 per 1 %
    frame = _flat_gamma_chain({100: 1000}, {100: 400, 95: 0})
    out = ex.gex(frame, 100.0)
    by_type = dict(zip(frame["type"] + frame["strike"].astype(str), out))
    assert by_type["call100.0"] == pytest.approx(500_000.0)
    assert by_type["put100.0"] == pytest.approx(-200_000.0)  # puts count negative
    assert by_type["put95.0"] == 0.0
    assert ex.total_gex(frame, 100.0) == pytest.approx(300_000.0)
    # S^2 scaling: the same gamma at S = 200 is four times the dollars
    assert ex.total_gex(frame, 200.0) == pytest.approx(1_200_000.0)


def test_dex_units_and_sign_by_hand():
    frame = make_chain([{"type": "call", "strike": 100, "open_interest": 200, "delta": 0.5},
                        {"type": "put", "strike": 100, "open_interest": 300, "delta": -0.25}])
    out = ex.dex(frame, 100.0).to_numpy()
    # call: 0.5 * 200 * 100 * 100 = $1,000,000; put: -0.25 * 300 * 100 * 100 = -$750,000
    np.testing.assert_allclose(out, [1_000_000.0, -750_000.0])
    assert ex.total_dex(frame, 100.0) == pytest.approx(250_000.0)


def test_gex_uses_the_chain_gamma_and_real_greeks():
    frame = make_chain([{"type": "call", "strike": 105, "open_interest": 10}], spot=100.0,
                       T=0.25, r=0.04, q=0.02)
    g = float(greeks.gamma(100.0, 105.0, 0.25, 0.04, 0.02, 0.20))
    assert ex.gex(frame, 100.0).iloc[0] == pytest.approx(g * 10 * 100 * 100.0**2 * 0.01)


def test_rows_with_absurd_iv_are_excluded_from_sums():
    frame = make_chain([{"type": "call", "strike": 100, "open_interest": 100, "gamma": 0.05},
                        {"type": "call", "strike": 105, "open_interest": 10**6, "gamma": 0.05,
                         "delta": 0.4, "iv_ok": False}])
    out = ex.gex(frame, 100.0)
    assert np.isnan(out.iloc[1]) and np.isnan(ex.dex(frame, 100.0).iloc[1])
    assert ex.total_gex(frame, 100.0) == pytest.approx(50_000.0)
    table = ex.gex_by_strike(frame, 100.0)
    assert table.loc[table["strike"] == 105, "net_gex"].item() == 0.0


def test_gex_does_not_modify_the_input():
    frame = _flat_gamma_chain({100: 10}, {95: 10})
    before = frame.copy()
    ex.gex_by_strike(frame, 100.0)
    ex.zero_gamma(frame, 100.0, 0.0, 0.0, 30 / 365)
    pd.testing.assert_frame_equal(frame, before)


# ---------------------------------------------------------------- by strike / heatmap


def test_gex_by_strike_columns_and_sums():
    frame = _flat_gamma_chain({100: 1000, 105: 200}, {95: 300, 100: 400})
    table = ex.gex_by_strike(frame, 100.0)
    assert list(table.columns) == ["strike", "call_gex", "put_gex", "net_gex"]
    assert table["strike"].tolist() == [95.0, 100.0, 105.0]
    unit = 0.05 * 100 * 100.0**2 * 0.01  # $ per 1 % per contract of OI
    np.testing.assert_allclose(table["call_gex"], [0, 1000 * unit, 200 * unit])
    np.testing.assert_allclose(table["put_gex"], [-300 * unit, -400 * unit, 0])
    np.testing.assert_allclose(table["net_gex"], [-300 * unit, 600 * unit, 200 * unit])


def test_gex_by_strike_sums_over_expiries_and_heatmap_keeps_them_apart():
    a = _flat_gamma_chain({100: 100}, {95: 100}, expiry=E1)
    b = _flat_gamma_chain({100: 50, 110: 10}, {}, expiry=E2)
    long = pd.concat([b, a], ignore_index=True)
    unit = 0.05 * 100 * 100.0**2 * 0.01
    table = ex.gex_by_strike(long, 100.0)
    assert table.loc[table["strike"] == 100, "call_gex"].item() == pytest.approx(150 * unit)
    heat = ex.gex_by_strike_expiry(long, 100.0)
    assert list(heat.columns) == [E1, E2] and heat.index.tolist() == [95.0, 100.0, 110.0]
    assert heat.loc[100.0, E1] == pytest.approx(100 * unit)
    assert heat.loc[95.0, E1] == pytest.approx(-100 * unit)
    assert np.isnan(heat.loc[95.0, E2]) and np.isnan(heat.loc[110.0, E1])  # not listed


def test_empty_frame_gives_empty_tables_and_no_levels():
    frame = make_chain([])
    assert ex.gex_by_strike(frame, 100.0).empty
    assert ex.total_gex(frame, 100.0) == 0.0
    assert ex.zero_gamma(frame, 100.0, 0.0, 0.0, 0.1) is None
    assert ex.gamma_walls(frame, 100.0) == ex.GammaWalls(None, None, None)
    assert ex.gamma_range(frame, 100.0) is None


# ---------------------------------------------------------------- zero gamma


def _symmetric_pairs(r, q, sigma, T, spot=100.0, expiry=E1):
    """Puts at K1 and calls at K2 with K1*K2 = 9900 and equal OI per pair.

    Gamma(S, K) is proportional to n(d1)/S, so a pair's GEX is zero where d1(K1) = -d1(K2):
    S* = sqrt(K1 K2) * exp(-(r - q + sigma^2/2) T), the same for every pair.
    """
    rows = []
    for k1, k2, oi in [(90.0, 110.0, 1000), (80.0, 123.75, 3000), (99.0, 100.0, 50)]:
        rows.append({"type": "put", "strike": k1, "open_interest": oi, "iv": sigma})
        rows.append({"type": "call", "strike": k2, "open_interest": oi, "iv": sigma})
    frame = make_chain(rows, expiry=expiry, spot=spot, T=T, r=r, q=q)
    level = math.sqrt(9900.0) * math.exp(-(r - q + sigma**2 / 2) * T)
    return frame, level


def test_zero_gamma_lands_on_the_known_level():
    r, q, sigma, T = 0.04, 0.015, 0.25, 0.25
    frame, level = _symmetric_pairs(r, q, sigma, T)
    assert level == pytest.approx(98.11, abs=0.01)  # not spot, not a strike
    found = ex.zero_gamma(frame, 100.0, r, q, T)
    step = 100.0 * 0.30 / 120  # grid spacing: 0.25 % of spot
    assert found == pytest.approx(level, abs=0.05 * step)
    fine = ex.zero_gamma(frame, 100.0, r, q, T, points=1201)
    assert fine == pytest.approx(level, abs=1e-3)
    # GEX is negative below the level (put side) and positive above it
    profile = ex.gex_profile(frame, 100.0, r, q, T)
    assert (profile.loc[profile["price"] < level - step, "net_gex"] < 0).all()
    assert (profile.loc[profile["price"] > level + step, "net_gex"] > 0).all()


def test_zero_gamma_across_expiries_uses_each_expiry_t():
    # with r - q + sigma^2/2 = 0 every expiry's pairs cross at sqrt(9900), whatever its T
    r, q, sigma = 0.0, 0.02, 0.20
    a, level = _symmetric_pairs(r, q, sigma, 0.05, expiry=E1)
    b, _ = _symmetric_pairs(r, q, sigma, 0.50, expiry=E2)
    # an expiry missing from the T mapping is left out (its call alone would kill the crossing)
    c = make_chain([{"type": "call", "strike": 100, "open_interest": 10**7}], expiry=E3)
    long = pd.concat([a, b, c], ignore_index=True)
    found = ex.zero_gamma(long, 100.0, r, q, {E1: 0.05, E2: 0.50}, points=1201)
    assert found == pytest.approx(level, abs=1e-3)
    assert ex.zero_gamma(long, 100.0, r, q, {E1: 0.05, E2: 0.50, E3: 0.1}) is None


def test_zero_gamma_is_none_without_a_sign_change():
    frame = make_chain([{"type": "call", "strike": k, "open_interest": 100} for k in (95, 100)])
    assert ex.zero_gamma(frame, 100.0, 0.03, 0.01, 30 / 365) is None
    puts = make_chain([{"type": "put", "strike": k, "open_interest": 100} for k in (95, 100)])
    assert ex.zero_gamma(puts, 100.0, 0.03, 0.01, 30 / 365) is None


def test_zero_gamma_ignores_excluded_rows_and_picks_the_crossing_nearest_spot():
    r, q, sigma, T = 0.04, 0.015, 0.25, 0.25
    frame, level = _symmetric_pairs(r, q, sigma, T)
    junk = make_chain([{"type": "call", "strike": 90, "open_interest": 10**7, "iv": 0.2,
                        "iv_ok": False}], T=T, r=r, q=q)  # flagged: left out of zero gamma
    assert ex.zero_gamma(pd.concat([frame, junk], ignore_index=True), 100.0, r, q, T) \
        == pytest.approx(ex.zero_gamma(frame, 100.0, r, q, T))
    # a far-away second crossing does not win over the one nearest spot
    x = np.array([80.0, 90.0, 100.0, 110.0, 120.0])
    y = np.array([-1.0, 1.0, 1.0, 1.0, -3.0])
    assert ex.sign_crossings(x, y).tolist() == [85.0, 112.5]
    assert ex.nearest_level(ex.sign_crossings(x, y), 110.0) == 112.5
    assert ex.nearest_level(ex.sign_crossings(x, y), 95.0) == 85.0


def test_gex_profile_at_spot_equals_total_gex_from_the_chain():
    r, q, T = 0.04, 0.015, 0.25
    frame, _ = _symmetric_pairs(r, q, 0.25, T)
    profile = ex.gex_profile(frame, 100.0, r, q, T, points=121)
    assert len(profile) == 121 and profile["price"].iloc[60] == pytest.approx(100.0)
    assert profile["net_gex"].iloc[60] == pytest.approx(ex.total_gex(frame, 100.0), rel=1e-9)
    assert profile["price"].iloc[0] == pytest.approx(85.0)
    assert profile["price"].iloc[-1] == pytest.approx(115.0)


# ---------------------------------------------------------------- walls and range


def test_gamma_walls_on_a_chain_with_one_dominant_strike():
    frame = _flat_gamma_chain({95: 100, 100: 300, 105: 5000, 110: 100},
                              {90: 8000, 95: 400, 100: 300, 105: 100})
    walls = ex.gamma_walls(frame, 100.0)
    assert walls.call_wall == 105.0
    assert walls.put_wall == 90.0
    assert walls.abs_gamma_strike == 90.0  # gross 8000 at 90 beats 5100 at 105


def test_absolute_gamma_strike_is_gross_gamma_not_net():
    # at 100 calls and puts hold 3000 each (net 0, gross 6000); 105 holds 4000 of calls only.
    # |net| would pick 105; the most gamma sits at 100.
    frame = _flat_gamma_chain({100: 3000, 105: 4000}, {100: 3000})
    assert ex.gamma_walls(frame, 100.0).abs_gamma_strike == 100.0


def test_gamma_walls_ties_go_to_the_strike_nearest_spot():
    frame = _flat_gamma_chain({90: 500, 104: 500}, {})
    assert ex.gamma_walls(frame, 100.0).call_wall == 104.0
    assert ex.gamma_walls(frame, 95.0).call_wall == 90.0
    assert ex.gamma_walls(frame, 100.0).put_wall is None  # no put GEX: no put wall
    assert ex.strike_of_max([90, 104], [5, 5]) == 90.0  # no spot: the lower strike


def test_gamma_range_holds_the_share_nearest_spot():
    # gross |GEX| weights: 90:100, 95:200, 100:400 (calls 200 + puts 200: they do not cancel),
    # 105:200, 110:100 -> total 1000
    frame = _flat_gamma_chain({90: 100, 100: 200, 105: 200}, {95: 200, 100: 200, 110: 100})
    assert ex.gamma_range(frame, 100.0) == (95.0, 105.0)         # 400 < 700 <= 800
    assert ex.gamma_range(frame, 100.0, share=0.4) == (100.0, 100.0)
    assert ex.gamma_range(frame, 100.0, share=0.85) == (90.0, 110.0)
    assert ex.gamma_range(frame, 107.0, share=0.3) == (105.0, 110.0)  # 200 + 100 = 300
    with pytest.raises(ValueError):
        ex.gamma_range(frame, 100.0, share=0.0)
