"""Keras loss names: the classes of :mod:`minigrad.losses`."""
from ..losses import (BinaryCrossentropy, CategoricalCrossentropy, Loss,  # noqa: F401
                      MeanSquaredError, SparseCategoricalCrossentropy, get)
