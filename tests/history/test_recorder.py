"""core.recorder: files round-trip, retention and the disk budget hold, writes are atomic,
the schedule follows the NYSE session, and recording shares the fetch layer's upstream calls."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap

import pandas.testing as pdt
import pyarrow.parquet as pq
import pytest

from core import clock, config, fetch, recorder
from core.recorder import Recorder, Store
from tests.conftest import TRADING_DAY

UNIVERSE = ["SPY", "^SPX"]


def _record(store, at, universe=UNIVERSE, expiries=2):
    with clock.frozen(at):
        return Recorder(store, universe, expiries=expiries).record()


def test_recorded_snapshot_round_trips_every_chain(tmp_path):
    store = Store(tmp_path)
    report = _record(store, TRADING_DAY)
    assert report.symbols == 2 and not report.skipped and report.bytes > 0
    at = clock.parse_instant(TRADING_DAY)
    hard = fetch.settings().max_strikes_hard
    for sym in UNIVERSE:
        taken, path = store.snapshot_at(sym, at)
        assert taken == at
        assert ("%5ESPX" in str(path)) == (sym == "^SPX")  # URI-encoded partition name
        chains = store.read_chains(path)
        wanted = recorder.select_expiries(fetch.expirations(sym), at.date(), 2)
        assert [c.expiry for c in chains] == wanted
        with clock.frozen(at):
            for c in chains:
                live = fetch.chain(sym, c.expiry, strikes=hard)
                pdt.assert_frame_equal(c.frame, live.frame, check_exact=True)
                assert c.flags == live.flags and c.as_of == live.as_of and c.quote == live.quote
    lv = store.levels("SPY")
    assert len(lv) == len(wanted) and set(lv["symbol"]) == {"SPY"}
    assert str(lv["snapshot"].dtype) == "datetime64[ns, UTC]"
    with clock.frozen(at):
        kl = fetch.key_levels("SPY", wanted[0])
    assert lv.iloc[0]["call_wall_oi"] == kl.call_wall_oi and lv.iloc[0]["atm_iv"] == kl.atm_iv


def test_rerecording_the_same_time_replaces_its_rows(tmp_path):
    store = Store(tmp_path)
    _record(store, TRADING_DAY)
    _record(store, TRADING_DAY)
    assert len(store.levels("SPY")) == 2 + 2  # 2 expiries + the 30-day bracket pair
    assert len(store.levels("SPY")["snapshot"].unique()) == 1


def test_schedule_every_five_minutes_plus_one_after_close():
    rec = Recorder(Store("/nonexistent"), ["SPY"], every=300)
    day = dt.date(2026, 11, 20)
    times = rec.schedule(day)
    assert times[0] == clock.session_open(day) and len(times) == 78 + 1
    assert times[-2] == clock.session_close(day) - dt.timedelta(minutes=5)
    assert times[-1] == clock.session_close(day) + recorder.AFTER_CLOSE
    early = rec.schedule(dt.date(2026, 11, 27))  # closes 13:00
    assert len(early) == 42 + 1 and early[-1].hour == 13
    assert rec.schedule(dt.date(2026, 11, 21)) == []  # Saturday
    sat = clock.parse_instant("2026-11-21 12:00")
    assert rec.next_due(sat) == clock.session_open(dt.date(2026, 11, 23))
    assert rec.next_due(clock.parse_instant("2026-11-20 11:31")).minute == 35


def test_select_expiries_brackets_thirty_days():
    today = dt.date(2026, 11, 20)
    listed = [today + dt.timedelta(days=d) for d in (0, 1, 2, 3, 10, 24, 35, 60)]
    got = recorder.select_expiries(listed, today, 2)
    assert got == [listed[0], listed[1], listed[5], listed[6]]


def test_retention_deletes_old_chain_days_and_keeps_levels_longer(tmp_path):
    store = Store(tmp_path, retention_days=3, levels_days=5)
    for at in ("2026-11-16 11:00", "2026-11-18 11:00", "2026-11-20 11:00"):
        _record(store, at, ["SPY"], 1)
    # the 16th's chains were more than 3 days old when the 20th was recorded
    assert store.dates("chains") == [dt.date(2026, 11, 18), dt.date(2026, 11, 20)]
    assert store.sessions("SPY") == [dt.date(2026, 11, 16), dt.date(2026, 11, 18),
                                     dt.date(2026, 11, 20)]  # levels stay (5 days)
    removed = store.enforce(dt.date(2026, 11, 22))
    assert removed["dates"] == [dt.date(2026, 11, 18)]
    assert removed["levels_dates"] == [dt.date(2026, 11, 16)]
    assert store.dates("chains") == [dt.date(2026, 11, 20)]
    assert store.sessions("SPY") == [dt.date(2026, 11, 18), dt.date(2026, 11, 20)]


def test_levels_of_a_day_without_chains_keep_its_open_and_close(tmp_path):
    store = Store(tmp_path, retention_days=1)
    for at in ("2026-11-18 09:30", "2026-11-18 12:00", "2026-11-18 16:15"):
        _record(store, at, ["SPY"], 1)
    full = store.levels("SPY", [dt.date(2026, 11, 18)])
    store.enforce(dt.date(2026, 11, 20))  # the 18th's chains are past retention
    thin = store.levels("SPY", [dt.date(2026, 11, 18)])
    kept = sorted(set(thin["snapshot"]))
    assert [t.tz_convert(clock.ET).strftime("%H:%M") for t in kept] == ["09:30", "16:15"]
    pdt.assert_frame_equal(thin, full[full["snapshot"].isin(kept)].reset_index(drop=True))


def test_disk_budget_drops_oldest_chain_days_then_old_levels_then_snapshots(tmp_path):
    store = Store(tmp_path)
    for at in ("2026-11-18 11:00", "2026-11-19 11:00", "2026-11-20 11:00", "2026-11-20 11:05"):
        _record(store, at, ["SPY"], 1)
    one_day = sum(p.stat().st_size for p in tmp_path.rglob("*") if "2026-11-20" in str(p)
                  and p.is_file())
    store.budget_bytes = one_day + 1
    out = store.enforce(dt.date(2026, 11, 20))
    assert out["dates"] == [dt.date(2026, 11, 18), dt.date(2026, 11, 19)]  # chains first
    assert out["levels_dates"] == [dt.date(2026, 11, 18), dt.date(2026, 11, 19)]  # then these
    assert store.size_bytes() <= store.budget_bytes
    store.budget_bytes = one_day - 1  # one day alone is over: its oldest snapshot goes
    out = store.enforce(dt.date(2026, 11, 20))
    assert out["snapshots"] == 1
    assert [t.minute for t, _ in store.snapshots("SPY", dt.date(2026, 11, 20))] == [5]
    assert store.size_bytes() <= store.budget_bytes


def test_budget_keeps_a_years_levels_when_only_chains_are_large(tmp_path):
    store = Store(tmp_path)
    for at in ("2026-11-18 11:00", "2026-11-19 11:00", "2026-11-20 11:00"):
        _record(store, at, ["SPY"], 1)
    chains_20 = sum(p.stat().st_size for p in (tmp_path / "chains").rglob("*.parquet")
                    if "2026-11-20" in str(p))
    levels = sum(p.stat().st_size for p in (tmp_path / "levels").rglob("*.parquet"))
    store.budget_bytes = chains_20 + levels  # room for one chain day and every levels day
    out = store.enforce(dt.date(2026, 11, 20))
    assert out["levels_dates"] == [] and len(store.sessions("SPY")) == 3


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    store = Store(tmp_path)
    _record(store, "2026-11-20 11:00", ["SPY"], 1)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    real = pq.write_table

    def half_then_fail(table, where, **kw):
        real(table.slice(0, 3), where, **kw)  # something reached the disk...
        raise OSError("disk full")            # ...then the write failed

    monkeypatch.setattr(pq, "write_table", half_then_fail)
    with pytest.raises(OSError):
        _record(store, "2026-11-20 11:05", ["SPY"], 1)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert after == before  # no partial snapshot, no temp file, levels file untouched
    assert len(store.levels("SPY")) == len(store.levels("SPY", [dt.date(2026, 11, 20)]))


def test_killed_writer_leaves_only_a_hidden_temp_file_that_enforce_removes(tmp_path):
    """A process killed in the middle of a write (os._exit after half the bytes)."""
    script = textwrap.dedent(f"""
        import os, pyarrow as pa, pyarrow.parquet as pq, pathlib
        from core import recorder
        real = pq.write_table
        def dying(table, where, **kw):
            real(table, where, **kw)
            with open(where, "r+b") as fh:
                fh.truncate(os.path.getsize(where) // 2)
            os._exit(9)
        pq.write_table = dying
        recorder.atomic_write(pa.table({{"x": list(range(1000))}}),
                              pathlib.Path({str(tmp_path)!r}) / "chains" / "date=2026-11-20"
                              / "symbol=SPY" / "110000.parquet")
    """)
    env = {**os.environ, "PYTHONPATH": str(recorder.ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=recorder.ROOT)
    assert proc.returncode == 9
    folder = tmp_path / "chains" / "date=2026-11-20" / "symbol=SPY"
    files = [p.name for p in folder.iterdir()]
    assert len(files) == 1 and files[0].startswith(recorder.TMP_PREFIX)  # never the real name
    store = Store(tmp_path)
    assert store.snapshots("SPY", dt.date(2026, 11, 20)) == []
    assert store.enforce(dt.date(2026, 11, 20))["tmp"] == 1
    assert list(folder.iterdir()) == []


def test_recording_adds_no_upstream_calls_within_the_ttl(tmp_path, upstream):
    hard = fetch.settings().max_strikes_hard
    at = clock.parse_instant(TRADING_DAY)
    wanted = recorder.select_expiries(fetch.expirations("SPY"), at.date(), 2)
    for e in wanted:  # what a page watching SPY already fetched
        fetch.chain("SPY", e, strikes=hard)
        fetch.key_levels("SPY", e)
    calls = upstream.calls["chain"]
    Recorder(Store(tmp_path), ["SPY"], expiries=2).record()
    assert upstream.calls["chain"] == calls
    clock.advance(300)  # five minutes on: one refresh per chain, shared with the pages
    Recorder(Store(tmp_path), ["SPY"], expiries=2).record()
    for _ in range(3):
        fetch.chain("SPY", wanted[0], strikes=hard)
    assert upstream.calls["chain"] <= calls + len(wanted)


def test_a_bad_symbol_is_skipped_not_fatal(tmp_path):
    report = _record(Store(tmp_path), TRADING_DAY, ["SPY", "ZZZZZ"], 1)
    assert report.symbols == 1 and "ZZZZZ" in report.skipped


def test_one_recorder_per_root(tmp_path):
    first, second = recorder.Lock(tmp_path), recorder.Lock(tmp_path)
    try:
        assert first.acquire() is True
        assert second.acquire() is False
    finally:
        first.close()
        second.close()
    third = recorder.Lock(tmp_path)
    assert third.acquire() is True
    third.close()


def test_simulate_days_is_deterministic(tmp_path):
    a = recorder.simulate_days(tmp_path / "a", 2, ["SPY"], every_minutes=195, expiries=1)
    b = recorder.simulate_days(tmp_path / "b", 2, ["SPY"], every_minutes=195, expiries=1)
    assert a.sessions("SPY") == [dt.date(2026, 11, 18), dt.date(2026, 11, 19)]
    la, lb = a.levels("SPY"), b.levels("SPY")
    assert len(la) == 2 * 3 * 3  # 2 days x (open, 12:45, after close) x 3 expiries
    pdt.assert_frame_equal(la, lb)
    assert clock.now() == clock.parse_instant(TRADING_DAY)  # the test's clock is restored


def test_in_app_recorder_starts_once_and_holds_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIONS_DASH_RECORD", "1")
    monkeypatch.setenv("OPTIONS_DASH_RECORD_DIR", str(tmp_path))
    monkeypatch.setenv("OPTIONS_DASH_RECORD_SYMBOLS", "SPY")
    s = config.reload()
    try:
        assert recorder.start_background(s) is True
        assert recorder.start_background(s) is True  # the same thread, not a second one
        other = recorder.Lock(tmp_path)
        assert other.acquire() is False  # `make record` would refuse to start
        other.close()
    finally:
        recorder.stop_background()
    assert recorder.start_background(config.from_env({})) is False  # off by default


def test_run_records_each_scheduled_time_once_on_a_stepped_clock(tmp_path):
    """The loop on the frozen test clock (11:30, a scheduled time): it records 11:30, waits,
    records 11:35 once the clock is stepped there, and never records a time twice."""
    import threading

    store = Store(tmp_path)
    rec = Recorder(store, ["SPY"], expiries=1)
    stop = threading.Event()
    thread = threading.Thread(target=rec.run, args=(stop,), kwargs={"max_wait": 0.02})
    thread.start()
    day = dt.date(2026, 11, 20)
    try:
        _wait_for(lambda: rec.last is not None)  # set once a snapshot is fully recorded
        first = rec.last
        assert first.at == clock.parse_instant(TRADING_DAY)
        clock.advance(300)
        _wait_for(lambda: rec.last is not first)
        assert rec.last.at.minute == 35
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert [t.minute for t, _ in store.snapshots("SPY", day)] == [30, 35]


def _wait_for(predicate, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "state not reached"
        time.sleep(0.02)
