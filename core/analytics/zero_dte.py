"""0DTE rules: which expiry is "today's", the session timer, the bias badge, the divergence flags
between indexes, the page-6 signal, the 0.3 % level alerts and the live refresh interval.

Every function is pure: it takes the expiry list, a :class:`core.clock.MarketStatus` (built by
``clock.market_status(at)``, or by hand in tests), levels (:class:`core.analytics.levels.KeyLevels`)
or plain numbers, and never reads the clock, a cache or the network.

Rules (each one is a function below, with its own test on a hand-built case)

- **0DTE expiry** (:func:`choose_expiry`): today's expiry when it is listed and today's session has
  not closed (pre-market or open); otherwise "no 0DTE today" with the reason (weekend, holiday,
  session closed, not listed) and the first listed expiry after today, labelled as the next
  session's expiry.
- **Session timer** (:func:`session_timer`): seconds to the close (13:00 ET on early-close days),
  fraction of the regular session elapsed, seconds to the next open, and the 0DTE ``T`` in years
  (time left in the session, floored at :data:`core.clock.MIN_T_YEARS` so gamma stays finite).
- **Bias** (:func:`bias`): ``above`` when spot > zero gamma, ``below`` when spot < zero gamma,
  ``at`` when equal, ``unknown`` when zero gamma is undefined ("none in range"). It feeds the
  divergence flags and the signal; the pages' gamma-regime badge is the sign of net GEX at spot
  (:func:`core.analytics.exposure.gamma_regime`: damped / amplified), not this.
- **Divergence flags** (:func:`divergences`), between the indexes shown side by side:
  bias disagrees (at least one index above and one below zero gamma); put/call volume ratios
  differ by more than :data:`PC_DIVERGENCE_RATIO` × (highest ÷ lowest > 1.5); daily % changes
  differ by more than :data:`CHANGE_DIVERGENCE_POINTS` percentage point (highest − lowest > 1).
  A flag is raised when any pair breaks the rule; it names the extreme pair.
- **Signal** (:func:`signal`): price vs zero gamma (+1 above, −1 below) plus put/call volume
  (+1 when P/C < ``pc_low`` = 0.8, call-heavy; −1 when P/C > ``pc_high`` = 1.2, put-heavy);
  the sum +2 / +1 / 0 / −1 / −2 reads Bullish / Lean bullish / Neutral / Lean bearish / Bearish.
- **Alerts** (:func:`level_alerts`): :func:`core.analytics.levels.proximity_alerts` at
  :data:`ALERT_PCT` = 0.3 % of spot, over :data:`ALERT_LEVELS`.
- **Refresh interval** (:func:`refresh_seconds`): never shorter than the longest TTL of the data
  shown; × :data:`CLOSED_FACTOR` while the market is not open (nothing moves).

Units: prices and levels in the underlying's currency; changes in percent (2.0 = 2 %); P/C a
plain ratio (put ÷ call); times in seconds unless said; ``T`` in years of 365 days.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from core import clock
from core.analytics import levels

ALERT_PCT = 0.3                 # % of spot: "price is near a level" on the 0DTE pages
PC_DIVERGENCE_RATIO = 1.5       # highest P/C ÷ lowest P/C above this -> flag
CHANGE_DIVERGENCE_POINTS = 1.0  # highest − lowest daily % change above this -> flag
PC_LOW, PC_HIGH = 0.8, 1.2      # signal: P/C below = call-heavy flow, above = put-heavy flow
CLOSED_FACTOR = 5               # refresh interval multiplier while the market is not open

#: KeyLevels fields checked for the 0.3 % alerts (walls of every kind, zero gamma, max pain,
#: volume pivot).
ALERT_LEVELS = ("zero_gamma", "max_pain", "call_wall_oi", "put_wall_oi", "call_wall_volume",
                "put_wall_volume", "call_wall_gamma", "put_wall_gamma", "volume_pivot")

#: KeyLevels fields listed in the key strikes table, in display order.
KEY_STRIKES = ("call_wall_gamma", "call_wall_oi", "call_wall_volume", "zero_gamma",
               "abs_gamma_strike", "max_pain", "volume_pivot", "atm_strike", "put_wall_volume",
               "put_wall_oi", "put_wall_gamma")


# --- which expiry is "0DTE" ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ExpiryChoice:
    """The expiry a 0DTE view shows.

    ``expiry`` is today's date when ``is_0dte``; otherwise the first listed expiry after today
    (the next session's), or None when nothing is listed. ``reason`` says why there is no 0DTE
    (None when there is one).
    """

    expiry: dt.date | None
    is_0dte: bool
    reason: str | None

    @property
    def label(self) -> str:
        """``0DTE · Fri 20 Nov 2026`` or ``Next session's expiry · Mon 23 Nov 2026``."""
        if self.expiry is None:
            return "No listed expiry"
        if self.is_0dte:
            return f"0DTE · {self.expiry:%a %d %b %Y}"
        return f"Next session's expiry · {self.expiry:%a %d %b %Y}"


def choose_expiry(expiries: Sequence[dt.date], status: clock.MarketStatus) -> ExpiryChoice:
    """Today's expiry if listed and today's session has not closed, else the next listed one.

    "Today" is ``status.at``'s date (ET). The session has not closed when ``status.state`` is
    ``pre-market`` or ``open``. The reason for no 0DTE is, in order: the market is closed today
    (weekend / holiday), today's session has closed (after hours), or the symbol lists no expiry
    today. Expiries before today (and today's once closed) are never chosen.
    """
    today = status.at.date()
    listed = sorted(set(expiries))
    trading = status.state in ("pre-market", "open")
    if trading and today in listed:
        return ExpiryChoice(today, True, None)
    later = [e for e in listed if e > today]
    if status.state == "closed":
        why = "the market is closed today (" + ("weekend" if today.weekday() >= 5
                                                else "holiday") + ")"
    elif status.state == "after-hours":
        why = "today's session has closed"
    else:
        why = "no expiry is listed today"
    return ExpiryChoice(later[0] if later else None, False, f"No 0DTE today: {why}.")


# --- session timer ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SessionTimer:
    """Where the day stands, for the 0DTE session timer.

    ``seconds_to_close``: to today's close while open, else 0. ``seconds_to_open``: to the next
    regular open while not open, else 0. ``progress``: fraction of today's regular session
    elapsed (0 pre-market, 1 after the close and on non-session days). ``session_seconds``:
    length of today's session (0 on non-session days). ``early_close``: today closes before
    16:00 ET. ``years_left``: the 0DTE ``T`` = seconds to close / (365 × 86400), floored at
    ``clock.MIN_T_YEARS``; None when no session is trading or ahead today.
    """

    state: str
    closes_at: dt.datetime | None
    next_open: dt.datetime
    seconds_to_close: float
    seconds_to_open: float
    progress: float
    session_seconds: float
    early_close: bool
    years_left: float | None

    @property
    def minutes_left(self) -> float | None:
        """``years_left`` in minutes (the floored 0DTE T), None when undefined."""
        return None if self.years_left is None else self.years_left * clock.SECONDS_PER_YEAR / 60


def session_timer(status: clock.MarketStatus) -> SessionTimer:
    """The timer numbers from a market status (see :class:`SessionTimer`)."""
    at = status.at
    is_open = status.state == "open"
    to_close = max((status.closes_at - at).total_seconds(), 0.0) if is_open else 0.0
    to_open = 0.0 if is_open else max((status.next_open - at).total_seconds(), 0.0)
    length = 0.0
    early = False
    years = None
    if status.session is not None:
        length = (status.closes_at - status.opens_at).total_seconds()
        early = status.closes_at.astimezone(clock.ET).time() < clock.REGULAR_CLOSE
        if status.state in ("open", "pre-market"):
            left = (status.closes_at - at).total_seconds()
            years = max(left / clock.SECONDS_PER_YEAR, clock.MIN_T_YEARS)
    return SessionTimer(state=status.state, closes_at=status.closes_at,
                        next_open=status.next_open, seconds_to_close=to_close,
                        seconds_to_open=to_open, progress=status.progress,
                        session_seconds=length, early_close=early, years_left=years)


# --- bias badge ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Bias:
    """Spot against zero gamma. ``state``: ``above`` / ``below`` / ``at`` / ``unknown``.
    ``distance_pct`` = (spot − zero gamma) / spot × 100 (positive above), None when unknown."""

    state: str
    distance_pct: float | None


def bias(spot: float, zero_gamma: float | None) -> Bias:
    """``above`` when spot > zero gamma, ``below`` when spot < zero gamma, ``at`` when equal,
    ``unknown`` when zero gamma is undefined (None/NaN) or spot is not positive."""
    if zero_gamma is None or not np.isfinite(zero_gamma) or not spot > 0:
        return Bias("unknown", None)
    distance = (spot - zero_gamma) / spot * 100.0
    state = "above" if spot > zero_gamma else "below" if spot < zero_gamma else "at"
    return Bias(state, float(distance))


# --- divergence between indexes -----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class IndexSnapshot:
    """What the divergence rules compare for one index: bias state (see :func:`bias`), put/call
    volume ratio (None when undefined) and the daily change in percent."""

    symbol: str
    bias: str
    pc_volume: float | None
    change_pct: float | None


@dataclasses.dataclass(frozen=True)
class Divergence:
    """One flag: ``kind`` in ``bias`` / ``pc`` / ``change``; ``symbols`` the pair (or groups)
    involved; ``message`` a sentence for the page."""

    kind: str
    symbols: tuple[str, ...]
    message: str


def _finite(value) -> bool:
    return value is not None and bool(np.isfinite(value))


def divergences(snapshots: Iterable[IndexSnapshot], *, pc_ratio: float = PC_DIVERGENCE_RATIO,
                change_points: float = CHANGE_DIVERGENCE_POINTS) -> list[Divergence]:
    """Flags between indexes, in the order bias, P/C, change (see the module docstring).

    - ``bias``: some index is ``above`` and some ``below`` zero gamma (``at``/``unknown`` are
      left out).
    - ``pc``: among positive P/C volume ratios, highest ÷ lowest > ``pc_ratio`` (strictly).
    - ``change``: among known daily changes, highest − lowest > ``change_points`` percentage
      points (strictly).
    Fewer than two comparable indexes give no flag.
    """
    snaps = list(snapshots)
    out: list[Divergence] = []
    above = tuple(s.symbol for s in snaps if s.bias == "above")
    below = tuple(s.symbol for s in snaps if s.bias == "below")
    if above and below:
        out.append(Divergence("bias", above + below,
                              f"Bias disagrees: {', '.join(above)} above zero gamma; "
                              f"{', '.join(below)} below."))
    pcs = [s for s in snaps if _finite(s.pc_volume) and s.pc_volume > 0]
    if len(pcs) >= 2:
        hi = max(pcs, key=lambda s: s.pc_volume)
        lo = min(pcs, key=lambda s: s.pc_volume)
        ratio = hi.pc_volume / lo.pc_volume
        if ratio > pc_ratio:
            out.append(Divergence("pc", (hi.symbol, lo.symbol),
                                  f"Put/call differs: {hi.symbol} {hi.pc_volume:.2f} vs "
                                  f"{lo.symbol} {lo.pc_volume:.2f} ({ratio:.1f}×, "
                                  f"flag above {pc_ratio:g}×)."))
    changes = [s for s in snaps if _finite(s.change_pct)]
    if len(changes) >= 2:
        hi = max(changes, key=lambda s: s.change_pct)
        lo = min(changes, key=lambda s: s.change_pct)
        gap = hi.change_pct - lo.change_pct
        if gap > change_points:
            out.append(Divergence("change", (hi.symbol, lo.symbol),
                                  f"Daily change differs: {hi.symbol} {hi.change_pct:+.2f}% vs "
                                  f"{lo.symbol} {lo.change_pct:+.2f}% ({gap:.2f} points, flag "
                                  f"above {change_points:g})."))
    return out


# --- signal (page 6) ----------------------------------------------------------------------------

SIGNAL_LABELS = {2: "Bullish", 1: "Lean bullish", 0: "Neutral", -1: "Lean bearish",
                 -2: "Bearish"}


@dataclasses.dataclass(frozen=True)
class Signal:
    """``score`` in −2..+2 = ``price_score`` (+1 above zero gamma, −1 below, 0 unknown/at) +
    ``flow_score`` (+1 P/C < pc_low, −1 P/C > pc_high, 0 between or unknown); ``label`` from
    :data:`SIGNAL_LABELS`; ``reasons`` one short phrase per component."""

    score: int
    label: str
    price_score: int
    flow_score: int
    reasons: tuple[str, str]


def signal(spot: float, zero_gamma: float | None, pc_volume: float | None, *,
           pc_low: float = PC_LOW, pc_high: float = PC_HIGH) -> Signal:
    """Price vs zero gamma plus put/call volume (see :class:`Signal`). A reading, not advice."""
    b = bias(spot, zero_gamma)
    price_score = {"above": 1, "below": -1}.get(b.state, 0)
    price_reason = {"above": "price above zero gamma", "below": "price below zero gamma",
                    "at": "price at zero gamma"}.get(b.state, "zero gamma not in range")
    if not _finite(pc_volume):
        flow_score, flow_reason = 0, "put/call volume undefined"
    elif pc_volume < pc_low:
        flow_score, flow_reason = 1, f"call-heavy flow (P/C {pc_volume:.2f} < {pc_low:g})"
    elif pc_volume > pc_high:
        flow_score, flow_reason = -1, f"put-heavy flow (P/C {pc_volume:.2f} > {pc_high:g})"
    else:
        flow_score, flow_reason = 0, f"balanced flow (P/C {pc_volume:.2f})"
    score = price_score + flow_score
    return Signal(score, SIGNAL_LABELS[score], price_score, flow_score, (price_reason, flow_reason))


# --- alerts, key strikes, expected range --------------------------------------------------------

def level_alerts(kl: levels.KeyLevels, within_pct: float = ALERT_PCT,
                 kinds: Sequence[str] = ALERT_LEVELS) -> list[levels.Alert]:
    """Levels of ``kl`` (fields named in ``kinds``) within ``within_pct`` % of ``kl.spot``,
    nearest first — :func:`core.analytics.levels.proximity_alerts`, the rule every page uses."""
    return levels.proximity_alerts(kl.spot, {k: getattr(kl, k) for k in kinds}, within_pct)


def key_strikes(kl: levels.KeyLevels, kinds: Sequence[str] = KEY_STRIKES) -> pd.DataFrame:
    """The key strikes of one expiry as a table, one row per defined level, in ``kinds`` order.

    Columns: ``kind`` (a KeyLevels field name), ``level`` (price units), ``distance_pct`` =
    (level − spot) / spot × 100 (positive above spot), ``side`` (``above``/``below``/``at``).
    """
    rows = []
    for kind in kinds:
        value = getattr(kl, kind)
        if not _finite(value):
            continue
        distance = (value - kl.spot) / kl.spot * 100.0
        side = "above" if value > kl.spot else "below" if value < kl.spot else "at"
        rows.append((kind, float(value), float(distance), side))
    return pd.DataFrame(rows, columns=["kind", "level", "distance_pct", "side"])


@dataclasses.dataclass(frozen=True)
class ExpectedRange:
    """spot ± ``move`` (1σ from ATM IV: S·σ·√T, T = time left to the expiry's close): ``low``,
    ``high`` and ``move_pct`` = move / spot × 100. All None when the IV move is undefined."""

    move: float | None
    move_pct: float | None
    low: float | None
    high: float | None


def expected_range(kl: levels.KeyLevels) -> ExpectedRange:
    """The 1σ range spot ± ``kl.one_sigma_iv`` (see :class:`ExpectedRange`)."""
    move = kl.one_sigma_iv
    if not _finite(move) or not kl.spot > 0:
        return ExpectedRange(None, None, None, None)
    return ExpectedRange(float(move), float(move / kl.spot * 100.0), float(kl.spot - move),
                         float(kl.spot + move))


# --- live refresh -------------------------------------------------------------------------------

def refresh_seconds(ttls: Iterable[float], *, market_open: bool,
                    closed_factor: float = CLOSED_FACTOR) -> float:
    """Interval between live refreshes: the longest fresh TTL of the data shown (a refresh sooner
    would only re-read the same cached values), × ``closed_factor`` while the market is not
    open. Seconds; at least 1."""
    longest = max([float(t) for t in ttls] or [1.0])
    return max(longest * (1.0 if market_open else closed_factor), 1.0)
