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
import unicodedata

import pandas as pd

from core.errors import InvalidSymbol

DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / "data"
_SHAPE = re.compile(r"^\^?[A-Z][A-Z0-9]{0,5}([.\-][A-Z]{1,2})?$")
_ALIASES = {"SPX": "^SPX", "$SPX": "^SPX", "NDX": "^NDX", "$NDX": "^NDX", "RUT": "^RUT",
            "$RUT": "^RUT", "SPXW": "^SPX", "GSPC": "^SPX", "^GSPC": "^SPX"}
MAX_SYMBOL_LEN = 10
MAX_LIST_CHARS = 4096  # free text parsed as a symbol list (a link's ?wl=, a text box): cut first
SHOW_REJECTS = 5       # rejected entries named in the one message about them
_ECHO_LEN = 12         # characters of one rejected entry echoed back
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=])")

INDEXES_0DTE = ("SPY", "QQQ", "IWM", "^SPX", "^NDX", "^RUT")
MAG7 = ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA")
DEFAULT_WATCHLIST = ("AAPL MSFT GOOGL AMZN NVDA META TSLA AMD NFLX CRM PLTR COIN SNOW CRWD APP "
                     "SPY QQQ IWM DIA XOM JPM BAC GS V MA UNH JNJ PG WMT HD").split()


# --- text a user typed or linked: cleaned before it is parsed or echoed ------------------------

def clean_text(text: str) -> str:
    """``text`` without invisible format characters (Unicode category Cf: bidi overrides and
    isolates U+202A–U+202E / U+2066–U+2069, zero-width U+200B–U+200D, U+2060, BOM) and with
    control characters (Cc) turned into spaces: what is echoed reads as what was typed."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text
                   if unicodedata.category(ch) != "Cf")


def echo(text: object, limit: int = _ECHO_LEN) -> str:
    """A short, cleaned copy of user input for a message (``limit`` characters, then …).
    Still plain text: a UI rendering it as markdown passes it through :func:`md_escape`."""
    shown = clean_text(str(text)).strip()
    return shown if len(shown) <= limit else shown[:limit] + "…"


def md_escape(text: str) -> str:
    """``text`` with every markdown-significant ASCII character backslash-escaped (CommonMark
    allows escaping any ASCII punctuation), so Streamlit shows it literally: no link, image,
    emphasis, ``:color[...]`` directive, ``$`` maths or HTML comes from it."""
    return _MD_SPECIAL.sub(r"\\\1", clean_text(str(text)))


def split_list(text: str, limit: int = MAX_LIST_CHARS) -> tuple[list[str], bool]:
    """Entries of free text (commas, semicolons, spaces or new lines), parsed from at most
    ``limit`` characters. Returns ``(entries, cut)``; ``cut`` says the text was longer."""
    cut = len(text) > limit
    text = clean_text(text[:limit])
    for sep in ",;":
        text = text.replace(sep, " ")
    return text.split(), cut


def validate(text: object) -> str:
    """Normalise a user-typed symbol or raise InvalidSymbol (no I/O, no cache). Invisible
    format characters (zero-width, bidi) are dropped first; the message echoes at most a few
    cleaned characters of the input."""
    if not isinstance(text, str):
        raise InvalidSymbol("A symbol must be text, like AAPL or ^SPX.")
    raw = clean_text(text[:4 * MAX_SYMBOL_LEN] if len(text) > 64 else text).strip().upper()
    if not raw:
        raise InvalidSymbol("Enter a symbol, like AAPL or ^SPX.")
    if len(raw) > MAX_SYMBOL_LEN:
        raise InvalidSymbol(f"'{raw[:MAX_SYMBOL_LEN]}…' is too long to be a ticker symbol.")
    sym = _ALIASES.get(raw, raw)
    if not _SHAPE.match(sym):
        raise InvalidSymbol(f"'{raw}' is not a valid ticker symbol (letters, digits, one . or -).",
                            symbol=None)
    return sym


def rejects_note(first: list[str], n: int | None = None) -> str:
    """ONE message for the ``n`` entries (default ``len(first)``) that were not symbols, naming
    the first :data:`SHOW_REJECTS`: ``12 entries were not symbols; first 5: 'A!', …``. Entries
    are echoed cleaned and shortened (:func:`echo`)."""
    n = len(first) if n is None else n
    first = first[:SHOW_REJECTS]
    shown = ", ".join(f"'{echo(r)}'" for r in first)
    rule = f"(letters, digits, one . or -; at most {MAX_SYMBOL_LEN} characters)"
    if n == 1:
        return f"1 entry was not a symbol: {shown} {rule}."
    head = f"{n:,} entries were not symbols" + (f"; first {len(first)}" if n > len(first) else "")
    return f"{head}: {shown} {rule}."


def validate_many(texts, *, cap: int, what: str = "list") -> tuple[list[str], list[str]]:
    """Validate a list: ``(valid unique symbols in order, capped; at most two messages: one for
    every reject (:func:`rejects_note`), one naming what the cap dropped)``. ``what`` names the
    list in that message. Stops looking once ``cap`` symbols are found and enough rejects are
    known to write the message, so a huge list costs little more than its first entries."""
    good: list[str] = []
    rejected: list[str] = []
    n_rejected = dropped = 0
    extra: list[str] = []
    for text in texts:
        try:
            sym = validate(text)
        except InvalidSymbol:
            n_rejected += 1
            if len(rejected) < SHOW_REJECTS:
                rejected.append(str(text))
            continue
        if sym in good or sym in extra:
            continue
        if len(good) < cap:
            good.append(sym)
        else:
            dropped += 1
            if len(extra) < SHOW_REJECTS:
                extra.append(sym)
    notes = [rejects_note(rejected, n_rejected)] if n_rejected else []
    if dropped:
        names = ", ".join(extra) + (f" and {dropped - len(extra):,} more"
                                    if dropped > len(extra) else "")
        notes.append(f"The {what} holds at most {cap} symbols: dropped {names}.")
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
