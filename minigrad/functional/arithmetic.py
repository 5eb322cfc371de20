"""Elementwise arithmetic: + - * / ** neg, exp, log, sqrt, abs, clip, maximum, minimum,
where, comparisons.

Each op is a Function with ``forward`` and ``backward`` on arrays (the fast path) and
``backward_graph`` on Tensors (double backprop). Broadcasting is undone by the engine,
so a backward returns gradients with the broadcast (output) shape.
"""
from __future__ import annotations

import numpy as np

from ..autograd import SCALAR_TYPES, Function
from ..backend import get_array_module
from ..tensor import Tensor, as_array

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clip",
           "maximum", "minimum", "where", "compare", "lift"]


def lift(value, like: Tensor = None) -> Tensor:
    """Make ``value`` a Tensor for an op with ``like``.

    Python numbers become constants that keep ``like``'s dtype (as in NumPy 2 and
    PyTorch); arrays move to ``like``'s device, and next to a floating ``like`` every
    numeric array takes its dtype (as PyTorch: a float32 tensor and an int64 array give
    float32; NumPy would give float64).
    """
    if isinstance(value, Tensor):
        return value
    if type(value) in SCALAR_TYPES:
        return Tensor._wrap(value)
    if isinstance(value, np.generic):
        return Tensor._wrap(value.item())
    if like is None:
        return Tensor._wrap(as_array(value, copy=False))
    arr = as_array(value, device=like.device, copy=False)
    if like.dtype.kind == "f" and arr.dtype.kind in "fiub" and arr.dtype != like.dtype:
        arr = arr.astype(like.dtype)
    return Tensor._wrap(arr)


def _pair(x0, x1):
    if isinstance(x0, Tensor):
        return x0, (x1 if isinstance(x1, Tensor) else lift(x1, x0))
    x1 = x1 if isinstance(x1, Tensor) else lift(x1)
    return lift(x0, x1), x1


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else lift(x)


# =====================================================================================
# Binary arithmetic
# =====================================================================================

class Add(Function):
    """y = x0 + x1;  dy/dx0 = dy/dx1 = 1."""

    def forward(self, x0, x1):
        return x0 + x1

    def backward(self, gy):
        return gy, gy

    backward_graph = backward


def add(x0, x1) -> Tensor:
    """Elementwise sum with broadcasting: ``y = x0 + x1``."""
    x0, x1 = _pair(x0, x1)
    return Add().apply(x0, x1)


class Sub(Function):
    """y = x0 - x1;  dy/dx0 = 1, dy/dx1 = -1."""

    def forward(self, x0, x1):
        return x0 - x1

    def backward(self, gy):
        return gy, (-gy if self.needs_input_grad[1] else None)

    backward_graph = backward


def sub(x0, x1) -> Tensor:
    """Elementwise difference with broadcasting: ``y = x0 - x1``."""
    x0, x1 = _pair(x0, x1)
    return Sub().apply(x0, x1)


class Mul(Function):
    """y = x0 * x1;  dy/dx0 = x1, dy/dx1 = x0."""

    def forward(self, x0, x1):
        self.x0, self.x1 = x0, x1
        return x0 * x1

    def backward(self, gy):
        n0, n1 = self.needs_input_grad
        return (gy * self.x1 if n0 else None), (gy * self.x0 if n1 else None)

    def backward_graph(self, gy):
        x0, x1 = self.inputs
        n0, n1 = self.needs_input_grad
        return (gy * x1 if n0 else None), (gy * x0 if n1 else None)


def mul(x0, x1) -> Tensor:
    """Elementwise product with broadcasting: ``y = x0 * x1``."""
    x0, x1 = _pair(x0, x1)
    return Mul().apply(x0, x1)


class Div(Function):
    """y = x0 / x1;  dy/dx0 = 1/x1, dy/dx1 = -x0/x1^2."""

    def forward(self, x0, x1):
        self.x0, self.x1 = x0, x1
        return x0 / x1

    def backward(self, gy):
        n0, n1 = self.needs_input_grad
        gx0 = gy / self.x1
        gx1 = -gx0 * self.x0 / self.x1 if n1 else None
        return (gx0 if n0 else None), gx1

    def backward_graph(self, gy):
        x0, x1 = self.inputs
        n0, n1 = self.needs_input_grad
        gx0 = gy / x1
        return (gx0 if n0 else None), (-gx0 * x0 / x1 if n1 else None)


def div(x0, x1) -> Tensor:
    """Elementwise quotient with broadcasting: ``y = x0 / x1``."""
    x0, x1 = _pair(x0, x1)
    return Div().apply(x0, x1)


class Pow(Function):
    """y = x0 ** x1;  dy/dx0 = x1 x0^(x1-1), dy/dx1 = y ln(x0).

    At the edges the limits are taken, as PyTorch does: dy/dx0 = 0 where x1 = 0 (x^0 is
    constant, also at x = 0), and dy/dx1 = 0 where x0 = 0 and x1 >= 0 (0^e is flat in e).
    """

    autocast = "float32"

    def forward(self, x0, x1):
        self.x0, self.x1 = x0, x1
        y = x0 ** x1
        self.y = y
        return y

    def backward(self, gy):
        n0, n1 = self.needs_input_grad
        x0, x1 = self.x0, self.x1
        xp = get_array_module(gy)
        gx0 = gx1 = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if n0:
                # asarray: the exponent may be a Python number (x ** 3), and CuPy's
                # where takes only an array as the condition
                gx0 = gy * xp.where(xp.asarray(x1 == 0), 0, x1 * x0 ** (x1 - 1))
            if n1:
                # a constant base (2 ** x) is a Python number: its log stays one, or the
                # gradient of a float32 exponent would come back in float64
                ln_x0 = float(np.log(x0)) if isinstance(x0, SCALAR_TYPES) else xp.log(x0)
                gx1 = gy * xp.where((x0 == 0) & (x1 >= 0), 0, self.y * ln_x0)
        return gx0, gx1

    def backward_graph(self, gy):
        x0, x1 = self.inputs
        n0, n1 = self.needs_input_grad
        a0, a1 = self.x0, self.x1
        gx0 = gx1 = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if n0:
                gx0 = gy * where(a1 == 0, 0.0, x1 * x0 ** (x1 - 1))
            if n1:
                # a constant base (2 ** x) stays a number: log(x0) as a Tensor would be a
                # host array next to device ones
                ln_x0 = float(np.log(a0)) if isinstance(a0, SCALAR_TYPES) else log(x0)
                gx1 = gy * where((a0 == 0) & (a1 >= 0), 0.0, (x0 ** x1) * ln_x0)
        return gx0, gx1


def pow(x0, x1) -> Tensor:
    """Elementwise power with broadcasting: ``y = x0 ** x1``."""
    x0, x1 = _pair(x0, x1)
    return Pow().apply(x0, x1)


class Neg(Function):
    """y = -x;  dy/dx = -1."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy

    backward_graph = backward


def neg(x) -> Tensor:
    """Elementwise negation: ``y = -x``."""
    return Neg().apply(_as_tensor(x))


# =====================================================================================
# Unary math
# =====================================================================================

class Exp(Function):
    """y = e^x;  dy/dx = y (the saved output)."""

    autocast = "float32"

    def forward(self, x):
        y = get_array_module(x).exp(x)
        self.y = y
        return y

    def backward(self, gy):
        return gy * self.y

    def backward_graph(self, gy):
        return gy * exp(self.inputs[0])


def exp(x) -> Tensor:
    """Elementwise exponential ``y = e^x``."""
    return Exp().apply(_as_tensor(x))


class Log(Function):
    """y = ln x;  dy/dx = 1/x."""

    autocast = "float32"

    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.x

    def backward_graph(self, gy):
        return gy / self.inputs[0]


def log(x) -> Tensor:
    """Elementwise natural logarithm ``y = ln x``."""
    return Log().apply(_as_tensor(x))


class Sqrt(Function):
    """y = sqrt(x);  dy/dx = 1 / (2 y)."""

    def forward(self, x):
        y = get_array_module(x).sqrt(x)
        self.y = y
        return y

    def backward(self, gy):
        return gy / (2 * self.y)

    def backward_graph(self, gy):
        return gy / (2 * sqrt(self.inputs[0]))


def sqrt(x) -> Tensor:
    """Elementwise square root."""
    return Sqrt().apply(_as_tensor(x))


class PiecewiseLinear(Function):
    """Base of the ops whose gradient is the upstream gradient times a factor that is
    constant wherever the op is differentiable: a mask, a sign, a slope (ReLU, LeakyReLU,
    abs, clip, dropout, maximum, minimum).

    ``forward`` keeps ``self.factors``, one array per input (None: no gradient). Both
    backward paths come from them: ``gx_i = gy * factor_i``, and with create_graph the
    factors are constants of the graph (their own derivative is 0).
    """

    factors = ()

    def backward(self, gy):
        return tuple(None if f is None else gy * f for f in self.factors)

    def backward_graph(self, gy):
        return tuple(None if f is None else gy * Tensor._wrap(f) for f in self.factors)


class Abs(PiecewiseLinear):
    """y = |x|;  dy/dx = sign(x), with the subgradient 0 at x = 0."""

    def forward(self, x):
        xp = get_array_module(x)
        self.factors = (xp.sign(x),)
        return xp.abs(x)


def abs(x) -> Tensor:
    """Elementwise absolute value; its gradient at 0 is 0."""
    return Abs().apply(_as_tensor(x))


class Clip(PiecewiseLinear):
    """y = min(max(x, lo), hi);  dy/dx = 1 where lo <= x <= hi, else 0."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        xp = get_array_module(x)
        mask = xp.ones(x.shape, dtype=bool)
        if self.lo is not None:
            mask &= x >= self.lo
        if self.hi is not None:
            mask &= x <= self.hi
        self.factors = (mask,)
        return xp.clip(x, self.lo, self.hi)


def clip(x, min=None, max=None) -> Tensor:
    """Clamp values into ``[min, max]``; the gradient passes only inside the range."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    return Clip(min, max).apply(_as_tensor(x))


# =====================================================================================
# Selection
# =====================================================================================

class _Extremum(PiecewiseLinear):
    """Elementwise max or min of two tensors; ties split the gradient evenly."""

    greater = True

    def forward(self, x0, x1):
        xp = get_array_module(x0, x1)
        win = (x0 > x1) if self.greater else (x0 < x1)
        tie = x0 == x1
        dtype = np.result_type(*(getattr(v, "dtype", np.float32) for v in (x0, x1)))
        w0 = win.astype(dtype) + 0.5 * tie.astype(dtype)
        if self.needs_input_grad:
            n0, n1 = self.needs_input_grad
            self.factors = (w0 if n0 else None, 1 - w0 if n1 else None)
        return xp.maximum(x0, x1) if self.greater else xp.minimum(x0, x1)


class Maximum(_Extremum):
    greater = True


class Minimum(_Extremum):
    greater = False


def maximum(x0, x1) -> Tensor:
    """Elementwise maximum with broadcasting; where equal, each side gets half the grad."""
    x0, x1 = _pair(x0, x1)
    return Maximum().apply(x0, x1)


def minimum(x0, x1) -> Tensor:
    """Elementwise minimum with broadcasting; where equal, each side gets half the grad."""
    x0, x1 = _pair(x0, x1)
    return Minimum().apply(x0, x1)


class Where(Function):
    """y = cond ? x0 : x1;  the gradient flows to the chosen side."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, x0, x1):
        return get_array_module(x0, x1).where(self.cond, x0, x1)

    def backward(self, gy):
        xp = get_array_module(gy)
        n0, n1 = self.needs_input_grad
        zero = xp.zeros((), dtype=gy.dtype)
        return (xp.where(self.cond, gy, zero) if n0 else None,
                xp.where(self.cond, zero, gy) if n1 else None)

    def backward_graph(self, gy):
        n0, n1 = self.needs_input_grad
        return (where(self.cond, gy, 0.0) if n0 else None,
                where(self.cond, 0.0, gy) if n1 else None)


def where(cond, x0, x1) -> Tensor:
    """``x0`` where ``cond`` is true, else ``x1`` (broadcasting); ``cond`` gets no grad."""
    x0, x1 = _pair(x0, x1)
    ref = x0 if not isinstance(x0.data, SCALAR_TYPES) else x1
    c = cond.data if isinstance(cond, Tensor) else as_array(cond, device=ref.device, copy=False)
    return Where(c.astype(bool, copy=False)).apply(x0, x1)


def compare(name: str, x0, x1) -> Tensor:
    """Elementwise comparison (``'less'``, ``'equal'``, ...) as a bool tensor, no graph."""
    x0, x1 = _pair(x0, x1)
    xp = get_array_module(x0.data, x1.data)
    return Tensor._wrap(xp.asarray(getattr(xp, name)(x0.data, x1.data)))
