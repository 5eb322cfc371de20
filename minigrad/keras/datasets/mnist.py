"""``mnist.load_data()`` as in Keras (see :mod:`minigrad.datasets.mnist`)."""
from ...datasets.mnist import load_data  # noqa: F401
