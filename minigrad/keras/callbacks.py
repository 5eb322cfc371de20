"""Keras callback names: the classes of :mod:`minigrad.callbacks`."""
from ..callbacks import (CSVLogger, Callback, EarlyStopping, History,  # noqa: F401
                         LearningRateScheduler, ModelCheckpoint, TensorBoard,
                         TerminateOnNaN)
