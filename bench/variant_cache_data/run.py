"""Serve Home.py and the pages on the st.cache_data variant of the fetch layer.

    OPTIONS_DASH_PROVIDER=simulated python bench/variant_cache_data/run.py --server.port 8599

= ``BENCH_VARIANT=cache_data python bench/serve.py ...``: imports core.fetch, swaps its public
data functions for st.cache_data wrappers (cache_data.py), then runs streamlit's own ``run``
command in this process, so the pages import the already-patched module. No sitecustomize.
"""

import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
os.environ["BENCH_VARIANT"] = "cache_data"

from bench.serve import main  # noqa: E402

if __name__ == "__main__":
    main()
