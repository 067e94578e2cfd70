"""Benchmark-only: the same pages served with st.cache_data wrappers instead of core.fetch's
bounded caches (see cache_data.py). Start it with ``python bench/variant_cache_data/run.py
--server.port 8599`` (same flags as ``streamlit run``)."""
