"""Hand-made canonical chain frames for analytics tests.

    from tests.analytics.chains import make_chain
    frame = make_chain([{"type": "call", "strike": 100, "open_interest": 500},
                        {"type": "put", "strike": 95, "volume": 40}], spot=100.0)

Each row dict needs ``type`` and ``strike``; any other column of ``core.schema.CHAIN_COLUMNS``
may be given and wins over the default. Defaults: ``iv`` 0.20, ``volume``/``open_interest`` 0,
``last`` = the BSM price at (spot, T, r, q, iv), ``bid``/``ask`` = last ∓ 1 % (so mid = last),
``in_the_money`` from spot, ``last_trade`` NaT. The frame goes through ``normalise_chain`` (as a
provider's would: mid and ``iv_ok`` recomputed, rows sorted by type then strike) and then gets
greeks via ``greeks.with_greeks`` (as the fetch layer's would). Given ``iv_ok`` or greek values are
applied last, so a test can e.g. put a large gamma on an ``iv_ok=False`` row. Note that
``normalise_chain`` reads a whole IV column whose median is > 5 as percent: an absurd IV alone in
a one-row chain becomes a decimal; give ``iv_ok=False`` explicitly there.
For several expiries, ``pd.concat([make_chain(..., expiry=e1, T=t1), make_chain(..., expiry=e2,
T=t2)], ignore_index=True)``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from core.analytics import greeks
from core.schema import CHAIN_COLUMNS, GREEK_COLUMNS, normalise_chain

EXPIRY = dt.date(2026, 1, 16)
_LATE = ["iv_ok", *GREEK_COLUMNS]  # applied after normalisation / greeks


def make_chain(rows: list[dict], expiry: dt.date = EXPIRY, *, spot: float = 100.0,
               T: float = 30 / 365, r: float = 0.0, q: float = 0.0) -> pd.DataFrame:
    """A canonical chain frame (columns ``CHAIN_COLUMNS``) for one expiry from row dicts."""
    raw = []
    late, mids = {}, {}
    for i, row in enumerate(rows):
        unknown = set(row) - set(CHAIN_COLUMNS)
        if unknown:
            raise KeyError(f"not chain columns: {sorted(unknown)}")
        kind, strike = str(row["type"]), float(row["strike"])
        iv = row.get("iv", 0.20)
        model = float(greeks.price(spot, strike, T, r, q, iv, kind == "call"))
        last = row.get("last", model if np.isfinite(model) else 0.0)
        contract = row.get("contract", f"T{kind[0].upper()}{strike:g}#{i}")
        raw.append({
            "contract": contract, "type": kind, "strike": strike,
            "expiry": row.get("expiry", expiry),
            "bid": row.get("bid", last * 0.99), "ask": row.get("ask", last * 1.01), "last": last,
            "volume": row.get("volume", 0), "open_interest": row.get("open_interest", 0), "iv": iv,
            "in_the_money": row.get("in_the_money",
                                    strike < spot if kind == "call" else strike > spot),
            "last_trade": row.get("last_trade", pd.NaT),
        })
        late[contract] = {k: row[k] for k in _LATE if k in row}
        mids[contract] = {"mid": row["mid"]} if "mid" in row else {}
    frame = normalise_chain(pd.DataFrame(raw, columns=[c for c in CHAIN_COLUMNS if c not in _LATE]))
    frame = _override(frame, mids, ["mid"])  # a given mid wins
    frame = greeks.with_greeks(frame, spot, T, r, q)
    return _override(frame, late, _LATE)[CHAIN_COLUMNS]


def _override(frame: pd.DataFrame, given: dict[str, dict], columns: list[str]) -> pd.DataFrame:
    """Replace ``columns`` values on rows (by contract) whose dict in ``given`` names them."""
    frame = frame.copy()
    for column in columns:
        if any(column in v for v in given.values()):
            values = [given.get(c, {}).get(column, old)
                      for c, old in zip(frame["contract"], frame[column])]
            frame[column] = pd.Series(values, index=frame.index, dtype=frame[column].dtype)
    return frame
