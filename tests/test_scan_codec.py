"""Scan results through the shared cache's encoders (no Redis needed): every page's scan result
type comes back equal — values, frame dtypes and indexes, tz-aware times — and the codec builds
nothing but analytics dataclasses / NamedTuples from what a shared store says."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pandas as pd
import pytest

from core import clock, codec, fetch, shared
from core.analytics import command_center, dashboard, walls, whale_flows


def assert_same(a, b, path="value"):
    """Deep equality for values holding frames (``==`` is ambiguous on a DataFrame)."""
    assert type(a) is type(b), path
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_freq=False, obj=path)
        assert dict(a.dtypes) == dict(b.dtypes) and str(a.index.dtype) == str(b.index.dtype)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_freq=False, obj=path)
        assert str(a.index.dtype) == str(b.index.dtype)
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, float) and a != a:
        assert b != b, path  # NaN
    else:
        assert a == b, path
        if isinstance(a, dt.datetime):
            assert (a.tzinfo is None) == (b.tzinfo is None) and a.utcoffset() == b.utcoffset()


def _round_trip(value):
    blob = shared.pack(value, 100.0, 60.0)
    assert blob is not None, f"{type(value).__name__} is not shareable"
    back, stored, fresh = shared.unpack(blob)
    assert (stored, fresh) == (100.0, 60.0)
    return back


def _compare_row(sym):
    today = clock.today()
    expiry = walls.nearest_expiry(fetch.expirations(sym), today, 7)
    return walls.comparison_row(sym, expiry, today, fetch.key_levels(sym, expiry))


@pytest.mark.parametrize("task", [
    lambda s: command_center.command_task(s, source=fetch),   # Command Center
    lambda s: dashboard.watch_task(s, source=fetch),          # Trading Dashboard
    lambda s: whale_flows.whale_task(s, source=fetch),        # Whale Flows
    _compare_row,                                             # Stock Option Finder
], ids=["CommandRow", "WatchRow", "WhaleResult", "comparison_row"])
def test_every_scan_result_type_round_trips(upstream, task):
    value = task("SPY")
    back = _round_trip(value)
    assert_same(value, back)


def test_a_command_row_keeps_its_card_frames_and_times(upstream):
    row = command_center.command_task("QQQ", source=fetch)
    back = _round_trip(row)
    assert back.as_of.tzinfo is not None and back.as_of == row.as_of
    assert isinstance(back.card, command_center.CardSeries)
    assert str(back.card.bars.index.dtype) == str(row.card.bars.index.dtype)
    assert back.card.sma10.name == row.card.sma10.name
    assert isinstance(back.score.components[0], type(row.score.components[0]))
    assert back.flow == row.flow  # properties work on the rebuilt dataclass
    kind = json.loads(shared.pack(row, 0.0, 1.0)[4:4 + int.from_bytes(
        shared.pack(row, 0.0, 1.0)[:4], "big")])["kind"]
    assert kind == "parts"  # JSON + Arrow IPC frames, never pickle


def test_a_whole_scan_payload_round_trips(upstream):
    rows = {s: dashboard.watch_task(s, source=fetch) for s in ("SPY", "AAPL")}
    payload = {"name": "trading.watchlist", "symbols": list(rows), "task_timeout": 10.0,
               "results": rows, "skipped": {"ZZZZ": "not found"},
               "started_at": clock.now(), "finished_at": clock.now()}
    assert_same(payload, _round_trip(payload))


def test_values_without_frames_keep_the_plain_json_kind():
    value = {"a": 1.5, "d": dt.date(2026, 11, 20), "t": (1, "x")}
    text, frames = codec.dumps_parts(value)
    assert frames == [] and text == codec.dumps(value)
    blob = shared.pack(value, 0.0, 1.0)
    head = json.loads(blob[4:4 + int.from_bytes(blob[:4], "big")])
    assert head["kind"] == "json"


@pytest.mark.parametrize("name", [
    "os:system", "builtins:dict", "core.fetch:ScanJob", "core.analytics.levels:np",
    "core.analytics.command_center:command_row", "core.analytics.command_center:CommandRow.x",
])
def test_the_codec_builds_only_analytics_types_from_a_shared_store(name):
    data = json.dumps({"$t": "obj", "c": name, "v": {}})
    with pytest.raises(ValueError, match="not an analytics type"):
        codec.loads(data)


def test_a_frame_outside_parts_is_still_refused():
    with pytest.raises(TypeError):
        codec.dumps({"f": pd.DataFrame({"a": [1]})})
    with pytest.raises(ValueError, match="without its frames"):
        codec.loads(json.dumps({"$t": "frame", "i": 0}))
