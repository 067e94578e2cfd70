"""Pure analytics on canonical frames: no Streamlit, no I/O, no clock.

Every level and score the pages show is defined once here, with its formula, units and sign
convention in the docstring and a test that pins a case where the answer is known.
"""
