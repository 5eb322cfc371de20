"""The benchmarks' NumPy reference implementations compute what minigrad computes (so a
benchmark compares equal work)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "benchmarks"))

import bench_ops  # noqa: E402


def test_numpy_floors_match_minigrad():
    bench_ops.verify()


def test_a_second_run_on_the_same_day_keeps_the_first_results(tmp_path):
    """Results are kept per run: a later run of the same benchmark on the same day
    (another machine, another setting) is written next to the earlier one, never over it."""
    import json

    import common
    first = common.save("train", {"run": 1}, str(tmp_path))
    second = common.save("train", {"run": 2}, str(tmp_path))
    third = common.save("train", {"run": 3}, str(tmp_path))
    assert len({first, second, third}) == 3
    assert os.path.basename(first).startswith("train-") and first.endswith(".json")
    for path, run in ((first, 1), (second, 2), (third, 3)):
        with open(path) as f:
            assert json.load(f) == {"run": run}
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p)
                                                  for p in (first, second, third))
