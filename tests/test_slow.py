"""Long runs, deselected by default (``python3 -m pytest -m slow`` runs them)."""
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(not os.path.isdir(os.path.join(os.environ.get("MINIGRAD_DATA", "-"), "mnist")),
                    reason="the full MNIST is not present ($MINIGRAD_DATA/mnist)")
def test_article_program_reaches_the_articles_accuracy():
    """examples/mnist_cnn.py, unchanged: 10 epochs on the full MNIST, >= 0.99 test accuracy.

    Seeded through MINIGRAD_SEED (default 0) so that the run is reproducible: unseeded
    runs end between about 0.9895 and 0.993 (see examples/README.md), so an unseeded
    check at 0.99 would fail now and then without any change to minigrad.
    """
    env = dict(os.environ, MINIGRAD_SEED=os.environ.get("MINIGRAD_SEED", "0"))
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mnist_cnn.py")],
                         capture_output=True, text=True, check=True, timeout=3000,
                         env=env).stdout
    assert "Data: MNIST full" in out
    acc = float(re.findall(r"Test accuracy: ([0-9.]+)", out)[-1])
    assert acc >= 0.99, out[-2000:]
