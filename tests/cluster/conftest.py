"""Real services for the ``cluster`` tests: a redis-server (and, via ``cluster.run``, haproxy
and Streamlit replicas) on free loopback ports. Skipped with the reason when a binary or
redis-py is missing (``.ci/run`` installs redis-server and haproxy, so CI runs them)."""

from __future__ import annotations

import pytest

from cluster import services
from core import config, fetch


def need(*binaries: str) -> None:
    missing = [b for b in binaries if services.find_binary(b) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install -y redis-server "
                    "haproxy; .ci/run does)")
    try:
        import redis  # noqa: F401
    except ImportError:
        pytest.skip("redis-py not installed (pip install -r requirements.txt)")


@pytest.fixture
def redis_server(tmp_path):
    """A fresh redis-server (password set, 64 MB, allkeys-lru) on a free loopback port."""
    need("redis-server")
    srv = services.Redis(tmp_path / "redis", password="test-" + tmp_path.name)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def l2_env(redis_server, monkeypatch):
    """Settings pointing the fetch layer at ``redis_server``."""
    monkeypatch.setenv("OPTIONS_DASH_REDIS_URL", redis_server.url)
    monkeypatch.setenv("OPTIONS_DASH_REDIS_PASSWORD", redis_server.password)
    config.reload()
    yield redis_server
    fetch.reset()  # closes the L2 before Redis stops

