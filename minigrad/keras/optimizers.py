"""Keras optimizer names: the classes of :mod:`minigrad.optim`."""
from ..optim import SGD, Adam, AdamW, LossScaleOptimizer, Optimizer, RMSprop, get  # noqa: F401
from ..optim import schedules  # noqa: F401
