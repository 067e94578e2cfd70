"""The front door: redis-server + 2 Streamlit replicas + haproxy on loopback ports, started by
``cluster.run.Cluster`` (what ``make cluster`` runs). Real sessions over websockets through
haproxy: spread and sticky, degraded (Redis stopped) and recovered, drained, and a replica
killed. The tests run in file order on one cluster (each leaves it as the next expects)."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import urllib.request

import pytest

from bench import ws_client
from cluster import run, services
from tests.cluster.conftest import need
from tests.conftest import EMPTY_RECORDINGS, TRADING_DAY

pytestmark = pytest.mark.cluster  # real redis-server / haproxy / replicas

COOKIE = "ODREPLICA"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    need("redis-server", "haproxy")
    env = {"OPTIONS_DASH_PROVIDER": "simulated", "OPTIONS_DASH_NOW": TRADING_DAY,
           "OPTIONS_DASH_RECORD_DIR": EMPTY_RECORDINGS}
    cluster = run.Cluster(2, tmp_path_factory.mktemp("cluster"), redis_mb=64, env=env)
    cluster.start(timeout=180)
    yield cluster
    cluster.stop()


def get(url: str, cookie: str | None = None) -> tuple[int, str, str | None]:
    """(status, X-Replica, the stickiness cookie set) of one GET."""
    req = urllib.request.Request(url, headers={"Cookie": f"{COOKIE}={cookie}"} if cookie else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()
        set_cookie = r.headers.get("Set-Cookie") or ""
        value = set_cookie.split(f"{COOKIE}=", 1)[1].split(";", 1)[0] if COOKIE in set_cookie \
            else None
        return r.status, r.headers.get("X-Replica"), value


def session(fleet, page: str = "", query: str = "", cookie: str | None = None):
    """Open one websocket session through haproxy, run the page once, close it."""
    async def go():
        s = ws_client.Session(fleet.haproxy.base, page, query, timeout=120,
                              follow_auto_rerun=False,
                              headers={"Cookie": f"{COOKIE}={cookie}"} if cookie else None)
        try:
            await s.open()
            return s
        finally:
            await s.close()
    # on a thread of its own: Playwright's sync API (the browser tests, earlier in the same
    # pytest process) leaves an event loop running on the main thread, where asyncio.run fails
    with cf.ThreadPoolExecutor(1, thread_name_prefix="ws-session") as pool:
        return pool.submit(asyncio.run, go()).result()


def test_sessions_spread_over_both_replicas_and_stay_on_one(fleet):
    first = [get(fleet.haproxy.base + "/") for _ in range(4)]
    assert all(status == 200 for status, _, _ in first)
    assert {replica for _, replica, _ in first} == {"r1", "r2"}  # new sessions spread
    assert all(cookie == replica for _, replica, cookie in first)  # and are told where
    for _, replica, cookie in first[:2]:
        again = [get(fleet.haproxy.base + "/", cookie) for _ in range(5)]
        assert {r for _, r, _ in again} == {replica}  # a cookie keeps its replica
    # the websocket of a sticky session goes through the upgrade to that same replica
    for name in ("r1", "r2"):
        s = session(fleet, "", cookie=name)
        assert s.response_headers.get("x-replica") == name
        assert s.first_run.ok, (s.first_run.status, s.first_run.exceptions)


def test_a_live_page_renders_through_haproxy_and_the_panel_shows_the_fleet(fleet):
    s = session(fleet, "Trading_Dashboard", "debug=memory", cookie="r1")
    assert s.first_run.ok, (s.first_run.status, s.first_run.exceptions, s.first_run.errors)
    assert not [w for w in s.first_run.warnings if "Shared cache unavailable" in w]
    # the other replica serves the same page from the L2 (both replicas heartbeat into Redis)
    s2 = session(fleet, "Trading_Dashboard", "debug=memory", cookie="r2")
    assert s2.first_run.ok
    c = fleet.redis.client()
    try:
        services.wait_for(lambda: len(list(c.scan_iter(match=b"od:*:replica:*"))) == 2, 30,
                          "both replicas heartbeat")
        assert any(c.scan_iter(match=b"od:*:chain:*"))
    finally:
        c.close()


def test_the_command_center_on_both_replicas_runs_one_scan(fleet):
    """Two users on different replicas open the Command Center at once: its watchlist scan
    runs on ONE replica (the fleet's scan counter moves by one) and both pages render."""
    runs_key = b"od:*:scans"
    c = fleet.redis.client()
    try:
        def runs() -> int:
            keys = list(c.scan_iter(match=runs_key))
            return sum(int(c.hget(k, "command") or 0) for k in keys)
        before = runs()
        with cf.ThreadPoolExecutor(2) as pool:
            both = list(pool.map(lambda name: session(fleet, "Command_Center", cookie=name),
                                 ["r1", "r2"]))
        assert {s.response_headers.get("x-replica") for s in both} == {"r1", "r2"}
        for s in both:
            assert s.first_run.ok, (s.first_run.exceptions, s.first_run.errors)
        assert runs() == before + 1
    finally:
        c.close()


def test_redis_stopped_pages_still_render_and_the_panel_says_so_then_it_recovers(fleet):
    fleet.redis.stop()
    try:
        s = session(fleet, "Trading_Dashboard", "debug=memory", cookie="r1")
        assert s.first_run.ok, (s.first_run.exceptions, s.first_run.errors)
        assert any("Shared cache unavailable" in w for w in s.first_run.warnings), \
            s.first_run.warnings
    finally:
        fleet.redis.start()

    def recovered():
        again = session(fleet, "", "debug=memory", cookie="r1")
        return again.first_run.ok and not any("Shared cache unavailable" in w
                                              for w in again.first_run.warnings)
    services.wait_for(recovered, 60, "the panel no longer says unavailable", interval=0.5)


def test_a_drained_replica_gets_no_new_sessions_while_sticky_ones_keep_it(fleet):
    fleet.haproxy.drain("r2", timeout=30)  # returns once r2 has no session open
    assert fleet.haproxy.servers()["r2"]["status"] == "MAINT"
    try:
        fresh = [get(fleet.haproxy.base + "/") for _ in range(4)]
        assert {r for _, r, _ in fresh} == {"r1"}
    finally:
        fleet.haproxy.admin("set server replicas/r2 state ready")
    fleet.haproxy.wait_up(["r1", "r2"])


def test_a_killed_replica_s_users_land_on_the_other_with_no_error(fleet):
    victim = fleet.replica("r1")
    victim.kill()
    status, replica, _ = get(fleet.haproxy.base + "/", cookie="r1")
    assert (status, replica) == (200, "r2")
    s = session(fleet, "Trading_Dashboard", cookie="r1")  # the user reloads the page
    assert s.response_headers.get("x-replica") == "r2"
    assert s.first_run.ok, (s.first_run.exceptions, s.first_run.errors)


def test_make_cluster_starts_everything_and_ctrl_c_stops_everything(tmp_path):
    """``python -m cluster.run`` (what ``make cluster`` runs) with one replica: up behind
    haproxy, then SIGINT stops haproxy, the replica and Redis."""
    import json
    import os
    import signal
    import subprocess
    import sys

    need("redis-server", "haproxy")
    env = {**os.environ, "OPTIONS_DASH_PROVIDER": "simulated", "OPTIONS_DASH_NOW": TRADING_DAY,
           "OPTIONS_DASH_RECORD_DIR": EMPTY_RECORDINGS}
    env.pop("OPTIONS_DASH_REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "cluster.run", "--replicas", "1",
                             "--dir", str(tmp_path)], cwd=services.ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        state = services.wait_for(lambda: json.loads((tmp_path / "state.json").read_text()),
                                  180, "cluster state.json", interval=0.2)
        assert services.http_ok(state["url"] + "/_stcore/health")
        pids = [state["redis"]["pid"], state["haproxy"]["pid"],
                *(r["pid"] for r in state["replicas"].values())]
        assert {p.name for p in tmp_path.iterdir()} >= {"redis.log", "r1.log", "haproxy.log"}
        # the operator's drain, from another shell: r1 finishes its sessions, then leaves
        drained = subprocess.run([sys.executable, "-m", "cluster.run", "--dir", str(tmp_path),
                                  "drain", "r1", "--timeout", "30"], cwd=services.ROOT,
                                 capture_output=True, text=True, timeout=90)
        assert drained.returncode == 0, drained.stderr
        hap = services.Haproxy(tmp_path, [])
        assert hap.servers()["r1"]["status"] == "MAINT"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "cluster up" in out and "stopping the cluster" in out

    def gone(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    assert all(gone(p) for p in pids)
    assert "requirepass" not in (tmp_path / "state.json").read_text()
