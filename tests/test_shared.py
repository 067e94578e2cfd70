"""core.shared without a Redis server: the entry format (never pickle), keys, the panel's text.
(The L2 on a real redis-server is tested in tests/cluster/.)"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from core import clock, fetch, shared


def test_entries_round_trip_chains_frames_and_records_without_pickle(upstream):
    expiry = fetch.expirations("SPY")[0]
    chain = fetch.chain("SPY", expiry)
    bars = fetch.history("SPY", "1mo", "1d")
    quote = fetch.quote("SPY")
    for value in (chain, bars, quote, (expiry,), {"a": 1.5, "d": expiry}):
        blob = shared.pack(value, 123.0, 60.0)
        n = int.from_bytes(blob[:4], "big")
        kind, payload = json.loads(blob[4:4 + n])["kind"], blob[4 + n:]
        if kind == "json":
            json.loads(payload)  # plain JSON text
        else:  # an Arrow IPC stream (continuation marker, then the schema message)
            assert kind in ("chain", "frame") and payload[:4] == b"\xff\xff\xff\xff"
        back, stored, fresh = shared.unpack(blob)
        assert (stored, fresh) == (123.0, 60.0)
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(back, value, check_freq=False)
            assert str(back.index.dtype) == str(value.index.dtype)
        elif dataclasses.is_dataclass(value) and hasattr(value, "frame"):
            pd.testing.assert_frame_equal(back.frame, value.frame)
            assert back.flags == value.flags and back.as_of == value.as_of
        else:
            assert back == value


def test_unknown_values_and_keys_are_not_shared():
    class Thing:
        pass
    assert shared.encode_value(Thing()) is None
    assert shared.key_text("quote", Thing()) is None
    assert shared.key_text("quote", "SPY").startswith(f"od:{shared.SCHEMA}:quote:")


def test_unpack_refuses_an_unknown_kind():
    head = b'{"kind": "pickle", "stored": 0, "fresh": 1}'
    with pytest.raises(ValueError, match="unknown kind"):
        shared.unpack(len(head).to_bytes(4, "big") + head + b"\x80\x04")


def test_the_panel_text_says_off_unavailable_or_the_fleet():
    assert "off" in shared.status_text(None)
    down = {"available": False, "url": "redis://:***@127.0.0.1:1/0"}
    assert shared.status_text(down).startswith("Shared cache unavailable")
    up = {"available": True, "url": "redis://127.0.0.1:1/0", "keys": 12, "bytes": 3 * 2**20,
          "max_bytes": 256 * 2**20, "hit_rate": 0.75, "replicas": 2, "sessions": 9,
          "replica": "r1", "scan_runs": 7, "local": {"scans_led": 3}}
    text = shared.status_text(up)
    assert "12 keys" in text and "75%" in text and "2 replicas" in text and "9 sessions" in text
    assert "scans run once per fleet: 7 so far, 3 led here" in text


def test_passwords_never_reach_the_panel():
    assert shared.redacted("redis://:s3cret@127.0.0.1:6390/0") == "redis://:***@127.0.0.1:6390/0"
    assert shared.redacted("redis://127.0.0.1:6390/0") == "redis://127.0.0.1:6390/0"


def test_without_a_redis_url_the_layer_has_no_l2(upstream):
    assert fetch.shared_status() is None
    assert all(c.shared is None for c in fetch._get().caches.values())
    assert clock.timer() > 0
