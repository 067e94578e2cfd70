"""The Yahoo adapter, offline.

Two kinds of tests:

- transforms, on literal dicts and frames (no yfinance involved);
- whole calls through yfinance's OWN code (cookie, crumb, ``Ticker.options``,
  ``Ticker.option_chain``, ``Ticker.history`` and their JSON parsing), with only the HTTP
  transport replaced: ``curl_cffi.requests.Session.request`` — the one method every yfinance
  request goes through — answers from recorded payloads in ``tests/fixtures/yahoo``. Each such
  test runs inside ``yahoo.isolated(tmp_path)``: yfinance's sqlite caches go to a temp dir and
  its cookie/crumb singleton starts fresh; both are restored afterwards.

Recordings: SPY/IWM on Saturday 2026-11-21 (off-hours: zero bids, stale last trades), ^SPX on
Friday 2026-11-20 11:30 ET (monthly opex: SPX AM- and SPXW PM-settled contracts on one date).
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import socket
import threading
import time
import urllib.parse

import numpy as np
import pandas as pd
import pytest
from curl_cffi import requests as curl_requests
from curl_cffi.requests import exceptions as curl_exceptions
from curl_cffi.requests.models import Response
from yfinance import exceptions as yf_exceptions

from core import clock, config, schema, symbols
from core.errors import InvalidSymbol, NoExpiry, RateLimited, SymbolNotFound, Unavailable
from core.providers import yahoo
from core.providers.base import HISTORY_COLUMNS, Provider

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "yahoo"
CRUMB = "Rf0Xq9TzV3m"
SATURDAY = "2026-11-21 12:00"      # when the SPY / IWM payloads were recorded
OPEX_MIDDAY = "2026-11-20 11:30"   # when the ^SPX payload was recorded
OPTIONS = "/v7/finance/options/"
CHART = "/v8/finance/chart/"


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def yahoo_epoch(day: str) -> str:
    """Yahoo's expiry key: 00:00 UTC of the expiry date, in epoch seconds."""
    return str(int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc).timestamp()))


# ----------------------------------------------------------------------------------------------
# The fake network: Yahoo's HTTP answers, served to yfinance through curl_cffi's Session
# ----------------------------------------------------------------------------------------------

class FakeYahoo:
    """Answers yfinance's HTTP requests from recorded payloads, and records every request.

    Routes are keyed by (URL path, ``date`` query value, ``range`` param); each holds a list of
    answers served in turn (the last one repeats). An answer is ``(status, body)`` or an
    exception to raise. Yahoo's cookie host answers 404 (as fc.yahoo.com does) and
    ``/v1/test/getcrumb`` answers the crumb; anything unrouted answers 404.
    """

    def __init__(self):
        self.routes: dict = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def on(self, path, *answers, date=None, range_=None):
        self.routes[(path, date, range_)] = [
            a if isinstance(a, (tuple, BaseException)) else (200, a) for a in answers]
        return self

    def options(self, symbol, *answers, date=None):
        return self.on(OPTIONS + symbol, *answers, date=date)

    def chart(self, symbol, range_, *answers):
        return self.on(CHART + symbol, *answers, range_=range_)

    def of(self, path_part):
        return [r for r in self.requests if path_part in r["path"]]

    def __call__(self, method, url, params=None, timeout=None, **_):
        parts = urllib.parse.urlsplit(str(url))
        query = dict(urllib.parse.parse_qsl(parts.query))
        params = dict(params or {})
        with self.lock:
            self.requests.append({"method": method, "host": parts.netloc, "path": parts.path,
                                  "date": query.get("date"), "params": params,
                                  "timeout": timeout})
            key = (parts.path, query.get("date"), params.get("range"))
            answers = self.routes.get(key)
            answer = (answers.pop(0) if len(answers) > 1 else answers[0]) if answers else None
        if isinstance(answer, BaseException):
            raise answer
        if answer is None:
            if parts.path == "/v1/test/getcrumb":
                answer = (200, CRUMB)
            else:
                answer = (404, "")
        status, body = answer
        response = Response()
        response.url = str(url)
        response.status_code = status
        response.ok = status < 400
        response.reason = "OK" if status < 400 else "Error"
        response.content = body.encode() if isinstance(body, str) else body
        return response


def payload(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def net(monkeypatch, tmp_path):
    """Yahoo served by FakeYahoo through curl_cffi's Session.request; yfinance state isolated."""
    fake = FakeYahoo()

    def request(session, method, url, *args, **kwargs):
        return fake(method, url, **kwargs)

    monkeypatch.setattr(curl_requests.Session, "request", request)
    with yahoo.isolated(str(tmp_path)):
        yield fake


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
        ("SPY261120C00740000", "2026-11-12 15:12:55", 740, 0.01, 0.0, 0.0, np.nan, np.nan,
         7.5, False),
    ])
    puts = yf_side([
        ("SPY261120P00670000", "2026-11-20 20:59:59", 670, 2.44, 0.0, 0.0, 12011, np.nan,
         0.1797, False),
    ])
    frame = yahoo.chain_frame(calls, puts, d("2026-11-20"))
    assert list(frame.columns) == schema.RAW_COLUMNS
    assert list(frame["type"]) == ["call", "call", "put"]
    assert set(frame["expiry"]) == {d("2026-11-20")}
    row = frame.set_index("contract")
    # NaN volume / OI -> 0, as ints
    assert row.loc["SPY261120C00740000", "volume"] == 0
    assert row.loc["SPY261120C00740000", "open_interest"] == 0
    assert row.loc["SPY261120P00670000", "open_interest"] == 0
    assert frame["volume"].dtype == np.int64
    # mid: the average when both sides quote, the last trade when bid/ask are zero
    assert row.loc["SPY261120C00670000", "mid"] == pytest.approx(4.05)
    assert row.loc["SPY261120P00670000", "mid"] == pytest.approx(2.44)
    assert row.loc["SPY261120C00740000", "mid"] == pytest.approx(0.01)
    # Yahoo's IVs are decimals; 750 % is kept but flagged out of greek sums
    assert row.loc["SPY261120C00670000", "iv"] == pytest.approx(0.1622)
    assert row.loc["SPY261120C00740000", "iv"] == pytest.approx(7.5)
    assert not row.loc["SPY261120C00740000", "iv_ok"]
    assert row.loc["SPY261120C00670000", "iv_ok"]
    assert bool(row.loc["SPY261120C00670000", "in_the_money"]) is True
    assert row.loc["SPY261120C00670000", "last_trade"] == pd.Timestamp("2026-11-20 16:30",
                                                                      tz="UTC")


def test_chain_frame_converts_percent_ivs():
    calls = yf_side([
        ("AAPL261120C00230000", "2026-11-20 20:59:00", 230, 5.1, 5.0, 5.2, 10, 100, 25.3, True),
        ("AAPL261120C00240000", "2026-11-20 20:59:00", 240, 1.2, 1.1, 1.3, 10, 100, 30.1, False),
        ("AAPL261120C00300000", "2026-11-20 20:59:00", 300, 0.01, 0.0, 0.02, 1, 5, 180.0, False),
    ])
    frame = yahoo.chain_frame(calls, None, d("2026-11-20"), iv_in_percent=True)
    assert list(frame["iv"]) == pytest.approx([0.253, 0.301, 1.80])
    assert frame["iv_ok"].all()
    # Yahoo's own unit is the decimal: the same numbers are then 2530 %+ and flagged
    assert yahoo.IV_IN_PERCENT is False
    assert not yahoo.chain_frame(calls, None, d("2026-11-20"))["iv_ok"].any()


def test_chain_frame_of_nothing_is_an_empty_canonical_frame():
    for calls, puts in [(None, None), (yf_side([]), yf_side([]))]:
        frame = yahoo.chain_frame(calls, puts, d("2026-11-20"))
        assert frame.empty
        assert list(frame.columns) == schema.RAW_COLUMNS


def test_contract_root_and_expiry():
    contracts = pd.Series(["SPXW261120C06700000", "SPX261120P06700000", "TSLA1261218C00250000",
                           "garbage"])
    assert list(yahoo.contract_root(contracts).fillna("?")) == ["SPXW", "SPX", "TSLA1", "?"]
    expiries = yahoo.contract_expiry(contracts)
    assert list(expiries[:3]) == [d("2026-11-20"), d("2026-11-20"), d("2026-12-18")]
    assert pd.isna(expiries.iloc[3])


def canonical(contracts):
    return pd.DataFrame({"contract": contracts, "strike": np.arange(len(contracts), dtype=float)})


def test_pm_settled_only_keeps_pm_root_when_both_roots_listed():
    both = canonical(["SPX261120C06700000", "SPXW261120C06700000", "SPXW261120P06750000",
                      "SPX261120P06750000"])
    kept = yahoo.pm_settled_only(both)
    assert list(kept["contract"]) == ["SPXW261120C06700000", "SPXW261120P06750000"]
    assert len(both) == 4  # the input is not modified

    ndx = canonical(["NDX261120C21000000", "NDXP261120C21000000"])
    assert list(yahoo.pm_settled_only(ndx)["contract"]) == ["NDXP261120C21000000"]
    rut = canonical(["RUTW261120P02400000", "RUT261120P02400000"])
    assert list(yahoo.pm_settled_only(rut)["contract"]) == ["RUTW261120P02400000"]


def test_pm_settled_only_leaves_single_root_chains_alone():
    for contracts in (["SPX261218C06700000", "SPX261218P06700000"],   # AM monthly alone
                      ["SPXW261123C06700000"], ["SPY261120C00670000"]):
        frame = canonical(contracts)
        assert list(yahoo.pm_settled_only(frame)["contract"]) == contracts


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
        assert isinstance(err, Unavailable)


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


def test_chain_off_hours_nearest_expiry(spy):
    with clock.frozen(SATURDAY):
        chain = provider().chain("SPY", d("2026-11-23"))
    assert len(spy.of(OPTIONS)) == 1  # the nearest expiry's chain came with the list
    assert (chain.symbol, chain.expiry, chain.source) == ("SPY", d("2026-11-23"), "yahoo")
    assert chain.spot == 672.35
    assert chain.as_of == dt.datetime(2026, 11, 20, 16, 0, tzinfo=clock.ET)
    q = chain.quote
    assert (q.price, q.prev_close, q.day_volume) == (672.35, 668.90, 71234567.0)
    assert chain.div_yield == symbols.dividend_yield("SPY")
    assert chain.flags >= {schema.MARKET_CLOSED, schema.STALE_LAST_TRADES, schema.IV_CLIPPED,
                           schema.OI_PRIOR_CLOSE}
    assert yahoo.EMPTY_CHAIN not in chain.flags

    frame = chain.frame
    assert list(frame.columns) == schema.RAW_COLUMNS
    assert (len(chain.calls), len(chain.puts)) == (13, 11)
    row = frame.set_index("contract")
    # keys absent from Yahoo's JSON (no volume / no openInterest) -> 0
    assert row.loc["SPY261123C00740000", ["volume", "open_interest"]].tolist() == [0, 0]
    assert row.loc["SPY261123C00560000", "volume"] == 0
    assert row.loc["SPY261123C00560000", "open_interest"] == 12
    # zero bid/ask off-hours -> mid is the last trade
    assert (frame["mid"] == frame["last"]).all()
    # IVs of 750 % / 1953 % and Yahoo's 0.00001 placeholders stay, flagged out of sums
    assert row.loc["SPY261123C00780000", "iv"] == pytest.approx(19.53)
    assert not row.loc[["SPY261123C00780000", "SPY261123C00740000", "SPY261123C00600000"],
                       "iv_ok"].any()
    assert row.loc["SPY261123C00670000", "iv"] == pytest.approx(0.1622)
    # a stale last trade is kept with its time (UTC)
    assert row.loc["SPY261123C00740000", "last_trade"] == pd.Timestamp("2026-11-12 15:12:55",
                                                                      tz="UTC")


def test_chain_of_a_later_expiry_asks_by_date(spy):
    with clock.frozen(SATURDAY):
        chain = provider().chain("SPY", d("2026-11-27"))
    first, second = spy.of(OPTIONS)
    assert first["date"] is None and second["date"] == yahoo_epoch("2026-11-27")
    row = chain.frame.set_index("contract")
    assert row.loc["SPY261127C00670000", "mid"] == pytest.approx((8.21 + 8.49) / 2)
    assert row.loc["SPY261127C00675000", "mid"] == pytest.approx(5.30)  # no quote: last
    assert set(chain.frame["expiry"]) == {d("2026-11-27")}
    assert row.loc["SPY261127P00700000", "volume"] == 0


def test_spx_opex_keeps_only_pm_settled_spxw(net):
    net.options("^SPX", payload("spx_options.json"))
    chain = provider().chain("spx", d("2026-11-20"))  # conftest clock: Fri 11:30, open
    assert chain.symbol == "^SPX" and chain.quote.symbol == "^SPX"
    assert len(net.of(OPTIONS)) == 1
    roots = set(yahoo.contract_root(chain.frame["contract"]))
    assert roots == {"SPXW"}
    assert list(chain.calls["strike"]) == [6600, 6700, 6725, 6750, 6775, 6800, 6900]
    assert list(chain.puts["strike"]) == [6600, 6700, 6725, 6750, 6800]
    assert chain.spot == 6731.58 and chain.quote.day_volume == 0.0  # no volume for an index
    assert chain.as_of == dt.datetime(2026, 11, 20, 11, 29, 47, tzinfo=clock.ET)
    # the AM contracts stopped trading Thursday: dropping them leaves no stale last trades
    assert schema.STALE_LAST_TRADES not in chain.flags
    assert schema.MARKET_CLOSED not in chain.flags
    atm = chain.frame.set_index("contract").loc["SPXW261120C06725000"]
    assert atm["mid"] == pytest.approx(16.30)


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


def test_unlisted_expiry_raises_no_expiry_with_the_next_one(spy):
    with clock.frozen(SATURDAY), pytest.raises(NoExpiry) as info:
        provider().chain("SPY", d("2026-11-26"))
    assert info.value.next_expiry == d("2026-11-27")
    assert "Thu 26 Nov 2026" in str(info.value)
    with pytest.raises(NoExpiry) as info:
        provider().chain("SPY", d("2027-06-18"))
    assert info.value.next_expiry is None


def test_listed_expiry_without_contracts_is_an_empty_flagged_chain(net):
    net.options("IWM", payload("iwm_options.json"))
    net.options("IWM", payload("iwm_options_2026-11-27.json"), date=yahoo_epoch("2026-11-27"))
    with clock.frozen(SATURDAY):
        for expiry in ("2026-11-23", "2026-11-27"):   # empty lists / no options at all
            chain = provider().chain("IWM", d(expiry))
            assert chain.frame.empty
            assert list(chain.frame.columns) == schema.RAW_COLUMNS
            assert yahoo.EMPTY_CHAIN in chain.flags
            assert chain.spot == 241.12


def test_unknown_symbol(net):
    net.options("ZZZZ", payload("unknown_options.json"))
    with pytest.raises(SymbolNotFound):
        provider().expirations("ZZZZ")
    with pytest.raises(SymbolNotFound):
        provider().chain("ZZZZ", d("2026-11-20"))


def test_refused_request_is_unavailable_not_unknown(net):
    net.options("SPY", (401, payload("invalid_crumb.json")))
    with pytest.raises(Unavailable, match="refused"):
        provider().expirations("SPY")


def test_unreadable_answer_is_unavailable(net):
    net.options("SPY", (200, "<html><body>Will be right back...</body></html>"))
    with pytest.raises(Unavailable, match="unreadable"):
        provider().chain("SPY", d("2026-11-23"))


def test_rate_limit_retried_then_mapped(net):
    net.options("SPY", (429, "Too Many Requests"))
    with pytest.raises(RateLimited):
        provider().chain("SPY", d("2026-11-23"))
    # yfinance retries once itself (other cookie strategy); this module tries twice
    assert len(net.of(OPTIONS)) == 4


def test_rate_limit_recovers_on_the_second_try(net):
    net.options("SPY", (429, "Too Many Requests"), (429, "Too Many Requests"),
                payload("spy_options.json"))
    with clock.frozen(SATURDAY):
        chain = provider().chain("SPY", d("2026-11-23"))
    assert len(chain.frame) == 24
    assert len(net.of(OPTIONS)) == 3


def test_rate_limit_error_raised_by_the_http_layer(net):
    net.options("SPY", yf_exceptions.YFRateLimitError())
    with pytest.raises(RateLimited):
        provider().expirations("SPY")


@pytest.mark.parametrize("failure", [
    curl_exceptions.DNSError("Failed to perform, curl: (6) Could not resolve host", 6),
    curl_exceptions.ConnectionError("Failed to perform, curl: (7) Connection refused", 7),
    curl_exceptions.Timeout("Failed to perform, curl: (28) Operation timed out", 28),
])
def test_network_failures_are_unavailable(net, failure):
    for path in (OPTIONS + "SPY", "/v1/test/getcrumb", "/"):
        net.on(path, failure)
    with pytest.raises(Unavailable):
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
