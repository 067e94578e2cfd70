"""Premium, volume/OI, side proxy, unusual activity, whale and fresh scores on hand-made rows."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from core.analytics import flows
from tests.analytics.chains import make_chain

BASE = {"type": "call", "strike": 100.0, "bid": 1.0, "ask": 1.2, "last": 1.1, "volume": 0,
        "open_interest": 0, "iv": 0.30, "delta": 0.5}


def _chain(*rows):
    """A canonical frame from partial rows (dicts overriding BASE); contract = row position."""
    return make_chain([{**BASE, **row, "contract": f"C{i}"} for i, row in enumerate(rows)])


def _by_contract(frame):
    return frame.set_index("contract")


# ----------------------------------------------------------------------------- premium, vol/OI

def test_premium_is_volume_times_mid_times_100():
    traded = pd.Timestamp("2026-11-20 15:00", tz="UTC")
    f = _chain({"volume": 250, "bid": 2.0, "ask": 2.4},            # mid 2.2
               {"volume": 10, "bid": 0.0, "ask": 0.0, "last": 3.0,  # no quote: a trade's price
                "last_trade": traded},
               {"volume": 5, "bid": 0.0, "ask": 0.0, "last": 3.0})  # a trade of unknown time
    got = flows.premium(f).tolist()
    assert got[:2] == pytest.approx([250 * 2.2 * 100, 10 * 3.0 * 100])
    assert math.isnan(got[2])  # no price, no premium (never a days-old last)


def test_vol_oi_is_nan_when_oi_is_zero():
    f = _chain({"volume": 300, "open_interest": 120, "strike": 90},
               {"volume": 300, "open_interest": 0, "strike": 95},
               {"volume": 0, "open_interest": 50, "strike": 100})
    got = flows.vol_oi(f).tolist()
    assert got[0] == pytest.approx(2.5)
    assert math.isnan(got[1])
    assert got[2] == 0.0


# ----------------------------------------------------------------------------- side proxy

def test_side_proxy_labels_ask_bid_mid():
    f = _chain({"strike": 90, "bid": 1.0, "ask": 1.2, "last": 1.2},   # at the ask
               {"strike": 91, "bid": 1.0, "ask": 1.2, "last": 1.3},   # through the ask
               {"strike": 92, "bid": 1.0, "ask": 1.2, "last": 1.0},   # at the bid
               {"strike": 93, "bid": 1.0, "ask": 1.2, "last": 0.9},   # below the bid
               {"strike": 94, "bid": 1.0, "ask": 1.2, "last": 1.1})   # inside
    assert flows.side_proxy(f, market_open=True).tolist() == ["ask", "ask", "bid", "bid", "mid"]


def test_side_proxy_is_absent_when_the_market_is_closed():
    f = _chain({"strike": 90, "last": 1.2}, {"strike": 91, "last": 1.0})
    side = flows.side_proxy(f, market_open=False)
    assert len(side) == 2 and side.isna().all()


def test_side_proxy_is_absent_without_a_quote_or_a_last():
    f = _chain({"strike": 90, "bid": 0.0, "ask": 0.0, "last": 1.1},
               {"strike": 91, "bid": 0.0, "ask": 1.2, "last": 1.3},
               {"strike": 92, "last": 0.0},
               {"strike": 93, "last": 1.2})
    assert flows.side_proxy(f, market_open=True).tolist() == [None, None, None, "ask"]


def test_side_proxy_ignores_last_trades_before_since():
    opened = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    f = _chain({"strike": 90, "last": 1.2, "last_trade": pd.Timestamp("2026-11-20 15:00Z")},
               {"strike": 91, "last": 1.2, "last_trade": pd.Timestamp("2026-11-19 20:00Z")},
               {"strike": 92, "last": 1.2})  # unknown last trade time
    assert flows.side_proxy(f, True, since=opened).tolist() == ["ask", None, None]


# ----------------------------------------------------------------------------- tiers

@pytest.mark.parametrize("value, tier", [
    (99_999.99, None), (100_000, "$100k+"), (499_999.99, "$100k+"), (500_000, "$500k+"),
    (999_999.99, "$500k+"), (1_000_000, "$1M+"), (25_000_000, "$1M+"), (0, None),
    (float("nan"), None),
])
def test_premium_tier_edges(value, tier):
    assert flows.premium_tier(value) == tier


def test_premium_tier_on_a_series_keeps_the_index():
    s = pd.Series([1e6, 5e5, 1e5, 5e4, np.nan], index=list("abcde"))
    got = flows.premium_tier(s)
    assert list(got.index) == list("abcde")
    assert got.tolist() == ["$1M+", "$500k+", "$100k+", None, None]


# ----------------------------------------------------------------------------- unusual

def test_unusual_applies_each_threshold_with_its_edge():
    q = {"bid": 0.5, "ask": 0.5, "last": 0.5}
    f = _chain(
        {"strike": 90, "volume": 1000, "open_interest": 400, **q},          # plain hit
        {"strike": 91, "volume": 500, "open_interest": 101, **q},           # volume == 500: no
        {"strike": 92, "volume": 501, "open_interest": 101, **q},           # 501: yes
        {"strike": 93, "volume": 1000, "open_interest": 100, **q},          # OI == 100: no
        {"strike": 94, "volume": 1000, "open_interest": 200, "last": 0.10},  # last == 0.10: no
        {"strike": 95, "volume": 1000, "open_interest": 200, "last": 0.11},  # 0.11: yes
        {"strike": 96, "volume": 625, "open_interest": 500, **q},           # vol/OI == 1.25: yes
        {"strike": 97, "volume": 624, "open_interest": 500, **q},           # 1.248: no
    )
    hit = flows.unusual(f)
    assert set(hit["contract"]) == {"C0", "C2", "C5", "C6"}
    assert {"premium", "tier", "vol_oi"} <= set(hit.columns)
    row = _by_contract(hit).loc["C6"]
    assert row["vol_oi"] == pytest.approx(1.25)
    assert row["premium"] == pytest.approx(625 * 0.5 * 100)


def test_unusual_sorted_by_premium_with_tiers():
    f = _chain({"strike": 90, "volume": 10_000, "open_interest": 1000, "bid": 0.8, "ask": 0.8},
               {"strike": 95, "volume": 2000, "open_interest": 1000, "bid": 5.0, "ask": 5.0})
    hit = flows.unusual(f)
    assert hit["contract"].tolist() == ["C1", "C0"]
    assert hit["premium"].tolist() == pytest.approx([1_000_000, 800_000])
    assert hit["tier"].tolist() == ["$1M+", "$500k+"]


def test_unusual_rules_are_configurable():
    f = _chain({"volume": 300, "open_interest": 200, "last": 0.5})
    assert flows.unusual(f).empty
    loose = flows.UnusualRules(volume_gt=250)
    assert flows.unusual(f, loose)["contract"].tolist() == ["C0"]


def test_unusual_never_flags_zero_oi():
    f = _chain({"volume": 5000, "open_interest": 0, "last": 2.0})
    assert flows.unusual(f, flows.UnusualRules(oi_gt=-1)).empty


# ----------------------------------------------------------------------------- whale score

def test_whale_score_by_hand_and_ranked():
    f = _chain(
        # premium 1000*2*100 = 200k = 2 bp of $1B; vol/OI 2 -> 2 * 2 = 4.0
        {"type": "call", "strike": 100, "bid": 1.9, "ask": 2.1, "iv": 0.30, "delta": 0.5,
         "volume": 1000, "open_interest": 500},
        # premium 300k = 3 bp; vol/OI 3 -> 9.0
        {"type": "put", "strike": 97, "bid": 1.0, "ask": 1.0, "iv": 0.35, "delta": -0.4,
         "volume": 3000, "open_interest": 1000},
        {"type": "call", "strike": 105, "volume": 1000, "open_interest": 500},  # exactly +5 %: in
        {"type": "call", "strike": 106, "volume": 1000, "open_interest": 500},  # +6 %: out
        {"type": "call", "strike": 101, "volume": 1000, "open_interest": 0},    # OI 0: out
        {"type": "call", "strike": 102, "volume": 0, "open_interest": 500},     # no volume: out
        {"type": "call", "strike": 103, "volume": 900, "open_interest": 500, "iv": 9.0},  # bad IV
    )
    w = flows.whale_score(f, spot=100.0, underlying_dollar_volume=1e9)
    assert w["contract"].tolist() == ["C1", "C0", "C2"]
    scores = _by_contract(w)["whale_score"]
    assert scores["C1"] == pytest.approx(9.0)
    assert scores["C0"] == pytest.approx(4.0)
    assert _by_contract(w).loc["C1", "tier"] == "$100k+"
    assert _by_contract(w).loc["C0", "leverage"] == pytest.approx(25.0)  # 0.5 × 100 / 2, shown


def test_premium_size_counts_in_the_whale_score():
    # the same contract, volume, OI, delta and IV at twice the mid: twice the premium, twice the
    # score (the seed formula gave both the same score: the mid cancelled out)
    same = {"type": "call", "iv": 0.30, "delta": 0.5, "volume": 1000, "open_interest": 500}
    f = _chain({**same, "strike": 100, "bid": 1.0, "ask": 1.0},
               {**same, "strike": 101, "bid": 2.0, "ask": 2.0})
    scores = _by_contract(flows.whale_score(f, 100.0, 1e9))["whale_score"]
    assert scores["C1"] == pytest.approx(2 * scores["C0"])
    assert scores["C0"] == pytest.approx(1e4 * (1000 * 1.0 * 100 / 1e9) * 2)


def test_whale_score_is_empty_without_underlying_volume():
    f = _chain({"volume": 1000, "open_interest": 500})
    for udv in (0.0, float("nan")):
        w = flows.whale_score(f, 100.0, udv)
        assert w.empty and "whale_score" in w.columns


# ----------------------------------------------------------------------------- fresh positioning

def test_fresh_positioning_leaves_out_0dte_round_trips():
    q = {"bid": 2.0, "ask": 2.0, "volume": 800, "open_interest": 100}
    today, later = dt.date(2026, 11, 20), dt.date(2026, 11, 27)
    f = pd.concat([make_chain([{**BASE, "strike": 100, **q}], expiry=e) for e in (today, later)],
                  ignore_index=True)
    assert len(flows.fresh_positioning(f, 100.0)) == 2
    kept = flows.fresh_positioning(f, 100.0, today=today)
    assert kept["expiry"].tolist() == [later]


def test_fresh_positioning_band_threshold_and_score():
    q = {"bid": 2.0, "ask": 2.0}
    f = _chain(
        {"strike": 110, "volume": 300, "open_interest": 100, **q},  # +10 % exactly, vol/OI 3
        {"strike": 111, "volume": 900, "open_interest": 100, **q},  # +11 %: out
        {"strike": 95, "volume": 299, "open_interest": 100, **q},   # vol/OI 2.99: out
        {"strike": 90, "volume": 800, "open_interest": 100, **q},   # -10 %, vol/OI 8
        {"strike": 100, "volume": 800, "open_interest": 0, **q},    # OI 0: out
    )
    fresh = flows.fresh_positioning(f, spot=100.0)
    assert fresh["contract"].tolist() == ["C3", "C0"]
    scores = _by_contract(fresh)["fresh_score"]
    # notional = premium: 800*2*100 = 160k -> 8 * 160k / 1000; 300*2*100 = 60k -> 3 * 60
    assert scores["C3"] == pytest.approx(1280.0)
    assert scores["C0"] == pytest.approx(180.0)


# ----------------------------------------------------------------------------- call vs put

def test_call_put_premium_totals_and_ratio():
    f = _chain({"type": "call", "strike": 100, "volume": 100, "bid": 3.0, "ask": 3.0},
               {"type": "call", "strike": 105, "volume": 50, "bid": 1.0, "ask": 1.0},
               {"type": "put", "strike": 95, "volume": 100, "bid": 2.0, "ask": 2.0})
    split = flows.call_put_premium(f)
    assert split.call == pytest.approx(35_000)
    assert split.put == pytest.approx(20_000)
    assert split.net == pytest.approx(15_000)
    assert split.total == pytest.approx(55_000)
    assert split.ratio == pytest.approx(1.75)


def test_call_put_premium_ratio_edges():
    assert flows.PremiumSplit(call=10.0, put=0.0).ratio == math.inf
    assert math.isnan(flows.PremiumSplit(call=0.0, put=0.0).ratio)


# ----------------------------------------------------------------------------- robustness

def test_empty_chain_gives_empty_results():
    f = _chain({"volume": 1}).iloc[0:0]
    assert flows.unusual(f).empty
    assert flows.whale_score(f, 100.0, 1e9).empty
    assert flows.fresh_positioning(f, 100.0).empty
    assert flows.side_proxy(f, True).empty
    assert flows.call_put_premium(f) == flows.PremiumSplit(0.0, 0.0)


def test_inputs_are_not_mutated():
    f = _chain({"volume": 1000, "open_interest": 400, "last": 0.5, "strike": 100})
    before = f.copy()
    flows.unusual(f)
    flows.whale_score(f, 100.0, 1e9)
    flows.fresh_positioning(f, 100.0)
    flows.side_proxy(f, True)
    pd.testing.assert_frame_equal(f, before)
