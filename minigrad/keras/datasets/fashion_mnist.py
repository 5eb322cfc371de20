"""``fashion_mnist.load_data()`` as in Keras (see :mod:`minigrad.datasets.mnist`)."""
from ...datasets.mnist import load_fashion_mnist as load_data  # noqa: F401
