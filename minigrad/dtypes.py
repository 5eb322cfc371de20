"""The default floating dtype of new tensors and weights, and which dtypes may require
gradients."""
from __future__ import annotations

import numpy as np

__all__ = ["set_default_dtype", "get_default_dtype", "check_grad_dtype"]

_default_dtype = [np.dtype(np.float32)]


def set_default_dtype(dtype) -> None:
    """Set the floating dtype of tensors built from Python floats and of new weights:
    float32 (the default) or float64. float16 is refused: half-precision weights and
    reductions train badly; mixed precision (float16 products, float32 weights, loss
    scaling) is ``mixed_precision.set_global_policy('mixed_float16')``."""
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"default dtype must be a floating dtype, got {dt}")
    if dt not in (np.float32, np.float64):
        raise ValueError(f"default dtype {dt} is not supported: use float32 or float64 "
                         "(for float16 training use mixed precision: "
                         "minigrad.mixed_precision.set_global_policy('mixed_float16'))")
    _default_dtype[0] = dt


def get_default_dtype() -> np.dtype:
    """The floating dtype used for Python floats and random constructors."""
    return _default_dtype[0]


def check_grad_dtype(dtype) -> None:
    """Raise TypeError unless tensors of ``dtype`` may require gradients (floating or
    complex)."""
    if np.dtype(dtype).kind not in "fc":
        raise TypeError(
            f"only floating point tensors can require gradients; this tensor has dtype "
            f"{np.dtype(dtype)} (integer and bool tensors hold labels and masks). "
            "Convert with .astype('float32') first.")
