"""The data side of training: inputs checked as arrays, batches, the validation split,
device scalars read in one transfer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .. import backend
from ..backend import get_array_module
from ..functional.loss import check_class_targets
from ..tensor import Tensor, get_default_dtype

__all__ = ["Run", "as_batch_array", "as_targets", "batch", "split_off_validation", "read_scalars",
           "check_finite_data"]


def as_batch_array(a, name):
    """``a`` (an array, a Tensor, nested lists) as an array of real numbers, named
    ``name`` in the error otherwise."""
    if isinstance(a, Tensor):
        a = a.data
    elif isinstance(a, (list, tuple)):
        a = np.asarray(a)
    if not hasattr(a, "shape") or not hasattr(a, "dtype"):
        raise TypeError(f"{name} must be an array, got {type(a).__name__}")
    if np.dtype(a.dtype).kind not in "biuf":
        raise TypeError(f"{name} has dtype {a.dtype}: the model takes real numbers (bool, "
                        "integer or floating point)"
                        + (" and would drop the imaginary part" if a.dtype.kind == "c"
                           else ""))
    return a


def read_scalars(arrays):
    """Read several device scalars with ONE device-to-host transfer."""
    if not arrays:
        return []
    xp = get_array_module(arrays[0])
    if xp is np:
        return [float(a) for a in arrays]
    stacked = xp.stack([xp.asarray(a, dtype=xp.float64).reshape(()) for a in arrays])
    return [float(v) for v in backend.to_host(stacked)]


def check_finite_data(x, name):
    xp = get_array_module(x)
    bad = ~xp.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
    if bool(bad.any()):
        i = int(xp.argmax(bad))
        raise ValueError(f"fit: {name}[{i}] contains NaN or Inf")


@dataclass
class Run:
    """What one ``fit`` call needs at every epoch."""

    x: object
    y: object
    batch_size: int
    steps: int
    epochs: int
    shuffle: bool
    verbose: int
    callbacks: list
    quiet_nan: bool                    # a TerminateOnNaN callback stops the training
    validation: Optional[tuple]
    validation_batch_size: int
    rng: object

    def non_finite_loss(self, epoch, b, loss):
        """Raise, naming the epoch and batch, unless a TerminateOnNaN callback is given
        (it is told, and stops the training)."""
        if not self.quiet_nan:
            raise FloatingPointError(
                f"fit: the loss became {loss} at epoch {epoch + 1}, batch {b + 1} of "
                f"{self.steps}; that batch's update was not applied, so the weights are "
                "those of the step before. Lower the learning rate or check the data "
                "(check_finite=True finds non-finite inputs)")
        for cb in self.callbacks:
            cb.on_train_batch_end(b, {"loss": loss})


def batch(x, y, b, batch_size, order):
    """Batch ``b``: the next ``batch_size`` samples, in ``order`` when shuffling."""
    idx = slice(b * batch_size, min((b + 1) * batch_size, x.shape[0]))
    if order is not None:
        idx = order[idx]
        if not isinstance(x, np.ndarray):     # data already on a device
            idx = backend.move(idx, backend.device_of(x))
    return x[idx], y[idx]


def split_off_validation(x, y, fraction):
    """Keras' ``validation_split``: the last ``fraction`` of the samples (before any
    shuffling) held out; returns (x, y, (x_val, y_val))."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fit: validation_split must be in (0, 1), got {fraction!r}")
    n_val = int(x.shape[0] * fraction)
    if n_val == 0 or n_val == x.shape[0]:
        raise ValueError(f"fit: validation_split={fraction} leaves an empty split of "
                         f"{x.shape[0]} samples")
    return x[:-n_val], y[:-n_val], (x[-n_val:], y[-n_val:])


def as_targets(y, out_shape, kind, what):
    """The targets ``y`` checked against the model's output shape for a loss of this
    ``kind`` ('sparse' labels, 'categorical'/'binary' one-hot or probabilities,
    'regression' values), converted to what the loss takes. ``y`` has as many samples
    as the inputs (checked before)."""
    if kind == "sparse":
        if y.ndim == 2 and y.shape[1] == 1 and len(out_shape) == 2:
            y = y.reshape(-1)
        # one label per output vector: (N,) for outputs (N, C), (N, T) for (N, T, C)
        want = (y.shape[0],) + tuple(out_shape[1:-1])
        if tuple(y.shape) != want:
            raise ValueError(f"{what}: sparse_categorical_crossentropy needs integer labels "
                             f"of shape {want}, got {tuple(y.shape)}")
        if np.dtype(y.dtype).kind == "f":
            if not bool((y == y.astype(np.int64)).all()):
                raise ValueError(f"{what}: labels must be whole numbers")
            y = y.astype(np.int64)
        check_class_targets(y, out_shape[-1])
    elif kind in ("categorical", "binary", "regression"):
        if tuple(y.shape[1:]) != tuple(out_shape[1:]):
            hint = ""
            if kind == "categorical" and y.ndim == 1:
                hint = (" (integer labels: use to_categorical(y, num_classes) or "
                        "loss='sparse_categorical_crossentropy')")
            raise ValueError(f"{what}: targets of shape {tuple(y.shape)} do not match the "
                             f"model output shape (None, {', '.join(map(str, out_shape[1:]))})"
                             + hint)
        if np.dtype(y.dtype).kind != "f":
            y = y.astype(get_default_dtype())
    return y
