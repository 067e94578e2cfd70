"""The st.cache_data variant of the fetch layer (benchmark only; the product has one cache).

What the usual "fix" for an unbounded Streamlit dashboard looks like: every data function
wrapped in ``@st.cache_data(ttl=..., max_entries=...)`` that calls the data source directly.
:func:`install` puts such wrappers in place of ``core.fetch.quote / expirations / chain /
history / key_levels / derived``; the pages, which call ``fetch.<name>`` at run time, then run
unchanged on them. ``chains()``, ``quotes()`` and ``scan()`` call those module functions, so
they ride on the variant too.

Same inputs and outputs as core.fetch (validation, strike cap, NoExpiry, greeks at fetch time),
same TTLs and entry caps as our caches (``core.fetch._build``), except:

* no byte budget (st.cache_data bounds entries per function and age only);
* no single-flight (N concurrent misses on a key make N provider calls) and no
  stale-while-revalidate (the session that finds an expired entry waits for the reload);
* one chain TTL (the near-term 60 s) for every expiry: st.cache_data has one ttl per function;
* every hit unpickles a fresh copy of the value (st.cache_data's contract), and ``derived``
  hashes its source chains (DataFrames) on every call to build its key; ``_fn`` is not hashed
  (leading underscore), the key is ``name`` + sources + params as in ours.

``CALLS`` counts the calls that reached the provider (per method), for the upstream bench.
"""

from __future__ import annotations

import collections
import threading

import streamlit as st

from core import clock, config, fetch, symbols
from core.errors import NoExpiry
from core.providers import make_provider

CALLS: collections.Counter = collections.Counter()
_calls_lock = threading.Lock()
ORIGINAL = {name: getattr(fetch, name) for name in
            ("quote", "expirations", "chain", "history", "key_levels", "derived")}


def build(provider=None) -> dict:
    """The six variant functions (fresh st.cache_data caches), keyed like ``core.fetch``'s."""
    s = config.settings()
    if provider is None:
        provider, _ = make_provider(s.provider)

    def upstream(method: str, *args):
        with _calls_lock:
            CALLS[method] += 1
        return getattr(provider, method)(*args)

    chain_entries = 4 * s.max_watchlist * 2 + 16 * s.max_expiries  # as core.fetch._build

    @st.cache_data(ttl=s.ttl_quote, max_entries=512, show_spinner=False)
    def _quote(sym):
        return upstream("quote", sym)

    @st.cache_data(ttl=s.ttl_expirations, max_entries=256, show_spinner=False)
    def _expirations(sym):
        return tuple(upstream("expirations", sym))

    @st.cache_data(ttl=s.ttl_chain_near, max_entries=chain_entries, show_spinner=False)
    def _chain(sym, expiry, n):
        full = fetch.with_greeks(upstream("chain", sym, expiry), s.risk_free)
        return fetch.cap_strikes(full, n)

    @st.cache_data(ttl=s.ttl_history, max_entries=256, show_spinner=False)
    def _history(sym, period, interval):
        return upstream("history", sym, period, interval)

    @st.cache_data(ttl=s.ttl_chain_far * s.stale_factor, max_entries=1024, show_spinner=False)
    def _derived(name, _fn, sources, params):
        return _fn(*sources, **dict(params))

    def quote(symbol):
        return _quote(symbols.validate(symbol))

    def expirations(symbol):
        now = clock.now()
        return [e for e in _expirations(symbols.validate(symbol)) if clock.expiry_close(e) > now]

    def chain(symbol, expiry, strikes=None):
        sym = symbols.validate(symbol)
        expiry = fetch._as_date(expiry)
        listed = expirations(sym)
        if expiry not in listed:
            later = [e for e in listed if e > expiry]
            raise NoExpiry(f"{sym} has no expiry on {expiry:%a %d %b %Y}"
                           + (f"; the next is {later[0]:%a %d %b}." if later else "."),
                           symbol=sym, next_expiry=later[0] if later else None)
        return _chain(sym, expiry, s.strikes(strikes))

    def history(symbol, period="1mo", interval="1d"):
        return _history(symbols.validate(symbol), period, interval)

    def derived(name, fn, *sources, **params):
        return _derived(name, fn, sources, tuple(sorted(params.items())))

    def key_levels(symbol, expiry):
        return derived("key_levels", fetch._key_levels,
                       chain(symbol, expiry, strikes=s.max_strikes_hard))

    return {"quote": quote, "expirations": expirations, "chain": chain, "history": history,
            "derived": derived, "key_levels": key_levels}


def install(provider=None) -> None:
    """Replace core.fetch's public data functions with the st.cache_data wrappers."""
    for name, fn in build(provider).items():
        setattr(fetch, name, fn)


def uninstall() -> None:
    for name, fn in ORIGINAL.items():
        setattr(fetch, name, fn)
