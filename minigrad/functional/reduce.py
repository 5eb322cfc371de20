"""Reductions: sum, mean, var, max, min, argmax, argmin, logsumexp."""
from __future__ import annotations

import builtins

import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor
from .arithmetic import _as_tensor

__all__ = ["sum", "mean", "var", "max", "min", "argmax", "argmin", "logsumexp"]


def _norm_axis(axis, ndim):
    if axis is None:
        return None
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        if not -builtins.max(ndim, 1) <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor of {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def _keep_shape(in_shape, axis):
    """The output shape with reduced axes kept as 1 (for broadcasting the grad back)."""
    if axis is None:
        return (1,) * len(in_shape)
    return tuple(1 if i in axis else s for i, s in enumerate(in_shape))


class Sum(Function):
    """y = sum over axes;  dy/dx = 1 broadcast back."""

    autocast = "float32"

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.in_shape, self.in_size = x.shape, x.size
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        if type(gy) is np.ndarray and gy.size == 1 and self.in_size <= 1 << 16:
            # np.broadcast_to costs microseconds of Python; a filled array is faster for
            # the scalar losses every training step ends with.
            g = np.empty(self.in_shape, dtype=gy.dtype)
            g.fill(gy.reshape(()))
            return g
        if not self.keepdims:
            gy = gy.reshape(_keep_shape(self.in_shape, self.axis))
        return get_array_module(gy).broadcast_to(gy, self.in_shape)

    def backward_graph(self, gy):
        from .shape import broadcast_to, reshape
        if not self.keepdims:
            gy = reshape(gy, _keep_shape(self.in_shape, self.axis))
        return broadcast_to(gy, self.in_shape)


def sum(x, axis=None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (an int, a tuple, or None for all)."""
    x = _as_tensor(x)
    return Sum(None if axis is None else _norm_axis(axis, x.ndim), keepdims).apply(x)


def _count(shape, axis) -> int:
    if axis is None:
        return int(np.prod(shape))
    return int(np.prod([shape[a] for a in axis]))


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis``: ``sum(x) / n``."""
    x = _as_tensor(x)
    ax = _norm_axis(axis, x.ndim)
    n = _count(x.shape, ax)
    if n == 0:
        raise ValueError(f"mean of an empty selection (shape {x.shape}, axis {axis})")
    return Sum(ax, keepdims).apply(x) * (1.0 / n)


def var(x, axis=None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance ``sum((x - mean)^2) / (n - ddof)`` (population variance by default)."""
    x = _as_tensor(x)
    ax = _norm_axis(axis, x.ndim)
    n = _count(x.shape, ax)
    if n - ddof <= 0:
        raise ValueError(f"var: {n} elements with ddof={ddof} leave no degrees of freedom")
    d = x - mean(x, ax, keepdims=True)
    return sum(d * d, ax, keepdims) * (1.0 / (n - ddof))


class _Extreme(Function):
    """Max or min over axes. Ties share the gradient evenly (as numpy's amax subgradient
    average): with k equal maxima each receives gy / k."""

    use_max = True

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        if x.size == 0:
            raise ValueError("max/min of an empty tensor")
        self.x = x
        f = x.max if self.use_max else x.min
        y = f(axis=self.axis, keepdims=True)
        self.y = y
        return y if self.keepdims else y.reshape(
            tuple(s for i, s in enumerate(x.shape)
                  if self.axis is not None and i not in self.axis))

    def _weights(self):
        mask = (self.x == self.y).astype(self.x.dtype)
        return mask / mask.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        gy = gy.reshape(self.y.shape)
        return gy * self._weights()

    def backward_graph(self, gy):
        from .shape import reshape
        return reshape(gy, self.y.shape) * Tensor._wrap(self._weights())


class Max(_Extreme):
    use_max = True


class Min(_Extreme):
    use_max = False


def max(x, axis=None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; tied maxima split the gradient evenly."""
    x = _as_tensor(x)
    return Max(_norm_axis(axis, x.ndim), keepdims).apply(x)


def min(x, axis=None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``; tied minima split the gradient evenly."""
    x = _as_tensor(x)
    return Min(_norm_axis(axis, x.ndim), keepdims).apply(x)


def _arg(name, x, axis, keepdims) -> Tensor:
    x = _as_tensor(x)
    xp = get_array_module(x.data)
    r = getattr(xp, name)(x.data, axis=axis)
    if keepdims:
        r = xp.expand_dims(r, axis) if axis is not None else r.reshape((1,) * x.ndim)
    return Tensor._wrap(xp.asarray(r))


def argmax(x, axis=None, keepdims: bool = False) -> Tensor:
    """Index of the maximum (int64 tensor, not differentiable)."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims: bool = False) -> Tensor:
    """Index of the minimum (int64 tensor, not differentiable)."""
    return _arg("argmin", x, axis, keepdims)


class LogSumExp(Function):
    """y = log(sum(exp(x))) computed as m + log(sum(exp(x - m))) with m = max(x);
    dy/dx = softmax(x)."""

    autocast = "float32"

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        xp = get_array_module(x)
        m = x.max(axis=self.axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        e = xp.exp(x - m)
        s = e.sum(axis=self.axis, keepdims=True)
        self.p = e / s
        y = xp.log(s) + m
        if not self.keepdims:
            y = y.reshape(tuple(d for i, d in enumerate(x.shape)
                                if self.axis is not None and i not in self.axis))
        return y

    def backward(self, gy):
        return gy.reshape(_keep_shape(self.p.shape, self.axis)) * self.p

    def backward_graph(self, gy):
        from .activation import softmax
        from .shape import reshape
        x = self.inputs[0]
        p = softmax(x, self.axis)
        return reshape(gy, _keep_shape(self.p.shape, self.axis)) * p


def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    """``log(sum(exp(x), axis))`` without overflow (shifted by the maximum)."""
    x = _as_tensor(x)
    return LogSumExp(_norm_axis(axis, x.ndim), keepdims).apply(x)
