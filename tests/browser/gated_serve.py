"""Test-only server entry: ``streamlit run Home.py`` whose provider holds back every call for
the symbols in env ``TEST_GATE_SYMBOLS`` (comma-separated) until the file ``TEST_GATE_FILE``
exists. A browser test can then see a cold scan *while it runs* (the progress bar cannot
disappear before the test has looked at it), open the gate, and watch the scan complete: no
race with the machine's speed. Never used by the product.

    python tests/browser/gated_serve.py --server.port 8599 --server.address 127.0.0.1
"""

from __future__ import annotations

import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GATE_MAX_WAIT_S = 120.0  # a forgotten gate opens by itself: the server never hangs for good


class GatedProvider:
    """The fetch layer's own provider; calls whose first argument is a gated symbol wait for
    the gate file, then go through unchanged."""

    def __init__(self, inner, gated: set[str], gate: pathlib.Path):
        self._inner, self._gated, self._gate = inner, gated, gate
        self.name = inner.name

    def _wait(self) -> None:
        deadline = time.monotonic() + GATE_MAX_WAIT_S
        while not self._gate.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def __getattr__(self, name):
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def gated(*args, **kwargs):
            if args and str(args[0]) in self._gated:
                self._wait()
            return target(*args, **kwargs)
        return gated


def main() -> None:
    os.chdir(ROOT)
    from streamlit.web import cli

    from core import fetch

    layer = fetch._get()
    gated = {s for s in os.environ.get("TEST_GATE_SYMBOLS", "").split(",") if s}
    layer.provider = GatedProvider(layer.provider, gated, pathlib.Path(os.environ["TEST_GATE_FILE"]))
    sys.argv = ["streamlit", "run", str(ROOT / "Home.py"), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
