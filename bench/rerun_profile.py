"""CPU per rerun of the live pages, and where it goes (issue 15, point 6).

    python -m bench.rerun_profile --sessions 21 --window 60 --tag after

A real server (``bench/serve.py``'s entry: the simulated market, the clock pinned at
``bench.server.PINNED_NOW`` and running, chain TTL 20 s / quote TTL 10 s like
bench/cluster_bench.py) is started with this file as its entry, which wraps Streamlit's
``exec_func_with_error_handling`` (one call = one script run, full page or fragment, on the
session's ScriptRunner thread) and ``ScriptRunner._on_script_finished`` (the post-run cleanup,
including Streamlit's ``runner.postScriptGC`` full collection). Each run's **thread CPU time**
(``time.thread_time``: this script thread only, not the fetch pool, not the websocket loop) is
recorded per (page, full|fragment); every ``--profile-every``-th run is instead run under
``cProfile`` (its CPU time is then not counted, cProfile inflates it) and its stats merged per
(page, kind).

Workload: one warm-up session per live page (caches, imports), then ``--sessions`` websocket
sessions (bench/ws_client.py) spread evenly over 0DTE, 0DTE by Index and Trading Dashboard,
following their fragments' ``run_every``; after a settle the counters are reset and for
``--window`` s every session also sends ``--full-reruns`` full reruns (as a widget interaction
does, at staggered times). Then the server dumps its counters; the bench writes
``bench/results/rerun_profile.json`` (one entry per ``--tag``) and prints a table.
``--post-script-gc true|false`` overrides Streamlit's ``runner.postScriptGC`` (a full
``gc.collect()`` after every run; ``.streamlit/config.toml`` turns it off) to measure it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LIVE_PAGES = ("0DTE", "0DTE_by_Index", "Trading_Dashboard")
TTLS = {"OPTIONS_DASH_TTL_CHAIN_NEAR": "20", "OPTIONS_DASH_TTL_QUOTE": "10"}
CONTROL_ENV = "BENCH_RERUN_CONTROL"  # path of the control file the server watches
EVERY_ENV = "BENCH_RERUN_PROFILE_EVERY"
TOP = 25


# --- inside the server ----------------------------------------------------------------------

class Recorder:
    """Per (page, kind): thread-CPU seconds of each unprofiled run, of each post-run cleanup,
    and the merged cProfile stats of the profiled runs."""

    def __init__(self, every: int):
        self.every = max(every, 0)
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.cpu: dict[str, list[float]] = {}
            self.finish: dict[str, list[float]] = {}
            self.count: dict[str, int] = {}
            self.stats: dict = {}
            self.profiled: dict[str, int] = {}

    @staticmethod
    def key(ctx) -> str:
        """``<page url name>|full`` or ``|fragment``: the page the run was asked for (a
        fragment run is asked for with its page's name, as the frontend does)."""
        name = ctx.pages_manager.intended_page_name or "Home"
        return f"{name}|{'fragment' if ctx.fragment_ids_this_run else 'full'}"

    def run(self, inner, func, ctx):
        """One script run. The page is known only once it ran (the MPA entry resolves it
        inside the run), so the key is taken after; every ``every``-th run of a kind
        (full / fragment) is profiled."""
        import cProfile
        import pstats

        kind = "fragment" if ctx.fragment_ids_this_run else "full"
        with self.lock:
            n = self.count.get(kind, 0)
            self.count[kind] = n + 1
        prof = None
        if self.every and n % self.every == self.every - 1:
            prof = cProfile.Profile(time.thread_time)  # CPU of this thread, not waits
            prof.enable()
        t0 = time.thread_time()
        try:
            return inner(func, ctx)
        finally:
            spent = time.thread_time() - t0
            if prof is not None:
                prof.disable()
            key = self.key(ctx)
            with self.lock:
                if prof is None:
                    self.cpu.setdefault(key, []).append(spent)
                elif key in self.stats:
                    self.stats[key].add(prof)
                else:
                    self.stats[key] = pstats.Stats(prof)
                if prof is not None:
                    self.profiled[key] = self.profiled.get(key, 0) + 1

    def finished(self, inner, runner, ctx, *args, **kwargs):
        key = self.key(ctx)
        t0 = time.thread_time()
        try:
            return inner(runner, ctx, *args, **kwargs)
        finally:
            spent = time.thread_time() - t0
            with self.lock:
                self.finish.setdefault(key, []).append(spent)

    def dump(self) -> dict:
        with self.lock:
            out = {}
            for key in sorted(set(self.cpu) | set(self.stats) | set(self.finish)):
                out[key] = {"runs": len(self.cpu.get(key, [])),
                            "cpu_s": self.cpu.get(key, []),
                            "finish_s": self.finish.get(key, []),
                            "profiled_runs": self.profiled.get(key, 0),
                            "top_cumulative": _top(self.stats.get(key), self.profiled.get(key),
                                                   "cumulative"),
                            "top_own": _top(self.stats.get(key), self.profiled.get(key),
                                            "tottime")}
            return out


def _top(stats, runs: int | None, order: str) -> list[dict]:
    """The ``TOP`` functions by cumulative (or own) time, in ms per profiled run."""
    if stats is None or not runs:
        return []
    rows = []
    for (path, line, name), (cc, nc, tt, ct, _callers) in stats.stats.items():
        where = path.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        rows.append({"function": f"{where}:{line}({name})", "calls_per_run": nc / runs,
                     "own_ms": 1000 * tt / runs, "cum_ms": 1000 * ct / runs})
    rows.sort(key=lambda r: r["cum_ms" if order == "cumulative" else "own_ms"], reverse=True)
    return rows[:TOP]


def _watch(recorder: Recorder, control: str) -> None:
    """``reset`` in the control file clears the counters; ``dump <path>`` writes them."""
    while True:
        time.sleep(0.2)
        try:
            command = pathlib.Path(control).read_text().split()
        except OSError:
            continue
        os.unlink(control)
        if command[:1] == ["reset"]:
            recorder.reset()
            pathlib.Path(control + ".done").write_text("reset")
        elif command[:1] == ["dump"]:
            target = pathlib.Path(command[1])
            target.with_suffix(".part").write_text(json.dumps(recorder.dump()))
            os.replace(target.with_suffix(".part"), target)


def serve() -> None:
    """The server entry: install the run hooks, then bench/serve.py's main."""
    from streamlit.runtime.scriptrunner import script_runner

    from bench import serve as bench_serve

    recorder = Recorder(int(os.environ.get(EVERY_ENV, "4")))
    inner_run = script_runner.exec_func_with_error_handling
    script_runner.exec_func_with_error_handling = \
        lambda func, ctx: recorder.run(inner_run, func, ctx)
    inner_finish = script_runner.ScriptRunner._on_script_finished

    def on_finished(runner, ctx, *args, **kwargs):
        return recorder.finished(inner_finish, runner, ctx, *args, **kwargs)

    script_runner.ScriptRunner._on_script_finished = on_finished
    threading.Thread(target=_watch, args=(recorder, os.environ[CONTROL_ENV]), daemon=True,
                     name="bench-rerun-control").start()
    bench_serve.main(sys.argv[1:])


# --- the bench ------------------------------------------------------------------------------

def _ms(values: list[float], q: float | None = None) -> float | None:
    if not values:
        return None
    values = sorted(values)
    if q is None:
        return round(1000 * sum(values) / len(values), 2)
    return round(1000 * values[min(len(values) - 1, int(q * len(values)))], 2)


def _command(control: pathlib.Path, text: str, wait_for: pathlib.Path, timeout: float = 60.0):
    wait_for.unlink(missing_ok=True)
    control.write_text(text)
    deadline = time.time() + timeout
    while time.time() < deadline and not wait_for.exists():
        time.sleep(0.2)
    if not wait_for.exists():
        raise RuntimeError(f"server did not answer {text!r}")


async def _drive(base: str, n: int, window: float, full_reruns: int, control: pathlib.Path,
                 dump: pathlib.Path, cpu_of) -> dict:
    from bench import ws_client

    warm = [ws_client.Session(base, p) for p in LIVE_PAGES]
    for s in warm:
        await s.open()
    await ws_client.close_all(warm)
    sessions = await ws_client.open_many(base, [(LIVE_PAGES[i % len(LIVE_PAGES)], "")
                                               for i in range(n)], concurrency=4)
    await asyncio.sleep(10)  # settle: first runs done, fragments on their timers
    await asyncio.to_thread(_command, control, "reset", control.with_suffix(".done"))
    cpu0, t0 = cpu_of(), time.monotonic()
    exceptions = []

    async def interact(i: int, s) -> None:
        for k in range(full_reruns):
            # staggered over the window, so full reruns do not arrive all at once
            await asyncio.sleep(window * (k + (i + 1) / (n + 1)) / max(full_reruns, 1)
                                - (time.monotonic() - t0))
            s.page_hash = ""  # ws_client keeps the entry script's hash; the name picks the page
            run = await s.rerun()
            exceptions.extend(run.exceptions)

    await asyncio.gather(*(interact(i, s) for i, s in enumerate(sessions)))
    await asyncio.sleep(max(0.0, window - (time.monotonic() - t0)))
    wall, cpu = time.monotonic() - t0, cpu_of() - cpu0
    await asyncio.to_thread(_command, control, f"dump {dump}", dump)
    frag_exc = [e for s in sessions for e in s.background.exceptions]
    latency = {}  # page -> fragment refresh seconds (auto-rerun sent -> that run finished)
    for s in sessions:
        latency.setdefault(s.page_name, []).extend(s.fragment_seconds)
    await ws_client.close_all(sessions)
    return {"wall_s": round(wall, 1), "process_cpu_s": round(cpu, 2),
            "process_cpu_per_wall_s": round(cpu / wall, 3),
            "exceptions": exceptions + frag_exc,
            "fragment_runs_seen_by_clients": sum(s.fragment_runs for s in sessions),
            "fragment_refresh_s": {p: {"n": len(v), "p50": _ms(v, 0.5) and _ms(v, 0.5) / 1000,
                                       "p95": _ms(v, 0.95) and _ms(v, 0.95) / 1000,
                                       "max": max(v, default=None)}
                                   for p, v in latency.items()}}


def measure(n: int, window: float, full_reruns: int, every: int,
            post_script_gc: bool | None = None) -> dict:
    import psutil

    from bench.server import PINNED_NOW
    from cluster import services

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rerun-profile-"))
    control, dump = tmp / "control", tmp / "dump.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPTIONS_DASH_", "BENCH_"))}
    env.update(OPTIONS_DASH_PROVIDER="simulated", OPTIONS_DASH_NOW=PINNED_NOW,
               PYTHONUNBUFFERED="1", **TTLS, **{CONTROL_ENV: str(control), EVERY_ENV: str(every)})
    if post_script_gc is not None:  # Streamlit's runner.postScriptGC (its env form)
        env["STREAMLIT_RUNNER_POST_SCRIPT_GC"] = str(post_script_gc).lower()
    replica = services.Replica("rerun", tmp, env=env, entry=str(pathlib.Path(__file__)))
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # Replica starts from os.environ
    try:
        replica.start()
        replica.wait_healthy(120)
        proc = psutil.Process(replica.pid)

        def cpu_of() -> float:
            t = proc.cpu_times()
            return t.user + t.system

        load0 = os.getloadavg()
        client = asyncio.run(_drive(replica.base, n, window, full_reruns, control, dump, cpu_of))
        load1 = os.getloadavg()
        rss_end = proc.memory_info().rss
        runs = json.loads(dump.read_text())
    finally:
        replica.stop()
        os.environ.clear()
        os.environ.update(saved)
    pages = {}
    for key, r in runs.items():
        pages[key] = {"runs_timed": r["runs"], "cpu_ms_mean": _ms(r["cpu_s"]),
                      "cpu_ms_p50": _ms(r["cpu_s"], 0.5), "cpu_ms_p95": _ms(r["cpu_s"], 0.95),
                      "finish_ms_mean": _ms(r["finish_s"]), "profiled_runs": r["profiled_runs"],
                      "top_cumulative": r["top_cumulative"], "top_own": r["top_own"]}
    return {"at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average_start": [round(x, 2) for x in load0],
            "load_average_end": [round(x, 2) for x in load1],
            "rss_mb_end": round(rss_end / 2**20, 1), "sessions": n, "window_s": window, "full_reruns_per_session": full_reruns,
            "profile_every": every, "ttls": TTLS,
            "post_script_gc": "config" if post_script_gc is None else post_script_gc, **client, "pages": pages}


def table(result: dict) -> str:
    lines = ["| page | kind | runs timed | CPU ms mean / p50 / p95 | post-run cleanup ms |",
             "| --- | --- | --- | --- | --- |"]
    for key, p in result["pages"].items():
        page, kind = key.split("|")
        lines.append(f"| {page} | {kind} | {p['runs_timed']} | {p['cpu_ms_mean']} / "
                     f"{p['cpu_ms_p50']} / {p['cpu_ms_p95']} | {p['finish_ms_mean']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=21)
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--full-reruns", type=int, default=2)
    ap.add_argument("--profile-every", type=int, default=4,
                    help="every k-th run per (page, kind) is profiled (0 = none)")
    ap.add_argument("--post-script-gc", choices=["config", "true", "false"], default="config",
                    help="Streamlit's runner.postScriptGC (a full gc.collect after every run): "
                         "as .streamlit/config.toml says, or forced")
    ap.add_argument("--tag", default="run", help="key of this result in the JSON file")
    ap.add_argument("--out", default="rerun_profile")
    args = ap.parse_args(argv)
    from bench.common import RESULTS

    gc_flag = None if args.post_script_gc == "config" else args.post_script_gc == "true"
    result = measure(args.sessions, args.window, args.full_reruns, args.profile_every, gc_flag)
    path = RESULTS / f"{args.out}.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved[args.tag] = result
    path.write_text(json.dumps(saved, indent=1) + "\n")
    print(table(result))
    for key, p in result["pages"].items():
        print(f"\n{key}: top cumulative (ms per profiled run)")
        for row in p["top_cumulative"][:12]:
            print(f"  {row['cum_ms']:8.1f} {row['own_ms']:8.1f} {row['calls_per_run']:7.0f}  "
                  f"{row['function']}")
    print("fragment refresh (s):", json.dumps(result["fragment_refresh_s"]))
    print(f"\nwrote {path}")
    return result


if __name__ == "__main__":
    if os.environ.get(CONTROL_ENV):
        serve()
    else:
        main()
