"""Sessions vs memory on the real server (issue 7, items 1, 2, 3 and 5).

    python -m bench.sessions                 # full: ws N up to 200, chromium 1/10/25/50, 5 min
    python -m bench.sessions --quick         # ws N up to 50, chromium 1/5, 1 min upstream
    python -m bench.sessions --only memory   # or: closed, upstream, reads (one part)

1. **Sessions vs memory.** ``streamlit run Home.py`` (bench/serve.py: the shipped config, plus a
   stats file) on the simulated market, clock pinned at 2026-11-20 11:30 ET and running on.
   A first session visits every page (warm-up: imports, caches) and stays on Home; then sessions
   are added up to each N, spread evenly over Home and the seven pages (session i is on page
   i mod 8), over websockets (bench/ws_client.py) up to 200 and in real chromium tabs up to 50.
   At each N, once the new sessions' first runs are done, the server's RSS is read when it has
   settled (moved < 1 MB over 4 s with the process nearly idle), then again after one full
   ``gc.collect()`` in the server (so that a reading does not depend on when the cyclic
   collector last ran; both are recorded). Fit: RSS(after gc) = base + slope * N, least
   squares; the fit on the readings before gc is reported too.
2. **st.cache_data variant** (bench/variant_cache_data): the same ramp, same sessions, on the
   same pages served with st.cache_data wrappers instead of core.fetch's caches; plus the time
   of a warm cached read of each fetch function, in-process, ours vs st.cache_data.
3. **Closed tabs.** After the ramp every session closes; RSS is followed until it stops
   falling (last time it was > 1 MB above the plateau) and the plateau (median of the last
   10 s) is reported, with the shipped ``server.disconnectedSessionTTL`` (30 s), and when the
   runtime actually dropped the closed sessions (its session manager, read by bench/serve.py).
   Then (full run only) 4 waves of 50 sessions open, close and are released, one after
   another: does the memory the closed sessions held get reused, or does it pile up?
5. **Upstream calls.** 1, 10 and 50 sessions on one page and symbol, each re-running the page
   every ``--rerun-every`` seconds (default 30, staggered) for 5 minutes (quick: 1): the
   provider calls the server made in that window (``core.memory.cache_stats()`` upstream_calls
   of the provider caches, read from the stats file) must not grow with the number of
   sessions, and no key may be called more than once per fresh TTL (ceil(window / TTL) + 1
   in the window; per-key counts from the provider wrapped in a counter by bench/serve.py). The three servers run side by side over the same window. One session
   re-running every 30 s notices an expired entry later than 50 sessions do, so N = 1 can make
   fewer calls than the bound; the growth to watch is 10 -> 50.

Writes bench/results/sessions.json, sessions_rss.csv and sessions_*.png.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import time

import numpy as np

from bench import ws_client
from bench.common import RESULTS, write
from bench.server import MB, Server
from core.ui import layout

PAGE_SPECS = (layout.HOME, *layout.PAGES)
PAGE_NAMES = [ws_client.url_pathname(p.path) for p in PAGE_SPECS]
TARGET_MB_PER_SESSION = 1.5
TARGET_RSS_AT_50_MB = 350.0
UPSTREAM_PAGE = "pages/2_Trading_Dashboard.py"  # one symbol, everything live


def plan(n: int) -> list[str]:
    """Page (URL path) of sessions 0..n-1: evenly over Home and the pages."""
    return [PAGE_NAMES[i % len(PAGE_NAMES)] for i in range(n)]


def fit(points: list[dict]) -> dict:
    """Least squares RSS_MB = base + slope * N over the points (N >= 1)."""
    n = np.array([p["n"] for p in points], float)
    y = np.array([p["rss_mb"] for p in points], float)
    if len(n) < 2:
        return {"base_mb": float(y[0]) if len(y) else None, "mb_per_session": None, "r2": None}
    slope, base = np.polyfit(n, y, 1)
    pred = base + slope * n
    ss = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(((y - pred) ** 2).sum()) / ss if ss > 0 else 1.0
    return {"base_mb": round(float(base), 1), "mb_per_session": round(float(slope), 3),
            "r2": round(r2, 3)}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def reading(srv: Server) -> tuple[int, int]:
    """(settled RSS, settled RSS after one full gc.collect() in the server)."""
    before = srv.settled_rss()
    srv.collect()
    return before, srv.settled_rss(window=3.0)


def _point(srv: Server, n: int, t_ramp: float, t_step: float, runs: list) -> dict:
    rss_pre_gc, rss = reading(srv)
    line = srv.wait_stats(time.time() - 0.5)
    secs = [r.seconds for r in runs if r is not None]
    return {"n": n, "rss_mb": round(rss / MB, 1), "rss_before_gc_mb": round(rss_pre_gc / MB, 1),
            "peak_mb": round(srv.peak_since(t_ramp) / MB, 1),
            "step_s": round(time.time() - t_step, 1),
            "first_run_median_s": round(statistics.median(secs), 3) if secs else None,
            "first_run_p95_s": round(_pct(secs, 0.95), 3) if secs else None,
            "exceptions": sum(len(r.exceptions) for r in runs if r),
            "errors": sum(len(r.errors) for r in runs if r),
            "server_sessions": line.get("sessions"),
            "cache_mb": round(line.get("budget", {}).get("bytes", 0) / MB, 2),
            "cpu_s": round(srv.cpu_seconds(), 1)}


# --- websocket sessions ------------------------------------------------------------------------

async def _warm(base: str) -> ws_client.Session:
    """One session that visits every page (imports, caches) and ends on Home."""
    s = ws_client.Session(base, PAGE_NAMES[1])
    await s.open()
    for name in PAGE_NAMES[2:] + PAGE_NAMES[:1]:
        await s.navigate(name)
    return s


async def ws_ramp(srv: Server, steps: list[int], *, concurrency: int = 4,
                  close_watch: float = 0.0, waves: int = 0, waves_of: int = 50) -> dict:
    t_ramp = time.time()
    sessions = [await _warm(srv.base)]
    points = []
    names = plan(max(steps))
    for n in steps:
        t_step = time.time()
        new = await ws_client.open_many(srv.base, [(p, "") for p in names[len(sessions):n]],
                                        concurrency=concurrency)
        sessions += new
        runs = [s.first_run for s in new] or [sessions[0].first_run]
        points.append(await asyncio.to_thread(_point, srv, n, t_ramp, t_step, runs))
        print(f"  [{srv.name}] N={n:4d} rss {points[-1]['rss_mb']:7.1f} MB  "
              f"first run median {points[-1]['first_run_median_s']} s", flush=True)
    result = {"points": points, "fit": fit(points),
              "fit_before_gc": fit([{"n": p["n"], "rss_mb": p["rss_before_gc_mb"]}
                                    for p in points]),
              "fit_n_le_50": fit([p for p in points if p["n"] <= 50]),
              "fit_n_ge_10": fit([p for p in points if p["n"] >= 10]),
              "peak_mb": max(p["peak_mb"] for p in points)}
    warm_runs = [s.first_run.seconds for s in sessions[1:]]
    result["first_run_median_s"] = round(statistics.median(warm_runs), 3) if warm_runs else None
    result["health"] = {  # every first run and every fragment run the sessions saw
        "first_run_exceptions": sum(len(s.first_run.exceptions) for s in sessions),
        "first_run_errors": sum(len(s.first_run.errors) for s in sessions),
        "fragment_runs": sum(s.fragment_runs for s in sessions),
        "fragment_exceptions": sum(len(s.background.exceptions) for s in sessions),
        "fragment_errors": sum(len(s.background.errors) for s in sessions),
        "examples": sorted({e for s in sessions for e in (s.first_run.exceptions
                                                         + s.background.exceptions)})[:5],
        "closed_by_server": sum(1 for s in sessions if s.closed_reason)}
    if close_watch:
        t_close = time.time()
        await ws_client.close_all(sessions)
        result["closed"] = await asyncio.to_thread(closed_watch, srv, t_close, close_watch)
        if waves:  # tabs coming and going all day: is the memory reused, or does it pile up?
            result["closed"]["waves"] = [await _wave(srv, waves_of, concurrency, i + 1)
                                         for i in range(waves)]
    else:
        await ws_client.close_all(sessions)
    return result


async def _wave(srv: Server, n: int, concurrency: int, number: int) -> dict:
    """Open ``n`` sessions (spread over the pages), read RSS, close them, wait until the
    runtime has dropped them (``server.disconnectedSessionTTL``), read RSS again."""
    wave = await ws_client.open_many(srv.base, [(p, "") for p in plan(n)],
                                     concurrency=concurrency)
    _, open_rss = await asyncio.to_thread(reading, srv)
    t_close = time.time()
    await ws_client.close_all(wave)
    released = await asyncio.to_thread(_wait_released, srv, t_close)
    _, after = await asyncio.to_thread(reading, srv)
    row = {"wave": number, "sessions": n, "open_rss_mb": round(open_rss / MB, 1),
           "released_after_s": released, "after_release_rss_mb": round(after / MB, 1)}
    print(f"  [{srv.name}] wave {number}: {n} sessions {row['open_rss_mb']} MB, "
          f"released after {released} s -> {row['after_release_rss_mb']} MB", flush=True)
    return row


def _wait_released(srv: Server, t_close: float, timeout: float = 90.0) -> float | None:
    """Seconds after ``t_close`` until the server holds no session at all (None: timeout)."""
    while time.time() < t_close + timeout:
        line = srv.wait_stats(time.time())
        if line.get("sessions_kept") == 0:
            return round(line["t"] - t_close, 1)
    return None


# --- chromium tabs -----------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _wait_idle(tab) -> None:
    """Same readiness as tests/browser/conftest.py: connected, banner shown, run finished."""
    tab.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]',
                          state="attached")
    tab.wait_for_selector(".od-sim-banner")
    tab.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                          state="attached")


def _nav_click(tab, base: str, spec) -> None:
    """In-app navigation (sidebar link; same session, as a user clicks), then wait for the run."""
    name = ws_client.url_pathname(spec.path)
    tab.click(f'[data-testid="stSidebarNavLink"][href="{base}/{name}"]')
    title = spec.title if spec.page_id != "home" else layout.APP_NAME
    tab.wait_for_function("t => document.title.startsWith(t)", arg=title)
    _wait_idle(tab)


def open_tab_batch(browser, base: str, names: list[str], contexts: list,
                   timeout_ms: int = 180_000) -> float:
    """Open one tab (its own browser context: a separate user) per page name, all at once, then
    wait until every one has finished its run. Appends the contexts; returns the seconds taken."""
    t = time.perf_counter()
    tabs = []
    for name in names:
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        tab = ctx.new_page()
        tab.set_default_timeout(timeout_ms)
        tab.goto(f"{base}/{name}", wait_until="commit")
        contexts.append(ctx)
        tabs.append(tab)
    for tab in tabs:
        _wait_idle(tab)
    return time.perf_counter() - t


def chromium_ramp(srv: Server, steps: list[int], *, close_watch: float = 0.0,
                  batch: int = 4) -> dict:
    """Real chromium tabs (one browser context each: separate users), opened ``batch`` at a
    time; the first tab visits every page by the sidebar (warm-up) and ends on Home."""
    from playwright.sync_api import sync_playwright

    t_ramp = time.time()
    points, contexts = [], []
    names = plan(max(steps))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            def open_tabs(batch_names: list[str]) -> float:
                return open_tab_batch(browser, srv.base, batch_names, contexts)

            open_tabs([names[1]])
            warm = contexts[0].pages[0]
            for spec in PAGE_SPECS[2:] + PAGE_SPECS[:1]:
                _nav_click(warm, srv.base, spec)
            for n in steps:
                t_step = time.time()
                todo = names[len(contexts):n]
                secs = [open_tabs(todo[i:i + batch]) for i in range(0, len(todo), batch)]
                rss_pre_gc, rss = reading(srv)
                line = srv.wait_stats(time.time() - 0.5)
                points.append({"n": n, "rss_mb": round(rss / MB, 1),
                               "rss_before_gc_mb": round(rss_pre_gc / MB, 1),
                               "peak_mb": round(srv.peak_since(t_ramp) / MB, 1),
                               "step_s": round(time.time() - t_step, 1),
                               "batch_load_median_s": round(statistics.median(secs), 3)
                               if secs else None, "batch": batch,
                               "server_sessions": line.get("sessions"),
                               "cpu_s": round(srv.cpu_seconds(), 1)})
                print(f"  [{srv.name}] N={n:4d} rss {points[-1]['rss_mb']:7.1f} MB "
                      f"(chromium)", flush=True)
            t_close = time.time()
            for ctx in contexts:
                ctx.close()
        finally:
            browser.close()
    result = {"points": points, "fit": fit(points),
              "fit_before_gc": fit([{"n": p["n"], "rss_mb": p["rss_before_gc_mb"]}
                                    for p in points]),
              "peak_mb": max(p["peak_mb"] for p in points)}
    if close_watch:
        result["closed"] = closed_watch(srv, t_close, close_watch)
    return result


# --- closed tabs -------------------------------------------------------------------------------

def closed_watch(srv: Server, t_close: float, seconds: float) -> dict:
    """Follow RSS for ``seconds`` after the sessions closed at ``t_close``."""
    rss_open = srv.peak_since(t_close - 3)
    time.sleep(max(0.0, t_close + seconds - time.time()))
    series = [(t - t_close, b / MB) for t, b in srv.samples if t >= t_close]
    tail = [mb for t, mb in series if t >= seconds - 10]
    plateau = statistics.median(tail) if tail else series[-1][1]
    # RSS "stops falling" at the last time it was still > 1 MB above the plateau
    above = [t for t, mb in series if mb > plateau + 1.0]
    kept = [(round(line["t"] - t_close, 1), line.get("sessions"), line.get("sessions_kept"))
            for line in srv.stats_lines() if line.get("t", 0) >= t_close - 1]
    released = next((t for t, _, k in kept if k == 0), None)
    return {"rss_at_close_mb": round(rss_open / MB, 1), "plateau_mb": round(plateau, 1),
            "stops_falling_after_s": round(max(above), 1) if above else 0.0,
            "released_mb": round(rss_open / MB - plateau, 1), "watched_s": seconds,
            "sessions_released_after_s": released,
            "sessions_connected_kept": kept[::5],
            "series": [(round(t, 1), round(mb, 1)) for t, mb in series[::5]]}


# --- upstream calls ----------------------------------------------------------------------------

async def _rerun_loop(s: ws_client.Session, offset: float, every: float, until: float,
                      counts: list) -> None:
    await asyncio.sleep(offset)
    while time.time() < until:
        try:
            run = await s.rerun()
            counts.append(run.seconds)
        except Exception:  # noqa: BLE001 - counted as a failed rerun
            counts.append(None)
        await asyncio.sleep(max(0.0, every - (counts[-1] or 0)))


async def upstream_window(servers: dict[int, Server], page: str, window: float,
                          every: float) -> dict:
    """Open N sessions on each server, then rerun every session every ``every`` s (staggered)
    for ``window`` s; upstream calls = provider-cache loader calls inside the window."""
    held = {}
    for n, srv in servers.items():
        held[n] = await ws_client.open_many(srv.base, [(page, "")] * n, concurrency=4)
    start = {n: srv.wait_stats(time.time()) for n, srv in servers.items()}
    t0 = time.time()
    until = t0 + window
    reruns: dict[int, list] = {n: [] for n in servers}
    await asyncio.gather(*(
        _rerun_loop(s, every * i / len(held[n]), every, until, reruns[n])
        for n in servers for i, s in enumerate(held[n])))
    end = {n: srv.wait_stats(time.time()) for n, srv in servers.items()}
    out = {}
    for n in servers:
        a, b = start[n], end[n]
        per_cache = {name: b["caches"][name]["upstream_calls"]
                     - a["caches"].get(name, {}).get("upstream_calls", 0)
                     for name in b.get("caches", {})}
        done = [x for x in reruns[n] if x is not None]
        out[n] = {"sessions": n, "window_s": round(time.time() - t0, 1),
                  "upstream_calls": b["upstream_calls"] - a["upstream_calls"],
                  "by_cache": per_cache, "reruns": len(done),
                  "failed_reruns": len(reruns[n]) - len(done),
                  "rerun_median_s": round(statistics.median(done), 3) if done else None,
                  "keys": {name: b["caches"][name]["entries"] for name in b.get("caches", {})
                           if b["caches"][name]["entries"]}}
        out[n]["per_key"] = per_key_calls(a.get("key_calls", {}), b.get("key_calls", {}),
                                          out[n]["window_s"])
        if "variant_calls" in b:
            out[n]["by_method"] = {k: v - a.get("variant_calls", {}).get(k, 0)
                                   for k, v in b["variant_calls"].items()}
    for n in servers:
        await ws_client.close_all(held[n])
    return out


def per_key_calls(before: dict, after: dict, window: float) -> dict:
    """Provider calls per key inside the window, by method: keys called, total calls, the most
    calls any one key got, and the allowance ceil(window / shortest fresh TTL) + 1."""
    import math

    ttl = ttl_floor()
    out: dict[str, dict] = {}
    for key, count in after.items():
        delta = count - before.get(key, 0)
        if delta <= 0:
            continue
        method = key.split("|", 1)[0]
        row = out.setdefault(method, {"keys": 0, "calls": 0, "max_per_key": 0})
        row["keys"] += 1
        row["calls"] += delta
        row["max_per_key"] = max(row["max_per_key"], delta)
    for method, row in out.items():
        row["allowed_per_key"] = math.ceil(window / ttl.get(method, window)) + 1
        row["ok"] = row["max_per_key"] <= row["allowed_per_key"]
    return out


def ttl_floor() -> dict[str, float]:
    """Shortest fresh TTL of each provider cache (core.config defaults, as the server runs)."""
    from core import config

    s = config.from_env({})
    return {"quote": s.ttl_quote, "expirations": s.ttl_expirations, "chain": s.ttl_chain_near,
            "history": min(s.ttl_history, s.ttl_chain_near), "short_volume": 6 * 3600.0}


def run_upstream(window: float, every: float, variant: str = "ours",
                 counts=(1, 10, 50)) -> dict:
    servers = {n: Server(f"upstream-{variant}-{n}", variant=variant).start() for n in counts}
    try:
        page = ws_client.url_pathname(UPSTREAM_PAGE)
        out = asyncio.run(upstream_window(servers, page, window, every))
    finally:
        for srv in servers.values():
            srv.stop()
    calls = {n: out[n]["upstream_calls"] for n in counts}
    for n in counts:
        out[n]["within_bound"] = all(r["ok"] for r in out[n]["per_key"].values())
        out[n]["max_calls_per_key"] = max((r["max_per_key"] for r in out[n]["per_key"].values()),
                                          default=0)
    lo, mid, hi = min(counts), sorted(counts)[len(counts) // 2], max(counts)
    return {"page": UPSTREAM_PAGE, "symbol": "SPY (default)", "variant": variant,
            "window_s": window, "rerun_every_s": every, "runs": out, "calls": calls,
            "ratio_max_vs_1": round(calls[hi] / max(calls[lo], 1), 2),
            "ratio_max_vs_mid": round(calls[hi] / max(calls[mid], 1), 2),
            "all_within_bound": all(out[n]["within_bound"] for n in counts)}


# --- cached reads, in-process ------------------------------------------------------------------

def cached_reads(repeat: int = 200) -> dict:
    """Warm read of each fetch function: ours (shared object) vs the st.cache_data variant
    (unpickled copy per hit; derived also hashes its source chain). Same process, same data."""
    from streamlit import logger as stlogger

    from bench.common import timed
    from bench.variant_cache_data import cache_data
    from core import clock, fetch
    from core.providers.simulated import SimulatedProvider

    stlogger.set_log_level("error")
    with clock.frozen("2026-11-20 11:30"):
        fetch.reset(SimulatedProvider())
        var = cache_data.build(SimulatedProvider())
        expiry = fetch.expirations("SPY")[0]

        def calls(impl):
            chain = impl["chain"]("SPY", expiry)
            return {
                "quote": lambda: impl["quote"]("SPY"),
                "expirations": lambda: impl["expirations"]("SPY"),
                "chain (40 strikes)": lambda: impl["chain"]("SPY", expiry),
                "history 1mo/1d": lambda: impl["history"]("SPY", "1mo", "1d"),
                "key_levels (full chain)": lambda: impl["key_levels"]("SPY", expiry),
                "derived (smile of the chain)": lambda: impl["derived"](
                    "bench.smile", _smile, chain),
            }

        ours_impl = {k: getattr(fetch, k) for k in var}
        out = {}
        for label, fn in calls(ours_impl).items():
            fn()
            out[label] = {"ours": timed(fn, repeat)}
        for label, fn in calls(var).items():
            fn()
            out[label]["st_cache_data"] = timed(fn, repeat)
        for row in out.values():
            row["ratio"] = round(row["st_cache_data"]["median_ms"]
                                 / max(row["ours"]["median_ms"], 1e-6), 1)
        fetch.reset()
    return out


def _smile(chain):
    from core.analytics import volatility

    return volatility.smile(chain.frame)


# --- plots and files ---------------------------------------------------------------------------

def _save(fig, name: str) -> str:
    import matplotlib.pyplot as plt

    path = RESULTS / name
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def plot(result: dict, tag: str = "") -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for key, style in (("ws_ours", "o-"), ("ws_cache_data", "s--"), ("chromium_ours", "^-"),
                       ("chromium_cache_data", "v--")):
        ramp = result.get("memory", {}).get(key)
        if not ramp:
            continue
        ns = [p["n"] for p in ramp["points"]]
        ax.plot(ns, [p["rss_mb"] for p in ramp["points"]], style,
                label=f"{key.replace('_', ' ')}: {ramp['fit']['mb_per_session']} MB/session")
    ax.axhline(TARGET_RSS_AT_50_MB, color="grey", lw=0.8, ls=":")
    ax.axvline(50, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("concurrent sessions (Home + 7 pages, evenly)")
    ax.set_ylabel("server RSS (MB)")
    ax.set_title("Server RSS vs sessions (settled, after warm-up)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    paths.append(_save(fig, f"sessions_rss{tag}.png"))

    closed = {k: v.get("closed") for k, v in result.get("memory", {}).items()
              if v and v.get("closed")}
    if closed:
        fig, ax = plt.subplots(figsize=(8, 4))
        for key, c in closed.items():
            ax.plot([t for t, _ in c["series"]], [mb for _, mb in c["series"]],
                    label=f"{key.replace('_', ' ')}: plateau {c['plateau_mb']} MB after "
                          f"{c['stops_falling_after_s']} s")
        ax.axvline(30, color="grey", lw=0.8, ls=":", label="disconnectedSessionTTL = 30 s")
        ax.set_xlabel("seconds after every session closed")
        ax.set_ylabel("server RSS (MB)")
        ax.set_title("Closed tabs: RSS after the sessions close")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        paths.append(_save(fig, f"sessions_closed{tag}.png"))

    up = result.get("upstream", {})
    if up:
        fig, ax = plt.subplots(figsize=(7, 4))
        width = 0.38
        for j, (variant, res) in enumerate(sorted(up.items())):
            ns = sorted(res["calls"], key=int)
            xs = np.arange(len(ns)) + (j - (len(up) - 1) / 2) * width
            ax.bar(xs, [res["calls"][n] for n in ns], width, label=variant.replace("_", " "))
            ax.set_xticks(np.arange(len(ns)), [f"{n} sessions" for n in ns])
        ax.set_ylabel(f"provider calls in {next(iter(up.values()))['window_s']:.0f} s")
        ax.set_title("Upstream calls vs sessions (same page and symbol)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
        paths.append(_save(fig, f"sessions_upstream{tag}.png"))
    return paths


def write_csv(result: dict, tag: str = "") -> str:
    path = RESULTS / f"sessions_rss{tag}.csv"
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "client", "variant", "n", "rss_mb", "peak_mb", "first_run_median_s"])
        for key, ramp in result.get("memory", {}).items():
            if not ramp:
                continue
            client, variant = key.split("_", 1)
            for p in ramp["points"]:
                w.writerow([key, client, variant, p["n"], p["rss_mb"], p["peak_mb"],
                            p.get("first_run_median_s", p.get("batch_load_median_s"))])
    return str(path)


def summary(result: dict) -> dict:
    """The headline numbers (also what run_all prints)."""
    mem = result.get("memory", {})
    out = {}
    for key, ramp in mem.items():
        if not ramp:
            continue
        at50 = next((p["rss_mb"] for p in ramp["points"] if p["n"] == 50), None)
        out[key] = {"base_mb": ramp["fit"]["base_mb"],
                    "mb_per_session": ramp["fit"]["mb_per_session"],
                    "rss_at_50_mb": at50, "peak_mb": ramp["peak_mb"],
                    "max_n": max(p["n"] for p in ramp["points"])}
        for name in ("fit_n_le_50", "fit_n_ge_10", "fit_before_gc"):
            if ramp.get(name):
                out[key][f"mb_per_session_{name[4:]}"] = ramp[name]["mb_per_session"]
        if ramp.get("health"):
            out[key]["health"] = {k: v for k, v in ramp["health"].items() if k != "examples"}
        if ramp.get("closed"):
            c = ramp["closed"]
            out[key]["closed_plateau_mb"] = c["plateau_mb"]
            out[key]["closed_stops_falling_s"] = c["stops_falling_after_s"]
            out[key]["closed_sessions_released_s"] = c.get("sessions_released_after_s")
            if c.get("waves"):
                out[key]["waves_open_rss_mb"] = [w["open_rss_mb"] for w in c["waves"]]
                out[key]["waves_after_release_rss_mb"] = [w["after_release_rss_mb"]
                                                          for w in c["waves"]]
    ours, var = out.get("ws_ours"), out.get("ws_cache_data")
    if ours and var:
        out["ratio_cache_data_vs_ours"] = {
            "rss_at_50": round(var["rss_at_50_mb"] / ours["rss_at_50_mb"], 2)
            if ours["rss_at_50_mb"] and var["rss_at_50_mb"] else None,
            "mb_per_session": round(var["mb_per_session"] / ours["mb_per_session"], 2)
            if ours["mb_per_session"] and ours["mb_per_session"] > 0 else None,
        }
    targets = {}
    for client in ("ws", "chromium"):  # the product's numbers, on both kinds of session
        r = out.get(f"{client}_ours")
        if r:
            # None (n/a) when the ramp did not reach 50 sessions (quick chromium: 5 tabs)
            reached = r["rss_at_50_mb"] is not None
            targets[f"{client}: mb_per_session<=1.5"] = (
                r["mb_per_session"] <= TARGET_MB_PER_SESSION if reached else None)
            targets[f"{client}: rss_at_50<=350"] = (
                r["rss_at_50_mb"] <= TARGET_RSS_AT_50_MB if reached else None)
    if targets:
        out["targets"] = targets
    return out


# --- main --------------------------------------------------------------------------------------

def run_memory(quick: bool, browser: bool) -> dict:
    ws_steps = [1, 10, 50] if quick else [1, 10, 25, 50, 100, 150, 200]
    br_steps = [1, 5] if quick else [1, 10, 25, 50]
    watch = 35.0 if quick else 150.0  # past disconnectedSessionTTL (30 s)
    out = {}
    for variant in ("ours", "cache_data"):
        print(f"sessions: websocket ramp on {variant} {ws_steps}", flush=True)
        with Server(f"sessions-ws-{variant}", variant=variant) as srv:
            idle = srv.settled_rss()
            out[f"ws_{variant}"] = asyncio.run(ws_ramp(
                srv, ws_steps, close_watch=watch if variant == "ours" or not quick else 0.0,
                waves=0 if quick else 4))
            out[f"ws_{variant}"]["idle_rss_mb"] = round(idle / MB, 1)
    if browser:
        for variant in (("ours",) if quick else ("ours", "cache_data")):
            print(f"sessions: chromium ramp on {variant} {br_steps}", flush=True)
            with Server(f"sessions-chromium-{variant}", variant=variant) as srv:
                idle = srv.settled_rss()
                out[f"chromium_{variant}"] = chromium_ramp(
                    srv, br_steps, close_watch=0.0 if quick else watch)
                out[f"chromium_{variant}"]["idle_rss_mb"] = round(idle / MB, 1)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["memory", "upstream", "reads"])
    parser.add_argument("--no-browser", action="store_true", help="skip the chromium ramp")
    parser.add_argument("--rerun-every", type=float, default=30.0,
                        help="seconds between reruns of each session (upstream bench)")
    args = parser.parse_args(argv)
    result: dict = {"command": "python -m bench.sessions" + (" --quick" if args.quick else ""),
                    "quick": args.quick, "streamlit_checked": ws_client.STREAMLIT_CHECKED,
                    "pages": [p.path for p in PAGE_SPECS], "pinned_now": "2026-11-20T11:30-05:00",
                    "load_at_start": _load()}
    if args.only in (None, "memory"):
        result["memory"] = run_memory(args.quick, not args.no_browser)
    if args.only in (None, "reads"):
        result["cached_reads"] = cached_reads(50 if args.quick else 300)
    if args.only in (None, "upstream"):
        window = 60.0 if args.quick else 300.0
        variants = ("ours",) if args.quick else ("ours", "cache_data")
        result["upstream"] = {}
        for v in variants:
            print(f"upstream: 1/10/50 sessions on {UPSTREAM_PAGE}, {window:.0f} s, {v}",
                  flush=True)
            result["upstream"][v] = run_upstream(window, args.rerun_every, v)
    result["load_at_end"] = _load()
    result["summary"] = summary(result)
    name = "sessions" if args.only is None else f"sessions_{args.only}"
    if args.quick:
        name += "_quick"
    tag = name.removeprefix("sessions")
    result["files"] = [write_csv(result, tag)] if "memory" in result else []
    result["files"] += plot(result, tag)
    path = write(name, result)
    print(f"wrote {path}")
    _print(result)
    return result


def _load() -> dict:
    import os

    import psutil

    return {"loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "cpu_percent": psutil.cpu_percent(interval=0.5),
            "mem_available_gb": round(psutil.virtual_memory().available / 2**30, 1)}


def _print(result: dict) -> None:
    for key, row in result["summary"].items():
        print(f"  {key}: {row}")
    for label, row in result.get("cached_reads", {}).items():
        print(f"  read {label:30s} ours {row['ours']['median_ms']:8.3f} ms  "
              f"st.cache_data {row['st_cache_data']['median_ms']:8.3f} ms  x{row['ratio']}")
    for v, up in result.get("upstream", {}).items():
        print(f"  upstream {v}: calls {up['calls']} (50 vs 1: x{up['ratio_max_vs_1']}, "
              f"50 vs 10: x{up['ratio_max_vs_mid']}); max calls per key "
              f"{ {n: r['max_calls_per_key'] for n, r in up['runs'].items()} }, "
              f"within one per key per TTL: {up['all_within_bound']}")


if __name__ == "__main__":
    main()
