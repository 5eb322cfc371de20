"""Keras dataset modules: ``mnist.load_data()``, ``fashion_mnist.load_data()``."""
from . import fashion_mnist, mnist

__all__ = ["mnist", "fashion_mnist"]
