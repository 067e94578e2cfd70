"""The Yahoo adapter, offline.

Two kinds of tests:

- transforms, on literal dicts and frames (no yfinance involved);
- whole calls through yfinance's OWN code (cookie, crumb, ``Ticker.options``,
  ``Ticker.option_chain``, ``Ticker.history`` and their JSON parsing), with only the HTTP
  transport replaced: ``curl_cffi.requests.Session.request`` — the one method every yfinance
  request goes through — answers from payloads in ``tests/fixtures/yahoo`` (see
  ``tests/providers/yahoo_net.py``). Each such test runs inside ``yahoo.isolated(tmp_path)``:
  yfinance's sqlite caches go to a temp dir and its cookie/crumb singleton starts fresh; both
  are restored afterwards.

The payloads in ``tests/fixtures/yahoo`` are HAND-MADE in Yahoo's format (not recorded): small
SPY/IWM answers dated Saturday 2026-11-21 (off-hours: zero bids, old last trades) and ^SPX on
Friday 2026-11-20 11:30 ET (monthly opex: SPX AM- and SPXW PM-settled contracts on one date),
each shaped to one case. Real recorded Yahoo answers are tested in ``test_yahoo_real.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time

import numpy as np
import pandas as pd
import pytest
from curl_cffi import requests as curl_requests
from curl_cffi.requests import exceptions as curl_exceptions
from yfinance import exceptions as yf_exceptions

from core import clock, config, fetch, schema, symbols
from core.analytics import pricing
from core.errors import InvalidSymbol, NoExpiry, RateLimited, SymbolNotFound, Unavailable
from core.providers import yahoo
from core.providers.base import HISTORY_COLUMNS, Provider
from tests.providers.yahoo_net import CHART, CRUMB, OPTIONS, payload, yahoo_epoch

SATURDAY = "2026-11-21 12:00"      # when the SPY / IWM payloads were recorded
OPEX_MIDDAY = "2026-11-20 11:30"   # when the ^SPX payload was recorded


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


@pytest.fixture
def spy(net):
    net.options("SPY", payload("spy_options.json"))
    net.options("SPY", payload("spy_options_2026-11-27.json"), date=yahoo_epoch("2026-11-27"))
    return net


def provider(**kwargs) -> yahoo.YahooProvider:
    kwargs.setdefault("backoff", 0.01)
    return yahoo.YahooProvider(**kwargs)


# ----------------------------------------------------------------------------------------------
# Step 1: request normalisation
# ----------------------------------------------------------------------------------------------

def test_yahoo_symbol_spelling():
    assert yahoo.yahoo_symbol(" spy ") == "SPY"
    assert yahoo.yahoo_symbol("$SPX") == "^SPX"
    assert yahoo.yahoo_symbol("brk.b") == "BRK-B"
    assert yahoo.request_symbols("brk.b") == ("BRK.B", "BRK-B")
    with pytest.raises(InvalidSymbol):
        yahoo.yahoo_symbol("not a symbol")


def test_expiry_date_accepts_date_datetime_and_text():
    assert yahoo.expiry_date(d("2026-11-20")) == d("2026-11-20")
    assert yahoo.expiry_date(dt.datetime(2026, 11, 20, 16, 0)) == d("2026-11-20")
    assert yahoo.expiry_date("2026-11-20") == d("2026-11-20")


def test_history_request_checks_yahoo_intraday_limits():
    assert yahoo.history_request("5d", "1m") == ("5d", "1m")
    assert yahoo.history_request("1mo", "5m") == ("1mo", "5m")
    assert yahoo.history_request("2y", "1d") == ("2y", "1d")
    for period, interval in [("1mo", "1m"), ("3mo", "15m"), ("2y", "1h"), ("10y", "1d"),
                             ("1d", "2m")]:
        with pytest.raises(ValueError):
            yahoo.history_request(period, interval)


# ----------------------------------------------------------------------------------------------
# Step 3: transforms on literal data
# ----------------------------------------------------------------------------------------------

def yf_side(rows):
    """A frame shaped like yfinance's option_chain().calls/.puts."""
    cols = ["contractSymbol", "lastTradeDate", "strike", "lastPrice", "bid", "ask", "volume",
            "openInterest", "impliedVolatility", "inTheMoney"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["lastTradeDate"] = pd.to_datetime(frame["lastTradeDate"], utc=True)
    return frame


def test_chain_frame_maps_columns_and_fixes_units():
    calls = yf_side([
        ("SPY261120C00670000", "2026-11-20 16:30:00", 670, 4.05, 4.00, 4.10, 10544, 9874,
         0.1622, True),
        ("SPY261120C00680000", "2026-11-20 16:45:00", 680, 1.80, 2.00, 1.90, 5, 10, np.nan,
         False),   # crossed quote (bid > ask), no IV
        ("SPY261120C00740000", "2026-11-12 15:12:55", 740, 0.01, 0.0, 0.0, np.nan, np.nan,
         7.5, False),
    ])
    puts = yf_side([
        ("SPY261120P00670000", "2026-11-20 20:59:59", 670, 2.44, 0.0, 0.0, 12011, np.nan,
         0.1797, False),
    ])
    frame, dropped = yahoo.chain_frame(calls, puts, d("2026-11-20"))
    assert dropped is False
    assert list(frame.columns) == schema.RAW_COLUMNS
    assert list(frame["type"]) == ["call", "call", "call", "put"]
    assert set(frame["expiry"]) == {d("2026-11-20")}
    row = frame.set_index("contract")
    # NaN volume / OI -> 0, as ints
    assert row.loc["SPY261120C00740000", "volume"] == 0
    assert row.loc["SPY261120C00740000", "open_interest"] == 0
    assert row.loc["SPY261120P00670000", "open_interest"] == 0
    assert frame["volume"].dtype == np.int64
    # mid: the average of a two-sided, uncrossed quote; else the last trade (any trade when no
    # session start is given)
    assert row.loc["SPY261120C00670000", "mid"] == pytest.approx(4.05)
    assert row.loc["SPY261120C00680000", "mid"] == pytest.approx(1.80)   # crossed: the last
    assert row.loc["SPY261120P00670000", "mid"] == pytest.approx(2.44)
    assert row.loc["SPY261120C00740000", "mid"] == pytest.approx(0.01)
    # Yahoo's IVs are decimals; 750 % is kept but flagged out of greek sums. The provider's
    # frame carries the vendor's IV in both columns until the fetch layer solves ours.
    assert row.loc["SPY261120C00670000", "iv"] == pytest.approx(0.1622)
    assert row.loc["SPY261120C00740000", "iv"] == pytest.approx(7.5)
    assert not row.loc["SPY261120C00740000", "iv_ok"]
    assert row.loc["SPY261120C00670000", "iv_ok"]
    assert np.allclose(frame["vendor_iv"], frame["iv"], equal_nan=True)
    assert row["iv_source"].to_dict() == {
        "SPY261120C00670000": "vendor", "SPY261120C00680000": "none",
        "SPY261120C00740000": "vendor", "SPY261120P00670000": "vendor"}
    assert not row.loc["SPY261120C00680000", "iv_ok"]
    assert bool(row.loc["SPY261120C00670000", "in_the_money"]) is True
    assert row.loc["SPY261120C00670000", "last_trade"] == pd.Timestamp("2026-11-20 16:30",
                                                                      tz="UTC")
    # with the session's start: a last trade from an earlier session is no price (NaN)
    start = clock.session_open(d("2026-11-20"))                    # 09:30 ET = 14:30 UTC
    frame, _ = yahoo.chain_frame(calls, puts, d("2026-11-20"), session_start=start)
    row = frame.set_index("contract")
    assert np.isnan(row.loc["SPY261120C00740000", "mid"])          # 12 Nov
    assert row.loc["SPY261120P00670000", "mid"] == pytest.approx(2.44)  # this session
    assert row.loc["SPY261120C00680000", "mid"] == pytest.approx(1.80)
    assert row.loc["SPY261120C00670000", "mid"] == pytest.approx(4.05)
    assert row.loc["SPY261120C00740000", "last"] == pytest.approx(0.01)  # the trade is kept


def test_chain_frame_converts_percent_ivs():
    calls = yf_side([
        ("AAPL261120C00230000", "2026-11-20 20:59:00", 230, 5.1, 5.0, 5.2, 10, 100, 25.3, True),
        ("AAPL261120C00240000", "2026-11-20 20:59:00", 240, 1.2, 1.1, 1.3, 10, 100, 30.1, False),
        ("AAPL261120C00300000", "2026-11-20 20:59:00", 300, 0.01, 0.0, 0.02, 1, 5, 180.0, False),
    ])
    frame, _ = yahoo.chain_frame(calls, None, d("2026-11-20"), iv_in_percent=True)
    assert list(frame["iv"]) == pytest.approx([0.253, 0.301, 1.80])
    assert list(frame["vendor_iv"]) == pytest.approx([0.253, 0.301, 1.80])
    assert frame["iv_ok"].all()
    # Yahoo's own unit is the decimal: the same numbers are then 2530 %+ and flagged
    assert yahoo.IV_IN_PERCENT is False
    assert not yahoo.chain_frame(calls, None, d("2026-11-20"))[0]["iv_ok"].any()


def test_chain_frame_of_nothing_is_an_empty_canonical_frame():
    for calls, puts in [(None, None), (yf_side([]), yf_side([]))]:
        frame, dropped = yahoo.chain_frame(calls, puts, d("2026-11-20"))
        assert frame.empty and dropped is False
        assert list(frame.columns) == schema.RAW_COLUMNS


def test_contract_root_and_expiry():
    contracts = pd.Series(["SPXW261120C06700000", "SPX261120P06700000", "TSLA1261218C00250000",
                           "garbage"])
    assert list(yahoo.contract_root(contracts).fillna("?")) == ["SPXW", "SPX", "TSLA1", "?"]
    expiries = yahoo.contract_expiry(contracts)
    assert list(expiries[:3]) == [d("2026-11-20"), d("2026-11-20"), d("2026-12-18")]
    assert pd.isna(expiries.iloc[3])


def test_both_settlement_roots_are_kept_and_the_am_root_settles_at_the_open():
    """Monthly opex lists AM-settled SPX and PM-settled SPXW contracts on one date (NDX/NDXP,
    RUT/RUTW likewise). The adapter keeps both; the AM root stops at the expiry session's open
    (core.analytics.pricing.settles_at), the PM root and every other root at its close."""
    both = yf_side([
        ("SPX261120C06700000", "2026-11-19 20:59:00", 6700, 21.1, 0, 0, 88, 41220, 0.163, True),
        ("SPXW261120C06700000", "2026-11-20 16:29:44", 6700, 35.2, 34.6, 35.9, 9120, 15340,
         0.1415, True),
    ])
    frame, dropped = yahoo.chain_frame(both, None, d("2026-11-20"))
    assert not dropped
    assert list(frame["contract"]) == ["SPX261120C06700000", "SPXW261120C06700000"]

    contracts = ["SPX261120C06700000", "SPXW261120C06700000", "NDX261120C21000000",
                 "NDXP261120C21000000", "RUT261120P02400000", "RUTW261120P02400000",
                 "SPY261120C00670000"]
    settle = pricing.settles_at(pd.DataFrame({"contract": contracts}), d("2026-11-20"))
    opens = pd.Timestamp("2026-11-20 09:30", tz=clock.ET).tz_convert("UTC")
    closes = pd.Timestamp("2026-11-20 16:00", tz=clock.ET).tz_convert("UTC")
    assert dict(zip(contracts, settle)) == {
        "SPX261120C06700000": opens, "SPXW261120C06700000": closes,
        "NDX261120C21000000": opens, "NDXP261120C21000000": closes,
        "RUT261120P02400000": opens, "RUTW261120P02400000": closes,
        "SPY261120C00670000": closes}


def test_quote_from_underlying():
    u = {"regularMarketPrice": 6731.58, "regularMarketPreviousClose": 6698.17,
         "regularMarketTime": 1795192187, "symbol": "^SPX"}  # 2026-11-20 11:29:47 ET, no volume
    q = yahoo.quote_from_underlying("^SPX", u)
    assert (q.price, q.prev_close, q.day_volume, q.source) == (6731.58, 6698.17, 0.0, "yahoo")
    assert q.as_of == dt.datetime(2026, 11, 20, 11, 29, 47, tzinfo=clock.ET)
    # no previous close: price - change
    q = yahoo.quote_from_underlying("X", {"regularMarketPrice": 10.0, "regularMarketChange": 0.5,
                                          "regularMarketVolume": 1200})
    assert (q.prev_close, q.day_volume) == (9.5, 1200.0)
    assert q.as_of == clock.now()  # no time from Yahoo: the (frozen) clock
    for bad in (None, {}, {"regularMarketPrice": None}, {"regularMarketPrice": 0}):
        with pytest.raises(Unavailable):
            yahoo.quote_from_underlying("X", bad)


FRIDAY_CLOSE = 1795208400      # Fri 2026-11-20 16:00 ET
FRIDAY_POST = 1795222798       # Fri 2026-11-20 19:59:58 ET
MONDAY_PRE = 1795439700        # Mon 2026-11-23 08:15 ET
SPY_AFTER_CLOSE = {"symbol": "SPY", "regularMarketPrice": 672.35,
                   "regularMarketPreviousClose": 668.90, "regularMarketTime": FRIDAY_CLOSE,
                   "regularMarketVolume": 71234567, "postMarketPrice": 672.20,
                   "postMarketTime": FRIDAY_POST}


def test_quote_off_hours_is_the_newest_extended_hours_price():
    # after the close / at the weekend: the post-market price, at its time, against the same
    # previous close as the regular price
    for state in ("POST", "POSTPOST", "CLOSED"):
        q = yahoo.quote_from_underlying("SPY", dict(SPY_AFTER_CLOSE, marketState=state))
        assert (q.price, q.prev_close, q.session) == (672.20, 668.90, "after-hours")
        assert q.as_of == dt.datetime(2026, 11, 20, 19, 59, 58, tzinfo=clock.ET)
        assert q.day_volume == 71234567.0
    # before Monday's open: the pre-market price (newer than Friday's post-market one); the
    # change is against Friday's close, the last regular price
    pre = dict(SPY_AFTER_CLOSE, marketState="PRE", preMarketPrice=674.10,
               preMarketTime=MONDAY_PRE)
    q = yahoo.quote_from_underlying("SPY", pre)
    assert (q.price, q.prev_close, q.session) == (674.10, 672.35, "pre-market")
    assert q.as_of == dt.datetime(2026, 11, 23, 8, 15, tzinfo=clock.ET)
    # an extended-hours price older than the regular one is not the spot
    old_pre = dict(SPY_AFTER_CLOSE, marketState="POST", preMarketPrice=669.0,
                   preMarketTime=FRIDAY_CLOSE - 8 * 3600)
    q = yahoo.quote_from_underlying("SPY", old_pre)
    assert (q.price, q.session) == (672.20, "after-hours")
    q = yahoo.quote_from_underlying("SPY", dict(old_pre, postMarketPrice=None))
    assert (q.price, q.prev_close, q.session) == (672.35, 668.90, "regular")
    # in the regular session the regular price is the spot, whatever else Yahoo sends
    q = yahoo.quote_from_underlying("SPY", dict(pre, marketState="REGULAR"))
    assert (q.price, q.session) == (672.35, "regular")
    assert q.as_of == dt.datetime(2026, 11, 20, 16, 0, tzinfo=clock.ET)


def daily(closes, days, volumes=None):
    index = pd.DatetimeIndex([pd.Timestamp(x, tz=clock.ET) for x in days], name="time")
    vols = volumes or [1000] * len(closes)
    return pd.DataFrame({"open": closes, "high": closes, "low": closes, "close": closes,
                         "volume": vols}, index=index)


def test_quote_from_chart_takes_prev_close_from_the_bar_before_the_quote_day():
    bars = daily([665.10, 669.95, 668.90, 672.35],
                 ["2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"], [1, 2, 3, 4])
    meta = {"regularMarketPrice": 672.35, "regularMarketVolume": 71234567,
            "regularMarketTime": pd.Timestamp("2026-11-20 16:00", tz="America/New_York")}
    q = yahoo.quote_from_chart("SPY", meta, bars)
    assert (q.price, q.prev_close, q.day_volume) == (672.35, 668.90, 71234567.0)
    assert q.as_of == dt.datetime(2026, 11, 20, 16, 0, tzinfo=clock.ET)
    # pre-market Monday: the quote is Friday's close, the previous close Thursday's
    meta = {"regularMarketPrice": 672.35, "regularMarketTime": 1795208400}  # Fri 16:00 ET
    q = yahoo.quote_from_chart("SPY", meta, bars)
    assert (q.prev_close, q.day_volume) == (668.90, 4.0)
    # Yahoo's previousClose wins when sent; one bar only -> chartPreviousClose
    assert yahoo.quote_from_chart("SPY", dict(meta, previousClose=668.0), bars).prev_close == 668
    one = bars.iloc[-1:]
    assert yahoo.quote_from_chart("SPY", dict(meta, chartPreviousClose=667.5),
                                  one).prev_close == 667.5


def test_history_frame_daily_bars_at_midnight_et():
    index = pd.DatetimeIndex([pd.Timestamp("2026-11-19", tz="America/New_York"),
                              pd.Timestamp("2026-11-20", tz="America/New_York")], name="Date")
    bars = pd.DataFrame({"Open": [671.1, 669.4], "High": [671.95, 673.88],
                         "Low": [667.4, 667.12], "Close": [668.9, 672.35],
                         "Adj Close": [668.9, 672.35], "Volume": [69120300, np.nan]},
                        index=index)
    frame = yahoo.history_frame(bars, "1d")
    assert list(frame.columns) == HISTORY_COLUMNS
    assert frame.index.name == "time"
    assert [ts.isoformat() for ts in frame.index] == ["2026-11-19T00:00:00-05:00",
                                                      "2026-11-20T00:00:00-05:00"]
    assert list(frame["volume"]) == [69120300, 0]
    assert frame["volume"].dtype == np.int64


def test_history_frame_intraday_converts_to_et_and_drops_empty_bars():
    index = pd.DatetimeIndex(["2026-11-20 14:30", "2026-11-20 14:35", "2026-11-20 14:40"],
                             tz="UTC")
    bars = pd.DataFrame({"Open": [669.4, np.nan, 669.5], "High": [669.6, np.nan, 669.8],
                         "Low": [669.3, np.nan, 669.3], "Close": [669.44, np.nan, 669.55],
                         "Volume": [3500000, np.nan, 946000]}, index=index)
    frame = yahoo.history_frame(bars, "5m")
    assert [ts.strftime("%H:%M %Z") for ts in frame.index] == ["09:30 EST", "09:40 EST"]
    assert yahoo.history_frame(None, "1d").empty
    assert list(yahoo.history_frame(None, "1d").columns) == HISTORY_COLUMNS


def test_parse_and_next_expiry():
    listed = yahoo.parse_expirations(["2026-11-27", "2026-11-23", "2026-11-25", "2026-11-23"])
    assert listed == [d("2026-11-23"), d("2026-11-25"), d("2026-11-27")]
    assert yahoo.next_listed(listed, d("2026-11-26")) == d("2026-11-27")
    assert yahoo.next_listed(listed, d("2026-11-27")) is None


def test_classify_empty_by_http_status():
    assert isinstance(yahoo.classify_empty("ZZZZ", [("/v7/finance/options/ZZZZ", 200)]),
                      SymbolNotFound)
    assert isinstance(yahoo.classify_empty("ZZZZ", [("/v7/finance/options/ZZZZ", 404)]),
                      SymbolNotFound)
    for codes in ([401, 401], [502], []):
        err = yahoo.classify_empty("SPY", [("/v7/finance/options/SPY", c) for c in codes])
        assert isinstance(err, Unavailable) and not isinstance(err, RateLimited)
    # any 429 among the options answers: a rate limit, whatever yfinance's retry was told
    for codes in ([429], [429, 401], [429, 200]):
        err = yahoo.classify_empty("SPY", [("/v7/finance/options/SPY", c) for c in codes])
        assert isinstance(err, RateLimited)
    # a 429 on another path (the crumb) does not count
    err = yahoo.classify_empty("SPY", [("/v1/test/getcrumb", 429),
                                       ("/v7/finance/options/SPY", 200)])
    assert isinstance(err, SymbolNotFound)


def test_map_error_covers_every_branch():
    m = yahoo.map_error
    assert isinstance(m(yf_exceptions.YFRateLimitError(), "SPY", "x", 8), RateLimited)
    timeout = m(curl_exceptions.Timeout("Operation timed out", 28), "SPY", "x", 8)
    assert isinstance(timeout, Unavailable) and "within 8 s" in str(timeout)
    dns = m(curl_exceptions.DNSError("Could not resolve host", 6), "SPY", "x", 8)
    assert isinstance(dns, Unavailable) and "cannot be reached" in str(dns)
    assert isinstance(m(json.JSONDecodeError("x", "<html>", 0), "SPY", "x", 8), Unavailable)
    assert isinstance(m(KeyError("optionChain"), "SPY", "x", 8), Unavailable)
    gone = yf_exceptions.YFPricesMissingError("ZZZZ", "", "No data found, symbol may be delisted")
    assert isinstance(m(gone, "ZZZZ", "x", 8), SymbolNotFound)
    other = yf_exceptions.YFPricesMissingError("SPY", "", "Invalid input - interval")
    assert isinstance(m(other, "SPY", "x", 8), Unavailable)
    assert isinstance(m(RuntimeError("boom"), "SPY", "x", 8), Unavailable)
    for err in (timeout, dns):  # user-safe: no library internals in the message
        assert "curl" not in str(err) and "Errno" not in str(err)


def test_clamp_limits_every_form_of_timeout():
    assert yahoo._clamp(30, 1.5) == 1.5
    assert yahoo._clamp(0.5, 1.5) == 0.5
    assert yahoo._clamp((10, 30), 2.0) == (2.0, 2.0)
    assert yahoo._clamp(None, 2.0) == 2.0


# ----------------------------------------------------------------------------------------------
# Whole calls through yfinance, HTTP served from recordings
# ----------------------------------------------------------------------------------------------

def test_provider_satisfies_protocol():
    assert isinstance(yahoo.YahooProvider(), Provider)
    assert yahoo.YahooProvider.name == "yahoo"


def test_expirations_through_yfinance(spy):
    listed = provider().expirations("SPY")
    assert listed == [d(x) for x in ("2026-11-23", "2026-11-24", "2026-11-25", "2026-11-27",
                                     "2026-11-30", "2026-12-18", "2027-01-15")]
    assert d("2026-11-26") not in listed  # Thanksgiving
    # the crumb was fetched (offline) and sent with the options request
    assert len(spy.of("/v1/test/getcrumb")) == 1
    (options,) = spy.of(OPTIONS)
    assert options["params"]["crumb"] == CRUMB and options["date"] is None


def test_listing_is_one_request_with_the_nearest_chain(spy):
    with clock.frozen(SATURDAY):
        listed, nearest = provider().listing("SPY")
    assert listed == provider().expirations("SPY")
    assert nearest.expiry == listed[0] == d("2026-11-23")
    assert len(nearest.frame) == 24 and set(nearest.frame["expiry"]) == {d("2026-11-23")}
    assert [r["date"] for r in spy.of(OPTIONS)] == [None, None]  # listing, then expirations


def test_listing_without_contracts_has_no_nearest_chain(net):
    net.options("IWM", payload("iwm_options_2026-11-27.json"))  # expiries, no options at all
    with clock.frozen(SATURDAY):
        listed, nearest = provider().listing("IWM")
    assert listed[0] == d("2026-11-23") and nearest is None
    assert len(net.of(OPTIONS)) == 1


def test_chain_off_hours_nearest_expiry(spy):
    with clock.frozen(SATURDAY):
        chain = provider().chain("SPY", d("2026-11-23"))
    (request,) = spy.of(OPTIONS)  # one dated request: no listing first
    assert request["date"] == yahoo_epoch("2026-11-23")
    assert (chain.symbol, chain.expiry, chain.source) == ("SPY", d("2026-11-23"), "yahoo")
    # Saturday, marketState CLOSED: Friday's post-market price is the spot, at its own time
    q = chain.quote
    assert (q.price, q.prev_close, q.day_volume, q.session) == (672.20, 668.90, 71234567.0,
                                                                "after-hours")
    assert chain.spot == 672.20
    assert chain.as_of == dt.datetime(2026, 11, 20, 19, 59, 58, tzinfo=clock.ET)
    # the option data are from Friday's last trade (15:59:59), not the spot's time
    assert chain.quotes_as_of == dt.datetime(2026, 11, 20, 15, 59, 59, tzinfo=clock.ET)
    assert chain.div_yield == symbols.dividend_yield("SPY")
    # no session now; OI is published; Yahoo's IVs, unsolved yet, some absurd. Friday's
    # trades are the last session's, so the last trades are not stale
    assert chain.flags == {schema.MARKET_CLOSED, schema.OI_PRIOR_CLOSE, schema.IV_CLIPPED,
                           schema.IV_VENDOR, schema.IV_UNSOLVED}

    frame = chain.frame
    assert list(frame.columns) == schema.RAW_COLUMNS
    assert (len(chain.calls), len(chain.puts)) == (13, 11)
    row = frame.set_index("contract")
    # keys absent from Yahoo's JSON (no volume / no openInterest) -> 0
    assert row.loc["SPY261123C00740000", ["volume", "open_interest"]].tolist() == [0, 0]
    assert row.loc["SPY261123C00560000", "volume"] == 0
    assert row.loc["SPY261123C00560000", "open_interest"] == 12
    # zero bid/ask off-hours: mid is the last trade when it is from Friday's session, and no
    # price (NaN) when it is older
    friday = frame["last_trade"] >= pd.Timestamp("2026-11-20 09:30", tz=clock.ET)
    assert (frame.loc[friday, "mid"] == frame.loc[friday, "last"]).all()
    assert frame.loc[~friday, "mid"].isna().all()
    assert sorted(frame.loc[~friday, "contract"]) == [
        "SPY261123C00560000", "SPY261123C00740000", "SPY261123C00780000",
        "SPY261123P00700000"]
    # IVs of 750 % / 1953 % and Yahoo's 0.00001 placeholders stay, flagged out of sums
    assert row.loc["SPY261123C00780000", "iv"] == pytest.approx(19.53)
    assert not row.loc[["SPY261123C00780000", "SPY261123C00740000", "SPY261123C00600000"],
                       "iv_ok"].any()
    assert row.loc["SPY261123C00670000", "iv"] == pytest.approx(0.1622)
    assert (frame["vendor_iv"] == frame["iv"]).all() and (frame["iv_source"] == "vendor").all()
    # a stale last trade is kept with its time (UTC)
    assert row.loc["SPY261123C00740000", "last_trade"] == pd.Timestamp("2026-11-12 15:12:55",
                                                                      tz="UTC")


def test_chain_of_a_later_expiry_asks_by_date(spy):
    with clock.frozen(SATURDAY):
        chain = provider().chain("SPY", d("2026-11-27"))
    (request,) = spy.of(OPTIONS)
    assert request["date"] == yahoo_epoch("2026-11-27")
    row = chain.frame.set_index("contract")
    assert row.loc["SPY261127C00670000", "mid"] == pytest.approx((8.21 + 8.49) / 2)
    assert row.loc["SPY261127C00675000", "mid"] == pytest.approx(5.30)  # no quote: Friday's last
    assert np.isnan(row.loc["SPY261127P00700000", "mid"])  # no quote, last traded Thursday
    assert set(chain.frame["expiry"]) == {d("2026-11-27")}
    assert row.loc["SPY261127P00700000", "volume"] == 0
    # Friday's closing quotes are still two-sided on Saturday: the market is closed all the same
    assert schema.MARKET_CLOSED in chain.flags


def test_spx_opex_keeps_both_roots_until_the_am_root_settles(net):
    net.options("^SPX", payload("spx_options.json"))
    chain = provider().chain("spx", d("2026-11-20"))  # conftest clock: Fri 11:30, open
    assert chain.symbol == "^SPX" and chain.quote.symbol == "^SPX"
    assert [r["date"] for r in net.of(OPTIONS)] == [yahoo_epoch("2026-11-20")]
    # the provider keeps the AM-settled SPX and the PM-settled SPXW contracts of the date
    roots = yahoo.contract_root(chain.frame["contract"])
    assert set(roots) == {"SPX", "SPXW"}
    spxw = chain.frame[(roots == "SPXW").to_numpy()]
    assert list(spxw[spxw["type"] == "call"]["strike"]) == [6600, 6700, 6725, 6750, 6775, 6800,
                                                            6900]
    assert list(spxw[spxw["type"] == "put"]["strike"]) == [6600, 6700, 6725, 6750, 6800]
    assert (roots == "SPX").sum() == 8
    assert chain.spot == 6731.58 and chain.quote.day_volume == 0.0  # no volume for an index
    assert chain.quote.session == "regular"
    assert chain.as_of == dt.datetime(2026, 11, 20, 11, 29, 47, tzinfo=clock.ET)
    # SPXW traded this session; the AM contracts last traded Thursday: no price today
    assert schema.STALE_LAST_TRADES not in chain.flags
    assert schema.MARKET_CLOSED not in chain.flags
    assert chain.frame[(roots == "SPX").to_numpy()]["mid"].isna().all()
    atm = chain.frame.set_index("contract").loc["SPXW261120C06725000"]
    assert atm["mid"] == pytest.approx(16.30)

    # the fetch layer prices the chain: SPX rows until the expiry session's open, not after
    # (conftest's autouse fixture resets the fetch layer after the test)
    def fetched_roots(at):
        fetch.reset(provider(), reason="test: hand-made Yahoo answers")
        with clock.frozen(at):
            priced = fetch.chain("^SPX", d("2026-11-20"), strikes=100)
        return priced, list(yahoo.contract_root(priced.frame["contract"]))

    before, roots_before = fetched_roots("2026-11-20 09:29")
    assert roots_before.count("SPX") == 8 and roots_before.count("SPXW") == 12
    after, roots_after = fetched_roots("2026-11-20 09:31")
    assert set(roots_after) == {"SPXW"} and len(roots_after) == 12
    # before the open the AM contracts have one minute left (T to the open): an OTM call has
    # no delta left, while the PM call of the same strike, with the whole day to go, has
    delta = before.frame.set_index("contract")["delta"]
    assert abs(delta["SPX261120C06750000"]) < 0.01
    assert delta["SPXW261120C06750000"] > 0.2


def test_concurrent_calls_share_yfinance_safely(spy):
    """Streamlit serves each session in a thread: yfinance's singleton and lock are shared."""
    results, errors = [], []

    def work(expiry):
        try:
            results.append(provider().chain("SPY", expiry))
        except Exception as exc:  # noqa: BLE001 — collected and asserted below
            errors.append(exc)

    with clock.frozen(SATURDAY):
        threads = [threading.Thread(target=work, args=(d(e),))
                   for e in ("2026-11-23", "2026-11-27") * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert errors == []
    assert sorted(len(c.frame) for c in results) == [12] * 3 + [24] * 3
    assert all(set(c.frame["expiry"]) == {c.expiry} for c in results)


def unlisted(name: str, day: str) -> bytes:
    """Yahoo's answer to ``?date=`` of a date it does not list (as recorded in
    tests/fixtures/yahoo-real: the expiry list and quote, one option entry for the asked date
    without contracts), made from the hand-made answer ``name``."""
    doc = json.loads(payload(name))
    doc["optionChain"]["result"][0]["options"] = [
        {"expirationDate": int(yahoo_epoch(day)), "hasMiniOptions": False, "calls": [],
         "puts": []}]
    return json.dumps(doc).encode()


def test_unlisted_expiry_raises_no_expiry_with_the_next_one(spy):
    for day in ("2026-11-26", "2027-06-18"):
        spy.options("SPY", unlisted("spy_options.json", day), date=yahoo_epoch(day))
    with clock.frozen(SATURDAY), pytest.raises(NoExpiry) as info:
        provider().chain("SPY", d("2026-11-26"))
    assert info.value.next_expiry == d("2026-11-27")
    assert "Thu 26 Nov 2026" in str(info.value)
    with pytest.raises(NoExpiry) as info:
        provider().chain("SPY", d("2027-06-18"))
    assert info.value.next_expiry is None
    # told apart from the dated answer's own expiry list: one request each
    assert [r["date"] for r in spy.of(OPTIONS)] == [yahoo_epoch("2026-11-26"),
                                                   yahoo_epoch("2027-06-18")]


def test_listed_expiry_without_contracts_is_an_empty_flagged_chain(net):
    net.options("IWM", payload("iwm_options.json"))
    net.options("IWM", payload("iwm_options_2026-11-27.json"), date=yahoo_epoch("2026-11-27"))
    with clock.frozen(SATURDAY):
        for expiry in ("2026-11-23", "2026-11-27"):   # empty lists / no options at all
            chain = provider().chain("IWM", d(expiry))
            assert chain.frame.empty
            assert list(chain.frame.columns) == schema.RAW_COLUMNS
            assert chain.flags == {yahoo.EMPTY_CHAIN, schema.MARKET_CLOSED}
            assert chain.quotes_as_of is None              # no contract, no trade time
            assert (chain.spot, chain.quote.session) == (241.0, "after-hours")
    assert [r["date"] for r in net.of(OPTIONS)] == [yahoo_epoch("2026-11-23"),
                                                   yahoo_epoch("2026-11-27")]


def test_unknown_symbol(net):
    net.options("ZZZZ", payload("unknown_options.json"))
    net.options("ZZZZ", payload("unknown_options.json"), date=yahoo_epoch("2026-11-20"))
    with pytest.raises(SymbolNotFound):
        provider().expirations("ZZZZ")
    with pytest.raises(SymbolNotFound):
        provider().chain("ZZZZ", d("2026-11-20"))
    assert [r["date"] for r in net.of(OPTIONS)] == [None, yahoo_epoch("2026-11-20")]


def test_refused_request_is_unavailable_not_unknown(net):
    net.options("SPY", (401, payload("invalid_crumb.json")))
    with pytest.raises(Unavailable, match="refused"):
        provider().expirations("SPY")


def test_unreadable_answer_is_unavailable(net):
    for date in (None, yahoo_epoch("2026-11-23")):
        net.options("SPY", (200, "<html><body>Will be right back...</body></html>"), date=date)
    with pytest.raises(Unavailable, match="unreadable"):
        provider().expirations("SPY")
    with pytest.raises(Unavailable, match="unreadable"):
        provider().chain("SPY", d("2026-11-23"))
    assert {r["date"] for r in net.of(OPTIONS)} == {None, yahoo_epoch("2026-11-23")}


def test_rate_limit_retried_then_mapped(net):
    net.options("SPY", (429, "Too Many Requests"), date=yahoo_epoch("2026-11-23"))
    with pytest.raises(RateLimited):
        provider().chain("SPY", d("2026-11-23"))
    # one request per try; yfinance retries it once itself (other cookie strategy); this
    # module tries twice
    assert [r["date"] for r in net.of(OPTIONS)] == [yahoo_epoch("2026-11-23")] * 4


def test_rate_limit_recovers_on_the_second_try(net):
    net.options("SPY", (429, "Too Many Requests"), (429, "Too Many Requests"),
                payload("spy_options.json"), date=yahoo_epoch("2026-11-23"))
    with clock.frozen(SATURDAY):
        chain = provider().chain("SPY", d("2026-11-23"))
    assert len(chain.frame) == 24
    assert len(net.of(OPTIONS)) == 3   # 429, yfinance's own retry 429, then our second try


def test_rate_limit_error_raised_by_the_http_layer(net):
    net.options("SPY", yf_exceptions.YFRateLimitError())
    with pytest.raises(RateLimited):
        provider().expirations("SPY")


@pytest.mark.parametrize("failure, said", [
    (curl_exceptions.DNSError("Failed to perform, curl: (6) Could not resolve host", 6),
     "cannot be reached"),
    (curl_exceptions.ConnectionError("Failed to perform, curl: (7) Connection refused", 7),
     "cannot be reached"),
    (curl_exceptions.Timeout("Failed to perform, curl: (28) Operation timed out", 28),
     "did not answer within"),
])
def test_network_failures_are_unavailable(net, failure, said):
    for path in (OPTIONS + "SPY", "/v1/test/getcrumb", "/"):
        net.on(path, failure)
    net.on(OPTIONS + "SPY", failure, date=yahoo_epoch("2026-11-23"))  # the chain's request
    with pytest.raises(Unavailable, match=said):
        provider().chain("SPY", d("2026-11-23"))


def test_every_request_is_held_to_the_call_budget(net, monkeypatch):
    """A network that never answers: each request waits as long as it is allowed (as curl
    does) and the whole call still ends after about one budget, not yfinance's 30 s per
    request."""
    seen = []

    def hang(session, method, url, *args, timeout=None, **kwargs):
        seen.append(timeout)
        time.sleep(timeout)
        raise curl_exceptions.Timeout("Failed to perform, curl: (28) Operation timed out", 28)

    monkeypatch.setattr(curl_requests.Session, "request", hang)
    started = time.monotonic()
    with pytest.raises(Unavailable, match="within 0.6 s"):
        provider(timeout=0.6).chain("SPY", d("2026-11-23"))
    assert time.monotonic() - started < 0.6 + 2.0   # unbounded, this would take 60 s or more
    assert seen and all(t <= 0.6 for t in seen)
    assert sum(seen) <= 0.6 + 1e-6


def test_quote_from_one_chart_request(net):
    net.chart("SPY", "5d", payload("spy_chart_5d_1d.json"))
    q = provider().quote("SPY")
    assert (q.symbol, q.price, q.prev_close, q.day_volume, q.source) == (
        "SPY", 672.35, 668.90, 71234567.0, "yahoo")
    assert q.as_of == dt.datetime(2026, 11, 20, 16, 0, tzinfo=clock.ET)
    (chart,) = net.of(CHART)  # no time-zone lookup request
    assert chart["params"]["range"] == "5d" and chart["params"]["interval"] == "1d"


def test_history_daily_and_intraday(net):
    net.chart("SPY", "5d", payload("spy_chart_5d_1d.json"))
    net.chart("SPY", "1d", payload("spy_chart_1d_5m.json"))
    days = provider().history("SPY", "5d", "1d")
    assert list(days.columns) == HISTORY_COLUMNS and days.index.name == "time"
    assert [ts.isoformat() for ts in days.index][-2:] == ["2026-11-19T00:00:00-05:00",
                                                          "2026-11-20T00:00:00-05:00"]
    assert days["close"].iloc[-1] == 672.35 and days["volume"].iloc[-1] == 71234567
    bars = provider().history("SPY", "1d", "5m")
    assert len(bars) == 77  # 78 five-minute bars, one of them empty
    assert bars.index[0] == pd.Timestamp("2026-11-20 09:30", tz="America/New_York")
    assert bars.index[-1] == pd.Timestamp("2026-11-20 15:55", tz="America/New_York")
    assert str(bars.index.tz) == "America/New_York"


def test_history_of_unknown_symbol(net):
    net.chart("ZZZZ", "5d", (404, payload("unknown_chart.json")))
    with pytest.raises(SymbolNotFound):
        provider().history("ZZZZ", "5d", "1d")
    with pytest.raises(SymbolNotFound):
        provider().quote("ZZZZ")


def test_isolated_keeps_yfinance_caches_in_the_temp_dir(spy, tmp_path):
    assert yahoo.cache_dir() == str(tmp_path)
    provider().expirations("SPY")
    assert (tmp_path / "cookies.db").exists()  # yfinance looked for a saved cookie here


def test_isolated_restores_the_previous_state(tmp_path):
    before = yahoo.cache_dir()
    session = yahoo.shared_session()
    with yahoo.isolated(str(tmp_path)):
        assert yahoo.cache_dir() == str(tmp_path)
        assert yahoo.shared_session() is not session
    assert yahoo.cache_dir() == before
    assert yahoo.shared_session() is session


# ----------------------------------------------------------------------------------------------
# Real curl, no Yahoo: reachability and bounded time on a network that does not answer
# ----------------------------------------------------------------------------------------------

@pytest.fixture
def silent_server():
    """A local TCP port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


def test_probe_false_for_a_host_that_cannot_resolve():
    assert yahoo.probe(timeout=1.0, url="https://yahoo-probe.invalid/") is False


def test_probe_false_when_the_server_never_answers(silent_server):
    started = time.monotonic()
    assert yahoo.probe(timeout=0.5, url=f"https://127.0.0.1:{silent_server}/") is False
    assert time.monotonic() - started < 0.5 + 2.0


def test_chain_through_a_silent_proxy_is_unavailable_in_time(silent_server, tmp_path):
    session = yahoo.make_session(proxy=f"http://127.0.0.1:{silent_server}")
    started = time.monotonic()
    with yahoo.isolated(str(tmp_path)), pytest.raises(Unavailable):
        yahoo.YahooProvider(session=session, timeout=1.0).chain("SPY", d("2026-11-23"))
    assert time.monotonic() - started < 1.0 + 2.0
    session.close()


def test_without_network_a_chain_is_unavailable_within_the_timeout(monkeypatch, tmp_path):
    if yahoo.probe(timeout=2.0):
        pytest.skip("this machine reaches Yahoo: the test is for a machine without network")
    monkeypatch.setenv("OPTIONS_DASH_UPSTREAM_TIMEOUT", "1.5")
    try:
        config.reload()
        started = time.monotonic()
        with yahoo.isolated(str(tmp_path)), pytest.raises(Unavailable):
            yahoo.YahooProvider().chain("SPY", d("2026-11-23"))
        assert time.monotonic() - started < 1.5 + 2.0
    finally:
        monkeypatch.delenv("OPTIONS_DASH_UPSTREAM_TIMEOUT")
        config.reload()
    assert config.settings().upstream_timeout == 8.0
