"""Training, Keras style: ``Model`` (compile / fit / evaluate / predict), the Keras
``Sequential`` (a :class:`minigrad.nn.Sequential` with that API), metrics and the progress
bar. This package sits above :mod:`minigrad.nn`, which never imports it."""
from .model import Model
from .progress import ProgressBar
from .sequential import Sequential

__all__ = ["Model", "Sequential", "ProgressBar"]
