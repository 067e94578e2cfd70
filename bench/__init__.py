"""Benchmarks: run each with `python -m bench.<name>`; `make bench` runs the quick set.

Results go to bench/results/*.json (and PNG plots); BENCHMARKS.md quotes them with the command,
date and machine. Nothing here is a timed assertion in the test suite.
"""
