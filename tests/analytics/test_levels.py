"""Volume/OI levels, max pain, volume pivot, expected move, P/C, key levels on hand-made chains."""

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from core.analytics import exposure, levels
from tests.analytics.chains import make_chain

E1, E2 = dt.date(2026, 1, 16), dt.date(2026, 2, 20)


def _rows(kind: str, by_strike: dict, column: str) -> list[dict]:
    return [{"type": kind, "strike": k, column: n} for k, n in by_strike.items()]


def _volume_chain(calls: dict, puts: dict, **kw):
    return make_chain(_rows("call", calls, "volume") + _rows("put", puts, "volume"), **kw)


def _oi_chain(calls: dict, puts: dict, **kw):
    return make_chain(_rows("call", calls, "open_interest") + _rows("put", puts, "open_interest"),
                      **kw)


# ---------------------------------------------------------------- by strike and walls


def test_by_strike_table():
    frame = make_chain([
        {"type": "call", "strike": 100, "volume": 50, "open_interest": 500},
        {"type": "put", "strike": 100, "volume": 80, "open_interest": 100},
        {"type": "call", "strike": 105, "volume": 20},
        {"type": "put", "strike": 95, "open_interest": 300},
    ])
    table = levels.by_strike(frame)
    assert table["strike"].tolist() == [95.0, 100.0, 105.0]
    assert table["call_volume"].tolist() == [0, 50, 20]
    assert table["put_volume"].tolist() == [0, 80, 0]
    assert table["call_oi"].tolist() == [0, 500, 0]
    assert table["put_oi"].tolist() == [300, 100, 0]
    assert table["net_volume"].tolist() == [0, 30, -20]      # put - call
    assert table["net_oi"].tolist() == [300, -400, 0]
    assert table["total_volume"].tolist() == [0, 130, 20]


def test_oi_and_volume_walls_on_a_chain_with_one_dominant_strike():
    frame = make_chain(
        _rows("call", {95: 100, 100: 200, 110: 9000, 115: 300}, "open_interest")
        + _rows("put", {85: 100, 90: 7000, 95: 400, 100: 300}, "open_interest")
        + [{"type": "call", "strike": 105, "volume": 4000},
           {"type": "put", "strike": 97, "volume": 2500},
           {"type": "put", "strike": 92, "volume": 10}])
    oi = levels.oi_walls(frame, 100.0)
    assert (oi.kind, oi.call, oi.put) == ("oi", 110.0, 90.0)
    vol = levels.volume_walls(frame, 100.0)
    assert (vol.kind, vol.call, vol.put) == ("volume", 105.0, 97.0)


def test_walls_are_none_when_a_side_is_empty_and_ties_go_nearest_spot():
    frame = _volume_chain({90: 100, 103: 100}, {95: 0})
    assert levels.volume_walls(frame, 100.0) == levels.Walls("volume", 103.0, None)
    assert levels.volume_walls(frame).call == 90.0  # no spot: the lower strike


# ---------------------------------------------------------------- max pain


def test_max_pain_lands_on_the_strike_built_for_it():
    frame = _oi_chain({90: 0, 95: 500, 100: 300, 105: 200},
                      {95: 200, 100: 300, 105: 600, 110: 100})
    # pain(P) = sum_{K<P} (P-K) callOI + sum_{K>P} (K-P) putOI, by hand:
    #  90: 5*200 + 10*300 + 15*600 + 20*100             = 15000
    #  95: 5*300 + 10*600 + 15*100                      =  9000
    # 100: 5*500                + 5*600 + 10*100        =  6500  <- minimum
    # 105: 10*500 + 5*300       + 5*100                 =  7000
    # 110: 15*500 + 10*300 + 5*200                      = 11500
    curve = levels.pain_curve(frame)
    np.testing.assert_allclose(curve["total_pain"],
                               np.array([15000, 9000, 6500, 7000, 11500]) * 100)
    np.testing.assert_allclose(curve["call_pain"], np.array([0, 0, 2500, 6500, 11500]) * 100)
    assert levels.max_pain(frame) == 100.0
    # it is not simply the biggest-OI strike (105 puts)
    assert levels.oi_walls(frame).put == 105.0


def test_max_pain_moves_with_open_interest_and_rejects_several_expiries():
    frame = _oi_chain({90: 0, 95: 500, 100: 300, 105: 200},
                      {95: 200, 100: 300, 105: 6000, 110: 100})
    assert levels.max_pain(frame) == 105.0  # heavy puts at 105 pull it up
    assert levels.max_pain(_oi_chain({100: 0}, {100: 0})) is None
    two = pd.concat([frame, _oi_chain({100: 5}, {}, expiry=E2)], ignore_index=True)
    with pytest.raises(ValueError):
        levels.max_pain(two)


# ---------------------------------------------------------------- volume pivot


def test_volume_pivot_interpolates_where_net_volume_changes_sign():
    # net (put - call): 95:+300, 100:+100, 105:-300 -> crosses between 100 and 105 at
    # 100 + 5 * 100 / 400 = 101.25
    frame = _volume_chain({95: 100, 100: 200, 105: 500}, {95: 400, 100: 300, 105: 200})
    assert levels.volume_pivot(frame, 100.0) == pytest.approx(101.25)


def test_volume_pivot_skips_balanced_strikes_and_picks_the_nearest_crossing():
    # 100 is balanced (net 0) and skipped: 95:+300 .. 105:-300 -> 100.0 exactly;
    # a second crossing 130 -> 135 (net -50 -> +50) lies at 132.5
    frame = _volume_chain({95: 100, 100: 50, 105: 400, 130: 100, 135: 0},
                          {95: 400, 100: 50, 105: 100, 130: 50, 135: 50})
    assert levels.volume_pivot(frame, 101.0) == pytest.approx(100.0)
    assert levels.volume_pivot(frame, 125.0, window_pct=None) == pytest.approx(132.5)
    assert levels.volume_pivot(frame, 125.0, window_pct=0.05) is None  # 100 and 132.5 too far


def test_volume_pivot_none_without_a_sign_change():
    frame = _volume_chain({95: 10, 100: 20}, {95: 50, 100: 70})  # puts dominate everywhere
    assert levels.volume_pivot(frame, 100.0) is None
    assert levels.volume_pivot(_volume_chain({}, {}), 100.0) is None


# ---------------------------------------------------------------- expected move


def _atm_chain():
    return make_chain([
        {"type": "call", "strike": 95, "mid": 6.0, "iv": 0.24},
        {"type": "put", "strike": 95, "mid": 0.9, "iv": 0.26},
        {"type": "call", "strike": 100, "mid": 3.0, "iv": 0.20},
        {"type": "put", "strike": 100, "mid": 2.6, "iv": 0.22},
        {"type": "call", "strike": 100.5, "mid": 2.7, "iv": 0.20},  # no put: not an ATM candidate
        {"type": "call", "strike": 105, "mid": 1.1, "iv": 0.19},
        {"type": "put", "strike": 105, "mid": 5.5, "iv": 0.21},
    ], spot=100.4)


def test_expected_move_by_hand():
    move = levels.expected_move(_atm_chain(), 100.4, 0.04)
    assert move.atm_strike == 100.0
    assert move.straddle == pytest.approx(5.6)               # 3.0 + 2.6
    assert move.straddle_time_value == pytest.approx(5.2)    # 5.6 - |100.4 - 100|
    assert move.range_50 == pytest.approx(0.85 * 5.2)        # 4.42
    assert move.one_sigma_straddle == pytest.approx(6.5)     # 1.25 * 5.2
    assert move.atm_iv == pytest.approx(0.21)                # mean of 0.20 and 0.22
    assert move.one_sigma_iv == pytest.approx(100.4 * 0.21 * 0.2)  # S sigma sqrt(T) = 4.2168


def test_expected_move_with_missing_pieces():
    frame = _atm_chain()
    no_bid = frame.assign(mid=np.where(frame["strike"] == 100, 0.0, frame["mid"]),
                          iv_ok=~((frame["strike"] == 100) & (frame["type"] == "put")))
    move = levels.expected_move(no_bid, 100.4, 0.04)
    assert move.straddle is None and move.range_50 is None and move.one_sigma_straddle is None
    assert move.atm_iv == pytest.approx(0.20)  # the flagged put IV is not used
    assert levels.expected_move(frame, 100.4, 0.0).one_sigma_iv is None
    empty = levels.expected_move(make_chain([]), 100.0, 0.1)
    assert empty == levels.ExpectedMove(None, None, None, None, None, None, None)


def test_straddle_move_strips_the_intrinsic_value_late_on_a_0dte():
    # $2.5 strikes, spot 101.2 late on a 0DTE: ATM strike 100; the call (1.40) is 1.20 intrinsic
    # + 0.20 time, the put 0.20 time. The straddle (1.60) is mostly intrinsic; its move is the
    # 0.40 of time value: ~50 % range 0.34, 1σ 0.50 (not 1.36 and 2.00).
    frame = make_chain([{"type": "call", "strike": 100, "mid": 1.40},
                        {"type": "put", "strike": 100, "mid": 0.20},
                        {"type": "call", "strike": 102.5, "mid": 0.15},
                        {"type": "put", "strike": 102.5, "mid": 1.45}], spot=101.2, T=1 / 8760)
    move = levels.expected_move(frame, 101.2, 1 / 8760)
    assert move.atm_strike == 100.0 and move.straddle == pytest.approx(1.60)
    assert move.straddle_time_value == pytest.approx(0.40)
    assert move.range_50 == pytest.approx(0.34)
    assert move.one_sigma_straddle == pytest.approx(0.50)


# ---------------------------------------------------------------- put / call


def test_put_call_ratios_and_zero_calls():
    frame = make_chain([{"type": "call", "strike": 100, "volume": 200, "open_interest": 1000},
                        {"type": "put", "strike": 95, "volume": 300, "open_interest": 500}])
    assert levels.put_call_ratios(frame) == levels.PutCallRatios(volume=1.5, oi=0.5)
    puts_only = make_chain([{"type": "put", "strike": 95, "volume": 300, "open_interest": 500}])
    assert levels.put_call_ratios(puts_only) == levels.PutCallRatios(None, None)
    no_call_volume = make_chain([{"type": "call", "strike": 100, "open_interest": 100},
                                 {"type": "put", "strike": 95, "volume": 30}])
    assert levels.put_call_ratios(no_call_volume) == levels.PutCallRatios(None, 0.0)


def test_put_call_per_expiry_and_overall():
    a = make_chain([{"type": "call", "strike": 100, "volume": 100, "open_interest": 400},
                    {"type": "put", "strike": 100, "volume": 50, "open_interest": 400}], expiry=E1)
    b = make_chain([{"type": "put", "strike": 100, "volume": 70, "open_interest": 10}], expiry=E2)
    long = pd.concat([b, a], ignore_index=True)
    table = levels.put_call_by_expiry(long)
    assert table["expiry"].tolist() == [E1, E2]
    assert table["pc_volume"].iloc[0] == pytest.approx(0.5)
    assert table["pc_oi"].iloc[0] == pytest.approx(1.0)
    assert np.isnan(table["pc_volume"].iloc[1]) and np.isnan(table["pc_oi"].iloc[1])
    overall = levels.put_call_ratios(long)
    assert overall.volume == pytest.approx(120 / 100) and overall.oi == pytest.approx(410 / 400)


# ---------------------------------------------------------------- most active


def test_most_active_strikes():
    frame = _volume_chain({95: 10, 100: 300, 105: 200, 110: 0}, {95: 290, 100: 5, 105: 0, 90: 0})
    top = levels.most_active(frame, n=3)
    assert top["strike"].tolist() == [100.0, 95.0, 105.0]  # 305, 300, 200
    assert top["total_volume"].tolist() == [305, 300, 200]
    assert levels.most_active(frame, n=10)["strike"].tolist() == [100.0, 95.0, 105.0]  # no zeros


# ---------------------------------------------------------------- key levels


def test_key_levels_bundle_every_level():
    r, q, T, spot = 0.04, 0.01, 10 / 365, 100.0
    rows = []
    for k in range(90, 111, 5):
        rows.append({"type": "call", "strike": k, "open_interest": 3000 if k == 105 else 500,
                     "volume": 900 if k == 110 else 100 + k})
        rows.append({"type": "put", "strike": k, "open_interest": 4000 if k == 95 else 400,
                     "volume": 800 if k == 90 else 300 - k})
    frame = make_chain(rows, spot=spot, T=T, r=r, q=q)
    kl = levels.key_levels(frame, spot, T, r, q)
    assert (kl.call_wall_oi, kl.put_wall_oi) == (105.0, 95.0)
    assert (kl.call_wall_volume, kl.put_wall_volume) == (110.0, 90.0)
    walls = exposure.gamma_walls(frame, spot)
    assert (kl.call_wall_gamma, kl.put_wall_gamma, kl.abs_gamma_strike) == \
        (walls.call_wall, walls.put_wall, walls.abs_gamma_strike)
    assert kl.put_wall_gamma == 95.0 and kl.call_wall_gamma == 105.0
    assert kl.zero_gamma == exposure.zero_gamma(frame, spot, r, q, T)
    assert kl.zero_gamma is not None and 95.0 < kl.zero_gamma < 105.0
    assert kl.net_gex == pytest.approx(exposure.total_gex(frame, spot))
    assert kl.max_pain == levels.max_pain(frame)
    assert kl.volume_pivot == levels.volume_pivot(frame, spot)
    assert (kl.pc_volume, kl.pc_oi) == dataclasses.astuple(levels.put_call_ratios(frame))
    move = levels.expected_move(frame, spot, T)
    assert kl.atm_strike == 100.0 and kl.straddle == move.straddle
    assert kl.one_sigma_iv == pytest.approx(spot * 0.2 * math.sqrt(T))
    assert kl.oi_published is True
    for field in dataclasses.fields(kl):  # plain floats / None only
        value = getattr(kl, field.name)
        if field.name != "oi_published":
            assert value is None or type(value) is float, field.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        kl.max_pain = 1.0  # type: ignore[misc]


def test_key_levels_reject_several_expiries():
    a = _oi_chain({100: 10}, {95: 10}, expiry=E1)
    b = _oi_chain({100: 10}, {95: 10}, expiry=E2)
    with pytest.raises(ValueError):
        levels.key_levels(pd.concat([a, b], ignore_index=True), 100.0, 0.1, 0.0, 0.0)


def test_proximity_alerts_edges_and_order():
    from core.analytics.levels import proximity_alerts

    alerts = proximity_alerts(100.0, {"call_wall": 100.5, "put_wall": 99.0, "max_pain": 100.2,
                                      "zero_gamma": None, "far": 110.0, "nan": float("nan")}, 0.5)
    assert [a.level for a in alerts] == ["max_pain", "call_wall"]  # 0.5 % is inside (inclusive)
    assert alerts[0].side == "above" and alerts[0].distance_pct == pytest.approx(0.2)
    assert proximity_alerts(100.0, {"put_wall": 99.7}, 0.3)[0].side == "below"
    assert proximity_alerts(100.0, {"x": 101.0}, 0.3) == []
