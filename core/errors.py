"""The error tree shared by every layer; ``core.ui`` renders each branch as a clear message.

::

    DataError
     ├── InvalidSymbol        bad input; rejected before any cache entry or upstream call
     ├── SymbolNotFound       upstream says no such symbol / no options (negative-cached, briefly)
     ├── NoExpiry             e.g. no 0DTE expiry today; carries the next one
     └── UpstreamError
          ├── RateLimited     backoff; serve stale if any
          └── Unavailable     timeout / network; serve stale if any, else a clear error

Callers catch the branch they mean. Every error carries a user-facing ``message`` (no
internals, safe to show) and, for ``NoExpiry``, the ``next_expiry`` a page can offer instead.
"""

from __future__ import annotations

import datetime as dt


class DataError(Exception):
    """Base of every data problem a user may see. ``str(err)`` is safe to show to a user."""

    title = "Data problem"

    def __init__(self, message: str, *, symbol: str | None = None):
        super().__init__(message)
        self.symbol = symbol

    @property
    def message(self) -> str:
        return str(self)


class InvalidSymbol(DataError):
    """The text typed is not a ticker symbol. Raised before any cache or upstream work."""

    title = "Invalid symbol"


class SymbolNotFound(DataError):
    """The source knows no such symbol, or it has no listed options."""

    title = "Symbol not found"


class NoExpiry(DataError):
    """The expiry asked for does not exist (no 0DTE today, or it rolled off)."""

    title = "No such expiry"

    def __init__(self, message: str, *, symbol: str | None = None,
                 next_expiry: dt.date | None = None):
        super().__init__(message, symbol=symbol)
        self.next_expiry = next_expiry


class UpstreamError(DataError):
    """The data source failed; stale data is served where there is some."""

    title = "Data source problem"


class RateLimited(UpstreamError):
    """The source throttled us. The fetch layer backs off process-wide."""

    title = "Data source is rate-limiting"


class Unavailable(UpstreamError):
    """Timeout, network failure or an unparseable answer from the source."""

    title = "Data source unavailable"
