"""Start and watch a real app server for the session benches (bench/serve.py in a subprocess).

The server runs exactly like ``make run`` (``streamlit run Home.py`` with the shipped
``.streamlit/config.toml``) on a free loopback port, on the simulated market with the clock
starting at :data:`PINNED_NOW` and running on; ``bench/serve.py`` adds only the stats file (and
the st.cache_data swap / churn driver when asked).
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import psutil

ROOT = pathlib.Path(__file__).resolve().parents[1]
PINNED_NOW = "2026-11-20T11:30:00-05:00"
LOGS = ROOT / "artifacts" / "bench"
MB = 2**20


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``with Server(variant="ours") as srv:`` -> ``srv.base`` (http URL), ``srv.rss()``,
    ``srv.stats()`` (last stats line), ``srv.sampler`` (RSS samples every 0.2 s)."""

    def __init__(self, name: str, *, variant: str = "ours", env: dict | None = None,
                 stats_every: float = 1.0):
        self.name = name
        self.variant = variant
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"{name}.log"
        self.stats_path = LOGS / f"{name}.stats.jsonl"
        self.stats_path.unlink(missing_ok=True)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("OPTIONS_DASH_", "BENCH_"))}
        self.env.update(OPTIONS_DASH_PROVIDER="simulated", OPTIONS_DASH_NOW=PINNED_NOW,
                        PYTHONUNBUFFERED="1", BENCH_VARIANT=variant,
                        BENCH_STATS=str(self.stats_path), BENCH_STATS_EVERY=str(stats_every))
        self.env.update(env or {})
        self.proc: subprocess.Popen | None = None
        self.ps: psutil.Process | None = None
        self.samples: list[tuple[float, int]] = []  # (epoch s, rss bytes), every 0.2 s
        self._stop = threading.Event()

    # -- lifecycle --
    def start(self, timeout: float = 90.0) -> "Server":
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "serve.py"), "--server.port", str(self.port),
             "--server.address", "127.0.0.1"],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.base + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"server not healthy in {timeout} s; see {self.log_path}")
        threading.Thread(target=self._sample, daemon=True, name=f"rss-{self.name}").start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- watching --
    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.time(), self.ps.memory_info().rss))
            except psutil.Error:
                return
            self._stop.wait(0.2)

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def peak_since(self, t0: float) -> int:
        return max((b for t, b in self.samples if t >= t0), default=self.rss())

    def settled_rss(self, *, window: float = 4.0, tolerance_mb: float = 1.0,
                    max_cpu: float = 0.15, timeout: float = 45.0) -> int:
        """RSS once the server is quiet: over the last ``window`` seconds RSS moved less than
        ``tolerance_mb`` and the process used less than ``max_cpu`` of a core (no run or
        background refresh in flight). Returns the median RSS of that window (or of the last
        window at ``timeout``)."""
        start = time.time()
        cpu = [(start, self.cpu_seconds())]
        while True:
            time.sleep(0.5)
            now = time.time()
            cpu.append((now, self.cpu_seconds()))
            recent = [b for t, b in self.samples if t >= now - window]
            past = [c for c in cpu if c[0] <= now - window]
            if past and recent:
                busy = (cpu[-1][1] - past[-1][1]) / (now - past[-1][0])
                if busy <= max_cpu and (max(recent) - min(recent)) / MB <= tolerance_mb:
                    break
            if now - start >= timeout:
                break
        recent.sort()
        return recent[len(recent) // 2] if recent else self.rss()

    def collect(self, timeout: float = 15.0) -> bool:
        """Ask the server for one full ``gc.collect()`` (bench/serve.py) and wait for it."""
        t = time.time()
        pathlib.Path(str(self.stats_path) + ".gc").touch()
        deadline = t + timeout
        while time.time() < deadline:
            if (self.stats().get("gc_at") or 0) >= t:
                return True
            time.sleep(0.2)
        return False

    def stats(self) -> dict:
        """The last line of the server's stats file ({} before the first)."""
        lines = self.stats_lines()
        return lines[-1] if lines else {}

    def stats_lines(self) -> list[dict]:
        if not self.stats_path.exists():
            return []
        out = []
        for line in self.stats_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written
                continue
        return out

    def wait_stats(self, after: float, timeout: float = 10.0) -> dict:
        """The first stats line written after epoch ``after``."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.stats()
            if line.get("t", 0) > after:
                return line
            time.sleep(0.2)
        return self.stats()
