"""The Provider protocol: four calls, each returning canonical data (see :mod:`core.schema`).

A provider does three separately testable things: normalise the request, do the raw I/O (the
only step that touches the network), and transform the raw answer into the canonical schema.
It raises only :mod:`core.errors` types. It does not cache, rate-limit, solve IVs or compute
greeks: the fetch layer does that once for every source (``core.analytics.pricing``).

Optional: ``listing(symbol) -> (expiries, nearest Chain | None)`` for a source whose expiry list
comes with the nearest expiry's chain in ONE answer (Yahoo); the fetch layer then caches both
from that one call instead of asking for the chain again.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, runtime_checkable

import pandas as pd

from core.schema import Chain, Quote

HISTORY_COLUMNS = ["open", "high", "low", "close", "volume"]
PERIODS = ("1d", "2d", "5d", "1mo", "3mo", "6mo", "1y", "2y")
INTERVALS = ("1m", "5m", "15m", "30m", "1h", "1d")


@runtime_checkable
class Provider(Protocol):
    name: str  # "yahoo" | "simulated" | "replay"
    remote: bool  # True: calls go over the network and pass the process-wide rate limiter

    def expirations(self, symbol: str) -> list[dt.date]:
        """Listed expiries, ascending, today's included while it trades. Raises SymbolNotFound."""

    def chain(self, symbol: str, expiry: dt.date) -> Chain:
        """One expiry's chain: RAW_COLUMNS (no greeks), spot, as_of, flags, div_yield, quote.

        Raises SymbolNotFound (no such symbol / no options), NoExpiry (not listed), or an
        UpstreamError."""

    def quote(self, symbol: str) -> Quote:
        """The underlying's last price, previous close and day volume."""

    def history(self, symbol: str, period: str, interval: str) -> pd.DataFrame:
        """OHLCV bars: tz-aware ET DatetimeIndex named ``time``, columns HISTORY_COLUMNS.

        Daily bars are indexed at midnight ET of the session date."""
