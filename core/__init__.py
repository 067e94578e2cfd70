"""Options dashboard core: everything that runs without Streamlit (except ``core.ui``).

Path a number takes: page -> ``core.fetch`` -> ``core.providers.<source>`` ->
``core.analytics.<module>.<function>``. See ``../shared/DESIGN.md``.
"""
