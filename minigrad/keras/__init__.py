"""Keras-compatible names over minigrad's objects (the same objects, not copies).

    >>> import minigrad as tf
    >>> from minigrad.keras import layers, models
    >>> from minigrad.keras.datasets import mnist
"""
from .. import mixed_precision
from . import callbacks, datasets, layers, losses, models, optimizers, utils

__all__ = ["layers", "models", "datasets", "utils", "optimizers", "losses", "callbacks",
           "mixed_precision"]
