"""core.providers.simulated: a deterministic market that looks and behaves like a real one.

Every test pins the clock (tests/conftest.py freezes it at Friday 2026-11-20 11:30 ET; tests
that need another instant use ``clock.frozen``) and checks a behaviour whose answer is known
from the market's rules: sessions, holidays, listing conventions, parity, the closed-market
look of Yahoo's data.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from core import clock, symbols
from core.analytics import greeks
from core.config import settings
from core.errors import DataError, InvalidSymbol, NoExpiry, SymbolNotFound
from core.providers import simulated
from core.providers.base import HISTORY_COLUMNS, Provider
from core.providers.simulated import SimulatedProvider
from core.schema import (FALLBACK, IV_CLIPPED, MARKET_CLOSED, OI_PRIOR_CLOSE, RAW_COLUMNS,
                         STALE_LAST_TRADES)

D = dt.date
FRI = D(2026, 11, 20)
SIM = SimulatedProvider()


def chain_at(when: str, symbol: str, expiry: dt.date):
    with clock.frozen(when):
        return SIM.chain(symbol, expiry)


def quote_at(when: str, symbol: str):
    with clock.frozen(when):
        return SIM.quote(symbol)


def expiries_at(when: str, symbol: str) -> list[dt.date]:
    with clock.frozen(when):
        return SIM.expirations(symbol)


def quoted_spot_and_t(chain) -> tuple[float, float]:
    """The underlying's price and the years to expiry at the moment of the chain's option
    quotes (``quotes_as_of``): what its bid/ask were priced at."""
    return (quote_at(chain.quotes_as_of, chain.symbol).price,
            clock.time_to_expiry(chain.expiry, chain.quotes_as_of))


def consistent_iv(chain) -> np.ndarray:
    """The IV each two-sided mid implies at the quote moment's spot and T (NaN for one-sided
    quotes): the price-consistent vol, solved by our own bisection."""
    spot, t = quoted_spot_and_t(chain)
    f = chain.frame
    two = ((f["bid"] > 0) & (f["ask"] > 0)).to_numpy()
    iv = greeks.implied_vol(f["mid"].to_numpy(), spot, f["strike"].to_numpy(), t, chain.rate,
                            chain.div_yield, (f["type"] == "call").to_numpy())
    return np.where(two, iv, np.nan)


# --- the protocol and the frame -----------------------------------------------------------------

def test_is_a_provider_with_canonical_frames():
    assert isinstance(SIM, Provider) and SIM.name == "simulated"
    chain = SIM.chain("SPY", FRI)
    assert list(chain.frame.columns) == RAW_COLUMNS
    assert chain.source == "simulated" and chain.symbol == "SPY" and chain.expiry == FRI
    assert chain.div_yield == symbols.listing("SPY").div_yield
    assert chain.rate == settings().risk_free
    assert chain.quote is not None and chain.quote.price == chain.spot
    assert chain.as_of == clock.parse_instant("2026-11-20 11:30")
    assert chain.quotes_as_of == chain.as_of - simulated.quote_delay("SPY")
    assert OI_PRIOR_CLOSE in chain.flags and FALLBACK not in chain.flags
    frame = chain.frame
    assert frame["last_trade"].dt.tz is not None
    assert (frame["last_trade"] <= pd.Timestamp(chain.as_of)).all()
    assert set(frame["expiry"]) == {FRI}
    calls, puts = chain.calls, chain.puts
    assert len(calls) == len(puts)
    assert (calls["strike"].to_numpy() == puts["strike"].to_numpy()).all()


def test_fallback_provider_flags_every_chain():
    chain = SimulatedProvider(fallback=True).chain("AAPL", FRI)
    assert FALLBACK in chain.flags


def test_occ_contract_symbols_and_spx_roots():
    frame = SIM.chain("SPY", FRI).frame
    assert frame["contract"].str.fullmatch(r"SPY261120[CP]\d{8}").all()
    row = frame[(frame["type"] == "call") & (frame["strike"] == 672.0)]
    assert row["contract"].item() == "SPY261120C00672000"
    assert frame["contract"].str.slice(9, 10).eq(frame["type"].str.slice(0, 1).str.upper()).all()
    monthly = SIM.chain("^SPX", FRI).frame["contract"]  # a 3rd Friday: the PM-settled SPXW trade
    assert monthly.str.startswith("SPXW261120").all()
    weekly = SIM.chain("^SPX", D(2026, 11, 23)).frame["contract"]
    assert weekly.str.startswith("SPXW261123").all()
    assert SIM.chain("^NDX", D(2026, 11, 24)).frame["contract"].str.startswith("NDXP").all()


def test_in_the_money_matches_spot():
    chain = SIM.chain("NVDA", D(2026, 11, 27))
    f = chain.frame
    itm = np.where(f["type"] == "call", f["strike"] < chain.spot, f["strike"] > chain.spot)
    assert (f["in_the_money"].to_numpy() == itm).all()


# --- symbols ------------------------------------------------------------------------------------

def test_unknown_symbol_is_not_found_and_bad_text_is_invalid():
    with pytest.raises(SymbolNotFound, match="XYZ is not in the simulated market's universe"):
        SIM.quote("XYZ")
    with pytest.raises(SymbolNotFound):
        SIM.chain("XYZ", FRI)
    with pytest.raises(SymbolNotFound):
        SIM.expirations("ZZZZ")
    with pytest.raises(InvalidSymbol):
        SIM.quote("not a symbol!")
    assert SIM.quote("spx").symbol == "^SPX"  # the usual alias


# --- determinism and the clock ------------------------------------------------------------------

def test_same_minute_gives_identical_frames_and_the_next_minute_moves():
    a = chain_at("2026-11-20 11:30:05", "SPY", FRI)
    simulated.cache_clear()                     # no hidden state: recomputed from scratch
    b = chain_at("2026-11-20 11:30:55", "SPY", FRI)
    pd.testing.assert_frame_equal(a.frame, b.frame)   # vendor iv and stray values included
    assert a.spot == b.spot and a.as_of == b.as_of and a.quotes_as_of == b.quotes_as_of
    c = chain_at("2026-11-20 11:31", "SPY", FRI)
    assert c.spot != a.spot
    assert not a.frame["bid"].equals(c.frame["bid"])
    assert c.as_of - a.as_of == dt.timedelta(minutes=1)


def test_the_spot_walks_minute_by_minute_during_the_session():
    prices = [quote_at(f"2026-11-20 {h:02d}:{m:02d}", "QQQ").price
              for h in (10, 12, 14) for m in (0, 1, 2, 3)]
    assert len(set(prices)) == len(prices)
    moves = np.abs(np.diff(np.log(prices)))
    assert moves.max() < 0.02  # a minute is a minute, not a crash


def test_an_etf_and_its_index_move_as_one():
    ratios = [quote_at(when, "^SPX").price / quote_at(when, "SPY").price
              for when in ("2026-11-20 10:00", "2026-11-20 14:17", "2026-11-24 11:00")]
    assert max(ratios) - min(ratios) < 1e-9


def test_price_at_the_anchor_is_the_universe_price():
    with clock.frozen("2026-11-02 18:00"):
        for sym in ("SPY", "AAPL", "^SPX"):
            assert SIM.quote(sym).price == pytest.approx(symbols.listing(sym).price, rel=1e-12)


def test_weekend_is_frozen_at_the_friday_close_keeping_its_closing_quotes():
    """Yahoo's weekend answer (spy_options_2026-05-31_weekend.json) keeps Friday's bids/asks
    and Friday's volumes; so does the simulated market, priced at Friday's close."""
    friday_close = quote_at("2026-11-20 16:30", "SPY")
    friday_evening = chain_at("2026-11-20 16:30", "SPY", D(2026, 11, 23))
    sat_noon = chain_at("2026-11-21 12:00", "SPY", D(2026, 11, 23))
    sun_night = chain_at("2026-11-22 21:45", "SPY", D(2026, 11, 23))
    pd.testing.assert_frame_equal(sat_noon.frame, sun_night.frame)
    pd.testing.assert_frame_equal(sat_noon.frame, friday_evening.frame)
    assert sat_noon.spot == sun_night.spot == friday_close.price
    assert sat_noon.as_of == sat_noon.quotes_as_of == clock.parse_instant("2026-11-20 16:00")
    f = sat_noon.frame
    two = (f["bid"] > 0) & (f["ask"] > 0)
    assert two.mean() > 0.6 and (f.loc[two, "ask"] > f.loc[two, "bid"]).all()
    assert (f.loc[two, "mid"] == (f.loc[two, "bid"] + f.loc[two, "ask"]) / 2).all()
    assert (f["volume"] > 0).mean() > 0.5 and (f["open_interest"] > 0).all()
    # the quotes are Friday's closing ones: parity on the close and T from the close
    spot, t = quoted_spot_and_t(sat_noon)
    assert spot == friday_close.price
    calls = f[f["type"] == "call"].set_index("strike")
    puts = f[f["type"] == "put"].set_index("strike")
    near = (calls["bid"] > 0) & (puts["bid"] > 0) & (abs(calls.index / spot - 1) < 0.02)
    k = calls.index[near].to_numpy()
    gap = calls.loc[near, "mid"] - puts.loc[near, "mid"] \
        - (spot * math.exp(-sat_noon.div_yield * t) - k * math.exp(-sat_noon.rate * t))
    assert near.sum() >= 5 and np.abs(gap).max() <= 0.01 + 1e-9
    q = quote_at("2026-11-21 12:00", "SPY")
    assert q.price == friday_close.price and q.day_volume == friday_close.day_volume > 0
    assert q.as_of == sat_noon.as_of


def test_a_holiday_keeps_the_previous_sessions_closing_quotes():
    thanksgiving = chain_at("2026-11-26 12:00", "AAPL", D(2026, 11, 27))
    wednesday_evening = chain_at("2026-11-25 18:00", "AAPL", D(2026, 11, 27))
    pd.testing.assert_frame_equal(thanksgiving.frame, wednesday_evening.frame)
    assert thanksgiving.quotes_as_of == clock.parse_instant("2026-11-25 16:00")
    assert (thanksgiving.frame["bid"] > 0).mean() > 0.6
    assert (thanksgiving.frame["open_interest"] > 0).all()


def test_after_the_close_volume_is_the_whole_session():
    during = chain_at("2026-11-20 15:59", "AAPL", D(2026, 11, 27)).frame
    after = chain_at("2026-11-20 16:10", "AAPL", D(2026, 11, 27))
    weekend = chain_at("2026-11-21 10:00", "AAPL", D(2026, 11, 27)).frame
    assert (after.frame["volume"] >= during["volume"]).all()
    assert (after.frame["volume"].to_numpy() == weekend["volume"].to_numpy()).all()
    # the closing quotes stand (Yahoo keeps them), no longer the delayed ones of 15:59
    assert after.quotes_as_of == clock.parse_instant("2026-11-20 16:00")
    assert (after.frame["bid"] > 0).mean() > 0.6
    assert not after.frame["bid"].equals(during["bid"])


def test_pre_market_shows_the_previous_close_and_no_volume_yet():
    q = quote_at("2026-11-20 08:15", "NVDA")
    thursday = quote_at("2026-11-19 16:05", "NVDA")
    assert q.price == thursday.price and q.prev_close == thursday.prev_close
    assert q.day_volume == 0
    chain = chain_at("2026-11-20 08:15", "NVDA", FRI)   # today's expiry still listed
    assert (chain.frame["bid"] == 0).all() and MARKET_CLOSED in chain.flags
    assert chain.spot == thursday.price
    assert chain.quotes_as_of == clock.parse_instant("2026-11-19 16:00")


def test_early_close_day_trades_until_13_and_then_closes():
    open_ = chain_at("2026-11-27 12:59", "SPY", D(2026, 11, 27))
    assert (open_.frame["bid"] > 0).any() and MARKET_CLOSED not in open_.flags
    after = quote_at("2026-11-27 13:00", "SPY")
    assert after.as_of == clock.parse_instant("2026-11-27 13:00")
    assert after.price == quote_at("2026-11-27 15:00", "SPY").price
    assert D(2026, 11, 27) not in expiries_at("2026-11-27 13:00", "SPY")


def test_quote_day_volume_follows_a_u_shaped_curve():
    volumes = {t: quote_at(f"2026-11-20 {t}", "AAPL").day_volume
               for t in ("09:30", "10:00", "12:45", "15:30", "16:00")}
    assert volumes["09:30"] == 0
    assert volumes["10:00"] < volumes["12:45"] < volumes["15:30"] < volumes["16:00"]
    total = volumes["16:00"]
    first_half_hour = volumes["10:00"] / total            # 7.7 % of the session's time
    last_half_hour = 1 - volumes["15:30"] / total
    middle = (volumes["15:30"] - volumes["10:00"]) / total / 11   # per half hour
    assert first_half_hour > 1.5 * middle and last_half_hour > 1.5 * middle


# --- expiries -----------------------------------------------------------------------------------

def test_daily_names_list_every_session_and_skip_thanksgiving():
    ex = SIM.expirations("SPY")
    assert ex == sorted(set(ex))
    assert ex[:9] == [D(2026, 11, 20), D(2026, 11, 23), D(2026, 11, 24), D(2026, 11, 25),
                      D(2026, 11, 27), D(2026, 11, 30), D(2026, 12, 1), D(2026, 12, 2),
                      D(2026, 12, 3)]
    assert D(2026, 11, 26) not in ex                  # Thanksgiving
    assert D(2026, 12, 24) in ex and D(2026, 12, 25) not in ex  # Christmas: Thursday instead
    assert all(clock.is_session(e) for e in ex)
    assert ex[-1] - ex[0] > dt.timedelta(days=700)  # LEAPS


def test_weekly_names_list_fridays_monthlies_quarterlies_and_leaps():
    ex = SIM.expirations("AAPL")
    weeklies = [e for e in ex if e < D(2027, 1, 1)]
    assert weeklies == [D(2026, 11, 20), D(2026, 11, 27), D(2026, 12, 4), D(2026, 12, 11),
                        D(2026, 12, 18), D(2026, 12, 24), D(2026, 12, 31)]
    for month in range(1, 12):
        assert simulated._third_friday(2027, month) in ex or month == 6
    # June 2027: the 3rd Friday (18th) is Juneteenth observed, so the monthly is the 17th
    assert D(2027, 6, 17) in ex and D(2027, 6, 18) not in ex
    assert D(2028, 1, 21) in ex and D(2029, 1, 19) in ex  # LEAPS
    later = [e for e in ex if e > D(2027, 12, 31)]
    assert all(simulated._is_monthly(e) for e in later)


def test_third_friday_is_between_15_and_21():
    for year in (2026, 2027):
        for month in range(1, 13):
            day = simulated._third_friday(year, month)
            assert day.weekday() == 4 and 15 <= day.day <= 21


def test_todays_expiry_goes_at_the_close():
    assert FRI in expiries_at("2026-11-20 15:59", "SPY")
    assert FRI not in expiries_at("2026-11-20 16:00", "SPY")
    assert expiries_at("2026-11-20 16:00", "SPY")[0] == D(2026, 11, 23)
    assert FRI in expiries_at("2026-11-20 07:00", "AAPL")  # pre-market: today's still trades


def test_holiday_expiries_move_to_the_previous_session():
    # Juneteenth 2026 is the third Friday of June: the monthly expires Thursday 18 June.
    may = expiries_at("2026-05-01 12:00", "AAPL")
    assert D(2026, 6, 18) in may and D(2026, 6, 19) not in may
    assert simulated._is_monthly(D(2026, 6, 18))
    with clock.frozen("2026-05-01 12:00"):
        assert SIM.chain("^SPX", D(2026, 6, 18)).frame["contract"].str.startswith("SPXW2606").all()
    # Good Friday 2027 (26 March) is a weekly Friday: listed on Thursday 25 March.
    march = expiries_at("2027-03-01 12:00", "AAPL")
    assert D(2027, 3, 25) in march and D(2027, 3, 26) not in march
    assert D(2027, 3, 19) in march                   # the quarterly itself is a normal Friday
    # Good Friday 2025 was the third Friday of April: the monthly expired on the 17th.
    april = expiries_at("2025-04-01 12:00", "MSFT")
    assert D(2025, 4, 17) in april and D(2025, 4, 18) not in april


def test_unlisted_expiry_raises_no_expiry_with_the_next_one():
    with pytest.raises(NoExpiry) as err:
        SIM.chain("AAPL", D(2026, 11, 24))          # a Tuesday: AAPL has no dailies
    assert err.value.next_expiry == D(2026, 11, 27)
    with clock.frozen("2026-11-21 12:00"), pytest.raises(NoExpiry) as err:
        SIM.chain("SPY", D(2026, 11, 21))           # no 0DTE on a Saturday
    assert err.value.next_expiry == D(2026, 11, 23)
    with clock.frozen("2026-11-20 16:30"), pytest.raises(NoExpiry) as err:
        SIM.chain("SPY", FRI)                       # expired at the close
    assert err.value.next_expiry == D(2026, 11, 23)


# --- strikes ------------------------------------------------------------------------------------

def near_steps(chain, count: int = 9) -> set[float]:
    """Steps between the ``count`` strikes nearest spot."""
    strikes = chain.frame["strike"].unique()
    near = np.sort(strikes[np.argsort(np.abs(strikes - chain.spot))[:count]])
    return set(np.round(np.diff(near), 4))


@pytest.mark.parametrize("symbol, step", [("SPY", 1.0), ("QQQ", 1.0), ("^SPX", 5.0),
                                          ("^NDX", 25.0), ("AAPL", 2.5), ("NVDA", 2.5),
                                          ("MSFT", 5.0), ("F", 0.5), ("NFLX", 10.0)])
def test_strike_grids_follow_the_price_level(symbol, step):
    assert near_steps(SIM.chain(symbol, FRI)) == {step}


@pytest.mark.parametrize("symbol", ["SPY", "^SPX", "QQQ", "AAPL", "TSLA", "NVDA", "META"])
def test_a_full_chain_has_60_to_250_strikes_widening_with_time(symbol):
    ex = SIM.expirations(symbol)
    counts, spans = [], []
    for expiry in (ex[0], ex[len(ex) // 2], ex[-1]):
        chain = SIM.chain(symbol, expiry)
        strikes = chain.frame["strike"].unique()
        counts.append(len(strikes))
        spans.append(math.log(strikes.max() / strikes.min()))
    assert all(60 <= n <= 250 for n in counts), counts
    assert spans[0] < min(spans[1:])
    assert spans[0] >= 2 * math.log(1.08) - 0.02


# --- prices -------------------------------------------------------------------------------------

@pytest.mark.parametrize("symbol, pick", [("SPY", 0), ("SPY", 12), ("AAPL", 3), ("^SPX", 1),
                                          ("KO", 5)])
def test_put_call_parity_holds_on_mids(symbol, pick):
    expiry = SIM.expirations(symbol)[pick]
    chain = SIM.chain(symbol, expiry)
    f = chain.frame
    calls = f[f["type"] == "call"].set_index("strike")
    puts = f[f["type"] == "put"].set_index("strike")
    quoted = (calls["bid"] > 0) & (puts["bid"] > 0) & (abs(calls.index / chain.spot - 1) < 0.05)
    assert quoted.sum() >= 5
    k = calls.index[quoted].to_numpy()
    spot, t = quoted_spot_and_t(chain)   # the options are priced when they were quoted
    forward_value = (spot * math.exp(-chain.div_yield * t) - k * math.exp(-chain.rate * t))
    gap = calls.loc[quoted, "mid"].to_numpy() - puts.loc[quoted, "mid"].to_numpy() - forward_value
    tick = 0.10 if symbol == "^SPX" else 0.05 if symbol in ("AAPL", "KO") else 0.01
    assert np.abs(gap).max() <= tick + 1e-9


def test_spreads_widen_out_of_the_money_and_near_expiry():
    chain = SIM.chain("SPY", D(2026, 12, 18))
    f = chain.frame[chain.frame["bid"] > 0]
    rel = (f["ask"] - f["bid"]) / f["mid"]
    moneyness = f["strike"] / chain.spot - 1
    calls = f["type"] == "call"
    atm = rel[calls & (moneyness.abs() < 0.005)].median()
    otm = rel[calls & (moneyness > 0.03) & (moneyness < 0.08)].median()
    assert otm > 2 * atm
    assert (f["ask"] > f["bid"]).all()
    # an at-the-money option is quoted tighter a month out than on its last day, per dollar of
    # time value
    zero = SIM.chain("SPY", FRI).frame
    near = zero[(zero["type"] == "call") & ((zero["strike"] / chain.spot - 1).abs() < 0.003)]
    far = f[calls & (moneyness.abs() < 0.003)]
    assert ((near["ask"] - near["bid"]) / near["mid"]).median() > ((far["ask"] - far["bid"])
                                                                    / far["mid"]).median()


def test_smile_has_put_skew_and_a_term_structure():
    """The smile lives in the prices: read from IVs solved from the mids (the vendor's ``iv``
    column is deliberately off)."""
    chain = SIM.chain("^SPX", D(2026, 12, 18))
    f = chain.frame.assign(solved=consistent_iv(chain)).dropna(subset=["solved"])
    puts = f[f["type"] == "put"].set_index("strike")["solved"]
    calls = f[f["type"] == "call"].set_index("strike")["solved"]
    s = chain.spot
    down = puts[(puts.index > 0.93 * s) & (puts.index < 0.95 * s)].mean()
    atm = puts[(puts.index > 0.995 * s) & (puts.index < 1.005 * s)].mean()
    up = calls[(calls.index > 1.05 * s) & (calls.index < 1.07 * s)].mean()
    assert down > atm + 0.02 and up < atm        # index: put skew, calls cheap
    vol = symbols.listing("^SPX").vol
    assert 0.6 * vol < atm < 1.6 * vol
    # high-vol single name: short-dated ATM IV above the long-dated one
    ex = SIM.expirations("TSLA")

    def atm_iv(expiry):
        c = SIM.chain("TSLA", expiry)
        g = c.frame.assign(solved=consistent_iv(c))
        g = g[g["type"] == "call"]
        return g.iloc[(g["strike"] - c.spot).abs().argmin()]["solved"]
    assert atm_iv(ex[1]) > atm_iv(ex[-1])


def test_absurd_ivs_exist_and_are_flagged():
    chain = SIM.chain("SPY", FRI)
    f = chain.frame
    assert (~f["iv_ok"]).any() and IV_CLIPPED in chain.flags
    assert (f.loc[~f["iv_ok"], "iv"] < 0.01).all()   # mid-morning: Yahoo's 0.00001 on deep ITM
    assert f["iv_ok"].mean() > 0.8                   # a few, not the whole chain
    late = chain_at("2026-11-20 15:58", "SPY", FRI).frame
    stubs = late[(late["bid"] == 0) & (late["ask"] > 0)]
    assert (stubs["iv"] > 5.0).any()                 # a 0.01 stub two minutes before the close
    assert not late.loc[late["iv"] > 5.0, "iv_ok"].any()


# --- what a vendor sends: its IV, its delay, its pre-market -------------------------------------

def test_vendor_iv_is_not_the_price_consistent_iv():
    """Like Yahoo's impliedVolatility, the ``iv`` column does not reprice its own mid; the IV
    solved from the mid at the quote moment's spot and T does, and agrees between the call and
    the put of a strike (the prices are one self-consistent smile)."""
    chain = SIM.chain("SPY", D(2026, 12, 18))
    f = chain.frame
    solved = consistent_iv(chain)
    spot, t = quoted_spot_and_t(chain)
    ok = ~np.isnan(solved)
    assert ok.mean() > 0.8
    is_call = (f["type"] == "call").to_numpy()
    repriced = greeks.price(spot, f["strike"].to_numpy(), t, chain.rate, chain.div_yield,
                            solved, is_call)
    assert np.abs(repriced[ok] - f["mid"].to_numpy()[ok]).max() < 1e-4
    vendor = f["iv"].to_numpy()
    assert np.median(np.abs(vendor[ok] - solved[ok])) > 0.01       # a few vol points off
    assert (vendor == 1e-5).any()                                  # Yahoo's placeholders
    frame = f.assign(solved=solved, vendor=vendor)
    near = frame[(frame["strike"] / spot - 1).abs() < 0.03]
    pair = near.pivot_table(index="strike", columns="type", values=["solved", "vendor"]).dropna()
    assert len(pair) >= 20
    assert (pair["solved"]["call"] - pair["solved"]["put"]).abs().median() < 0.005
    assert (pair["vendor"]["call"] - pair["vendor"]["put"]).abs().median() > 0.01


@pytest.mark.parametrize("when, low, high", [("2026-11-20 11:30", 0.2, 0.45),
                                             ("2026-11-20 15:00", 0.1, 0.25)])
def test_vendor_0dte_iv_is_far_too_low_and_worse_late_in_the_day(when, low, high):
    """Yahoo's 0DTE IVs are a fraction of the price-consistent ones (~1/7 late in the day):
    the vendor's T runs two days long, ``iv = sigma sqrt(T / (T + 2 d))``."""
    chain = chain_at(when, "SPY", FRI)
    f = chain.frame
    solved = consistent_iv(chain)
    spot, _ = quoted_spot_and_t(chain)
    atm = ((f["strike"] / spot - 1).abs() < 0.005).to_numpy() & ~np.isnan(solved) \
        & (f["iv"] > 1e-4).to_numpy()
    assert atm.sum() >= 6
    ratio = np.median(f["iv"].to_numpy()[atm] / solved[atm])
    assert low < ratio < high
    assert 0.08 < np.median(solved[atm]) < 0.3                 # the smile itself is sane
    far = chain_at(when, "SPY", D(2027, 6, 17))                 # months out: close to right
    far_solved = consistent_iv(far)
    ok = ~np.isnan(far_solved) & (far.frame["iv"] > 1e-4).to_numpy()
    assert 0.95 < np.median(far.frame["iv"].to_numpy()[ok] / far_solved[ok]) < 1.02


def test_option_quotes_lag_the_spot_by_the_delay():
    """Yahoo's SPY answer at 10:24:49 has its newest option trade at 09:54:47: the chain's
    spot is live, its bid/ask/last are ``quote_delay`` old and priced at the spot of then."""
    delay = simulated.quote_delay("SPY")
    assert dt.timedelta(minutes=15) <= delay <= dt.timedelta(minutes=30)
    assert {simulated.quote_delay(s) for s in ("SPY", "QQQ", "AAPL", "NVDA", "^SPX")} != {delay}
    for when in ("2026-11-20 11:30", "2026-11-20 14:07"):
        chain = chain_at(when, "SPY", D(2026, 11, 23))
        assert chain.as_of == clock.parse_instant(when)
        assert chain.spot == quote_at(when, "SPY").price
        assert chain.quotes_as_of == chain.as_of - delay
        traded = chain.frame["last_trade"]
        assert traded.max() <= pd.Timestamp(chain.quotes_as_of)
        assert traded.max() > pd.Timestamp(chain.quotes_as_of) - pd.Timedelta(minutes=2)
        # the mids are priced at the spot of the quote moment, not at the live one
        spot, t = quoted_spot_and_t(chain)
        assert spot != chain.spot
        f = chain.frame
        calls = f[f["type"] == "call"].set_index("strike")
        puts = f[f["type"] == "put"].set_index("strike")
        near = (calls["bid"] > 0) & (puts["bid"] > 0) & (abs(calls.index / spot - 1) < 0.02)
        k = calls.index[near].to_numpy()
        parity = calls.loc[near, "mid"].to_numpy() - puts.loc[near, "mid"].to_numpy() \
            + k * math.exp(-chain.rate * t)
        implied_spot = np.median(parity) * math.exp(chain.div_yield * t)
        assert implied_spot == pytest.approx(spot, abs=0.01)
        assert abs(implied_spot - chain.spot) > 0.02
    # the whale prints of the flows page reach the chain only once their minute is quoted
    first = simulated.whale_prints("SPY", FRI)[0]
    contract = first["contract"]
    just_after = first["time"] + dt.timedelta(minutes=1)
    hidden = chain_at(just_after, "SPY", first["expiry"]).frame
    shown = chain_at(just_after + delay, "SPY", first["expiry"]).frame
    assert hidden.loc[hidden["contract"] == contract, "volume"].item() < first["size"]
    assert shown.loc[shown["contract"] == contract, "volume"].item() >= first["size"]


def test_the_first_minutes_of_a_session_show_the_opening_quotes():
    delay = simulated.quote_delay("AAPL")
    opened = clock.parse_instant("2026-11-20 09:30")
    at_open = chain_at(opened, "AAPL", D(2026, 11, 27))
    early = chain_at(opened + delay - dt.timedelta(minutes=1), "AAPL", D(2026, 11, 27))
    assert at_open.quotes_as_of == early.quotes_as_of == opened
    for col in ("bid", "ask", "last", "volume", "iv"):
        assert at_open.frame[col].equals(early.frame[col]), col
    assert (early.frame["volume"] == 0).all()          # nothing traded by the quote moment
    assert (early.frame["last_trade"] < pd.Timestamp(opened)).all()
    assert early.spot != at_open.spot                  # while the spot is live
    later = chain_at(opened + delay + dt.timedelta(minutes=1), "AAPL", D(2026, 11, 27))
    assert later.quotes_as_of == opened + dt.timedelta(minutes=1)


def test_pre_market_open_interest_is_not_published_yet():
    """Yahoo at 04:24 on a session day (qqq/aapl_options_2025-02-24_pre.json): every bid/ask
    0, open interest 0 (OCC has not published), last prices and volumes from the previous
    session. A few stray small OI values are left, as an unpublished file can show."""
    frames = []
    for symbol in ("SPY", "QQQ", "AAPL", "NVDA"):
        with clock.frozen("2026-11-23 04:24"):
            chain = SIM.chain(symbol, SIM.expirations(symbol)[0])
        f = chain.frame
        assert (f["bid"] == 0).all() and (f["ask"] == 0).all() and MARKET_CLOSED in chain.flags
        assert chain.quotes_as_of == clock.parse_instant("2026-11-20 16:00")
        friday = chain_at("2026-11-20 16:30", symbol, chain.expiry).frame
        assert f["volume"].equals(friday["volume"]) and f["last"].equals(friday["last"])
        assert (friday["open_interest"] > 0).all()
        frames.append(f)
    oi = pd.concat(frames)["open_interest"]
    assert (oi > 0).mean() < 0.03 and oi.max() <= 40
    assert (oi > 0).any()                                   # the strays
    # at the open the prior close's open interest is there
    opened = chain_at("2026-11-23 09:30", "SPY", D(2026, 11, 23))
    assert (opened.frame["open_interest"] > 0).all()
    # an evening or a weekend is not pre-market: the last session's OI stays
    assert (chain_at("2026-11-22 23:59", "SPY", D(2026, 11, 23)).frame["open_interest"] > 0).all()


def test_far_otm_contracts_have_stale_last_trades():
    chain = SIM.chain("AAPL", D(2027, 6, 17))
    opened = pd.Timestamp(clock.session_open(FRI))
    stale = chain.frame["last_trade"] < opened
    # some contracts last traded sessions ago; the flag says the whole expiry has not traded
    assert stale.any() and STALE_LAST_TRADES not in chain.flags
    assert (chain.frame.loc[stale, "volume"] == 0).all()
    assert (chain.frame.loc[~stale, "volume"] > 0).all()


# --- open interest and volume -------------------------------------------------------------------

def test_open_interest_clusters_at_round_strikes_and_out_of_the_money():
    chain = SIM.chain("SPY", D(2026, 12, 18))
    f = chain.frame
    near = f[(f["strike"] / chain.spot - 1).abs() < 0.06]
    by_strike = near.groupby("strike")["open_interest"].sum()
    k = by_strike.index.to_numpy()
    round10 = by_strike[np.isclose(k % 10, 0)].mean()
    plain = by_strike[~np.isclose(k % 5, 0)].mean()
    assert round10 > 2 * plain
    calls, puts = f[f["type"] == "call"], f[f["type"] == "put"]
    assert calls.loc[calls["strike"] > chain.spot, "open_interest"].sum() > \
        calls.loc[calls["strike"] < chain.spot, "open_interest"].sum()
    assert puts.loc[puts["strike"] < chain.spot, "open_interest"].sum() > \
        puts.loc[puts["strike"] > chain.spot, "open_interest"].sum()


def test_open_interest_is_as_of_the_prior_close_and_larger_for_monthlies():
    morning = chain_at("2026-11-20 09:45", "SPY", D(2026, 12, 18)).frame
    afternoon = chain_at("2026-11-20 15:45", "SPY", D(2026, 12, 18)).frame
    assert (morning["open_interest"] == afternoon["open_interest"]).all()
    weekly = SIM.chain("SPY", D(2026, 12, 11)).frame["open_interest"].sum()
    monthly = SIM.chain("SPY", D(2026, 12, 18)).frame["open_interest"].sum()
    assert monthly > 1.5 * weekly


def test_intraday_volume_grows_through_the_session_and_is_heaviest_at_0dte_atm():
    ten = chain_at("2026-11-20 10:00", "SPY", FRI).frame
    three = chain_at("2026-11-20 15:00", "SPY", FRI).frame
    assert (three["volume"] >= ten["volume"]).all()
    assert three["volume"].sum() > 2 * ten["volume"].sum()
    zero_dte = three["volume"].sum()
    later = chain_at("2026-11-20 15:00", "SPY", D(2026, 12, 18)).frame["volume"].sum()
    assert zero_dte > 3 * later
    spot = quote_at("2026-11-20 15:00", "SPY").price
    near = three[(three["strike"] / spot - 1).abs() < 0.01]["volume"].mean()
    far = three[(three["strike"] / spot - 1).abs() > 0.04]["volume"].mean()
    assert near > 10 * far


@pytest.mark.parametrize("symbol", ["SPY", "AAPL", "NVDA", "^SPX", "GS"])
def test_whale_prints_are_there_to_find(symbol):
    prints = simulated.whale_prints(symbol, FRI)
    assert 2 <= len(prints) <= 6 and prints == simulated.whale_prints(symbol, FRI)
    first = prints[0]
    assert first["time"] < clock.parse_instant("2026-11-20 10:30")   # a morning scan finds one
    chain = SIM.chain(symbol, first["expiry"])
    row = chain.frame[chain.frame["contract"] == first["contract"]].iloc[0]
    assert row["open_interest"] == first["open_interest"]
    assert row["volume"] >= first["size"] > 3 * row["open_interest"]
    assert row["volume"] * row["mid"] * 100 >= 100_000
    assert abs(row["strike"] / chain.spot - 1) < 0.05
    assert row["last_trade"] >= pd.Timestamp(first["time"])
    before = chain_at("2026-11-20 09:30", symbol, first["expiry"]).frame
    assert before.loc[before["contract"] == first["contract"], "volume"].item() < first["size"]


def test_the_flows_look_like_a_session_has_happened():
    """Across SPY's first four expiries at 11:30 the unusual-activity screen of PAGES.md
    (volume > 500, OI > 100, last > 0.10, volume/OI >= 1.25) finds contracts, and some clear
    the $1M premium tier."""
    rows = pd.concat([SIM.chain("SPY", e).frame for e in SIM.expirations("SPY")[:4]])
    unusual = rows[(rows["volume"] > 500) & (rows["open_interest"] > 100) & (rows["last"] > 0.10)
                   & (rows["volume"] >= 1.25 * rows["open_interest"])]
    assert 5 <= len(unusual) < len(rows) / 2
    assert (unusual["volume"] * unusual["mid"] * 100 >= 1_000_000).any()


# --- history ------------------------------------------------------------------------------------

def test_history_agrees_with_the_quote_during_the_session():
    q = SIM.quote("AAPL")
    daily = SIM.history("AAPL", "1mo", "1d")
    assert list(daily.columns) == HISTORY_COLUMNS and daily.index.name == "time"
    assert str(daily.index.tz) == "America/New_York"
    assert daily.index[-1] == pd.Timestamp("2026-11-20", tz="America/New_York")
    assert daily["close"].iloc[-2] == q.prev_close      # yesterday's close
    assert daily["close"].iloc[-1] == q.price            # today's partial bar
    assert daily["volume"].iloc[-1] == q.day_volume
    for interval in ("1m", "5m", "15m", "30m", "1h"):
        bars = SIM.history("AAPL", "1d", interval)
        assert bars["close"].iloc[-1] == q.price, interval
        assert bars.index[-1] <= pd.Timestamp(q.as_of)
        assert bars["volume"].sum() == q.day_volume
        assert bars["open"].iloc[0] == daily["open"].iloc[-1]
    minutes = SIM.history("AAPL", "2d", "1m")
    thursday = minutes[minutes.index.date == D(2026, 11, 19)]
    assert len(thursday) == 390
    assert thursday["high"].max() == daily["high"].iloc[-2]
    assert thursday["low"].min() == daily["low"].iloc[-2]
    assert thursday["close"].iloc[-1] == q.prev_close


@pytest.mark.parametrize("when", ["2026-11-20 09:30", "2026-11-20 13:07:42", "2026-11-20 15:59",
                                  "2026-11-20 16:00", "2026-11-20 08:00", "2026-11-21 12:00",
                                  "2026-11-27 12:59", "2026-11-27 14:00"])
def test_bars_and_quote_agree_at_any_instant(when):
    with clock.frozen(when):
        q = SIM.quote("IWM")
        minutes = SIM.history("IWM", "2d", "1m")
        daily = SIM.history("IWM", "5d", "1d")
    assert minutes["close"].iloc[-1] == q.price == daily["close"].iloc[-1]
    assert daily["close"].iloc[-2] == q.prev_close
    assert minutes.index[-1] <= pd.Timestamp(q.as_of)
    last_day = minutes[minutes.index.date == minutes.index[-1].date()]
    assert last_day["volume"].sum() == daily["volume"].iloc[-1]


def test_history_bars_are_consistent_ohlc():
    bars = SIM.history("TSLA", "5d", "5m")
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["volume"] >= 0).all() and bars.index.is_monotonic_increasing
    assert bars.index.time.min() == dt.time(9, 30) and bars.index.time.max() <= dt.time(15, 55)
    assert bars.index.normalize().nunique() == 5
    hourly = SIM.history("TSLA", "5d", "1h")
    first_day = hourly[hourly.index.date == hourly.index.date[0]]
    assert [t.strftime("%H:%M") for t in first_day.index.time] == [
        "09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30"]


def test_history_periods_cover_sessions_and_months():
    assert len(SIM.history("SPY", "1d", "1d")) == 1
    assert len(SIM.history("SPY", "5d", "1d")) == 5
    assert 20 <= len(SIM.history("SPY", "1mo", "1d")) <= 23
    two_years = SIM.history("SPY", "2y", "1d")
    assert 495 <= len(two_years) <= 505
    assert two_years.index[0] > pd.Timestamp("2024-11-20", tz="America/New_York")
    assert D(2026, 11, 26) not in set(two_years.index.date)  # no bar on Thanksgiving
    assert SIM.history("SPY", "1mo", "30m").index[-1] <= pd.Timestamp(clock.now())
    with clock.frozen("2026-11-27 16:00"):
        day = SIM.history("SPY", "1d", "30m")
    assert day.index.time.max() == dt.time(12, 30)     # the early close at 13:00


def test_history_on_a_weekend_ends_at_the_friday_close():
    with clock.frozen("2026-11-22 10:00"):
        daily = SIM.history("MSFT", "5d", "1d")
        minutes = SIM.history("MSFT", "1d", "1m")
        q = SIM.quote("MSFT")
    assert daily.index[-1].date() == FRI and daily["close"].iloc[-1] == q.price
    assert len(minutes) == 390 and minutes["close"].iloc[-1] == q.price


@pytest.mark.parametrize("period, interval", [("1w", "1d"), ("1d", "2m"), ("1mo", "1m"),
                                              ("3mo", "5m")])
def test_history_rejects_unknown_or_too_long_requests(period, interval):
    with pytest.raises(ValueError):
        SIM.history("SPY", period, interval)


# --- short volume -------------------------------------------------------------------------------

def test_short_volume_is_a_deterministic_reg_sho_record():
    a = SIM.short_volume("AAPL", D(2026, 11, 19))
    assert a == simulated.short_volume("AAPL", D(2026, 11, 19))
    assert set(a) >= {"date", "symbol", "short_volume", "short_exempt_volume", "total_volume",
                      "market"}
    assert a["date"] == D(2026, 11, 19) and a["symbol"] == "AAPL" and a["source"] == "simulated"
    assert 0 < a["short_exempt_volume"] < a["short_volume"] < a["total_volume"]
    assert a["short_share"] == pytest.approx(a["short_volume"] / a["total_volume"])
    shares = [simulated.short_volume(s, d)["short_share"]
              for s in ("AAPL", "SPY", "F", "GME") for d in clock.sessions(D(2026, 10, 1), FRI)]
    assert 0.3 <= min(shares) and max(shares) <= 0.7
    assert 0.42 < float(np.mean(shares)) < 0.55
    with pytest.raises(SymbolNotFound):
        simulated.short_volume("^SPX", D(2026, 11, 19))
    with pytest.raises(DataError):
        simulated.short_volume("AAPL", D(2026, 11, 21))  # a Saturday: no file


# --- memory -------------------------------------------------------------------------------------

def test_memoisation_is_bounded():
    for minute in range(0, 120, 7):
        with clock.frozen(pd.Timestamp("2026-11-23 09:30") + pd.Timedelta(minutes=minute)):
            for sym in ("SPY", "AAPL"):
                SIM.chain(sym, SIM.expirations(sym)[0])
    for name, info in simulated.cache_info().items():
        assert info["cap"] is not None and info["entries"] <= info["cap"], name
