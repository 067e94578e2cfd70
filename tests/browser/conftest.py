"""Browser-test harness: the real server on a free loopback port + Debian's chromium.

Fixtures
    ``server``   (session) base URL of ``streamlit run Home.py`` on the simulated market, its
                 clock starting at :data:`PINNED_NOW` (a Friday mid-session) and running on.
    ``browser``  (session) headless chromium (``/usr/bin/chromium``) driven by Playwright.
    ``page``     (function) a fresh browser tab (own context: no shared cookies/storage).
Helpers
    :func:`open_page`, :func:`wait_idle`, :func:`screenshot`, :func:`url_for`.

If chromium is missing the tests are skipped with the reason, except when env ``CI`` is set:
then they fail (CI installs it with apt, so missing means broken).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PINNED_NOW = "2026-11-20T11:30:00-05:00"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
SERVER_LOG = ROOT / "artifacts" / "browser-server.log"
START_TIMEOUT_S = 60
RUN_TIMEOUT_MS = 45_000  # one script run, cold caches included


def _require_chromium() -> str:
    path = shutil.which(CHROMIUM) or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if path:
        return path
    reason = f"chromium not found at {CHROMIUM} (Debian: apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(reason + " — required in CI", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {SERVER_LOG}")
        try:
            with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"streamlit did not answer within {START_TIMEOUT_S} s; see {SERVER_LOG}")


@contextlib.contextmanager
def running_server(now: str = PINNED_NOW, *, log_path: pathlib.Path = SERVER_LOG,
                   entry: list[str] | None = None, **env_extra):
    """``streamlit run Home.py`` on a free loopback port with the simulated market, the clock
    starting at ``now`` and ``OPTIONS_DASH_*`` overrides given as keyword arguments (e.g.
    ``OPTIONS_DASH_TTL_CHAIN_NEAR="5"``); yields the base URL, stops the server after.
    ``entry`` replaces ``streamlit run Home.py`` (e.g. ``[gated_serve.py]``, which takes the
    same ``--server.*`` flags)."""
    _require_chromium()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTIONS_DASH_")}
    env["OPTIONS_DASH_RECORD_DIR"] = str(ROOT / "artifacts" / "no-recordings")  # unless given
    env.update(OPTIONS_DASH_PROVIDER="simulated", OPTIONS_DASH_NOW=now, PYTHONUNBUFFERED="1",
               **env_extra)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, *(entry or ["-m", "streamlit", "run", "Home.py"]),
             "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(base, proc)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@pytest.fixture(scope="session")
def server():
    """Start the app once for the browser suite; stop it (and only it) afterwards."""
    with running_server() as base:
        yield base


@pytest.fixture(scope="session")
def browser(server):
    from playwright.sync_api import sync_playwright

    executable = _require_chromium()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, headless=True,
                                      args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(RUN_TIMEOUT_MS)
    try:
        yield tab
    finally:
        context.close()


# --- helpers -----------------------------------------------------------------------------------

def url_for(base: str, path: str, query: str = "") -> str:
    """URL of a page file: Home.py -> ``/``, pages/4_Option_Volume_Walls.py ->
    ``/Option_Volume_Walls`` (Streamlit drops the number prefix)."""
    if path == "Home.py":
        slug = ""
    else:
        slug = pathlib.Path(path).stem.split("_", 1)[1]
    return f"{base}/{slug}" + (f"?{query}" if query else "")


BANNER = ".od-sim-banner"


def wait_idle(tab) -> None:
    """Wait until the app is connected, the page shell has rendered (its banner) and the script
    run has finished."""
    tab.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]',
                          state="attached")
    tab.wait_for_selector(BANNER)
    idle = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    for _ in range(2):  # settled: still idle a moment later (a rerun may follow a run)
        tab.wait_for_selector(idle, state="attached")
        tab.wait_for_timeout(250)
    tab.wait_for_selector(idle, state="attached")


def open_page(tab, base: str, path: str, query: str = "") -> None:
    tab.goto(url_for(base, path, query))
    wait_idle(tab)


_CONTENT_HEIGHT_JS = """() => Math.max(...['[data-testid="stMain"]',
    '[data-testid="stMainBlockContainer"]', '[data-testid="stAppViewContainer"]']
    .map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight))"""


def screenshot(tab, name: str) -> pathlib.Path:
    """Save the whole page (Streamlit scrolls inside its own container, so the viewport is
    grown to the content's height for the shot, then restored) under artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    size = tab.viewport_size
    height = int(tab.evaluate(_CONTENT_HEIGHT_JS))
    tab.set_viewport_size({"width": size["width"], "height": max(size["height"], height + 40)})
    try:
        wait_idle(tab)
        tab.screenshot(path=str(target), full_page=True)
    finally:
        tab.set_viewport_size(size)
    return target
