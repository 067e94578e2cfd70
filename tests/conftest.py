"""Test set-up shared by every test: the simulated market, a pinned clock, a fresh fetch layer.

The environment is set before any ``core`` import so that ``core.config`` and ``core.clock``
read it: tests never reach Yahoo and never depend on the wall clock.
"""

from __future__ import annotations

import collections
import os
import tempfile

os.environ["OPTIONS_DASH_PROVIDER"] = "simulated"
os.environ.pop("OPTIONS_DASH_NOW", None)
# no test reads a developer's own recordings (data/recordings): an empty folder unless a test
# points OPTIONS_DASH_RECORD_DIR elsewhere
EMPTY_RECORDINGS = os.path.join(tempfile.mkdtemp(prefix="od-no-recordings-"), "none")
KEEP_ENV = ("OPTIONS_DASH_PROVIDER", "OPTIONS_DASH_RECORD_DIR")
os.environ["OPTIONS_DASH_RECORD_DIR"] = EMPTY_RECORDINGS

import pytest  # noqa: E402

from core import clock, config, fetch  # noqa: E402

TRADING_DAY = "2026-11-20 11:30"   # a Friday mid-session
SATURDAY = "2026-11-21 12:00"
EARLY_CLOSE_DAY = "2026-11-27 11:00"  # the day after Thanksgiving closes at 13:00 ET


class CountingProvider:
    """The real simulated market, counting the calls that reach it (per method and argument)
    and able to fail on demand (``fail_with = Unavailable(...)``) — the upstream seen by the
    fetch layer, not a replacement for what is under test."""

    def __init__(self, inner=None):
        from core.providers.simulated import SimulatedProvider

        self.inner = inner or SimulatedProvider()
        self.name = self.inner.name
        self.remote = False
        self.calls: collections.Counter = collections.Counter()
        self.fail_with: Exception | None = None
        self.delay = 0.0

    def _call(self, method, *args):
        import time
        self.calls[method] += 1
        self.calls[(method, *args)] += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        return getattr(self.inner, method)(*args)

    def expirations(self, symbol):
        return self._call("expirations", symbol)

    def chain(self, symbol, expiry):
        return self._call("chain", symbol, expiry)

    def quote(self, symbol):
        return self._call("quote", symbol)

    def history(self, symbol, period, interval):
        return self._call("history", symbol, period, interval)

    def short_volume(self, symbol, day):
        return self._call("short_volume", symbol, day)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """Each test: settings from a clean env, the clock frozen mid-session, a fresh fetch layer."""
    for key in list(os.environ):
        if key.startswith("OPTIONS_DASH_") and key not in KEEP_ENV:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OPTIONS_DASH_RECORD_DIR", EMPTY_RECORDINGS)
    config.reload()
    with clock.frozen(TRADING_DAY):
        fetch.reset()
        yield
        fetch.reset()
    config.reload()


@pytest.fixture
def upstream():
    """A counting simulated upstream installed in a fresh fetch layer."""
    provider = CountingProvider()
    fetch.reset(provider)
    return provider
