"""Matrix products: matmul (``@``) and linear (``x W + b``)."""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module
from ..kernels.elementwise import fused
from ..tensor import Tensor
from .arithmetic import _pair

__all__ = ["matmul", "linear"]


def _mT(a):
    return a.swapaxes(-1, -2)


class MatMul(Function):
    """y = x0 @ x1 for (..., n, k) @ (..., k, m);  gx0 = gy @ x1^T,  gx1 = x0^T @ gy.

    Batch axes broadcast; the engine sums gradients back to each input's shape.
    """

    autocast = "low"

    def forward(self, x0, x1):
        self.x0, self.x1 = x0, x1
        return x0 @ x1

    def backward(self, gy):
        n0, n1 = self.needs_input_grad
        gx0 = gy @ _mT(self.x1) if n0 else None
        gx1 = _mT(self.x0) @ gy if n1 else None
        return gx0, gx1

    def backward_graph(self, gy):
        from .shape import transpose
        x0, x1 = self.inputs
        n0, n1 = self.needs_input_grad

        def mT(t):
            axes = list(range(t.ndim))
            axes[-1], axes[-2] = axes[-2], axes[-1]
            return transpose(t, *axes)
        return (matmul(gy, mT(x1)) if n0 else None), (matmul(mT(x0), gy) if n1 else None)


def matmul(x0, x1) -> Tensor:
    """Matrix product with NumPy's ``matmul`` rules (1-D operands are vectors).

    Raises:
        ValueError: naming both shapes when the inner dimensions differ.

    Example:
        >>> (mg.ones((2, 3)) @ mg.ones((3, 4))).shape
        (2, 4)
    """
    from .shape import reshape
    x0, x1 = _pair(x0, x1)
    s0, s1 = x0.shape, x1.shape
    if x0.ndim == 0 or x1.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                         f"{s0} and {s1}")
    k0 = s0[-1]
    k1 = s1[-2] if x1.ndim > 1 else s1[0]
    if k0 != k1:
        raise ValueError(f"matmul: shapes {s0} and {s1} cannot be multiplied "
                         f"({k0} != {k1})")
    if x0.ndim == 1 and x1.ndim == 1:
        return reshape(MatMul().apply(reshape(x0, 1, k0), reshape(x1, k1, 1)), ())
    if x0.ndim == 1:
        y = MatMul().apply(reshape(x0, 1, k0), x1)
        return reshape(y, y.shape[:-2] + y.shape[-1:])
    if x1.ndim == 1:
        y = MatMul().apply(x0, reshape(x1, k1, 1))
        return reshape(y, y.shape[:-1])
    try:
        return MatMul().apply(x0, x1)
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {s0} and {s1} do not "
                         "broadcast") from None


class Linear(Function):
    """y = x W + b for x (N, in), W (in, out), b (out,): one fused op for dense layers,
    optionally followed by a ReLU computed in place.

    gx = gy W^T, gW = x^T gy, gb = sum_N gy (after gy <- gy * [y > 0] with the ReLU).
    """

    autocast = "low"

    def __init__(self, relu=False):
        self.relu = relu

    def forward(self, x, W, b=None):
        self.x, self.W = x, W
        y = x @ W
        if b is not None:
            y += b
        if self.relu:
            get_array_module(y).maximum(y, 0, out=y)
            self.y = y
        return y

    def backward(self, gy):
        need = self.needs_input_grad
        if self.relu:
            gy = fused("relu_grad", gy)(gy, self.y)   # ReLU'(0) = 0
        gx = gy @ self.W.T if need[0] else None
        gW = self.x.T @ gy if need[1] else None
        if len(need) == 3:
            gb = fused("sum_rows", gy)(gy) if need[2] else None
            return gx, gW, gb
        return gx, gW

    def backward_graph(self, gy):
        from .reduce import sum as _sum
        from .shape import transpose
        x, W = self.inputs[:2]
        need = self.needs_input_grad
        if self.relu:
            gy = gy * Tensor._wrap(self.y > 0)
        out = [matmul(gy, transpose(W)) if need[0] else None,
               matmul(transpose(x), gy) if need[1] else None]
        if len(need) == 3:
            out.append(_sum(gy, 0) if need[2] else None)
        return tuple(out)


def linear(x, W, b=None, activation=None) -> Tensor:
    """Affine map ``y = x @ W + b`` with x (N, in) or (N, ..., in), W (in, out), b (out,)
    or None;
    ``activation='relu'`` fuses a ReLU into the same op.

    Raises:
        ValueError: naming both shapes when ``x``'s last axis is not ``W``'s first.
    """
    x, W = _pair(x, W)
    if activation not in (None, "relu"):
        raise ValueError(f"linear: only activation='relu' can be fused, got {activation!r}")
    relu = activation == "relu"
    if x.ndim > 2 and W.ndim == 2 and x.shape[-1] == W.shape[0]:
        # (N, ..., in): one 2-D product over all the rows, the leading axes restored
        from .shape import reshape
        y = linear(reshape(x, (-1, x.shape[-1])), W, b, activation)
        return reshape(y, x.shape[:-1] + (W.shape[1],))
    if x.ndim != 2 or W.ndim != 2:
        from .activation import relu as _relu
        y = matmul(x, W)
        y = y if b is None else y + b
        return _relu(y) if relu else y
    if x.shape[1] != W.shape[0]:
        raise ValueError(f"linear: shapes {x.shape} and {W.shape} cannot be multiplied "
                         f"({x.shape[1]} != {W.shape[0]})")
    if b is None:
        return Linear(relu).apply(x, W)
    _, b = _pair(x, b)
    return Linear(relu).apply(x, W, b)
