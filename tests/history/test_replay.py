"""The replay provider serves exactly what was recorded, at each time, through the fetch layer."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas.testing as pdt
import pytest

from core import clock, config, fetch
from core.errors import NoExpiry, SymbolNotFound
from core.providers import make_provider
from core.providers.replay import ReplayProvider
from core.recorder import Recorder, Store

TIMES = ["2026-11-19 10:00", "2026-11-19 15:30", "2026-11-20 09:30", "2026-11-20 11:30"]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    store = Store(root)
    recorded = {}
    for at in TIMES:
        with clock.frozen(at):
            fetch.reset()
            Recorder(store, ["SPY", "AAPL"], expiries=2).record()
            hard = fetch.settings().max_strikes_hard
            recorded[at] = {sym: {e: fetch.chain(sym, e, strikes=hard)
                                  for e in [c.expiry for c in
                                            store.read_chains(store.snapshot_at(
                                                sym, clock.now())[1])]}
                            for sym in ("SPY", "AAPL")}
    fetch.reset()
    return root, recorded


def _same_chain(got, want, columns=None) -> None:
    cols = list(want.frame.columns) if columns is None else columns
    pdt.assert_frame_equal(got.frame[cols], want.frame[cols], check_exact=True)
    for f in dataclasses.fields(want):
        if f.name != "frame" and (columns is None or f.name in INPUT_FIELDS):
            assert getattr(got, f.name) == getattr(want, f.name) or \
                getattr(want, f.name) != getattr(want, f.name), f.name  # NaN == NaN


# what the source sent (repricing at a later "now" changes only our IVs, greeks and T)
INPUT_COLUMNS = ["contract", "type", "strike", "expiry", "bid", "ask", "last", "mid", "volume",
                 "open_interest", "in_the_money", "last_trade", "vendor_iv"]
INPUT_FIELDS = {"symbol", "expiry", "spot", "as_of", "source", "quote", "quotes_as_of"}


def test_the_provider_serves_exactly_the_recorded_chains_between_snapshots(recording):
    root, recorded = recording
    for at in TIMES:
        for offset in (0, 240):  # at the snapshot and 4 minutes later: the same snapshot
            with clock.frozen(clock.parse_instant(at) + dt.timedelta(seconds=offset)):
                p = ReplayProvider(root)
                for sym, by_expiry in recorded[at].items():
                    assert p.expirations(sym) == sorted(by_expiry)
                    for e, want in by_expiry.items():
                        _same_chain(p.chain(sym, e), want)
                    assert p.quote(sym) == next(iter(by_expiry.values())).quote


def test_replay_through_the_fetch_layer_is_what_was_recorded_at_each_time(recording):
    root, recorded = recording
    for at in TIMES:
        for offset in (0, 240):
            with clock.frozen(clock.parse_instant(at) + dt.timedelta(seconds=offset)):
                fetch.reset(ReplayProvider(root))
                hard = fetch.settings().max_strikes_hard
                for sym, by_expiry in recorded[at].items():
                    listed = fetch.expirations(sym)
                    for e, want in by_expiry.items():
                        if e not in listed:
                            continue  # rolled off (a 0DTE after its close)
                        got = fetch.chain(sym, e, strikes=hard)
                        # at the snapshot: everything; later: the quotes, repriced at "now"
                        _same_chain(got, want, None if offset == 0 else INPUT_COLUMNS)
                    assert fetch.quote(sym) == next(iter(by_expiry.values())).quote
                    assert fetch.key_levels(sym, min(listed)) is not None


def test_replay_moves_on_when_the_clock_reaches_the_next_snapshot(recording):
    root, recorded = recording
    with clock.frozen("2026-11-20 09:31"):
        fetch.reset(ReplayProvider(root))
        first = fetch.quote("SPY")
        assert first == next(iter(recorded["2026-11-20 09:30"]["SPY"].values())).quote
        clock.advance(2 * 3600)  # 11:31: the 11:30 snapshot, once the quote's TTL has passed
        assert fetch.quote("SPY") == next(iter(recorded["2026-11-20 11:30"]["SPY"].values())).quote


def test_before_any_recording_and_unrecorded_expiry(recording):
    root, _ = recording
    with clock.frozen("2026-11-19 09:45"):
        fetch.reset(ReplayProvider(root))
        with pytest.raises(SymbolNotFound):
            fetch.quote("SPY")
    with clock.frozen("2026-11-20 11:30"):
        with pytest.raises(NoExpiry):
            ReplayProvider(root).chain("SPY", dt.date(2027, 1, 15))
        with pytest.raises(SymbolNotFound):
            ReplayProvider(root).quote("NVDA")


def test_replay_bars_come_from_the_recorded_prices(recording):
    root, recorded = recording
    with clock.frozen("2026-11-20 12:00"):
        p = ReplayProvider(root)
        daily = p.history("SPY", "5d", "1d")
        assert [t.date() for t in daily.index] == [dt.date(2026, 11, 19), dt.date(2026, 11, 20)]
        closes = [next(iter(recorded[t]["SPY"].values())).quote.price for t in TIMES]
        assert list(daily["close"]) == [closes[1], closes[3]]
        assert daily["high"].iloc[0] == max(closes[:2])
        intraday = p.history("SPY", "1d", "5m")
        assert len(intraday) == 2 and str(intraday.index.tz) == "America/New_York"


def test_make_provider_replay_starts_the_clock(recording, monkeypatch):
    root, _ = recording
    monkeypatch.setenv("OPTIONS_DASH_PROVIDER", "replay")
    monkeypatch.setenv("OPTIONS_DASH_RECORD_DIR", str(root))
    monkeypatch.setenv("OPTIONS_DASH_REPLAY_START", "2026-11-19 15:30")
    config.reload()
    provider, reason = make_provider("replay")
    assert provider.name == "replay" and "Thu 19 Nov 2026 15:30" in reason
    assert clock.now() >= clock.parse_instant("2026-11-19 15:30")
    assert clock.now() < clock.parse_instant("2026-11-19 15:35")
    monkeypatch.delenv("OPTIONS_DASH_REPLAY_START")
    config.reload()
    clock.pin(None)  # unpinned: the default start is the last recorded session's first snapshot
    make_provider("replay")
    assert clock.now().replace(second=0, microsecond=0) == clock.parse_instant("2026-11-20 09:30")


def test_config_accepts_replay_and_refuses_unknown():
    assert config.from_env({"OPTIONS_DASH_PROVIDER": "replay"}).provider == "replay"
    with pytest.raises(ValueError):
        config.from_env({"OPTIONS_DASH_PROVIDER": "bogus"})
    with pytest.raises(ValueError):
        config.from_env({"OPTIONS_DASH_RECORD_EVERY": "5"})
    s = config.from_env({"OPTIONS_DASH_RECORD_DIR": "/Data/Rec", "OPTIONS_DASH_RECORD": "1"})
    assert s.record_dir == "/Data/Rec" and s.record  # a path keeps its case
