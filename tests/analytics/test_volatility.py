"""Smile, ATM IV, term structure and skew on hand-made chains whose answers are known."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from core.analytics import volatility as vol
from tests.analytics.chains import make_chain

EXPIRY = dt.date(2026, 12, 18)


def _chain(rows, expiry=EXPIRY):
    """A canonical frame from (type, strike, iv[, delta]) tuples (delta NaN when not given)."""
    return make_chain([{"type": t[0], "strike": t[1], "iv": t[2],
                        "delta": t[3] if len(t) > 3 else np.nan} for t in rows], expiry)


# ----------------------------------------------------------------------------- smile

def test_smile_pivots_valid_ivs_by_strike_and_type():
    frame = _chain([("call", 90, 0.30), ("call", 100, 0.25), ("call", 110, 0.22),
                    ("put", 90, 0.35), ("put", 100, 0.26), ("put", 110, 9.0)])  # 900 %: not ok
    s = vol.smile(frame)
    assert list(s.index) == [90.0, 100.0, 110.0]
    assert list(s.columns) == ["call", "put"]
    assert s.loc[90, "call"] == pytest.approx(0.30)
    assert s.loc[100, "put"] == pytest.approx(0.26)
    assert math.isnan(s.loc[110, "put"])  # the absurd IV is left out


def test_smile_keeps_both_columns_when_one_side_is_missing():
    s = vol.smile(_chain([("call", 100, 0.25)]))
    assert list(s.columns) == ["call", "put"]
    assert math.isnan(s.loc[100, "put"])


def test_smile_refuses_a_frame_mixing_expiries():
    mixed = pd.concat([_chain([("call", 100, 0.2)]),
                       _chain([("call", 100, 0.3)], expiry=dt.date(2027, 1, 15))])
    with pytest.raises(ValueError):
        vol.smile(mixed)


# ----------------------------------------------------------------------------- ATM IV

ATM_ROWS = [("call", 95, 0.28), ("call", 100, 0.25), ("call", 105, 0.23), ("call", 110, 0.21),
            ("put", 95, 0.30), ("put", 100, 0.27), ("put", 105, 0.24)]


def test_atm_iv_averages_call_and_put_at_the_nearest_strike():
    assert vol.atm_iv(_chain(ATM_ROWS), 101.0) == pytest.approx((0.25 + 0.27) / 2)


def test_atm_iv_tie_goes_to_the_lower_strike():
    assert vol.atm_iv(_chain(ATM_ROWS), 102.5) == pytest.approx(0.26)


def test_atm_iv_uses_the_one_valid_side():
    assert vol.atm_iv(_chain(ATM_ROWS), 109.0) == pytest.approx(0.21)  # 110: call only


def test_atm_iv_skips_strikes_without_a_valid_iv():
    frame = _chain([("call", 100, 0.005), ("put", 100, 7.0), ("call", 105, 0.22)])
    assert vol.atm_iv(frame, 100.0) == pytest.approx(0.22)


def test_atm_iv_is_nan_without_valid_ivs():
    assert math.isnan(vol.atm_iv(_chain([("call", 100, np.nan)]), 100.0))


# ----------------------------------------------------------------------------- term structure

def test_term_structure_sorted_by_expiry_with_dte():
    near, far = dt.date(2026, 11, 27), dt.date(2026, 12, 18)
    ts = vol.term_structure(
        [(far, _chain([("call", 100, 0.30), ("put", 100, 0.32)], expiry=far)),
         (near, _chain([("call", 100, 0.20)], expiry=near))],
        100.0, today=dt.date(2026, 11, 20))
    assert list(ts.columns) == ["expiry", "dte", "atm_iv"]
    assert list(ts["expiry"]) == [near, far]
    assert list(ts["dte"]) == [7, 28]
    assert ts["atm_iv"].tolist() == pytest.approx([0.20, 0.31])


def test_term_structure_without_today_has_missing_dte():
    ts = vol.term_structure([(EXPIRY, _chain([("call", 100, 0.2)]))], 100.0)
    assert ts["dte"].isna().all()
    assert ts["atm_iv"].iloc[0] == pytest.approx(0.2)


# ----------------------------------------------------------------------------- skew

# IV linear in delta on each side, so the IV at exactly 25Δ is known:
# puts: Δ -0.10 -> 36 %, -0.20 -> 32 %, -0.30 -> 28 %, -0.45 -> 27 %  => IV(-0.25) = 30 %
# calls: Δ 0.52 -> 25 %, 0.30 -> 26 %, 0.20 -> 25 %, 0.11 -> 24 %       => IV(+0.25) = 25.5 %
RR_ROWS = [("put", 85, 0.36, -0.10), ("put", 92, 0.32, -0.20), ("put", 96, 0.28, -0.30),
           ("put", 100, 0.27, -0.45), ("call", 100, 0.25, 0.52), ("call", 104, 0.26, 0.30),
           ("call", 107, 0.25, 0.20), ("call", 115, 0.24, 0.11)]


def test_risk_reversal_interpolates_to_exactly_25_delta_call_minus_put():
    # (25.5 % − 30 %) × 100 = −4.5: negative = puts richer (the market's sign convention)
    assert vol.risk_reversal_25d(_chain(RR_ROWS)) == pytest.approx(-4.5)


def test_iv_at_delta_is_exact_on_a_listed_delta_and_linear_between():
    puts = _chain(RR_ROWS)
    puts = puts[puts["type"] == "put"]
    assert vol.iv_at_delta(puts, -0.20) == pytest.approx(0.32)
    assert vol.iv_at_delta(puts, -0.15) == pytest.approx(0.34)
    assert math.isnan(vol.iv_at_delta(puts, -0.05))  # beyond the last put: no extrapolation


def test_risk_reversal_does_not_use_a_far_off_delta_as_the_25_delta():
    # a 0DTE-like chain whose nearest put to -0.25 is a 15.6Δ: no put brackets -0.25 from the
    # other side, so there is no 25Δ put IV (not the 15.6Δ's)
    rows = [("put", 99, 0.60, -0.156), ("put", 98, 0.90, -0.05), ("call", 101, 0.3, 0.40),
            ("call", 102, 0.3, 0.10)]
    assert math.isnan(vol.risk_reversal_25d(_chain(rows)))


def test_risk_reversal_is_positive_when_calls_richer():
    rows = [("put", 95, 0.20, -0.25), ("call", 105, 0.235, 0.25)]
    assert vol.risk_reversal_25d(_chain(rows)) == pytest.approx(3.5)


def test_risk_reversal_is_nan_when_the_chain_does_not_reach_25_delta():
    rows = [("put", 99, 0.27, -0.48), ("call", 101, 0.25, 0.47), ("call", 110, 0.2, 0.30)]
    assert math.isnan(vol.risk_reversal_25d(_chain(rows)))


def test_risk_reversal_ignores_invalid_ivs():
    rows = RR_ROWS + [("put", 97, 9.9, -0.25)]  # exact -0.25 but an absurd IV
    assert vol.risk_reversal_25d(_chain(rows)) == pytest.approx(-4.5)


def test_atm_skew_is_measured_at_25_delta_not_at_95_percent_of_spot():
    # 25Δ put IV 30 % (interpolated), ATM (strike 100, call 25 % / put 27 %) 26 % -> +4.0.
    # A 95 %-of-spot put (strike 95, between the 92 and 96 puts) would read 29 % -> +3: the old
    # reading; on a 0DTE that strike is many σ away and read +128.
    assert vol.atm_skew(_chain(RR_ROWS), 100.0) == pytest.approx(4.0)


def test_atm_skew_does_not_extrapolate():
    rows = [("put", 98, 0.26, -0.40), ("put", 100, 0.25, -0.50), ("call", 100, 0.25, 0.5)]
    assert math.isnan(vol.atm_skew(_chain(rows), 100.0))


def test_skew_is_not_meaningful_on_a_0dte():
    assert not vol.skew_meaningful(0)
    assert vol.skew_meaningful(1)


def test_empty_chain_gives_nan_not_an_error():
    f = _chain([("call", 100, 0.2, 0.5)]).iloc[0:0]
    assert vol.smile(f).empty
    assert math.isnan(vol.atm_iv(f, 100.0))
    assert math.isnan(vol.risk_reversal_25d(f))
    assert math.isnan(vol.atm_skew(f, 100.0))
    assert vol.term_structure([], 100.0).empty
