"""core.providers.finra: Reg SHO daily file parsing (offline, recorded file) and the fetch door."""

from __future__ import annotations

import datetime as dt
import pathlib

import pytest

from core import fetch
from core.errors import SymbolNotFound, Unavailable
from core.providers import finra

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "finra"


def table():
    return finra.parse((FIXTURE / "CNMSshvol20261120.txt").read_text())


def test_url_names_the_day():
    assert finra.url_for(dt.date(2026, 11, 20)).endswith("/CNMSshvol20261120.txt")


def test_parse_reads_rows_and_skips_bad_ones():
    t = table()
    assert {"AAPL", "MSFT", "NVDA", "SPY", "A"} <= set(t.index)
    assert "ZERO" not in t.index and "BROKEN" not in t.index  # no volume / unparseable
    assert t.loc["AAPL", "short_share"] == pytest.approx(10523300 / 22841700)


def test_lookup_returns_plain_values_and_knows_missing_symbols():
    row = finra.lookup(table(), "AAPL")
    assert row["short_volume"] == 10523300 and row["source"] == "finra"
    with pytest.raises(SymbolNotFound):
        finra.lookup(table(), "ZZZZ")


def test_download_without_network_is_unavailable_fast():
    with pytest.raises(Unavailable):
        finra.download(dt.date(2026, 11, 20), timeout=2)


def test_fetch_short_volume_from_the_simulated_market_is_cached(upstream):
    first = fetch.short_volume("AAPL")
    assert 0.2 < first["short_share"] < 0.8 and fetch.short_volume("aapl") == first
    assert upstream.calls["short_volume"] == 1


def test_fetch_short_volume_is_none_when_no_source_answers(monkeypatch):
    class NoShortData:  # a live source whose FINRA download cannot happen offline
        name = "yahoo"

    fetch.reset(NoShortData())
    assert fetch.short_volume("AAPL") is None
def test_lookup_date_is_a_date():
    assert finra.lookup(table(), "MSFT")["date"] == dt.date(2026, 11, 20)
