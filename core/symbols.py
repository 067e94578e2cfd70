"""Symbol validation and the universe (``data/universe.csv``).

:func:`validate` is the gate every user-typed symbol passes before it can touch a cache or a
provider: it normalises (strip, upper-case, ``$SPX`` / ``SPX`` index aliases) and raises
:class:`~core.errors.InvalidSymbol` for anything that is not ticker-shaped. It checks shape only;
whether the symbol exists is the provider's answer (``SymbolNotFound``).
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import re

import pandas as pd

from core.errors import InvalidSymbol

DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / "data"
_SHAPE = re.compile(r"^\^?[A-Z][A-Z0-9]{0,5}([.\-][A-Z]{1,2})?$")
_ALIASES = {"SPX": "^SPX", "$SPX": "^SPX", "NDX": "^NDX", "$NDX": "^NDX", "RUT": "^RUT",
            "$RUT": "^RUT", "SPXW": "^SPX", "GSPC": "^SPX", "^GSPC": "^SPX"}
MAX_SYMBOL_LEN = 10

INDEXES_0DTE = ("SPY", "QQQ", "IWM", "^SPX", "^NDX", "^RUT")
MAG7 = ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA")
DEFAULT_WATCHLIST = ("AAPL MSFT GOOGL AMZN NVDA META TSLA AMD NFLX CRM PLTR COIN SNOW CRWD APP "
                     "SPY QQQ IWM DIA XOM JPM BAC GS V MA UNH JNJ PG WMT HD").split()


def validate(text: object) -> str:
    """Normalise a user-typed symbol or raise InvalidSymbol (no I/O, no cache)."""
    if not isinstance(text, str):
        raise InvalidSymbol("A symbol must be text, like AAPL or ^SPX.")
    raw = text.strip().upper()
    if not raw:
        raise InvalidSymbol("Enter a symbol, like AAPL or ^SPX.")
    if len(raw) > MAX_SYMBOL_LEN:
        raise InvalidSymbol(f"'{raw[:MAX_SYMBOL_LEN]}…' is too long to be a ticker symbol.")
    sym = _ALIASES.get(raw, raw)
    if not _SHAPE.match(sym):
        raise InvalidSymbol(f"'{raw}' is not a valid ticker symbol (letters, digits, one . or -).",
                            symbol=None)
    return sym


def validate_many(texts, *, cap: int, what: str = "list") -> tuple[list[str], list[str]]:
    """Validate a list: ``(valid unique symbols in order, capped; messages for rejects and for
    the symbols the cap dropped)``. ``what`` names the list in that message."""
    good, notes = [], []
    for text in texts:
        try:
            sym = validate(text)
        except InvalidSymbol as exc:
            notes.append(str(exc))
            continue
        if sym not in good:
            good.append(sym)
    if len(good) > cap:
        notes.append(f"The {what} holds at most {cap} symbols: dropped {', '.join(good[cap:])}.")
        good = good[:cap]
    return good, notes


@dataclasses.dataclass(frozen=True)
class Listing:
    """One row of the universe: simulation parameters and the flags pages use."""

    symbol: str
    name: str
    kind: str            # index | etf | stock
    price: float         # simulation base price
    vol: float           # simulation ATM implied vol (decimal)
    div_yield: float     # continuous dividend yield (decimal)
    expiries: str        # daily | weekly | monthly (listing style)
    avg_volume: float    # typical shares per day (0 for cash indexes)
    groups: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def universe() -> dict[str, Listing]:
    frame = pd.read_csv(DATA_DIR / "universe.csv", keep_default_na=False)
    out = {}
    for row in frame.itertuples(index=False):
        out[row.symbol] = Listing(row.symbol, row.name, row.kind, float(row.price), float(row.vol),
                                  float(row.div_yield), row.expiries, float(row.avg_volume),
                                  tuple(str(row.groups).split()))
    return out


def listing(symbol: str) -> Listing | None:
    return universe().get(symbol)


def group(name: str) -> list[str]:
    """Symbols tagged ``name`` in the universe (``tech``, ``value``, ``mag7``, ``index``)."""
    return [s for s, item in universe().items() if name in item.groups]


def dividend_yield(symbol: str) -> float:
    item = listing(symbol)
    return item.div_yield if item else 0.0


# --- option contract symbols (OCC) -------------------------------------------------------------

# root + YYMMDD + C/P + strike x 1000 on 8 digits: SPXW261120C06700000, TSLA1261120P00250000
OCC_PATTERN = re.compile(
    r"^(?P<root>[A-Z][A-Z0-9]*?)(?P<date>\d{6})(?P<kind>[CP])(?P<strike>\d{8})$")

# Index option roots listed on the same monthly dates: AM-settled (last trade the day before,
# settled on the expiry morning's opening prints) -> PM-settled (trades through the close).
PM_SETTLED_ROOT = {"SPX": "SPXW", "NDX": "NDXP", "RUT": "RUTW"}
AM_SETTLED_ROOTS = frozenset(PM_SETTLED_ROOT)


def contract_root(contracts: pd.Series) -> pd.Series:
    """OCC contract symbol -> its root: ``SPXW261120C06700000`` -> ``SPXW`` (NaN if unparsable).
    Roots may hold digits (adjusted contracts such as ``TSLA1``)."""
    return contracts.astype(str).str.extract(OCC_PATTERN)["root"]


def contract_expiry(contracts: pd.Series) -> pd.Series:
    """OCC contract symbol -> expiry date (NaT if unparsable)."""
    dates = contracts.astype(str).str.extract(OCC_PATTERN)["date"]
    return pd.to_datetime(dates, format="%y%m%d", errors="coerce").dt.date


def is_adjusted_root(roots: pd.Series) -> pd.Series:
    """True for the roots of adjusted contracts (after a split, merger or special dividend OCC
    gives the old contracts a new root with a digit: ``AMD1``, ``TSLA1``): their deliverable is
    not 100 shares, so their prices and OI must not be summed with standard contracts."""
    return roots.astype(str).str.contains(r"\d$", regex=True) & roots.notna()
