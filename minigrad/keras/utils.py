"""Keras utilities."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor

__all__ = ["to_categorical"]


def to_categorical(y, num_classes=None, dtype="float32") -> np.ndarray:
    """One-hot encode integer labels: (N,) -> (N, num_classes).

    Raises:
        ValueError: for negative labels, labels >= num_classes, or non-integer values.
    """
    y = y.numpy() if isinstance(y, Tensor) else np.asarray(y)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            raise ValueError("to_categorical: labels must be whole numbers")
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise ValueError(f"to_categorical: labels must be integers, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical: negative label {int(y.min())}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and y.max() >= num_classes:
        raise ValueError(f"to_categorical: label {int(y.max())} is out of range for "
                         f"{num_classes} classes")
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None].astype(np.intp), 1, axis=-1)
    return out
