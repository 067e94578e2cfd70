"""BSM price / greeks / implied vol: textbook values, parity, finite differences, bad inputs.

Textbook numbers are Hull, "Options, Futures, and Other Derivatives" worked examples.
"""

import numpy as np
import pandas as pd
import pytest

from core.analytics import greeks as g
from core.schema import GREEK_COLUMNS
from tests.analytics.chains import make_chain

# ---------------------------------------------------------------- textbook values (Hull)


def test_hull_call_and_put_prices():
    # S=42, K=40, r=10 %, sigma=20 %, T=0.5: c = 4.76, p = 0.81
    assert g.price(42, 40, 0.5, 0.10, 0.0, 0.20, True) == pytest.approx(4.76, abs=0.005)
    assert g.price(42, 40, 0.5, 0.10, 0.0, 0.20, False) == pytest.approx(0.81, abs=0.005)


def test_hull_greeks_of_the_49_50_call():
    # S=49, K=50, r=5 %, sigma=20 %, T=20 weeks: delta .522, gamma .066, vega 12.1 per 100 vol
    # points, theta -4.31 per year; the price is 2.40 (Hull's "$240,000 for 100,000 options").
    out = g.greeks(49, 50, 20 / 52, 0.05, 0.0, 0.20, True)
    assert out["price"] == pytest.approx(2.40, abs=0.005)
    assert out["delta"] == pytest.approx(0.522, abs=0.0005)
    assert out["gamma"] == pytest.approx(0.066, abs=0.0005)
    assert out["vega"] == pytest.approx(0.121, abs=0.0005)          # per 1 vol point
    assert out["theta"] * 365 == pytest.approx(-4.31, abs=0.005)    # theta is per day


def test_hull_index_call_with_dividend_yield():
    # Index 930, K=900, r=8 %, q=3 %, sigma=20 %, T=2 months: c = 51.83
    assert g.price(930, 900, 2 / 12, 0.08, 0.03, 0.20, True) == pytest.approx(51.83, abs=0.005)


def test_hull_index_put_greeks_with_dividend_yield():
    # 4-month put on an index: S=305, K=300, q=3 %, r=8 %, sigma=25 %:
    # theta -18.15 per year, gamma 0.00857, vega 66.44 per 100 vol points.
    out = g.greeks(305, 300, 4 / 12, 0.08, 0.03, 0.25, False)
    assert out["theta"] * 365 == pytest.approx(-18.15, abs=0.01)
    assert out["gamma"] == pytest.approx(0.00857, abs=0.000005)
    assert out["vega"] * 100 == pytest.approx(66.44, abs=0.01)


# ---------------------------------------------------------------- parity and identities

S_GRID = np.array([60.0, 80.0, 95.0, 100.0, 105.0, 125.0, 150.0])  # K = 100: deep ITM .. deep OTM
T_GRID = np.array([2 / 365, 0.05, 0.25, 1.0, 3.0])
R, Q, K = 0.05, 0.03, 100.0


@pytest.fixture
def grid():
    S, T = np.meshgrid(S_GRID, T_GRID)
    sigma = np.where(S > 100, 0.35, 0.22)  # a smile-ish mix of vols
    return S.ravel(), T.ravel(), sigma.ravel()


def test_put_call_parity_with_dividends(grid):
    S, T, sigma = grid
    c = g.price(S, K, T, R, Q, sigma, True)
    p = g.price(S, K, T, R, Q, sigma, False)
    np.testing.assert_allclose(c - p, S * np.exp(-Q * T) - K * np.exp(-R * T), atol=1e-10)


def test_call_and_put_gamma_vega_agree(grid):
    S, T, sigma = grid
    c, p = g.greeks(S, K, T, R, Q, sigma, True), g.greeks(S, K, T, R, Q, sigma, False)
    np.testing.assert_allclose(c["gamma"], p["gamma"], rtol=1e-12)
    np.testing.assert_allclose(c["vega"], p["vega"], rtol=1e-12)
    np.testing.assert_allclose(c["delta"] - p["delta"], np.exp(-Q * T), rtol=1e-12)
    np.testing.assert_allclose(g.gamma(S, K, T, R, Q, sigma), c["gamma"], rtol=1e-12)


# ---------------------------------------------------------------- finite differences (q > 0)


def _check(analytic, numeric, scale):
    """Central differences: agree to 1e-5 of the greek's own scale on the grid."""
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-6 * scale)


@pytest.mark.parametrize("is_call", [True, False])
def test_every_greek_matches_finite_differences(grid, is_call):
    S, T, sigma = grid
    out = g.greeks(S, K, T, R, Q, sigma, is_call)

    def px(s=S, t=T, v=sigma):
        return g.price(s, K, t, R, Q, v, is_call)

    def delta(s=S, t=T, v=sigma):
        return g.greeks(s, K, t, R, Q, v, is_call)["delta"]

    hs, ht, hv = 1e-4 * S, 1e-6, 1e-5
    _check(out["price"], px(), 1.0)
    _check(out["delta"], (px(s=S + hs) - px(s=S - hs)) / (2 * hs), 1.0)
    _check(out["gamma"], (delta(s=S + hs) - delta(s=S - hs)) / (2 * hs), 0.1)
    _check(out["gamma"], (px(s=S + hs) - 2 * px() + px(s=S - hs)) / hs**2, 0.1)
    # vega per vol point = dV/dsigma / 100
    _check(out["vega"], (px(v=sigma + hv) - px(v=sigma - hv)) / (2 * hv) / 100, 1.0)
    # theta per day = -dV/dT / 365 (time passing shortens T); over the time left, -dV/dT × T,
    # when less than a day is left
    _check(out["theta"], -(px(t=T + ht) - px(t=T - ht)) / (2 * ht) * np.minimum(T, 1 / 365),
           0.1)
    # vanna per vol point = d(delta)/dsigma / 100 = d(vega)/dS
    _check(out["vanna"], (delta(v=sigma + hv) - delta(v=sigma - hv)) / (2 * hv) / 100, 0.01)
    vega = lambda s: g.greeks(s, K, T, R, Q, sigma, is_call)["vega"]  # noqa: E731
    _check(out["vanna"], (vega(S + hs) - vega(S - hs)) / (2 * hs), 0.01)
    # charm per day = -d(delta)/dT / 365
    _check(out["charm"], -(delta(t=T + ht) - delta(t=T - ht)) / (2 * ht) / 365, 0.01)


def test_dividend_yield_changes_the_greeks():
    # guard against a formula that ignores q: q moves every greek of an OTM option
    with_q = g.greeks(100, 110, 0.5, 0.05, 0.04, 0.25, True)
    no_q = g.greeks(100, 110, 0.5, 0.05, 0.0, 0.25, True)
    for name in ("price", "delta", "gamma", "vega", "theta", "vanna", "charm"):
        assert not np.isclose(with_q[name], no_q[name], rtol=1e-3), name


# ---------------------------------------------------------------- implied vol


@pytest.mark.parametrize("is_call", [True, False])
def test_implied_vol_round_trip_across_moneyness(is_call):
    S = np.array([100.0] * 7)
    strikes = np.array([55.0, 75.0, 95.0, 100.0, 105.0, 130.0, 160.0])  # deep ITM .. deep OTM
    T = np.array([0.5, 0.5, 0.1, 0.02, 0.25, 1.0, 2.0])
    sigma = np.array([0.45, 0.30, 0.18, 0.12, 0.25, 0.35, 0.60])
    target = g.price(S, strikes, T, R, Q, sigma, is_call)
    np.testing.assert_allclose(g.implied_vol(target, S, strikes, T, R, Q, is_call), sigma,
                               atol=1e-6)


def test_implied_vol_gives_nan_per_bad_element_not_an_exception():
    # call, S=100, K=90: forward intrinsic value is ~10.4 with r=5 %, q=3 %, T=0.5
    target = np.array([12.0, 12.0, 12.0, np.nan, 5.0, 12.0])
    S = np.array([100.0, 100.0, 0.0, 100.0, 100.0, 100.0])
    T = np.array([0.5, 0.0, 0.5, 0.5, 0.5, 0.5])
    strikes = np.array([90.0, 90.0, 90.0, 90.0, 90.0, -1.0])
    iv = g.implied_vol(target, S, strikes, T, R, Q, True)
    assert np.isfinite(iv[0])
    assert np.isnan(iv[1:]).all()  # T 0, S 0, NaN price, price below intrinsic, K < 0
    assert np.isnan(g.implied_vol(200.0, 100.0, 90.0, 0.5, R, Q, True))  # above any vol's price


def test_bad_elements_give_nan_and_leave_the_rest():
    sigma = np.array([0.2, 0.0, 0.2, np.nan, 0.2, -0.1])
    T = np.array([0.5, 0.5, 0.0, 0.5, np.nan, 0.5])
    out = g.greeks(100.0, 100.0, T, R, Q, sigma, True)
    for name, values in out.items():
        assert np.isfinite(values[0]), name
        assert np.isnan(values[1:]).all(), name
    assert np.isnan(g.price(100.0, 100.0, T, R, Q, sigma, False)[1:]).all()
    assert np.isnan(g.gamma(100.0, 100.0, T, R, Q, sigma)[1:]).all()


# ---------------------------------------------------------------- frame helper


def test_with_greeks_fills_columns_and_skips_absurd_iv():
    frame = make_chain([{"type": "call", "strike": 100}, {"type": "put", "strike": 95}],
                       spot=100.0, T=0.25, r=R, q=Q)
    bad = frame.assign(iv=[0.2, 7.0], iv_ok=[True, False])
    out = g.with_greeks(bad, 100.0, 0.25, R, Q)
    call = out[out["type"] == "call"].iloc[0]
    expected = g.greeks(100.0, 100.0, 0.25, R, Q, 0.2, True)
    assert call["delta"] == pytest.approx(float(expected["delta"]))
    assert call["theta"] == pytest.approx(float(expected["theta"]))
    assert list(out.columns[-len(GREEK_COLUMNS):]) == GREEK_COLUMNS  # the chain's greeks only
    assert "vanna" not in out and "charm" not in out  # nothing reads them: not held per chain
    assert out.loc[out["type"] == "put", GREEK_COLUMNS].isna().all(axis=None)
    pd.testing.assert_frame_equal(bad, frame.assign(iv=[0.2, 7.0], iv_ok=[True, False]))


@pytest.mark.parametrize("is_call", [True, False])
def test_theta_under_a_day_is_the_decay_over_the_time_left(is_call):
    # ATM, 2 hours left (r = 5 %, q = 3 %, sigma 20 %): the per-calendar-day theta would be a
    # one-day decay of ~0.72 on an option worth ~0.12 (it expires in 2 h). Over the time left
    # theta = -dV/dT × T: about half the price for an ATM option (V ≈ 0.4·S·σ·√T, -dV/dT·T ≈ V/2).
    T = 2 / (24 * 365)
    out = g.greeks(100.0, 100.0, T, R, Q, 0.20, is_call)
    ht = 1e-9
    dv_dt = (g.price(100.0, 100.0, T + ht, R, Q, 0.20, is_call)
             - g.price(100.0, 100.0, T - ht, R, Q, 0.20, is_call)) / (2 * ht)
    assert out["theta"] == pytest.approx(-dv_dt * T, rel=1e-4)
    assert -out["price"] < out["theta"] < 0
    assert out["theta"] == pytest.approx(-out["price"] / 2, rel=0.05)
    # at exactly one day left both readings agree: per day = over the time left
    one_day = g.greeks(100.0, 100.0, 1 / 365, R, Q, 0.20, is_call)["theta"]
    assert one_day == pytest.approx(-(g.price(100.0, 100.0, 1 / 365 + ht, R, Q, 0.20, is_call)
                                      - g.price(100.0, 100.0, 1 / 365 - ht, R, Q, 0.20,
                                                is_call)) / (2 * ht) / 365, rel=1e-3)
