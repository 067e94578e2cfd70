"""core.codec: chains, quotes and key levels survive Arrow exactly (dtypes, time zones, flags)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pandas.testing as pdt
import pytest

from core import clock, codec, fetch
from core.schema import Chain, empty_chain_frame


def _real_chains():
    """Real frames of the simulated market through the fetch layer (greeks included)."""
    out = []
    for sym in ("SPY", "^SPX", "AAPL"):
        for e in fetch.expirations(sym)[:2]:
            out.append(fetch.chain(sym, e, strikes=fetch.settings().max_strikes_hard))
    return out


def _assert_same_chain(a: Chain, b: Chain) -> None:
    for f in dataclasses.fields(Chain):
        if f.name == "frame":
            continue
        assert getattr(a, f.name) == getattr(b, f.name), f.name
        assert type(getattr(a, f.name)) is type(getattr(b, f.name)), f.name
    pdt.assert_frame_equal(a.frame, b.frame, check_exact=True)
    assert list(a.frame.dtypes.astype(str)) == list(b.frame.dtypes.astype(str))


def test_chain_round_trip_keeps_every_field_dtype_and_timezone():
    for c in _real_chains():
        back = codec.table_to_chain(codec.chain_to_table(c))
        _assert_same_chain(c, back)
        assert back.as_of.tzinfo == c.as_of.tzinfo  # ET zone kept, not just the offset
        assert str(back.frame["last_trade"].dtype) == "datetime64[ns, UTC]"
        assert isinstance(back.frame["expiry"].iloc[0], dt.date)
        assert back.quote == c.quote and back.quote.as_of.tzinfo == c.quote.as_of.tzinfo


def test_several_chains_in_one_table_slice_back_in_order():
    chains = _real_chains()
    back = codec.table_to_chains(codec.chains_to_table(chains, snapshot=clock.now()))
    assert len(back) == len(chains)
    for a, b in zip(chains, back):
        _assert_same_chain(a, b)


def test_ipc_round_trip_and_flags_exact():
    c = _real_chains()[0]
    c = dataclasses.replace(c, flags=frozenset({"b_flag", "a_flag", "oi_prior_close"}),
                            stale=True)
    back = codec.ipc_to_chain(codec.chain_to_ipc(c))
    assert back.flags == c.flags and isinstance(back.flags, frozenset)
    assert back.stale is True
    raw = codec.fields_of(c)["flags"]
    assert raw == {"$t": "frozenset", "v": ["a_flag", "b_flag", "oi_prior_close"]}  # sorted


def test_empty_chain_and_added_columns_round_trip():
    """A column the schema gains (e.g. ``vendor_iv``, a str ``iv_source``) is recorded with
    its dtype without any change to the codec."""
    c = _real_chains()[0]
    frame = c.frame.assign(vendor_iv=c.frame["iv"] * 1.01, iv_source="mid",
                           quote_time=pd.Timestamp("2026-11-20 16:00", tz="UTC"))
    wide = dataclasses.replace(c, frame=frame)
    _assert_same_chain(wide, codec.table_to_chain(codec.chain_to_table(wide)))
    empty = dataclasses.replace(c, frame=empty_chain_frame())
    _assert_same_chain(empty, codec.table_to_chain(codec.chain_to_table(empty)))


def test_values_json_safe_and_back():
    values = [None, True, 3, 2.5, float("nan"), float("inf"), "x", dt.date(2026, 11, 20),
              dt.datetime(2026, 11, 20, 11, 30, tzinfo=clock.ET),
              dt.datetime(2026, 11, 20, 16, 30, tzinfo=dt.timezone.utc), (1, 2), [1, "a"],
              {"k": dt.date(2026, 1, 2)}]
    for v in values:
        back = codec.loads(codec.dumps(v))
        if isinstance(v, float) and v != v:
            assert back != back
        else:
            assert back == v and type(back) is type(v)


def test_key_levels_row_round_trip_keeps_none():
    e = fetch.expirations("SPY")[0]
    kl = fetch.key_levels("SPY", e)
    kl = dataclasses.replace(kl, zero_gamma=None)
    assert codec.row_to_levels(codec.levels_to_row(kl)) == kl
    row = codec.levels_to_row(kl)
    row["zero_gamma"] = float("nan")  # what a null float column reads back as
    assert codec.row_to_levels(row).zero_gamma is None
    assert codec.loads(codec.dumps(kl)) == kl


def test_unknown_type_is_refused():
    with pytest.raises(TypeError):
        codec.encode(object())
