"""Fixtures of the provider tests: the fake Yahoo network (see ``yahoo_net``)."""

import pytest
from curl_cffi import requests as curl_requests

from core.providers import yahoo
from tests.providers.yahoo_net import FakeYahoo


@pytest.fixture
def net(monkeypatch, tmp_path):
    """Yahoo served by FakeYahoo through curl_cffi's Session.request; yfinance state isolated."""
    fake = FakeYahoo()

    def request(session, method, url, *args, **kwargs):
        return fake(method, url, **kwargs)

    monkeypatch.setattr(curl_requests.Session, "request", request)
    with yahoo.isolated(str(tmp_path)):
        yield fake
