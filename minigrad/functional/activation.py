"""Activations: ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax, and dropout.

The formulas are the seed article's:

* ReLU(x) = max(0, x), ReLU'(x) = 1 if x > 0 else 0 (we take ReLU'(0) = 0);
* Sigmoid(x) = 1 / (1 + e^-x), Sigmoid' = s (1 - s);
* Tanh(x) = (e^x - e^-x) / (e^x + e^-x), Tanh' = 1 - tanh^2.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import get_array_module
from ..kernels.elementwise import fused, softmax_rows_generic, softmax_rows_grad_generic
from ..tensor import Tensor
from .arithmetic import PiecewiseLinear, _as_tensor

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax",
           "dropout"]


class ReLU(PiecewiseLinear):
    """y = max(0, x);  dy/dx = 1 where x > 0 else 0 (the subgradient at 0 is 0).

    The mask is read from the saved output: y > 0 exactly where x > 0. NaN propagates.
    """

    def forward(self, x):
        y = get_array_module(x).maximum(x, 0)
        self.y = y
        return y

    @property
    def factors(self):
        return (self.y > 0,)

    def backward(self, gy):
        # gy * (y > 0), in one pass (one kernel on CUDA): kernels.elementwise
        return fused("relu_grad", gy)(gy, self.y)


def relu(x) -> Tensor:
    """Rectified linear unit ``max(0, x)``.

    Example:
        >>> F.relu(mg.tensor([-1.0, 0.0, 2.0])).numpy()
        array([0., 0., 2.], dtype=float32)
    """
    return ReLU().apply(_as_tensor(x))


class LeakyReLU(PiecewiseLinear):
    """y = x if x > 0 else a x;  dy/dx = 1 if x > 0 else a.

    Without a select (``where`` is several times slower than arithmetic on NumPy): for
    0 <= a <= 1, y = max(x, a x) and dy/dx = max([x > 0], a); otherwise y = min(x, a x)
    for a > 1, and dy/dx = [x > 0] + a [x <= 0]. All exact; NaN propagates."""

    def __init__(self, slope):
        self.slope = slope

    def forward(self, x):
        xp = get_array_module(x)
        pos = x > 0
        if self.needs_input_grad:
            self.factors = (self._dydx(pos, x.dtype),)
        y = x * self.slope
        if self.slope < 0:
            return xp.where(pos, x, y)
        return (xp.maximum if self.slope <= 1 else xp.minimum)(x, y)

    def _dydx(self, pos, dtype):
        d = pos.astype(dtype)
        if 0 <= self.slope <= 1:
            return get_array_module(d).maximum(d, dtype.type(self.slope))
        return d + (1 - d) * dtype.type(self.slope)


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """``x`` for positive inputs, ``negative_slope * x`` otherwise."""
    return LeakyReLU(negative_slope).apply(_as_tensor(x))


def sigmoid_array(x):
    """The logistic sigmoid of an array, ``1 / (1 + exp(-x))`` in place on one
    temporary: one exponential and four passes. For x below about -88.7 (float32; -709.8
    in float64) exp(-x) overflows to inf, silently, and the result is 0 (the exact value is
    subnormal there); nowhere is it inf or NaN."""
    xp = get_array_module(x)
    with np.errstate(over="ignore"):
        e = xp.exp(-x)
    e += 1
    return xp.reciprocal(e, out=e) if e.ndim else xp.reciprocal(e)     # 0-d: a scalar


class Sigmoid(Function):
    """y = 1 / (1 + e^-x);  dy/dx = y (1 - y), computed by :func:`sigmoid_array`."""

    def forward(self, x):
        self.y = y = sigmoid_array(x)
        return y

    def backward(self, gy):
        y = self.y
        g = 1 - y
        g *= y
        return gy * g

    def backward_graph(self, gy):
        y = sigmoid(self.inputs[0])
        return gy * y * (1 - y)


def sigmoid(x) -> Tensor:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, finite everywhere: where exp(-x)
    overflows (x below about -88.7 in float32) the result is 0, its limit (see
    :func:`sigmoid_array`); no warning is raised."""
    return Sigmoid().apply(_as_tensor(x))


class Tanh(Function):
    """y = tanh x;  dy/dx = 1 - y^2."""

    def forward(self, x):
        y = get_array_module(x).tanh(x)
        self.y = y
        return y

    def backward(self, gy):
        return gy * (1 - self.y * self.y)

    def backward_graph(self, gy):
        y = tanh(self.inputs[0])
        return gy * (1 - y * y)


def tanh(x) -> Tensor:
    """Hyperbolic tangent."""
    return Tanh().apply(_as_tensor(x))


_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


class GELU(Function):
    """y = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2 (exact, as PyTorch's and Keras' default);
    dy/dx = Phi(x) + x phi(x), phi the standard normal density."""

    def forward(self, x):
        self.x = x
        self.cdf = 0.5 * (1 + backend.erf(x * _INV_SQRT2))
        return x * self.cdf

    def backward(self, gy):
        xp = get_array_module(gy)
        x = self.x
        pdf = xp.exp(-0.5 * x * x) * _INV_SQRT2PI
        return gy * (self.cdf + x * pdf)

    def backward_graph(self, gy):
        from .arithmetic import exp
        x = self.inputs[0]
        pdf = exp(-0.5 * x * x) * _INV_SQRT2PI
        return gy * (_cdf(x) + x * pdf)


class _Cdf(Function):
    """Phi(x), the standard normal CDF;  dPhi/dx = phi(x)."""

    def forward(self, x):
        self.x = x
        return 0.5 * (1 + backend.erf(x * _INV_SQRT2))

    def backward(self, gy):
        xp = get_array_module(gy)
        return gy * xp.exp(-0.5 * self.x * self.x) * _INV_SQRT2PI

    def backward_graph(self, gy):
        from .arithmetic import exp
        x = self.inputs[0]
        return gy * exp(-0.5 * x * x) * _INV_SQRT2PI


def _cdf(x):
    return _Cdf().apply(x)


_K_TANH = math.sqrt(2.0 / math.pi)
_C_TANH = 0.044715


def _gelu_tanh_grad(x, t):
    """d/dx [x (1 + t) / 2] with t = tanh(k (x + c x^3)), written once for arrays (the
    backward) and Tensors (double backprop): (1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2."""
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (_K_TANH * (1 + 3 * _C_TANH * x * x))


class GELUTanh(Function):
    """y = x (1 + tanh(k (x + c x^3))) / 2, k = sqrt(2 / pi), c = 0.044715 (GPT-2's
    approximation of x Phi(x)); dy/dx in :func:`_gelu_tanh_grad`.

    ``forward`` and ``backward`` run these formulas as the kernels ``gelu_tanh`` and
    ``gelu_tanh_grad`` (:mod:`minigrad.kernels.elementwise`: in two buffers with NumPy,
    one launch on CUDA; GELU runs on a Transformer's largest activations);
    ``backward_graph`` uses :func:`_gelu_tanh_grad` as written."""

    def forward(self, x):
        y, self.t = fused("gelu_tanh", x)(x, _K_TANH, _C_TANH)
        self.x = x
        return y

    def backward(self, gy):
        return fused("gelu_tanh_grad", gy)(gy, self.x, self.t, _K_TANH, _C_TANH)

    def backward_graph(self, gy):
        x = self.inputs[0]
        t = tanh(_K_TANH * (x + _C_TANH * x * x * x))
        return gy * _gelu_tanh_grad(x, t)


def gelu(x, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit: ``x * Phi(x)`` (``approximate='none'``, the exact form,
    PyTorch's and Keras' default) or GPT-2's ``x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    / 2`` (``approximate='tanh'``; Keras' ``approximate=True`` is accepted too)."""
    if approximate is True:
        approximate = "tanh"
    elif approximate is False:
        approximate = "none"
    if approximate == "tanh":
        return GELUTanh().apply(_as_tensor(x))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU().apply(_as_tensor(x))


class Softmax(Function):
    """y_i = e^(x_i - m) / sum_j e^(x_j - m), m = max x (no overflow);
    gx = y * (gy - sum(gy * y)).

    Both run as the kernels ``softmax_rows`` and ``softmax_rows_grad``
    (:mod:`minigrad.kernels.elementwise`, where these formulas are written): over the last
    axis (attention's scores) on the rows of a 2-D view, on CUDA one launch per pass; over
    another axis their generic versions along it."""

    autocast = "float32"

    def __init__(self, axis):
        self.axis = axis

    def _rows(self, a):
        """``a`` as a 2-D array of rows along the softmax axis, or None when that axis is
        not the last one (or ``a`` is empty or 0-d)."""
        if a.ndim == 0 or a.size == 0 or self.axis not in (-1, a.ndim - 1):
            return None
        return a.reshape(-1, a.shape[-1])

    def forward(self, x):
        rows = self._rows(x)
        if rows is None:                       # another axis: the formula along it
            self.y = softmax_rows_generic(x, self.axis)
        else:
            self.y = fused("softmax_rows", x)(rows).reshape(x.shape)
        return self.y

    def backward(self, gy):
        rows = self._rows(gy)
        if rows is None:
            return softmax_rows_grad_generic(gy, self.y, self.axis)
        return fused("softmax_rows_grad", gy)(rows, self._rows(self.y)).reshape(gy.shape)

    def backward_graph(self, gy):
        from .reduce import sum as _sum
        y = softmax(self.inputs[0], self.axis)
        return y * (gy - _sum(gy * y, self.axis, keepdims=True))


def softmax(x, axis=-1) -> Tensor:
    """Softmax along ``axis``, shifted by the maximum: softmax([1e4, 0]) = [1, 0]."""
    return Softmax(axis).apply(_as_tensor(x))


class LogSoftmax(Function):
    """y = x - logsumexp(x);  gx = gy - softmax(x) * sum(gy)."""

    autocast = "float32"

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        s = x - x.max(axis=self.axis, keepdims=True)
        y = s - xp.log(xp.exp(s).sum(axis=self.axis, keepdims=True))
        self.y = y
        return y

    def backward(self, gy):
        xp = get_array_module(gy)
        return gy - xp.exp(self.y) * gy.sum(axis=self.axis, keepdims=True)

    def backward_graph(self, gy):
        from .reduce import sum as _sum
        p = softmax(self.inputs[0], self.axis)
        return gy - p * _sum(gy, self.axis, keepdims=True)


def log_softmax(x, axis=-1) -> Tensor:
    """``log(softmax(x))`` computed stably: log_softmax([1e4, 0]) = [0, -1e4]."""
    return LogSoftmax(axis).apply(_as_tensor(x))


# =====================================================================================
# Dropout
# =====================================================================================

class Dropout(PiecewiseLinear):
    """Inverted dropout: y = x * mask / (1 - rate), mask ~ Bernoulli(1 - rate);
    dy/dx = mask / (1 - rate)."""

    def __init__(self, scale_mask):
        self.factors = (scale_mask,)

    def forward(self, x):
        return x * self.factors[0]


def dropout(x, rate: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``rate`` while training, scaling the rest by
    ``1 / (1 - rate)``; identity when not training. Seeded by ``mg.manual_seed``."""
    x = _as_tensor(x)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    if not training or rate == 0.0:
        return x
    rng = backend.default_rng_for(x.device)
    # uniform draws in x's precision where the generator has it (float32, float64); float32
    # for float16 inputs, float64 for the others
    draw = x.dtype if x.dtype in (np.float32, np.float64) else \
        np.float32 if x.dtype.kind == "f" else np.float64
    keep = rng.random(x.shape, dtype=draw) >= rate
    xp = get_array_module(x.data)
    mask = xp.asarray(keep, dtype=x.dtype) * (1.0 / (1.0 - rate))
    return Dropout(mask.astype(x.dtype, copy=False)).apply(x)
