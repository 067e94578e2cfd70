"""Outage memory for one data source: a circuit breaker (closed → open → half-open probe).

Without it every view pays a dead source's full timeout again (8 s a symbol behind a network
that drops packets). The fetch layer asks :meth:`CircuitBreaker.admit` before each upstream call
and reports the outcome:

* **closed** — calls go out. ``failures`` consecutive failures (``Unavailable``, or any
  unexpected exception the fetch layer maps to it) open the breaker.
* **open** — calls fail fast with :class:`~core.errors.Unavailable` ("source down since
  HH:MM ET") and cost nothing; the caches serve their stale copies meanwhile. After
  ``open_s`` seconds the breaker lets exactly ONE probe through (**half-open**); every other
  caller keeps failing fast while the probe runs.
* the probe's success closes the breaker (``down_since`` cleared); its failure opens it again
  for another ``open_s`` seconds.

An answer that is not a failure of the source (a symbol it does not know, a rate limit) counts
as the source being up. Time is :func:`core.clock.timer` (so tests step the pinned clock) and
``down_since`` is :func:`core.clock.now` (ET). Thread-safe; no Streamlit, no I/O.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from core import clock
from core.errors import Unavailable

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    """One source's breaker (see the module docstring). ``failures``: consecutive failures
    that open it; ``open_s``: seconds it fails fast before one probe."""

    def __init__(self, name: str, *, failures: int = 3, open_s: float = 30.0):
        if failures < 1 or open_s <= 0:
            raise ValueError("failures >= 1 and open_s > 0")
        self.name = name
        self.threshold = failures
        self.open_s = float(open_s)
        self.state = CLOSED
        self.consecutive = 0
        self.opened_at = 0.0            # clock.timer() when it last opened
        self.down_since: dt.datetime | None = None  # first failure of the current outage
        self._probing = False
        self._lock = threading.Lock()
        self.fast_failures = 0          # calls refused without touching the source
        self.opens = 0
        self.probes = 0

    # -- before a call --
    def admit(self) -> None:
        """Return when a call may go out; raise Unavailable at once while open (or while
        another caller's half-open probe is in flight)."""
        with self._lock:
            if self.state == CLOSED:
                return
            now = clock.timer()
            if self.state == OPEN and now - self.opened_at >= self.open_s:
                self.state = HALF_OPEN
            if self.state == HALF_OPEN and not self._probing:
                self._probing = True
                self.probes += 1
                return
            self.fast_failures += 1
            retry = max(0.0, self.open_s - (now - self.opened_at))
            raise Unavailable(f"{self.message()} Retrying in {retry:.0f} s; cached data is "
                              "shown where there is a copy.")

    # -- after a call --
    def succeeded(self) -> None:
        with self._lock:
            if self.state != CLOSED:
                log.warning("source %s is back (down since %s)", self.name,
                            self.down_since and f"{self.down_since:%H:%M:%S}")
            self.state, self.consecutive, self.down_since, self._probing = CLOSED, 0, None, False

    def failed(self) -> None:
        with self._lock:
            self.consecutive += 1
            if self.down_since is None:
                self.down_since = clock.now()
            probe_failed = self.state == HALF_OPEN
            if probe_failed or (self.state == CLOSED and self.consecutive >= self.threshold):
                if self.state == CLOSED:
                    log.warning("source %s down after %d failures: failing fast for %.0f s",
                                self.name, self.consecutive, self.open_s)
                self.state, self.opened_at, self._probing = OPEN, clock.timer(), False
                self.opens += 1

    # -- reading --
    @property
    def is_open(self) -> bool:
        return self.state != CLOSED

    def message(self) -> str:
        since = self.down_since
        when = f" since {since.astimezone(clock.ET):%H:%M} ET" if since else ""
        return f"The data source ({self.name}) is down{when}."

    def stats(self) -> dict:
        with self._lock:
            return {"name": self.name, "state": self.state, "consecutive": self.consecutive,
                    "down_since": self.down_since, "opens": self.opens, "probes": self.probes,
                    "fast_failures": self.fast_failures}
