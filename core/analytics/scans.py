"""What every multi-symbol scan shares: the scan-task plumbing and the small formatters.

A scan task (:mod:`core.analytics.command_center`, :mod:`~core.analytics.dashboard`,
:mod:`~core.analytics.whale_flows`) fetches one symbol's data through ``source`` — :mod:`core.fetch`
in the app, passed in so no analytics module imports I/O or reads a clock — and builds its row.
This module holds what they all use: the nearest listed expiry, the full-chain strike count, the
"skipped" lines and the oldest-row freshness of a finished scan, and the ``$1.23M`` formatter.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from core.errors import NoExpiry

DAILY_PERIOD = "1y"  # daily bars for trend, card chart, squeeze (EMA 200 needs >= 200 closes)


def finite(x) -> bool:
    """True for a real, finite number (None, NaN, inf and non-numbers are not)."""
    return x is not None and isinstance(x, (int, float, np.floating, np.integer)) and \
        math.isfinite(float(x))


def money(value: float | None) -> str:
    """``$1.23M`` / ``$456k`` / ``$789`` / ``−$86.42M`` (``n/a`` for None/NaN)."""
    if not finite(value):
        return "n/a"
    sign, v = ("−" if value < 0 else ""), abs(float(value))
    for floor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= floor:
            digits = ",.0f" if suffix == "k" else ",.2f"
            return f"{sign}${format(v / floor, digits)}{suffix}"
    return f"{sign}${v:,.0f}"


def nearest_expiry(symbol: str, source) -> dt.date:
    """The first listed expiry of ``symbol`` (raises NoExpiry when none is listed)."""
    listed = source.expirations(symbol)
    if not listed:
        raise NoExpiry(f"{symbol} has no listed expiry.", symbol=symbol)
    return listed[0]


def full_strikes(source) -> int:
    """The strike count of a FULL chain (``max_strikes_hard``): levels are never computed on
    the page's capped view."""
    return source.settings().max_strikes_hard


def skipped_lines(skipped: dict[str, str]) -> list[str]:
    """A scan's skipped symbols grouped by reason, one markdown line per reason, most symbols
    first: ``**No such symbol.** — ZZ1, ZZ2``."""
    by_reason: dict[str, list[str]] = {}
    for sym, reason in skipped.items():
        by_reason.setdefault(reason, []).append(sym)
    ordered = sorted(by_reason.items(), key=lambda item: -len(item[1]))
    return [f"**{reason}** — {', '.join(syms)}" for reason, syms in ordered]


def oldest(items: Iterable[Any]) -> tuple[dt.datetime, bool] | None:
    """(oldest ``as_of``, any ``stale``) over scan rows, for the freshness badge; None if empty."""
    pairs = [(i.as_of, bool(i.stale)) for i in items]
    if not pairs:
        return None
    return min(p[0] for p in pairs), any(p[1] for p in pairs)
