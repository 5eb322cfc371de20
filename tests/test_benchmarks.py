"""The benchmarks' NumPy reference implementations compute what minigrad computes (so a
benchmark compares equal work)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "benchmarks"))

import bench_ops  # noqa: E402


def test_numpy_floors_match_minigrad():
    bench_ops.verify()
