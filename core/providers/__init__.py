"""Market-data sources. Each turns its raw data into the canonical schema of :mod:`core.schema`.

Only :mod:`core.fetch` uses a provider; pages never import one. :func:`make_provider` picks the
source from ``OPTIONS_DASH_PROVIDER``: ``auto`` probes Yahoo once with a short timeout and falls
back to the simulated market, saying so in the log and in every chain's flags.
"""

from __future__ import annotations

import logging

from core.providers.base import Provider

log = logging.getLogger(__name__)


def make_provider(name: str, *, probe_timeout: float = 3.0) -> tuple[Provider, str]:
    """Return ``(provider, reason)`` for ``name`` in {auto, yahoo, simulated, replay}."""
    from core.providers.simulated import SimulatedProvider

    if name == "replay":
        return _replay()

    if name == "simulated":
        return SimulatedProvider(), "OPTIONS_DASH_PROVIDER=simulated"
    from core.providers.yahoo import YahooProvider, probe

    if name == "yahoo":
        return YahooProvider(), "OPTIONS_DASH_PROVIDER=yahoo"
    if probe(timeout=probe_timeout):
        log.info("provider: Yahoo Finance reachable, using live data")
        return YahooProvider(), "Yahoo Finance reachable"
    log.warning("provider: Yahoo Finance unreachable, falling back to the simulated market")
    return SimulatedProvider(fallback=True), "Yahoo Finance unreachable: simulated fallback"


def _replay() -> tuple[Provider, str]:
    """The replay of the recordings folder; the clock starts at ``replay_start`` when set, else
    (unless the clock is already pinned, e.g. by ``OPTIONS_DASH_NOW``) at the first snapshot of
    the last recorded session."""
    from core import clock, config, recorder
    from core.providers.replay import ReplayProvider, start_clock

    s = config.settings()
    provider = ReplayProvider(recorder.root_dir(s))
    start = None
    if s.replay_start or not clock.CLOCK.pinned:
        start = start_clock(provider, s.replay_start)
    when = f" from {start:%a %d %b %Y %H:%M} ET" if start else ""
    return provider, f"OPTIONS_DASH_PROVIDER=replay: {provider.store.root}{when}"
