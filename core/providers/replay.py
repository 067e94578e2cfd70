"""Replay: recorded snapshots served as if live (``OPTIONS_DASH_PROVIDER=replay``).

At ``clock.now()`` every call answers from the latest snapshot of the symbol recorded at or
before that instant (:meth:`core.recorder.Store.snapshot_at`): the chains exactly as recorded
(every column, flags, ``as_of``, quote), the expiries that snapshot holds, its quote. The clock
starts at ``OPTIONS_DASH_REPLAY_START`` (else the first snapshot of the last recorded session)
and runs on in real time (see :func:`start_clock`), so a trader replays a session and the pages
refresh through it as they would live; tests freeze and step the clock instead.

Price bars are rebuilt from what was recorded (no bars are recorded): one bar per interval from
the underlying's price at each snapshot (open/high/low/close of the snapshots inside it),
daily bars from each recorded session. Volume is unknown (0). With 5-minute snapshots a
``1m`` request gets the 5-minute points.

Like every provider it does not cache: the fetch layer does (one file read per key per TTL).
"""

from __future__ import annotations

import datetime as dt
import logging
import pathlib

import pandas as pd

from core import clock
from core.errors import NoExpiry, SymbolNotFound
from core.providers.base import HISTORY_COLUMNS, INTERVALS, PERIODS
from core.schema import Chain, Quote

log = logging.getLogger(__name__)

NAME = "replay"
_INTERVAL = {"1m": "1min", "5m": "5min", "15m": "15min", "30m": "30min", "1h": "60min"}
_PERIOD_SESSIONS = {"1d": 1, "2d": 2, "5d": 5}
_PERIOD_MONTHS = {"1mo": 1, "3mo": 3, "6mo": 6, "1y": 12, "2y": 24}


class ReplayProvider:
    """Serves the recordings under ``root`` (a :class:`core.recorder.Store` folder)."""

    name = NAME
    remote = False

    def __init__(self, root: pathlib.Path | str):
        from core.recorder import Store

        self.store = Store(root)

    def __repr__(self) -> str:
        return f"ReplayProvider({self.store.root})"

    # -- the snapshot in force --
    def _snapshot(self, symbol: str) -> tuple[dt.datetime, list[Chain]]:
        now = clock.now()
        found = self.store.snapshot_at(symbol, now)
        if found is None:
            raise SymbolNotFound(f"No recording of {symbol} at or before "
                                 f"{now:%a %d %b %Y %H:%M} ET in the replay.", symbol=symbol)
        at, path = found
        return at, self.store.read_chains(path)

    def expirations(self, symbol: str) -> list[dt.date]:
        """The expiries of the snapshot in force (those recorded), ascending."""
        return sorted(c.expiry for c in self._snapshot(symbol)[1])

    def chain(self, symbol: str, expiry: dt.date) -> Chain:
        """The recorded chain of ``expiry`` in the snapshot in force, greeks and all (the fetch
        layer recomputes them the same way from the same inputs)."""
        if isinstance(expiry, dt.datetime):
            expiry = expiry.date()
        _, chains = self._snapshot(symbol)
        for c in chains:
            if c.expiry == expiry:
                return c
        later = sorted(c.expiry for c in chains if c.expiry > expiry)
        raise NoExpiry(f"{symbol} has no recorded expiry on {expiry:%Y-%m-%d}.", symbol=symbol,
                       next_expiry=later[0] if later else None)

    def quote(self, symbol: str) -> Quote:
        """The quote recorded with the snapshot in force."""
        _, chains = self._snapshot(symbol)
        q = chains[0].quote
        if q is None:
            c = chains[0]
            return Quote(symbol=c.symbol, price=c.spot, prev_close=c.spot, as_of=c.as_of,
                         source=c.source)
        return q

    def history(self, symbol: str, period: str, interval: str) -> pd.DataFrame:
        """Bars rebuilt from the recorded prices up to now (see the module docstring)."""
        if period not in PERIODS or interval not in INTERVALS:
            raise ValueError(f"period must be one of {PERIODS}, interval one of {INTERVALS}")
        now = clock.now()
        days = [d for d in self.store.sessions(symbol) if d <= now.date()]
        if not days:
            raise SymbolNotFound(f"No recording of {symbol} in the replay.", symbol=symbol)
        if period in _PERIOD_SESSIONS:
            days = days[-_PERIOD_SESSIONS[period]:]
        else:
            floor = (pd.Timestamp(days[-1]) - pd.DateOffset(months=_PERIOD_MONTHS[period])).date()
            days = [d for d in days if d > floor]
        rows = self.store.levels(symbol, days)
        rows = rows[rows["snapshot"] <= pd.Timestamp(now)]
        prices = rows.groupby("snapshot")["price"].first().sort_index()
        prices.index = pd.DatetimeIndex(prices.index).tz_convert(clock.ET)
        if interval == "1d":
            key = prices.index.normalize()
        else:
            key = prices.index.floor(_INTERVAL[interval])
        bars = prices.groupby(key).agg(["first", "max", "min", "last"])
        bars.columns = ["open", "high", "low", "close"]
        bars["volume"] = 0.0
        bars.index = pd.DatetimeIndex(bars.index, name="time")
        return bars[HISTORY_COLUMNS].astype("float64")

    # -- the replay's clock --
    def first_snapshot_of_last_session(self) -> dt.datetime | None:
        """Where a replay starts by default: the first snapshot of the last recorded date."""
        for day in reversed(self.store.dates("chains")):
            times = [t for sym_dir in (self.store.root / "chains" / f"date={day}").glob("symbol=*")
                     for t in (dt.datetime.strptime(p.stem, "%H%M%S").time()
                               for p in sym_dir.glob("[0-9]*.parquet"))]
            if times:
                return dt.datetime.combine(day, min(times), tzinfo=clock.ET)
        return None


def start_clock(provider: ReplayProvider, start: str | None) -> dt.datetime | None:
    """Pin the process clock, running, at ``start`` (ISO; naive = ET) or, when None, at the
    first snapshot of the last recorded session. Returns the start (None: nothing recorded)."""
    at = clock.parse_instant(start) if start else provider.first_snapshot_of_last_session()
    if at is not None:
        clock.pin(at, frozen=False)
        log.info("replay: clock starts at %s", at.isoformat())
    return at
