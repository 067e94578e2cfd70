"""The price-consistent chain (issue 11): IV solving cost and Yahoo requests per view.

    python -m bench.iv_bench            # full
    python -m bench.iv_bench --quick    # fewer repetitions

1. ``price_chain`` (parity forward + IVs solved from every mid + greeks + flags) on the
   simulated SPY's FULL listing (every expiry, every strike) at a pinned clock, and on the real
   recorded SPY 0DTE answer of 2026-05-28 10:24 ET.
2. Upstream options requests made by the fetch layer for a cold nearest-expiry view and for
   ``fetch.chains("SPY", n=8)``, on real recorded Yahoo answers served to yfinance through
   curl_cffi's transport (the test suite's fake network, ``tests/providers/yahoo_net.py``).

Writes bench/results/iv.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile

os.environ.setdefault("OPTIONS_DASH_PROVIDER", "simulated")

from curl_cffi import requests as curl_requests  # noqa: E402

from bench.common import timed, write  # noqa: E402
from core import clock, config, fetch  # noqa: E402
from core.analytics import pricing  # noqa: E402
from core.providers import yahoo  # noqa: E402
from core.providers.simulated import SimulatedProvider  # noqa: E402
from tests.providers.yahoo_net import OPTIONS, FakeYahoo, real, yahoo_epoch  # noqa: E402

PINNED = "2026-11-20 11:30"
SPY_LIVE = "spy_options_2026-05-28_1024ET_regular.json"


def bench_full_listing(repeat: int) -> dict:
    rate = config.settings().risk_free
    with clock.frozen(PINNED):
        provider = SimulatedProvider()
        raw = [provider.chain("SPY", e) for e in provider.expirations("SPY")]
        market = pricing.market_at(clock.now())

        def solve_all():
            return [pricing.price_chain(c, rate=rate, market=market) for c in raw]

        priced = solve_all()
        contracts = sum(len(c.frame) for c in raw)
        solved = sum(int((c.frame["iv_source"] == "mid").sum()) for c in priced)
        return {"expiries": len(raw), "contracts": contracts, "solved_from_mid": solved,
                **timed(solve_all, repeat)}


def _fake_yahoo() -> FakeYahoo:
    net = FakeYahoo()
    curl_requests.Session.request = lambda self, m, u, *a, **k: net(m, u, **k)
    net.options("SPY", real(SPY_LIVE))
    body = json.loads(real(SPY_LIVE))
    listed = [yahoo.epoch_date(e) for e in body["optionChain"]["result"][0]["expirationDates"]]
    old = yahoo.epoch_date(body["optionChain"]["result"][0]["options"][0]["expirationDate"])
    for expiry in listed[1:8]:  # the recorded answer re-dated: only the count matters here
        text = real(SPY_LIVE).decode().replace(f"{old:%y%m%d}", f"{expiry:%y%m%d}").replace(
            f'"expirationDate": {yahoo_epoch(old.isoformat())}',
            f'"expirationDate": {yahoo_epoch(expiry.isoformat())}')
        net.options("SPY", text.encode(), date=yahoo_epoch(expiry.isoformat()))
    return net


def bench_real_and_requests(repeat: int) -> dict:
    out = {}
    saved = curl_requests.Session.request
    try:
        with tempfile.TemporaryDirectory() as tmp, yahoo.isolated(tmp), \
                clock.frozen("2026-05-28 10:24:49"):
            net = _fake_yahoo()
            provider = yahoo.YahooProvider(backoff=0.01)
            _, chain = provider.listing("SPY")
            market = pricing.market_at(clock.now())
            rate = config.settings().risk_free
            out["real_spy_0dte"] = {"contracts": len(chain.frame), **timed(
                lambda: pricing.price_chain(chain, rate=rate, market=market), repeat)}
            net.requests.clear()
            fetch.reset(provider, reason="bench: recorded Yahoo")
            fetch.chain("SPY", dt.date(2026, 5, 28))
            fetch.key_levels("SPY", dt.date(2026, 5, 28))
            cold = len(net.of(OPTIONS))
            fetch.chains("SPY", n=8)
            out["requests"] = {"cold_nearest_view": cold, "chains_n8_cold": len(net.of(OPTIONS)),
                               "before_issue_11": {"cold_nearest_view": 2, "chains_n8_cold": 16}}
    finally:
        curl_requests.Session.request = saved
        fetch.reset()
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    repeat = 5 if args.quick else 30
    result = {"full_listing": bench_full_listing(repeat), **bench_real_and_requests(repeat * 4)}
    path = write("iv_quick" if args.quick else "iv", result)
    print(json.dumps(result, indent=2, default=str))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
