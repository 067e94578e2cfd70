"""History-based numbers: OI change, IV rank / percentile, level history, what changed.

Pure functions on what the recorder wrote (:mod:`core.recorder`), read through the fetch layer:

- *levels rows*: one row per recorded snapshot x expiry — ``snapshot`` (tz-aware), ``session``
  (date), ``expiry`` (date), ``t_years`` (years from the chain's ``as_of`` to the expiry's
  close), ``price`` (the underlying), and every :class:`~core.analytics.levels.KeyLevels` field;
- *OI frames*: ``contract``, ``type``, ``strike``, ``expiry``, ``open_interest`` of one snapshot.

Units: strikes and levels in the underlying's currency; OI in contracts; IV a decimal (0.25 =
25 %), IV changes in vol points where said; T in years of 365 days.

OI change. Open interest published on session D is the count at the close of D−1, so the OI
recorded during the previous session is one close older: ``ΔOI = OI now − OI recorded in the
previous session`` is the net number of contracts opened during the last completed session
(+ opened, − closed). A contract not recorded then (newly listed) counts from 0 and is marked
``new``. Without today's OI (pre-market, ``open_interest`` all 0) there is no ΔOI.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd

from core import clock, schema

CONTRACT_MULTIPLIER = 100
FULL_YEAR_SESSIONS = 252  # IV rank is "of the past year" once this much history exists
LEVEL_SESSIONS = 10
FRESH_BAND = 0.10          # fresh positioning: strikes within ±10 % of spot
FRESH_MIN_CHANGE = 100     # contracts opened at least...
FRESH_MIN_SHARE = 0.25     # ...and at least 25 % of the OI recorded before
OI_KEYS = ["contract", "type", "strike", "expiry"]


# --- open interest -----------------------------------------------------------------------------

def oi_published(frame: pd.DataFrame) -> bool:
    """True when the frame's open interest is published (:func:`core.schema.oi_published`:
    enough contracts > 0; Yahoo sends 0 before OCC's morning file, with a few strays). Levels
    that need OI must not be computed on those zeros."""
    return schema.oi_published(frame)


def oi_change(current: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Per contract of ``current`` whose expiry was recorded in ``previous``: ``prev_oi``
    (recorded then; 0 for a contract listed since), ``oi_change`` = open_interest − prev_oi,
    ``new`` (not recorded then). Contracts of an expiry that was not recorded at all are left
    out: their change is unknown, not "all new". Keeps ``mid`` and ``volume`` when ``current``
    has them. Raises ValueError when ``current`` has no published OI (ΔOI would be −prev_oi
    everywhere)."""
    if not oi_published(current):
        raise ValueError("today's open interest is not published: no OI change yet")
    keep = [c for c in OI_KEYS + ["open_interest", "mid", "volume"] if c in current.columns]
    prev = previous[["contract", "open_interest"]].rename(columns={"open_interest": "prev_oi"})
    known = current["expiry"].isin(set(previous["expiry"]))
    out = current.loc[known, keep].merge(prev.drop_duplicates("contract"), on="contract",
                                         how="left")
    out["new"] = out["prev_oi"].isna()
    out["prev_oi"] = out["prev_oi"].fillna(0).astype("int64")
    out["oi_change"] = out["open_interest"].astype("int64") - out["prev_oi"]
    return out


def oi_change_grid(changes: pd.DataFrame, side: str = "all") -> pd.DataFrame:
    """ΔOI summed per strike (rows, ascending) x expiry (columns, ascending) for ``side`` in
    ``all`` (calls + puts), ``call``, ``put``; 0 where a strike is not listed for an expiry."""
    if side not in ("all", "call", "put"):
        raise ValueError("side must be all, call or put")
    rows = changes if side == "all" else changes[changes["type"] == side]
    grid = rows.pivot_table(index="strike", columns="expiry", values="oi_change",
                            aggfunc="sum", fill_value=0)
    return grid.sort_index().sort_index(axis=1).astype("int64")


def fresh_from_oi(changes: pd.DataFrame, spot: float, *, today: dt.date | None = None,
                  band: float = FRESH_BAND, min_change: int = FRESH_MIN_CHANGE,
                  min_share: float = FRESH_MIN_SHARE) -> pd.DataFrame:
    """Fresh positioning from real ΔOI: contracts with strike within ±``band`` of ``spot``
    whose OI rose by ≥ ``min_change`` contracts and ≥ ``min_share`` × the OI recorded before
    (0DTE excluded when ``today`` is given). ``new_premium`` = ΔOI × mid × 100 ($ of premium
    newly held, at today's mid); ``fresh_score`` = new_premium / 1000. Sorted by score."""
    near = (changes["strike"] - spot).abs() <= band * spot
    grew = (changes["oi_change"] >= min_change) \
        & (changes["oi_change"] >= min_share * changes["prev_oi"])
    keep = near & grew
    if today is not None:
        keep &= changes["expiry"] != today
    out = changes[keep].copy()
    mid = out["mid"] if "mid" in out.columns else pd.Series(np.nan, index=out.index)
    out["new_premium"] = out["oi_change"] * mid * CONTRACT_MULTIPLIER
    out["fresh_score"] = out["new_premium"] / 1000.0
    return out.sort_values(["fresh_score", "oi_change"], ascending=False,
                           kind="stable").reset_index(drop=True)


def fill_oi(current: pd.DataFrame, recorded: pd.DataFrame) -> pd.DataFrame:
    """``current`` with ``open_interest`` replaced by the recorded one (by contract; 0 for a
    contract not recorded). For the pre-market, when today's OI is not published yet."""
    oi = recorded.drop_duplicates("contract").set_index("contract")["open_interest"]
    filled = current["contract"].map(oi).fillna(0).astype("int64")
    return current.assign(open_interest=filled.to_numpy())


# --- implied volatility history ----------------------------------------------------------------

def tenor_iv(rows: pd.DataFrame, tenor_days: float = 30.0) -> float | None:
    """Constant-maturity ATM IV at ``tenor_days`` from ONE snapshot's rows (``t_years``,
    ``atm_iv``, one per expiry): total variance w = σ²T interpolated linearly in T between the
    expiries bracketing τ = tenor/365, σ = √(w/τ). Outside the recorded range the nearest
    expiry's IV is used (flat). None without any usable IV."""
    ok = rows[["t_years", "atm_iv"]].dropna()
    ok = ok[(ok["atm_iv"] > 0) & (ok["t_years"] > 0)].sort_values("t_years")
    if ok.empty:
        return None
    t = ok["t_years"].to_numpy(dtype=float)
    iv = ok["atm_iv"].to_numpy(dtype=float)
    tau = tenor_days / 365.0
    if tau <= t[0]:
        return float(iv[0])
    if tau >= t[-1]:
        return float(iv[-1])
    w = np.interp(tau, t, iv**2 * t)
    return float(math.sqrt(w / tau))


def iv_series(levels_rows: pd.DataFrame, tenor_days: float = 30.0) -> pd.DataFrame:
    """One row per recorded session: its last snapshot's ``tenor_days`` ATM IV (``iv``), with
    ``snapshot``. Sessions whose IV cannot be computed are left out. Sorted by session."""
    out = []
    for session, day in levels_rows.groupby("session", sort=True):
        last = day[day["snapshot"] == day["snapshot"].max()]
        iv = tenor_iv(last, tenor_days)
        if iv is not None:
            out.append({"session": session, "snapshot": last["snapshot"].iloc[0], "iv": iv})
    return pd.DataFrame(out, columns=["session", "snapshot", "iv"])


@dataclasses.dataclass(frozen=True)
class IVRank:
    """Where today's IV stands in its own history.

    ``rank`` = 100 × (current − low) / (high − low), low/high over the past sessions and the
    current value; ``percentile`` = 100 × share of past sessions with IV below the current;
    ``days`` = past sessions used (at most a year); ``full_year`` once 252 exist. Both None with
    fewer than one past session (or a flat history, for the rank)."""

    current: float | None
    rank: float | None
    percentile: float | None
    low: float | None
    high: float | None
    days: int
    full_year: bool


def iv_rank(past: pd.Series | list, current: float | None) -> IVRank:
    """IV rank and percentile of ``current`` against ``past`` (one IV per past session, oldest
    first; the last :data:`FULL_YEAR_SESSIONS` are used)."""
    values = pd.Series(past, dtype="float64").dropna().to_numpy()[-FULL_YEAR_SESSIONS:]
    n = len(values)
    if current is None or not n:
        return IVRank(current, None, None, None, None, n, False)
    lo, hi = min(values.min(), current), max(values.max(), current)
    rank = None if hi == lo else 100.0 * (current - lo) / (hi - lo)
    pct = 100.0 * float((values < current).sum()) / n
    return IVRank(current, rank, pct, float(lo), float(hi), n, n >= FULL_YEAR_SESSIONS)


# --- level history -----------------------------------------------------------------------------

LEVEL_FIELDS = ("call_wall_oi", "put_wall_oi", "zero_gamma", "max_pain", "atm_iv")


def front_rows(rows: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """The rows of the nearest expiry on or after ``day`` (the front month of that session)."""
    live = rows[rows["expiry"] >= day]
    return live[live["expiry"] == live["expiry"].min()] if len(live) else live


def level_history(levels_rows: pd.DataFrame, sessions: int = LEVEL_SESSIONS) -> pd.DataFrame:
    """The last ``sessions`` recorded sessions, one row each, from the front expiry's levels at
    the session's first snapshot (``open``) and the underlying at its last one (``close``):

    - ``open``, ``close``, ``high``, ``low`` (underlying, over the recorded snapshots);
    - ``call_wall_oi``, ``put_wall_oi``, ``zero_gamma``, ``max_pain``, ``atm_iv`` at the open;
    - ``expected_move`` = open × ATM IV × √T, T from the first snapshot to the session's close
      (the 1σ move left in that session); ``inside`` = |close − open| ≤ expected_move;
    - ``call_wall_held`` = close ≤ call wall (when the wall was above the open), ``put_wall_held``
      = close ≥ put wall (when below); None when the wall was not on that side or missing.
    """
    out = []
    days = sorted(levels_rows["session"].unique())[-sessions:]
    for day in days:
        rows = levels_rows[levels_rows["session"] == day]
        snaps = rows.groupby("snapshot")["price"].first().sort_index()
        first = rows[rows["snapshot"] == snaps.index[0]]
        front = front_rows(first, day)
        if front.empty:
            continue
        lv = front.iloc[0]
        at = pd.Timestamp(snaps.index[0]).to_pydatetime()
        t_left = clock.time_to_expiry(day, at) if clock.is_session(day) else float("nan")
        em = lv["price"] * lv["atm_iv"] * math.sqrt(t_left) \
            if pd.notna(lv["atm_iv"]) and t_left == t_left else None
        o, c = float(snaps.iloc[0]), float(snaps.iloc[-1])
        cw, pw = _num(lv["call_wall_oi"]), _num(lv["put_wall_oi"])
        out.append({
            "session": day, "expiry": lv["expiry"], "open": o, "close": c,
            "high": float(snaps.max()), "low": float(snaps.min()),
            **{f: _num(lv[f]) for f in LEVEL_FIELDS},
            "expected_move": em,
            "inside": None if em is None else bool(abs(c - o) <= em),
            "call_wall_held": None if cw is None or cw <= o else bool(c <= cw),
            "put_wall_held": None if pw is None or pw >= o else bool(c >= pw),
            "snapshots": len(snaps),
        })
    return pd.DataFrame(out)


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) or pd.isna(v) \
        else float(v)


@dataclasses.dataclass(frozen=True)
class LevelStats:
    """How often the levels held over ``sessions``: ``inside`` of ``inside_of`` sessions closed
    within the expected move; ``call_held`` of ``call_of`` sessions closed at or below a call
    wall above the open; ``put_held`` of ``put_of`` at or above a put wall below it."""

    sessions: int
    inside: int
    inside_of: int
    call_held: int
    call_of: int
    put_held: int
    put_of: int


def level_stats(table: pd.DataFrame) -> LevelStats:
    def count(col):
        if table.empty:
            return 0, 0
        known = table[col].dropna()
        return int(known.astype(bool).sum()), int(len(known))

    (i, io), (c, co), (p, po) = count("inside"), count("call_wall_held"), count("put_wall_held")
    return LevelStats(len(table), i, io, c, co, p, po)


# --- what changed ------------------------------------------------------------------------------

CHANGE_FIELDS = ("price", "atm_iv", "call_wall_oi", "put_wall_oi", "zero_gamma", "max_pain")


def snapshot_levels(rows: pd.DataFrame, which: str = "last", expiry: dt.date | None = None
                    ) -> dict | None:
    """One snapshot's levels as a dict (``snapshot``, ``expiry`` + :data:`CHANGE_FIELDS`):
    the first or last snapshot of ``rows``, for ``expiry`` when recorded, else the front
    expiry of that snapshot's session. None when ``rows`` is empty."""
    if rows.empty:
        return None
    t = rows["snapshot"].min() if which == "first" else rows["snapshot"].max()
    snap = rows[rows["snapshot"] == t]
    same = snap[snap["expiry"] == expiry] if expiry is not None else snap.iloc[0:0]
    pick = same if len(same) else front_rows(snap, snap["session"].iloc[0])
    if pick.empty:
        return None
    lv = pick.iloc[0]
    return {"snapshot": t, "expiry": lv["expiry"], **{f: _num(lv[f]) for f in CHANGE_FIELDS}}


def what_changed(now: dict, then: dict | None) -> dict:
    """Per field of :data:`CHANGE_FIELDS`: ``(now, then, change)``; change is now − then (IV
    in vol points ×100, price also in %: key ``price_pct``). None where either side is missing."""
    out = {}
    for f in CHANGE_FIELDS:
        a = now.get(f)
        b = None if then is None else then.get(f)
        d = None if a is None or b is None else a - b
        if f == "atm_iv" and d is not None:
            d *= 100.0
        out[f] = (a, b, d)
    a, b, _ = out["price"]
    out["price_pct"] = None if a is None or not b else 100.0 * (a - b) / b
    return out
