"""Page tests see full exception details (production hides them: .streamlit/config.toml sets
client.showErrorDetails = "none"), so a failing page test shows the real traceback."""

from __future__ import annotations

import pytest
from streamlit.testing.v1.util import patch_config_options


@pytest.fixture(autouse=True)
def _full_error_details():
    with patch_config_options({"client.showErrorDetails": "full"}):
        yield


@pytest.fixture
def loopback():
    """The server listens on 127.0.0.1 only (as ``make run`` does): every visitor is its
    operator (core.ui.session.is_operator)."""
    with patch_config_options({"server.address": "127.0.0.1"}):
        yield


@pytest.fixture
def paused_governor():
    """The memory governor's background ticks paused and its state fresh: the test drives
    core.governor.tick() itself."""
    from core import governor

    governor.pause()
    governor.reset()
    yield governor
    governor.reset()
    governor.pause(False)
