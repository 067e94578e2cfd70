"""Yahoo's HTTP answers served to yfinance through curl_cffi's own ``Session.request``.

Shared by the Yahoo adapter tests (``test_yahoo.py``: hand-made answers in Yahoo's format under
``tests/fixtures/yahoo``; ``test_yahoo_real.py``: REAL recorded answers under
``tests/fixtures/yahoo-real``, sources in its SOURCES.md). Only the transport is replaced:
cookie, crumb, yfinance's request building and JSON parsing all run.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import threading
import urllib.parse

from curl_cffi.requests.models import Response

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
CRUMB = "Rf0Xq9TzV3m"
OPTIONS = "/v7/finance/options/"
CHART = "/v8/finance/chart/"


def yahoo_epoch(day: str) -> str:
    """Yahoo's expiry key: 00:00 UTC of the expiry date, in epoch seconds."""
    return str(int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc).timestamp()))


class FakeYahoo:
    """Answers yfinance's HTTP requests from recorded payloads, and records every request.

    Routes are keyed by (URL path, ``date`` query value, ``range`` param); each holds a list of
    answers served in turn (the last one repeats). An answer is ``(status, body)`` or an
    exception to raise. Yahoo's cookie host answers 404 (as fc.yahoo.com does) and
    ``/v1/test/getcrumb`` answers the crumb; anything unrouted answers 404.
    """

    def __init__(self):
        self.routes: dict = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def on(self, path, *answers, date=None, range_=None):
        self.routes[(path, date, range_)] = [
            a if isinstance(a, (tuple, BaseException)) else (200, a) for a in answers]
        return self

    def options(self, symbol, *answers, date=None):
        return self.on(OPTIONS + symbol, *answers, date=date)

    def chart(self, symbol, range_, *answers):
        return self.on(CHART + symbol, *answers, range_=range_)

    def _same_as_nearest(self, path, date):
        """Yahoo answers ``?date=`` of the expiry its no-date answer carries with that same
        answer: serve the no-date route's current answer when its expiry is ``date``."""
        answers = self.routes.get((path, None, None))
        if not answers or isinstance(answers[0], BaseException):
            return None
        status, body = answers[0]
        try:
            option = json.loads(body)["optionChain"]["result"][0]["options"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        return [answers[0]] if str(option.get("expirationDate")) == str(date) else None

    def of(self, path_part):
        return [r for r in self.requests if path_part in r["path"]]

    def __call__(self, method, url, params=None, timeout=None, **_):
        parts = urllib.parse.urlsplit(str(url))
        query = dict(urllib.parse.parse_qsl(parts.query))
        params = dict(params or {})
        with self.lock:
            self.requests.append({"method": method, "host": parts.netloc, "path": parts.path,
                                  "date": query.get("date"), "params": params,
                                  "timeout": timeout})
            key = (parts.path, query.get("date"), params.get("range"))
            answers = self.routes.get(key)
            if answers is None and key[1] is not None:
                answers = self._same_as_nearest(parts.path, key[1])
            answer = (answers.pop(0) if len(answers) > 1 else answers[0]) if answers else None
        if isinstance(answer, BaseException):
            raise answer
        if answer is None:
            if parts.path == "/v1/test/getcrumb":
                answer = (200, CRUMB)
            else:
                answer = (404, "")
        status, body = answer
        response = Response()
        response.url = str(url)
        response.status_code = status
        response.ok = status < 400
        response.reason = "OK" if status < 400 else "Error"
        response.content = body.encode() if isinstance(body, str) else body
        return response


def payload(name: str) -> bytes:
    """A hand-made answer in Yahoo's format (tests/fixtures/yahoo)."""
    return (FIXTURES / "yahoo" / name).read_bytes()


def real(name: str) -> bytes:
    """A real recorded Yahoo answer (tests/fixtures/yahoo-real, see its SOURCES.md)."""
    return (FIXTURES / "yahoo-real" / name).read_bytes()
