"""Fleet scans on a real redis-server: a scan key runs on ONE replica of the fleet; the others
follow its progress and take its result; a dead leader is replaced; Redis down = local scans.

"Replicas" are fetch layers with their own L1 on the same Redis: a spawned child process
(:mod:`tests.cluster.harness`) next to this test process, or — for what needs no overlap —
this process's layer rebuilt by ``fetch.reset`` (an empty L1, as a cold replica)."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time

import pandas as pd
import pytest

from cluster import services
from core import clock, fetch, shared
from tests.cluster import harness
from tests.conftest import TRADING_DAY, CountingProvider

pytestmark = pytest.mark.cluster  # real redis-server / haproxy / replicas

SYMS = harness.SCAN_SYMBOLS


def _client(redis_server):
    return redis_server.client()


def _open_gate(redis_server, sym):
    c = _client(redis_server)
    c.set(f"test:go:{sym}", 1)
    c.close()


def _calls(redis_server) -> dict:
    c = _client(redis_server)
    try:
        return {s: int(c.get(f"test:calls:{s}") or 0) for s in SYMS}
    finally:
        c.close()


def _lock_key(key) -> str:
    return f"{shared.PREFIX}lock:scan:{shared.codec.dumps(key)}"


def _scan_key(name, syms, **params):
    return (name, tuple(syms), tuple(sorted(params.items())))


def _next(out, kind, timeout=240):
    """The child's next message of ``kind`` (earlier messages of other kinds are dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = out.get(timeout=max(0.1, deadline - time.monotonic()))
        if msg[0] == kind:
            return msg


def _spawn(redis_server, lock_s):
    ctx = mp.get_context("spawn")
    out, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=harness.scan_replica,
                       args=(redis_server.url, redis_server.password, TRADING_DAY, lock_s,
                             out, stop))
    proc.start()
    return proc, out, stop


def _end(proc, stop):
    stop.set()
    proc.join(30)
    if proc.is_alive():
        proc.kill()


def _wait(check, what, timeout=60):
    return services.wait_for(check, timeout, what, 0.02)


def _same_results(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for sym in a:
        x, y = a[sym], b[sym]
        pd.testing.assert_frame_equal(x["bars"], y["bars"], check_freq=False)
        assert str(x["bars"].index.dtype) == str(y["bars"].index.dtype)
        assert {k: v for k, v in x.items() if k != "bars"} == \
            {k: v for k, v in y.items() if k != "bars"}
        assert y["at"].tzinfo is not None and y["at"] == x["at"]


def test_two_replicas_run_one_scan_and_the_follower_sees_its_progress(l2_env):
    fetch.reset(CountingProvider())
    lead = fetch.scan("gated", harness.gated_task, SYMS, task_timeout=300)
    assert isinstance(lead, fetch.FleetScanJob) and not lead.following
    c = _client(l2_env)
    _wait(lambda: c.get(_lock_key(_scan_key("gated", SYMS))) is not None, "the leader's lock")
    c.close()
    proc, out, stop = _spawn(l2_env, shared.SCAN_LOCK_S)
    try:
        started = _next(out, "started")
        assert started[1] is True  # the other replica follows: it does not run the scan
        for i, sym in enumerate(SYMS[:-1], start=1):
            _open_gate(l2_env, sym)
            # the follower's progress moves with the leader's, one symbol at a time
            while _next(out, "progress")[1] < i:
                pass
        _open_gate(l2_env, SYMS[-1])  # the last one: the leader finishes, the follower too
        done = _next(out, "done")
    finally:
        _end(proc, stop)
    assert lead.wait(60)
    results, skipped, led = done[1], done[2], done[3]
    assert skipped == {} and led is False
    _same_results(lead.results, results)
    assert {r["pid"] for r in results.values()} == {os.getpid()}  # computed by the leader
    assert _calls(l2_env) == {s: 1 for s in SYMS}  # each task ran once in the fleet
    assert shared.scan_runs(fetch._get().shared) == {"gated": 1}
    status = fetch.shared_status()  # the memory panel's line
    assert status["scan_runs"] == 1 and status["local"]["scans_led"] == 1
    assert "scans run once per fleet: 1 so far, 1 led here" in shared.status_text(status)
    c = _client(l2_env)
    try:  # released at the end; the result is in Redis for the scan cache's hard max age
        assert c.get(_lock_key(_scan_key("gated", SYMS))) is None
        ttl = c.pttl(shared.key_text("scan", _scan_key("gated", SYMS)))
        assert 0 < ttl <= fetch._get().caches["scan"].max_age * 1000
    finally:
        c.close()


def test_a_dead_leader_s_lock_expires_and_a_follower_takes_over(l2_env, monkeypatch):
    monkeypatch.setattr(shared, "SCAN_LOCK_S", 1.0)
    fetch.reset(CountingProvider())
    proc, out, stop = _spawn(l2_env, 1.0)  # the leader: another process
    try:
        assert _next(out, "started")[1] is False
        c = _client(l2_env)
        _wait(lambda: c.get(_lock_key(_scan_key("gated", SYMS))) is not None,
              "the child's lock")
        c.close()
        _open_gate(l2_env, SYMS[0])
        follower = fetch.scan("gated", harness.gated_task, SYMS, task_timeout=300)
        assert isinstance(follower, fetch.FleetScanJob) and follower.following
        _wait(lambda: follower.completed >= 1, "the leader's first symbol seen here")
        assert not follower.done and not follower.led
        proc.kill()  # the leader dies mid-scan: nobody renews its lock
        proc.join(30)
        _wait(lambda: follower.led, "the follower takes the expired lock")
        for sym in SYMS[1:]:
            _open_gate(l2_env, sym)
        assert follower.wait(60)
    finally:
        _end(proc, stop)
    assert set(follower.results) == set(SYMS) and follower.skipped == {}
    assert {r["pid"] for r in follower.results.values()} == {os.getpid()}
    # what the dead leader had started is run again by the new one, once
    calls = _calls(l2_env)
    assert calls[SYMS[0]] == 2 and all(1 <= n <= 2 for n in calls.values()), calls
    assert shared.scan_runs(fetch._get().shared) == {"gated": 2}  # the dead one's, then ours
    c = _client(l2_env)
    try:
        assert c.get(shared.key_text("scan", _scan_key("gated", SYMS))) is not None
    finally:
        c.close()


def _counting_task(calls):
    def task(sym):
        calls.append(sym)
        return {"symbol": sym, "at": clock.now()}
    return task


def test_a_cold_replica_serves_the_fleet_s_result_and_the_stale_one_while_another_refreshes(
        l2_env):
    calls: list = []
    task = _counting_task(calls)
    fetch.reset(CountingProvider())  # replica 1 scans
    first = fetch.scan("echo", task, SYMS)
    assert first.wait(30) and sorted(calls) == sorted(SYMS)

    fetch.reset(CountingProvider())  # replica 2: an empty L1, the same Redis
    assert fetch.scan_known("echo", SYMS)  # joining the fleet's result is free
    second = fetch.scan("echo", task, SYMS)
    assert second.done and second.results == first.results
    assert len(calls) == len(SYMS)  # nothing ran again

    # past the fresh TTL, another replica (a real FleetScan on its own L2) refreshes it
    clock.advance(fetch._get().caches["scan"].fresh_ttl + 1)
    other_l2 = shared.L2(l2_env.url, password=l2_env.password, replica="other")
    other = shared.FleetScan(other_l2, _scan_key("echo", SYMS))
    assert other.take()
    fetch.reset(CountingProvider())  # replica 3: cold
    assert fetch.scan_known("echo", SYMS)  # a refresh runs somewhere: joining it is free
    stale = fetch.scan("echo", task, SYMS)
    assert stale.done and stale.results == first.results  # the old result, at once
    running = fetch._get().running[_scan_key("echo", SYMS)]
    assert running.following
    other.publish_progress(2, len(SYMS))
    _wait(lambda: running.completed == 2, "the other replica's progress seen here")
    newer = {s: {"symbol": s, "at": clock.now(), "refreshed": True} for s in SYMS}
    payload = {"name": "echo", "symbols": SYMS, "task_timeout": 1.0, "results": newer,
               "skipped": {}, "started_at": clock.now(), "finished_at": clock.now()}
    store = fetch._get().caches["scan"]
    assert other.publish_result(payload, clock.timer(), store.fresh_ttl, store.max_age)
    _wait(lambda: fetch.scan("echo", task, SYMS).results == newer, "the refreshed result")
    assert len(calls) == len(SYMS)  # the refresh ran on the other replica only
    other_l2.close()


def test_redis_stopped_scans_run_locally(l2_env):
    calls: list = []
    fetch.reset(CountingProvider())
    key = _scan_key("echo", SYMS)
    c = _client(l2_env)
    c.set(_lock_key(key), "another-replica", px=60_000)  # another replica leads it...
    c.close()
    follower = fetch.scan("echo", _counting_task(calls), SYMS)
    assert isinstance(follower, fetch.FleetScanJob) and follower.following
    l2_env.stop()  # ...and Redis goes away: the follower scans here
    assert follower.wait(30)
    assert set(follower.results) == set(SYMS) and sorted(calls) == sorted(SYMS)
    # while Redis is down a new scan is a plain local one, as in one process
    local = fetch.scan("echo2", _counting_task(calls), SYMS)
    assert type(local) is fetch.ScanJob
    assert local.wait(30) and set(local.results) == set(SYMS)
    assert fetch.shared_status()["available"] is False


def test_a_result_the_codec_cannot_encode_runs_on_each_replica_logged_once(l2_env, caplog):
    fetch.reset(CountingProvider())
    job = fetch.scan("opaque", lambda sym: object(), SYMS)
    assert job.wait(30) and len(job.results) == len(SYMS)
    assert "opaque" in fetch._UNSHARED_SCANS
    assert sum("cannot be encoded" in r.getMessage() for r in caplog.records) == 1
    c = _client(l2_env)
    try:
        assert c.get(shared.key_text("scan", _scan_key("opaque", SYMS))) is None
        assert c.get(_lock_key(_scan_key("opaque", SYMS))) is None  # released
    finally:
        c.close()
    clock.advance(fetch._get().caches["scan"].fresh_ttl + 1)
    again = fetch.scan("opaque", lambda sym: object(), SYMS)  # stale: refreshed, locally
    _wait(lambda: fetch.scan("opaque", lambda sym: object(), SYMS) is not again, "a refresh")
    assert sum("cannot be encoded" in r.getMessage() for r in caplog.records) == 1
    fetch._UNSHARED_SCANS.discard("opaque")



def test_the_leader_renews_its_lock_while_it_runs_and_releases_it_at_the_end(
        l2_env, monkeypatch):
    monkeypatch.setattr(shared, "SCAN_LOCK_S", 0.6)
    fetch.reset(CountingProvider())
    gate = threading.Event()
    job = fetch.scan("held", lambda sym: gate.wait(60) and sym, SYMS, task_timeout=120)
    key = _lock_key(_scan_key("held", SYMS))
    c = _client(l2_env)
    try:
        _wait(lambda: c.pttl(key) > 0, "the leader's lock")
        _wait(lambda: 0 < c.pttl(key) < 500, "the lock ageing")
        low = c.pttl(key)
        _wait(lambda: c.pttl(key) > low, "a renewal")  # a lock's PTTL only rises if renewed
        assert not job.done
        gate.set()
        assert job.wait(30) and job.results == {s: s for s in SYMS}
        assert c.get(key) is None  # released, not left to expire
        assert c.get(shared.key_text("scan", _scan_key("held", SYMS)) + ":progress") is None
    finally:
        gate.set()
        c.close()
