"""FINRA Reg SHO daily short-sale volume files (consolidated NMS, ``CNMSshvol<YYYYMMDD>.txt``).

Format (pipe-separated, one header line)::

    Date|Symbol|ShortVolume|ShortExemptVolume|TotalVolume|Market
    20261120|AAPL|10523300|41250|22841700|B,Q,N

Three steps, separately testable: :func:`url_for` (the request), :func:`download` (the only I/O,
bounded by a timeout), :func:`parse` (text -> DataFrame indexed by symbol). Short share =
ShortVolume / TotalVolume of that day. The file for a session is published in the evening, so
callers ask for the previous session's file.
"""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd

from core.errors import SymbolNotFound, Unavailable

BASE_URL = "https://cdn.finra.org/equity/regsho/daily/CNMSshvol{day:%Y%m%d}.txt"
COLUMNS = ["date", "symbol", "short_volume", "short_exempt_volume", "total_volume", "market"]


def url_for(day: dt.date) -> str:
    return BASE_URL.format(day=day)


def download(day: dt.date, timeout: float) -> str:
    """The raw file for ``day``; Unavailable on any network problem or a missing file."""
    import requests

    try:
        response = requests.get(url_for(day), timeout=timeout)
    except requests.RequestException as exc:
        raise Unavailable(f"FINRA short-volume file for {day} is unreachable.") from exc
    if response.status_code != 200:
        raise Unavailable(f"FINRA short-volume file for {day} is not available "
                          f"(HTTP {response.status_code}).")
    return response.text


def parse(text: str) -> pd.DataFrame:
    """Parse a Reg SHO daily file into a frame indexed by symbol (trailer and junk lines are
    skipped); volumes as floats, ``short_share`` = short / total."""
    frame = pd.read_csv(io.StringIO(text), sep="|", header=0, names=COLUMNS, dtype=str,
                        on_bad_lines="skip")
    for col in ("short_volume", "short_exempt_volume", "total_volume"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    frame = frame.dropna(subset=["symbol", "short_volume", "total_volume"])
    frame = frame[frame["total_volume"] > 0]
    frame["short_share"] = frame["short_volume"] / frame["total_volume"]
    return frame.set_index("symbol")[["date", "short_volume", "short_exempt_volume",
                                      "total_volume", "market", "short_share"]]


def lookup(table: pd.DataFrame, symbol: str) -> dict:
    """One symbol's row as a plain dict; FINRA lists indexes without the caret (none for ^SPX)."""
    key = symbol.lstrip("^")
    if key not in table.index:
        raise SymbolNotFound(f"{symbol} is not in the FINRA short-volume file.", symbol=symbol)
    row = table.loc[key]
    day = dt.datetime.strptime(str(row["date"]), "%Y%m%d").date()
    return {"symbol": symbol, "date": day, "short_volume": float(row["short_volume"]),
            "total_volume": float(row["total_volume"]), "short_share": float(row["short_share"]),
            "source": "finra"}
