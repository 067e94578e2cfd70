"""The Yahoo adapter and the fetch layer on REAL recorded Yahoo answers.

Every answer under ``tests/fixtures/yahoo-real`` (copied from ``shared/fixtures/yahoo-real``;
sources and recording times in its SOURCES.md) is served to yfinance through curl_cffi's own
``Session.request`` (``tests/providers/yahoo_net.py``), so yfinance's request building and JSON
parsing run as in production. The clock is pinned to each recording's time.

What these answers show that our self-consistent simulated market hides: Yahoo's
``impliedVolatility`` disagrees with its own prices, option quotes lag the spot by ~30 min,
pre-market open interest is 0, weekend answers keep Friday's quotes, "no bars" is an ordinary
answer. The reference numbers here are computed independently of ``core``: plain Python loops
over the raw JSON, ``scipy.optimize.brentq`` for implied vols and roots, ``scipy.stats.norm``
for the normal distribution.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from core import cache, clock, config, fetch, schema, symbols
from core.analytics import exposure, greeks, levels, pricing
from core.errors import NoExpiry, RateLimited, SymbolNotFound
from core.providers import yahoo
from tests.providers.yahoo_net import OPTIONS, real, yahoo_epoch

ET = clock.ET
SPY_LIVE = "spy_options_2026-05-28_1024ET_regular.json"
SPY_WEEKEND = "spy_options_2026-05-31_weekend.json"
AAPL_LIVE = "aapl_options_2025-10-28_1249ET_regular.json"
AAPL_PRE = "aapl_options_2025-02-24_pre.json"
QQQ_PRE = "qqq_options_2025-02-24_pre.json"
AAPL_UNLISTED = "aapl_options_date-1646092800_unlisted_2025-02-24.json"
VXAPL = "vxapl_options_no_options_2025-02-24.json"
AAPL_EMPTY_1M = "aapl_chart_1m_2025-02-01_weekend_empty.json"
AAPL_DAILY = "aapl_chart_6mo_1d_2026-05-28_1024ET.json"

# (file, symbol, when it was recorded, ET)
CHAINS = [
    (SPY_LIVE, "SPY", "2026-05-28 10:24:49"),
    (SPY_WEEKEND, "SPY", "2026-05-31 12:00:00"),
    (AAPL_LIVE, "AAPL", "2025-10-28 12:49:18"),
    (AAPL_PRE, "AAPL", "2025-02-24 04:24:42"),
    (QQQ_PRE, "QQQ", "2025-02-24 04:24:45"),
]
YEAR = 365.0 * 24 * 3600


def doc(name: str) -> dict:
    return json.loads(real(name))


@pytest.fixture
def layer(net):
    """The fetch layer on the Yahoo adapter, over the fake network; caches dropped after."""
    fetch.reset(yahoo.YahooProvider(backoff=0.01), reason="test: recorded Yahoo")
    yield net
    fetch.reset()


def nearest(name: str) -> dt.date:
    return yahoo.epoch_date(doc(name)["optionChain"]["result"][0]["options"][0]["expirationDate"])


def relabelled(name: str, expiry: dt.date) -> bytes:
    """The recorded answer of ``name`` re-dated to ``expiry`` (its contracts' OCC dates and
    ``expirationDate`` rewritten; prices untouched). NOT a recording: used only where a test
    counts requests for expiries we hold no recording of."""
    d = doc(name)
    option = d["optionChain"]["result"][0]["options"][0]
    old = yahoo.epoch_date(option["expirationDate"])
    option["expirationDate"] = int(yahoo_epoch(expiry.isoformat()))
    for side in ("calls", "puts"):
        for row in option[side]:
            row["contractSymbol"] = row["contractSymbol"].replace(f"{old:%y%m%d}",
                                                                  f"{expiry:%y%m%d}")
    return json.dumps(d).encode()


# ----------------------------------------------------------------------------------------------
# An independent reference: plain loops over the raw JSON
# ----------------------------------------------------------------------------------------------

def _black(F, K, T, r, sigma, call):
    d1 = (math.log(F / K) + 0.5 * sigma * sigma * T) / (sigma * math.sqrt(T))
    d2 = d1 - sigma * math.sqrt(T)
    if call:
        return math.exp(-r * T) * (F * norm.cdf(d1) - K * norm.cdf(d2))
    return math.exp(-r * T) * (K * norm.cdf(-d2) - F * norm.cdf(-d1))


def _bsm_gamma(S, K, T, r, q, sigma):
    d1 = (math.log(S / K) + (r - q + 0.5 * sigma * sigma) * T) / (sigma * math.sqrt(T))
    return math.exp(-q * T) * norm.pdf(d1) / (S * sigma * math.sqrt(T))


def reference_chain(name: str, now: dt.datetime, r: float) -> dict:
    """Mids, forward, IVs, GEX and zero gamma of a recorded answer, computed from scratch with
    the definitions the docs state (core.schema.mid_price, core.analytics.pricing)."""
    res = doc(name)["optionChain"]["result"][0]
    spot = res["quote"]["regularMarketPrice"]
    option = res["options"][0]
    expiry = yahoo.epoch_date(option["expirationDate"])
    close = dt.datetime.combine(expiry, dt.time(16), tzinfo=ET).timestamp()
    session_start = clock.session_open(clock.last_session(now)).timestamp()
    rows = []
    for kind, side in (("call", option["calls"]), ("put", option["puts"])):
        for x in side:
            bid, ask, last = x.get("bid") or 0.0, x.get("ask") or 0.0, x.get("lastPrice") or 0.0
            quoted = bid > 0 and ask > 0 and ask >= bid
            mid = (bid + ask) / 2 if quoted else (
                last if last > 0 and x["lastTradeDate"] >= session_start else None)
            rows.append(dict(kind=kind, K=float(x["strike"]), bid=bid, ask=ask, mid=mid,
                             quoted=quoted, traded=x["lastTradeDate"],
                             oi=x.get("openInterest") or 0, vendor=x.get("impliedVolatility")))
    quotes_at = min(max(x["traded"] for x in rows), res["quote"]["regularMarketTime"])
    t_ref = (close - quotes_at) / YEAR
    pairs = {}
    for x in rows:
        if x["quoted"]:
            pairs.setdefault(x["K"], {})[x["kind"]] = x["mid"]
    diffs = sorted((abs(v["call"] - v["put"]), k, v["call"] - v["put"])
                   for k, v in pairs.items() if len(v) == 2)
    forward = float(np.median([k + math.exp(r * t_ref) * diff for _, k, diff in diffs[:5]]))
    for x in rows:
        x["iv"] = None
        if x["mid"] is None:
            continue
        tq = (close - (quotes_at if x["quoted"] else x["traded"])) / YEAR
        f = lambda s: _black(forward, x["K"], tq, r, s, x["kind"] == "call") - x["mid"]  # noqa
        if f(1e-4) <= 0 <= f(5.0):
            x["iv"], x["tq"] = brentq(f, 1e-4, 5.0, xtol=1e-12), tq
    solved = {(x["K"], x["kind"]): x["iv"] for x in rows if x["iv"] is not None}
    for x in rows:
        own = x["iv"]
        other = solved.get((x["K"], "put" if x["kind"] == "call" else "call"))
        vendor = x["vendor"] if x["vendor"] is not None and 0.01 <= x["vendor"] <= 5 else None
        x["sigma"] = own if own is not None else other if other is not None else vendor
    t_now = (close - now.timestamp()) / YEAR
    q = symbols.dividend_yield(res["quote"]["symbol"])

    def total_gex(s):
        return sum((1 if x["kind"] == "call" else -1) * _bsm_gamma(s, x["K"], t_now, r, q,
                                                                   x["sigma"])
                   * x["oi"] * 100 * s * s * 0.01 for x in rows if x["sigma"] and x["oi"] > 0)

    grid = np.arange(0.85 * spot, 1.15 * spot, 0.25)
    values = [total_gex(s) for s in grid]
    roots = [brentq(total_gex, a, b) for a, b, va, vb in
             zip(grid[:-1], grid[1:], values[:-1], values[1:]) if va * vb < 0]
    both = sorted({x["K"] for x in rows if x["kind"] == "call"}
                  & {x["K"] for x in rows if x["kind"] == "put"}, key=lambda k: (abs(k - spot), k))
    atm = [x["sigma"] for x in rows if x["K"] == both[0]]
    return dict(rows=rows, forward=forward, spot=spot, net_gex=total_gex(spot),
                zero_gamma=min(roots, key=lambda z: abs(z - spot)) if roots else None,
                atm_iv=float(np.mean(atm)), quotes_at=quotes_at)


# ----------------------------------------------------------------------------------------------
# IVs that agree with the prices
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, sym, when", CHAINS)
def test_solved_ivs_reprice_every_solvable_mid_within_a_cent(layer, name, sym, when):
    layer.options(sym, real(name))
    with clock.frozen(when):
        chain = fetch.chain(sym, nearest(name), strikes=200)
    f = chain.frame
    solved = f[f["iv_source"] == "mid"]
    assert len(solved) > 0
    quotes_at = pd.Timestamp(chain.quotes_as_of).tz_convert("UTC")
    quoted = schema.two_sided(solved["bid"], solved["ask"])
    at = solved["last_trade"].where(~quoted, quotes_at)
    close = pd.Timestamp(clock.expiry_close(chain.expiry)).tz_convert("UTC")
    t_q = np.maximum((close - at).dt.total_seconds().to_numpy() / YEAR, clock.MIN_T_YEARS)
    forward = chain.forward if np.isfinite(chain.forward) else \
        chain.spot * np.exp((chain.rate - chain.div_yield) * t_q)
    repriced = greeks.price(forward * np.exp(-chain.rate * t_q), solved["strike"], t_q,
                            chain.rate, 0.0, solved["iv"], solved["type"] == "call")
    assert np.abs(repriced - solved["mid"].to_numpy()).max() < 0.01
    # Yahoo's own number is kept beside ours, untouched
    raw = {x["contractSymbol"]: x["impliedVolatility"]
           for side in ("calls", "puts") for x in doc(name)["optionChain"]["result"][0]
           ["options"][0][side]}
    assert np.allclose(f["vendor_iv"], f["contract"].map(raw), equal_nan=True)


def test_spy_0dte_levels_agree_with_an_independent_reference(layer):
    """SPY, Thu 2026-05-28 10:24:49 ET: the 0DTE from a live answer whose option quotes are
    30 min older than the spot. Yahoo says the 752 call's IV is 0.013 and the put's 0.177;
    both mids say ~0.155."""
    layer.options("SPY", real(SPY_LIVE))
    now = dt.datetime(2026, 5, 28, 10, 24, 49, tzinfo=ET)
    with clock.frozen(now):
        # the listing's one request also brought this (nearest) chain, which the cache kept
        # frozen; this read makes it live: every number below is checked on the thawed copy
        chain = fetch.chain("SPY", dt.date(2026, 5, 28), strikes=200)
        kl = fetch.key_levels("SPY", dt.date(2026, 5, 28))
        assert fetch.chain("SPY", dt.date(2026, 5, 28), strikes=200) is chain  # live, shared
    stats = {c["name"]: c for c in cache.stats()}["chain"]
    assert stats["thaws"] >= 1 and stats["frozen"] == 0
    ref = reference_chain(SPY_LIVE, now, chain.rate)
    f = chain.frame.set_index("contract")
    atm = f[(f["strike"] == 752)]
    assert atm["vendor_iv"].round(3).tolist() == [0.013, 0.177]      # what Yahoo sent
    assert atm["iv"].between(0.150, 0.160).all()                     # what the prices say
    assert chain.forward == pytest.approx(ref["forward"], abs=1e-9)
    assert chain.implied_spot < chain.spot - 2.0                     # the quotes' older spot
    assert kl.atm_iv == pytest.approx(ref["atm_iv"], abs=1e-6)
    assert kl.net_gex == pytest.approx(ref["net_gex"], rel=1e-6)
    assert kl.zero_gamma == pytest.approx(ref["zero_gamma"], abs=0.5)
    # the same definitions on Yahoo's own IVs land points away: what the reference guards
    on_vendor = chain.frame.assign(iv=chain.frame["vendor_iv"],
                                   iv_ok=chain.frame["vendor_iv"].between(schema.IV_MIN,
                                                                          schema.IV_MAX))
    off = exposure.zero_gamma(on_vendor, chain.spot, chain.rate, chain.div_yield, chain.t_years)
    assert off is None or abs(off - ref["zero_gamma"]) > 1.5


def test_spy_live_timing_is_honest(layer):
    layer.options("SPY", real(SPY_LIVE))
    with clock.frozen("2026-05-28 10:25:00"):
        chain = fetch.chain("SPY", dt.date(2026, 5, 28))
    assert chain.as_of == dt.datetime(2026, 5, 28, 10, 24, 49, tzinfo=ET)       # the spot's
    assert chain.quotes_as_of == dt.datetime(2026, 5, 28, 9, 54, 47, tzinfo=ET)  # the options'
    assert chain.quotes_lag == pytest.approx(30 * 60 + 2)
    assert schema.QUOTES_DELAYED in chain.flags
    assert schema.MARKET_CLOSED not in chain.flags
    assert schema.STALE_LAST_TRADES not in chain.flags       # plenty traded this session
    assert chain.t_years * YEAR == pytest.approx((5 * 60 + 35) * 60)  # 10:25 -> 16:00, now
    itm = chain.frame[chain.frame["type"] == "call"]
    assert (itm["in_the_money"] == (itm["strike"] < chain.spot)).all()  # live spot


def test_weekend_answer_keeps_fridays_quotes_and_t_runs_from_now(layer):
    """Sunday 2026-05-31: Yahoo keeps Friday's bids/asks and volumes (marketState CLOSED) and
    sends Friday's post-market price. T for the Monday expiry runs from now (28 h), not from
    Friday's close (72 h)."""
    layer.options("SPY", real(SPY_WEEKEND))
    with clock.frozen("2026-05-31 12:00"):
        chain = fetch.chain("SPY", dt.date(2026, 6, 1), strikes=200)
    assert schema.MARKET_CLOSED in chain.flags
    assert schema.QUOTES_DELAYED not in chain.flags
    assert chain.quote.session == "after-hours" and chain.spot == 755.76
    assert chain.quote.prev_close == 754.6
    assert chain.t_years * YEAR == pytest.approx(28 * 3600)
    assert (chain.frame["bid"] > 0).sum() > 100                   # Friday's quotes, kept
    assert (chain.frame["iv_source"] == "mid").sum() > 100         # solved from them


def test_qqq_pre_market_has_no_walls_and_says_why(layer):
    """Mon 2025-02-24 04:24 ET: every open interest is 0 (OCC's file is not out) and every
    bid/ask is 0. No wall, no max pain, no GEX number — a clear note instead."""
    layer.options("QQQ", real(QQQ_PRE))
    with clock.frozen("2025-02-24 04:24:45"):
        chain = fetch.chain("QQQ", dt.date(2025, 2, 24), strikes=200)
        kl = fetch.key_levels("QQQ", dt.date(2025, 2, 24))
    assert schema.OI_NOT_PUBLISHED in chain.flags and schema.OI_PRIOR_CLOSE not in chain.flags
    assert "not published" in schema.FLAG_TEXT[schema.OI_NOT_PUBLISHED]
    assert kl.oi_published is False
    assert None is kl.call_wall_oi is kl.put_wall_oi is kl.max_pain is kl.zero_gamma
    assert None is kl.call_wall_gamma is kl.put_wall_gamma is kl.abs_gamma_strike is kl.pc_oi
    assert math.isnan(kl.net_gex)
    assert chain.quote.session == "pre-market" and chain.spot == 529.32
    assert chain.quote.prev_close == 526.12                      # Friday's close
    assert schema.MARKET_CLOSED in chain.flags


def test_stray_open_interest_draws_no_wall():
    """A few stray OI values in an unpublished chain: no wall 35 % from spot."""
    frame = schema.normalise_chain(pd.DataFrame({
        "contract": [f"QQQ250224C{int(k * 1000):08d}" for k in (445, 500, 526)]
        + [f"QQQ250224P{int(k * 1000):08d}" for k in (428, 500, 526)],
        "type": ["call"] * 3 + ["put"] * 3, "strike": [445, 500, 526, 428, 500, 526],
        "expiry": [dt.date(2025, 2, 24)] * 6, "open_interest": [3, 0, 0, 2, 0, 0]}))
    assert levels.oi_walls(frame, 526.0) == levels.Walls("oi", None, None)


def test_aapl_pre_market_mids_come_from_the_last_session_not_older(layer):
    layer.options("AAPL", real(AAPL_PRE))
    with clock.frozen("2025-02-24 04:24:42"):
        chain = fetch.chain("AAPL", dt.date(2025, 2, 28), strikes=200)
    f = chain.frame
    start = pd.Timestamp(clock.session_open(dt.date(2025, 2, 21))).tz_convert("UTC")
    from_last = f[~schema.two_sided(f["bid"], f["ask"]) & f["mid"].notna()]
    assert len(from_last) and (from_last["last_trade"] >= start).all()
    older = f[~schema.two_sided(f["bid"], f["ask"]) & (f["last_trade"] < start)]
    assert len(older) and older["mid"].isna().all()              # a days-old last is no price
    assert schema.OI_NOT_PUBLISHED in chain.flags


# ----------------------------------------------------------------------------------------------
# One request per distinct answer
# ----------------------------------------------------------------------------------------------

def test_a_cold_nearest_expiry_view_costs_one_request(layer):
    layer.options("SPY", real(SPY_LIVE))
    with clock.frozen("2026-05-28 10:25"):
        fetch.expirations("SPY")
        fetch.chain("SPY", dt.date(2026, 5, 28))
        fetch.key_levels("SPY", dt.date(2026, 5, 28))
    assert len(layer.of(OPTIONS)) == 1


def test_eight_expiries_cost_at_most_eight_requests(layer):
    layer.options("SPY", real(SPY_LIVE))
    listed = [yahoo.epoch_date(e) for e in
              doc(SPY_LIVE)["optionChain"]["result"][0]["expirationDates"]]
    for expiry in listed[1:8]:
        layer.options("SPY", relabelled(SPY_LIVE, expiry), date=yahoo_epoch(expiry.isoformat()))
    with clock.frozen("2026-05-28 10:25"):
        chains = fetch.chains("SPY", n=8)
    assert [c.expiry for c in chains] == listed[:8]
    urls = [(r["path"], r["date"]) for r in layer.of(OPTIONS)]
    assert len(urls) <= 8 and len(set(urls)) == len(urls)


def test_an_unlisted_expiry_is_no_expiry_in_one_request(layer):
    layer.options("AAPL", real(AAPL_UNLISTED), date="1646092800")
    with clock.frozen("2025-02-24 04:24:48"):
        with pytest.raises(NoExpiry) as info:
            yahoo.YahooProvider(backoff=0.01).chain("AAPL", dt.date(2022, 3, 1))
    assert info.value.next_expiry == dt.date(2025, 2, 28)
    assert len(layer.of(OPTIONS)) == 1


def test_an_index_without_options_is_not_found(layer):
    layer.options("^VXAPL", real(VXAPL))
    with clock.frozen("2025-02-24 04:24:47"), pytest.raises(SymbolNotFound):
        fetch.expirations("^VXAPL")


def test_429_then_invalid_crumb_is_a_rate_limit(layer):
    """yfinance retries a 429 once with its other cookie strategy; Yahoo may answer that with
    401 "Invalid Crumb". Still a rate limit: the process-wide back-off must start."""
    layer.options("SPY", (429, "Too Many Requests"),
                  (401, b'{"finance":{"result":null,"error":{"code":"Unauthorized",'
                        b'"description":"Invalid Crumb"}}}'))
    with clock.frozen("2026-05-28 10:25"), pytest.raises(RateLimited):
        fetch.expirations("SPY")
    assert fetch.limiter_stats()["backoff_level"] >= 1


# ----------------------------------------------------------------------------------------------
# Price bars
# ----------------------------------------------------------------------------------------------

def test_no_bars_is_an_empty_result_and_the_chains_stay_reachable(layer):
    layer.chart("AAPL", "1d", real(AAPL_EMPTY_1M))
    layer.options("AAPL", real(AAPL_LIVE))
    with clock.frozen("2025-10-28 12:49:18"):
        bars = fetch.history("AAPL", "1d", "1m")
        assert bars.empty and list(bars.columns) == ["open", "high", "low", "close", "volume"]
        chain = fetch.chain("AAPL", dt.date(2025, 10, 31), strikes=200)  # not "not found"
    assert len(chain.frame) == 112


def test_daily_bars_and_quote_from_a_real_chart(layer):
    layer.chart("AAPL", "6mo", real(AAPL_DAILY))
    with clock.frozen("2026-05-28 10:24:34"):
        bars = fetch.history("AAPL", "6mo", "1d")
    raw = doc(AAPL_DAILY)["chart"]["result"][0]
    assert len(bars) == sum(c is not None for c in raw["indicators"]["quote"][0]["close"])
    assert bars.index.tz is not None and (bars.index == bars.index.normalize()).all()


# ----------------------------------------------------------------------------------------------
# Transforms on literal data: non-standard contracts, pricing helpers
# ----------------------------------------------------------------------------------------------

def test_adjusted_and_non_standard_contracts_are_dropped_and_flagged():
    cols = ["contractSymbol", "lastTradeDate", "strike", "lastPrice", "bid", "ask", "volume",
            "openInterest", "impliedVolatility", "inTheMoney", "contractSize"]
    calls = pd.DataFrame([
        ("AMD251031C00200000", pd.Timestamp("2025-10-28 16:00", tz="UTC"), 200, 5, 5, 5.2, 10,
         100, 0.5, True, "REGULAR"),
        ("AMD1251031C00200000", pd.Timestamp("2025-10-28 16:00", tz="UTC"), 200, 3, 3, 3.2, 1,
         900, 0.5, True, "REGULAR"),
        ("AMD251031C00210000", pd.Timestamp("2025-10-28 16:00", tz="UTC"), 210, 1, 1, 1.1, 1,
         50, 0.5, False, "MINI"),
    ], columns=cols)
    frame, dropped = yahoo.chain_frame(calls, None, dt.date(2025, 10, 31))
    assert dropped and frame["contract"].tolist() == ["AMD251031C00200000"]


def test_parity_forward_on_a_textbook_case():
    """C − P = e^{−rT}(F − K) exactly at every strike: the forward comes back."""
    F, r, T = 101.3, 0.05, 0.5
    strikes = np.array([95.0, 100.0, 105.0])
    c = greeks.price(F * math.exp(-r * T), strikes, T, r, 0.0, 0.2, True)
    p = greeks.price(F * math.exp(-r * T), strikes, T, r, 0.0, 0.2, False)
    frame = pd.DataFrame({"type": ["call"] * 3 + ["put"] * 3, "strike": np.tile(strikes, 2),
                          "bid": np.r_[c, p] - 0.01, "ask": np.r_[c, p] + 0.01})
    assert pricing.parity_forward(frame, T, r) == pytest.approx(F, abs=1e-9)


def test_years_are_elapsed_time_across_a_dst_change():
    """Fri 2026-10-30 16:00 ET -> Mon 2026-11-02 16:00 ET is 73 h (clocks go back Sunday)."""
    start = dt.datetime(2026, 10, 30, 16, tzinfo=ET)
    end = dt.datetime(2026, 11, 2, 16, tzinfo=ET)
    assert pricing.years_to(end, [start])[0] * YEAR == pytest.approx(73 * 3600)


def test_settings_pin_the_risk_free_rate_the_chain_used(layer):
    layer.options("SPY", real(SPY_LIVE))
    with clock.frozen("2026-05-28 10:25"):
        chain = fetch.chain("SPY", dt.date(2026, 5, 28))
    assert chain.rate == config.settings().risk_free
    assert chain.priced_at == dt.datetime(2026, 5, 28, 10, 25, tzinfo=ET)
