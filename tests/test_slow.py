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
    """examples/mnist_cnn.py, unchanged: 10 epochs on the full MNIST, >= 0.99 test accuracy."""
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mnist_cnn.py")],
                         capture_output=True, text=True, check=True, timeout=3000).stdout
    assert "Data: MNIST full" in out
    acc = float(re.findall(r"Test accuracy: ([0-9.]+)", out)[-1])
    assert acc >= 0.99, out[-2000:]
