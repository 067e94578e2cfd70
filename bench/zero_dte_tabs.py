"""0DTE live pages: warm render time, and the server's memory with the page open for a long time.

    python -m bench.zero_dte_tabs                         # 10 tabs for 10 minutes (the full run)
    python -m bench.zero_dte_tabs --minutes 1 --tabs 2    # a quick run

1. **Warm render** (in process, AppTest, simulated market, clock frozen at a Friday 11:30): one
   session runs each 0DTE page ``--renders`` times after a first (cold) run; median / p95 ms.
2. **Server RSS**: ``streamlit run Home.py`` on the simulated market (clock pinned at a Friday
   11:30, then running) with short TTLs (``--ttl``, default 5 s, so the live fragments rerun
   every 5 s; the far-chain TTL 2 x that, see FAR_FACTOR), the 0DTE page open in ``--tabs``
   chromium tabs (the browser harness's launch args) for ``--minutes``; the server's RSS
   (psutil) is sampled every ``--sample`` seconds, and each tab's freshness badge is read at
   every sample to show the fragments really refresh. The shared caches' bytes are read from
   the memory debug panel (a short extra session) after loading and at the end, so cache
   growth can be told from what sessions add.

Reports start / end / peak RSS, the growth over the second half (end vs the sample at half time,
in %) and the least-squares slope over the second half (MB/min). Writes
bench/results/zero_dte_tabs.json and, when matplotlib is installed, zero_dte_tabs.png.
Other work on the machine adds noise: the load average is recorded at start and end.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import subprocess
import sys
import time

os.environ.setdefault("OPTIONS_DASH_PROVIDER", "simulated")

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from bench.common import RESULTS, timed, write  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
PINNED = "2026-11-20 11:30"
PINNED_ISO = "2026-11-20T11:30:00-05:00"
PAGES = {"5_0DTE": "pages/5_0DTE.py", "6_0DTE_by_Index": "pages/6_0DTE_by_Index.py"}
URL_SLUG = "0DTE"
CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot'
AS_OF = re.compile(r"as of \d\d:\d\d:\d\d ET · \d+ (?:s|min|h|d) old")
MB = 1024 * 1024
# The far-chain TTL sets the hard max age of the chain and derived caches (x the stale factor,
# 10): 2 x ttl makes old chain versions (the simulated market moves every minute) leave the
# caches within ~2 minutes, so the caches reach their steady state in the first half of the run
# and the second half measures what sessions and fragments add. With the defaults the same
# steady state comes after 30 minutes, bounded by the caches' entry caps and byte budget.
FAR_FACTOR = 2


# --- 1. warm render ---------------------------------------------------------------------------

def bench_render(renders: int) -> dict:
    """Median / p95 of re-running each page in one AppTest session with warm caches."""
    from core import clock, fetch
    from tests.ui.apptest import exceptions, run_page

    out = {}
    with clock.frozen(PINNED):
        fetch.reset()
        for name, path in PAGES.items():
            start = time.perf_counter()
            at = run_page(path)
            cold_ms = (time.perf_counter() - start) * 1000
            problems = exceptions(at)
            if problems:
                raise RuntimeError(f"{path} raised: {problems[0]}")
            out[name] = {"cold_ms_incl_home": round(cold_ms, 1),
                         **timed(lambda: at.run(timeout=60), renders)}
            print(f"render {name}: median {out[name]['median_ms']:.0f} ms, "
                  f"p95 {out[name]['p95_ms']:.0f} ms over {renders} warm runs", flush=True)
        fetch.reset()
    return out


# --- 2. server RSS with tabs open ---------------------------------------------------------------

def _start_server(ttl: float, log_path: pathlib.Path) -> tuple[subprocess.Popen, str]:
    from tests.browser.conftest import _free_port, _wait_healthy

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTIONS_DASH_")}
    env.update(OPTIONS_DASH_PROVIDER="simulated", OPTIONS_DASH_NOW=PINNED_ISO,
               OPTIONS_DASH_TTL_CHAIN_NEAR=f"{ttl:g}", OPTIONS_DASH_TTL_QUOTE=f"{ttl:g}",
               OPTIONS_DASH_TTL_CHAIN_FAR=f"{FAR_FACTOR * ttl:g}", PYTHONUNBUFFERED="1")
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc._bench_log = log  # closed with the server
    _wait_healthy(base, proc)
    return proc, base


def _stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    proc._bench_log.close()


def _badge(tab) -> str:
    """The tab's first freshness badge text ("as of 11:31:00 ET · 12 s old"), "" if unread."""
    try:
        text = tab.get_by_text(AS_OF).first.inner_text(timeout=3000)
    except Exception:  # noqa: BLE001 - a tab busy re-rendering: count it as unread
        return ""
    found = AS_OF.search(text)
    return found.group(0) if found else ""


def _cache_mb(context, base: str) -> float | None:
    """The shared caches' bytes in MB, read from the memory debug panel of a short session."""
    tab = context.new_page()
    try:
        tab.set_default_timeout(120_000)
        tab.goto(f"{base}/?debug=memory")
        box = tab.locator('[data-testid="stMetric"]').filter(
            has=tab.locator('[data-testid="stMetricLabel"]', has_text="Cache budget")).first
        text = box.locator('[data-testid="stMetricValue"]').inner_text()
        return float(text.split()[0].replace(",", ""))
    except Exception:  # noqa: BLE001 - a missing number must not sink the RSS run
        return None
    finally:
        tab.close()


def bench_tabs(tabs: int, minutes: float, ttl: float, sample_s: float) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import BANNER, CHROMIUM, CHROMIUM_ARGS

    log_path = ROOT / "artifacts" / "bench-zero-dte-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    proc, base = _start_server(ttl, log_path)
    server = psutil.Process(proc.pid)
    samples: list[tuple[float, float]] = []
    badges: list[list[str]] = []
    try:
        idle_rss = server.memory_info().rss / MB
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            pages = []
            for _ in range(tabs):  # one after the other: a cold start of 10 at once only queues
                tab = context.new_page()
                tab.set_default_timeout(180_000)
                tab.goto(f"{base}/{URL_SLUG}")
                # not wait_idle: with fragments rerunning every few seconds on a busy machine a
                # tab may never be seen "notRunning"; its banner and charts are what count
                tab.wait_for_selector(BANNER)
                tab.wait_for_selector(CHART)
                pages.append(tab)
            visibility = [tab.evaluate("document.visibilityState") for tab in pages]
            cache_start = _cache_mb(context, base)
            loaded_rss = server.memory_info().rss / MB
            print(f"{tabs} tabs loaded: server RSS {idle_rss:.0f} MB idle -> {loaded_rss:.0f} MB",
                  flush=True)
            start = time.monotonic()
            end = start + minutes * 60
            next_at = start
            while True:
                now = time.monotonic()
                if now >= next_at:
                    rss = server.memory_info().rss / MB
                    samples.append((round(now - start, 1), round(rss, 2)))
                    badges.append([_badge(tab) for tab in pages])
                    print(f"t={now - start:6.0f} s  RSS {rss:7.1f} MB  "
                          f"[{badges[-1][0]}]", flush=True)
                    while next_at <= time.monotonic():  # a slow read skips slots, no bursts
                        next_at += sample_s
                if now >= end:
                    break
                time.sleep(max(min(next_at, end) - time.monotonic(), 0.05))
            errors = sum(tab.locator('[data-testid="stException"]').count() for tab in pages)
            cache_end = _cache_mb(context, base)
            context.close()
            browser.close()
    finally:
        _stop_server(proc)
    out = summarise(samples, badges, idle_rss, loaded_rss, visibility, errors)
    out["cache_mb_start"], out["cache_mb_end"] = cache_start, cache_end
    return out


def summarise(samples, badges, idle_rss, loaded_rss, visibility, errors) -> dict:
    t = np.array([s[0] for s in samples], dtype="float64")
    rss = np.array([s[1] for s in samples], dtype="float64")
    half = int(np.searchsorted(t, t[-1] / 2))
    second_t, second_rss = t[half:], rss[half:]
    slope = (float(np.polyfit(second_t / 60, second_rss, 1)[0]) if len(second_t) >= 2
             else float("nan"))
    per_tab = list(zip(*badges)) if badges else []
    changes = [sum(1 for a, b in zip(col, col[1:]) if a and b and a != b) for col in per_tab]
    return {
        "idle_rss_mb": round(idle_rss, 1),
        "start_rss_mb": round(float(rss[0]), 1),
        "end_rss_mb": round(float(rss[-1]), 1),
        "peak_rss_mb": round(float(rss.max()), 1),
        "loaded_rss_mb": round(loaded_rss, 1),
        "half_rss_mb": round(float(rss[half]), 1),
        "growth_second_half_pct": round(float((rss[-1] - rss[half]) / rss[half] * 100), 2),
        "growth_total_pct": round(float((rss[-1] - rss[0]) / rss[0] * 100), 2),
        "slope_second_half_mb_per_min": round(slope, 3),
        "samples": samples,
        "tab_visibility": sorted(set(visibility)),
        "badge_changes_per_tab": changes,
        "exceptions_on_pages": errors,
    }


def plot(result: dict, path: pathlib.Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    t, rss = zip(*result["rss"]["samples"])
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(np.array(t) / 60, rss, marker=".", color="#2563eb")
    ax.set_xlabel("minutes with the tabs open")
    ax.set_ylabel("server RSS (MB)")
    p = result["params"]
    ax.set_title(f"0DTE page in {p['tabs']} tabs, fragments every {p['ttl_s']:g} s: "
                 f"{result['rss']['growth_second_half_pct']:+.1f}% over the 2nd half",
                 fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--tabs", type=int, default=10)
    parser.add_argument("--ttl", type=float, default=5.0,
                        help="chain and quote TTL of the server (s): the fragments' interval")
    parser.add_argument("--sample", type=float, default=10.0, help="RSS sampling period (s)")
    parser.add_argument("--renders", type=int, default=20, help="warm AppTest runs per page")
    parser.add_argument("--skip-render", action="store_true")
    parser.add_argument("--out", default="zero_dte_tabs",
                        help="result name under bench/results/ (.json, .png)")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    render = {} if args.skip_render else bench_render(args.renders)
    rss = bench_tabs(args.tabs, args.minutes, args.ttl, args.sample)
    result = {
        "command": "python -m bench.zero_dte_tabs " + " ".join(argv if argv is not None
                                                              else sys.argv[1:]),
        "params": {"tabs": args.tabs, "minutes": args.minutes, "ttl_s": args.ttl,
                   "ttl_chain_far_s": FAR_FACTOR * args.ttl,
                   "sample_s": args.sample, "renders": args.renders, "page": URL_SLUG,
                   "pinned_clock": PINNED_ISO,
                   "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX")},
        "render": render,
        "rss": rss,
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "note": "shared 2-core machine: other engineers' tests add CPU load and noise",
    }
    png = f"{args.out}.png"
    result["plot"] = png if plot(result, RESULTS / png) else None
    path = write(args.out, result)
    r = result["rss"]
    print(f"RSS start {r['start_rss_mb']} MB, end {r['end_rss_mb']} MB, peak "
          f"{r['peak_rss_mb']} MB, second-half growth {r['growth_second_half_pct']}% "
          f"({r['slope_second_half_mb_per_min']} MB/min); badge changes per tab "
          f"{r['badge_changes_per_tab']}; caches {r['cache_mb_start']} -> {r['cache_mb_end']} "
          f"MB -> {path}")
    return result


if __name__ == "__main__":
    main()
