"""Convolution and pooling over 2-D images: the reference ops.

Channels-last (NHWC) inside, because then im2col is a strided view plus ONE copy and the
product ``cols @ W`` lands directly in NHWC order:

* x (N, H, W, C) -> windows (N, Ho, Wo, kh, kw, C), a strided view (no copy);
* cols = windows.reshape(N*Ho*Wo, kh*kw*C), the only copy;
* y = cols @ W.reshape(kh*kw*C, O) -> (N, Ho, Wo, O).

The PyTorch-layout functions (x (N, C, H, W), W (O, C, kh, kw)) wrap the same ops with
transposed views. ``conv2d`` and ``max_pool2d`` run a fast kernel of
:mod:`minigrad.kernels` where one applies (a CPU-tuned convolution, convolution + ReLU +
pooling in one op, strided 2 x 2 pooling), chosen there; inside
``minigrad.kernels.reference_ops()`` (or a ``Sequential(fuse=False)``) these reference
Functions run instead, with the same values and gradients.
"""
from __future__ import annotations

from typing import Optional

from .. import kernels
from ..autograd import Function
from ..backend import get_array_module
from ..checks import int_pair, positive_int
from ..kernels.elementwise import fused
from ..tensor import Tensor
from .activation import relu as relu_
from .arithmetic import _as_tensor
from .shape import transpose
from .windows import col2im, crop_nhwc, pad_nhwc, windows

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "conv_output_size", "same_padding"]


def same_padding(size: int, k: int, s: int):
    """Keras/TensorFlow 'same' padding (before, after) so that out = ceil(size / s)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def conv_output_size(size: int, k: int, s: int, pad_before: int = 0, pad_after: int = 0):
    """Output length of a window of ``k`` with stride ``s`` over padded ``size``."""
    return (size + pad_before + pad_after - k) // s + 1


def _padding(padding, H, W, kh, kw, sh, sw):
    """((top, bottom), (left, right)) from 'valid', 'same', an int or a pair."""
    if isinstance(padding, str):
        p = padding.lower()
        if p == "valid":
            return (0, 0), (0, 0)
        if p == "same":
            return same_padding(H, kh, sh), same_padding(W, kw, sw)
        raise ValueError(f"padding must be 'valid', 'same' or integers, got {padding!r}")
    ph, pw = int_pair(padding, "conv2d/pooling", "padding", minimum=0)
    return (ph, ph), (pw, pw)


# =====================================================================================
# Convolution
# =====================================================================================

class Conv2d(Function):
    """y[n, i, j, o] = sum_{a, b, c} xpad[n, sh i + a, sw j + b, c] W[a, b, c, o] + b[o]
    (cross-correlation; NHWC input, HWIO kernel; xpad is x zero-padded by ``pads``).

    As one matrix product over the columns (im2col): cols[(n, i, j), (a, b, c)] =
    xpad[n, sh i + a, sw j + b, c] and y = cols @ W.reshape(-1, O) + b. Backward:
    gW = cols^T gy, gb = gy summed over the positions, and gcols = gy W^T added back into
    the windows it came from (col2im), the padding cropped.
    """

    autocast = "low"

    def __init__(self, stride, pads):
        self.stride, self.pads = stride, pads

    def forward(self, x, W, b=None):
        kh, kw, C, O = W.shape
        xpad = pad_nhwc(x, self.pads)
        win = windows(xpad, kh, kw, *self.stride)     # (N, Ho, Wo, kh, kw, C), a view
        self.cols = win.reshape(-1, kh * kw * C)       # the one copy
        self.W, self.in_shape, self.pad_shape, self.win_shape = W, x.shape, xpad.shape, \
            win.shape
        y = self.cols @ W.reshape(-1, O)
        if b is not None:
            y = y + b
        return y.reshape(win.shape[:3] + (O,))

    def backward(self, gy):
        O = self.W.shape[3]
        g = gy.reshape(-1, O)                          # one row per output position
        need = self.needs_input_grad
        gx = gW = gb = None
        if need[0]:
            gcols = g @ self.W.reshape(-1, O).T
            gx = crop_nhwc(col2im(gcols.reshape(self.win_shape), self.pad_shape,
                                  *self.stride), self.pads, self.in_shape)
        if need[1]:
            gW = (self.cols.T @ g).reshape(self.W.shape)
        if len(need) == 3 and need[2]:
            gb = fused("sum_rows", g)(g)
        return (gx, gW, gb) if len(need) == 3 else (gx, gW)


def _conv_nhwc(x: Tensor, W: Tensor, b, stride, padding, name="conv2d",
               relu: bool = False, max_pool=None) -> Tensor:
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D input (N, H, W, C), got shape {x.shape}")
    if W.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D kernel, got shape {W.shape}")
    kh, kw, C, O = W.shape
    N, H, Wd, Cx = x.shape
    if Cx != C:
        raise ValueError(f"{name}: input has {Cx} channels but the kernel expects {C} "
                         f"(input shape {x.shape}, kernel shape {W.shape})")
    sh, sw = int_pair(stride, name, "stride")
    pads = _padding(padding, H, Wd, kh, kw, sh, sw)
    Hp, Wp = H + sum(pads[0]), Wd + sum(pads[1])
    if Hp < kh or Wp < kw:
        raise ValueError(f"{name}: kernel {kh}x{kw} is larger than the (padded) input "
                         f"{Hp}x{Wp} (input shape {x.shape})")
    p = None
    if max_pool is not None:
        p = positive_int(max_pool, name, "max_pool")
        Ho, Wo = (Hp - kh) // sh + 1, (Wp - kw) // sw + 1
        if Ho < p or Wo < p:
            raise ValueError(f"{name}: max_pool {max_pool} must be >= 1 and fit the "
                             f"convolution's output {Ho}x{Wo} (input shape {x.shape})")
    args = (x, W)
    if b is not None:
        b = _as_tensor(b)
        if b.shape != (O,):
            raise ValueError(f"{name}: bias must have shape ({O},), got {b.shape}")
        args = (x, W, b)
    fast = kernels.conv2d((sh, sw), pads, relu, p)
    if fast is not None:
        return fast.apply(*args)
    # the reference ops, one after the other
    y = Conv2d((sh, sw), pads).apply(*args)
    if p is not None:
        y = MaxPool2d((p, p), (p, p), ((0, 0), (0, 0))).apply(y)
    return relu_(y) if relu else y


def conv2d(x, W, b=None, stride=1, padding=0, layout: str = "NCHW",
           activation: Optional[str] = None, max_pool: Optional[int] = None) -> Tensor:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d`` and Keras ``Conv2D``.

    Args:
        x: input (N, C, H, W) for ``layout='NCHW'`` or (N, H, W, C) for ``'NHWC'``.
        W: kernel (O, C, kh, kw) for NCHW (PyTorch) or (kh, kw, C, O) for NHWC (Keras).
        b: bias (O,) or None.
        stride: int or (sh, sw).
        padding: int, (ph, pw), ``'valid'`` or ``'same'``.
        layout: ``'NCHW'`` or ``'NHWC'``; the output has the same layout as ``x``.
        activation: None, or ``'relu'`` (fused into the op on the fast path).
        max_pool: p to return ``max_pool2d(conv2d(...), p)`` (window p, stride p), the
            activation applied after the pooling (they commute); on the fast path in
            one op that never computes the positions the pooling drops.

    Returns:
        (N, O, Ho, Wo) or (N, Ho, Wo, O) with Ho = (H + 2 ph - kh) // sh + 1, divided
        by p (rounded down) with ``max_pool``.
    """
    x, W = _as_tensor(x), _as_tensor(W)
    if activation not in (None, "relu"):
        raise ValueError(f"conv2d: only activation='relu' can be fused, got {activation!r}")
    relu = activation == "relu"
    if layout == "NHWC":
        return _conv_nhwc(x, W, b, stride, padding, relu=relu, max_pool=max_pool)
    if layout != "NCHW":
        raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
    if x.ndim != 4 or W.ndim != 4:
        raise ValueError(f"conv2d: expected 4-D input and kernel, got shapes {x.shape} "
                         f"and {W.shape}")
    if x.shape[1] != W.shape[1]:
        raise ValueError(f"conv2d: input has {x.shape[1]} channels but the kernel expects "
                         f"{W.shape[1]} (input shape {x.shape}, kernel shape {W.shape})")
    y = _conv_nhwc(transpose(x, 0, 2, 3, 1), transpose(W, 2, 3, 1, 0), b, stride, padding,
                   relu=relu, max_pool=max_pool)
    return transpose(y, 0, 3, 1, 2)


# =====================================================================================
# Pooling
# =====================================================================================

class MaxPool2d(Function):
    """y[n, i, j, c] = max over the window at (sh i, sw j) of x padded with -inf. Of tied
    maxima the first in the window (row by row) takes the gradient, as in PyTorch and
    TensorFlow: forward keeps the index of each window's maximum (argmax, which returns
    the first), backward puts gy at that index of its window (a one-hot mask) and adds
    the windows back (col2im).
    """

    def __init__(self, k, s, pads):
        self.k, self.s, self.pads = k, s, pads

    def forward(self, x):
        xp = get_array_module(x)
        (kh, kw), (sh, sw) = self.k, self.s
        xpad = pad_nhwc(x, self.pads, -xp.inf)
        win = windows(xpad, kh, kw, sh, sw)            # (N, Ho, Wo, kh, kw, C)
        N, Ho, Wo, C = win.shape[0], win.shape[1], win.shape[2], x.shape[3]
        flat = win.transpose(0, 1, 2, 5, 3, 4).reshape(N, Ho, Wo, C, kh * kw)
        self.in_shape, self.pad_shape = x.shape, xpad.shape
        self.first = flat.argmax(axis=-1) if self.needs_input_grad else None
        return flat.max(axis=-1)

    def backward(self, gy):
        xp = get_array_module(gy)
        (kh, kw), (sh, sw) = self.k, self.s
        N, Ho, Wo, C = gy.shape
        onehot = self.first[..., None] == xp.arange(kh * kw)            # (N, Ho, Wo, C, k)
        g = (onehot * gy[..., None]).reshape(N, Ho, Wo, C, kh, kw)
        gx = col2im(g.transpose(0, 1, 2, 4, 5, 3), self.pad_shape, sh, sw)
        return crop_nhwc(gx, self.pads, self.in_shape)


class AvgPool2d(Function):
    """y[n, i, j, c] = sum over the window / count; each input gets gy / count from every
    window it is in. count = kh kw when the padding counts as zeros (PyTorch's default
    count_include_pad=True), else the number of real inputs in the window (Keras)."""

    def __init__(self, k, s, pads, count_include_pad=True):
        self.k, self.s, self.pads = k, s, pads
        self.include_pad = count_include_pad

    def _count(self, x):
        """The divisor of each window: a number, or (1, Ho, Wo, 1) counts of real inputs."""
        (kh, kw), (sh, sw) = self.k, self.s
        if self.include_pad or self.pads == ((0, 0), (0, 0)):
            return kh * kw
        ones = get_array_module(x).ones((1,) + x.shape[1:3] + (1,), dtype=x.dtype)
        return windows(pad_nhwc(ones, self.pads), kh, kw, sh, sw).sum(axis=(3, 4))

    def forward(self, x):
        (kh, kw), (sh, sw) = self.k, self.s
        self.in_shape = x.shape
        xpad = pad_nhwc(x, self.pads)
        self.pad_shape = xpad.shape
        self.count = self._count(x)
        return windows(xpad, kh, kw, sh, sw).sum(axis=(3, 4)) / self.count

    def backward(self, gy):
        xp = get_array_module(gy)
        (kh, kw), (sh, sw) = self.k, self.s
        g = gy / self.count
        N, Ho, Wo, C = g.shape
        g6 = xp.broadcast_to(g[:, :, :, None, None, :], (N, Ho, Wo, kh, kw, C))
        return crop_nhwc(col2im(g6, self.pad_shape, sh, sw), self.pads, self.in_shape)


def _pool(cls, x, kernel_size, stride, padding, layout, name, **kw):
    x = _as_tensor(x)
    if layout not in ("NCHW", "NHWC"):
        raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D input, got shape {x.shape}")
    k = int_pair(kernel_size, name, "kernel_size")
    s = k if stride is None else int_pair(stride, name, "stride")
    xin = transpose(x, 0, 2, 3, 1) if layout == "NCHW" else x
    H, W = xin.shape[1:3]
    pads = _padding(padding, H, W, k[0], k[1], s[0], s[1])
    if not isinstance(padding, str) and (pads[0][0] * 2 > k[0] or pads[1][0] * 2 > k[1]):
        raise ValueError(f"{name}: padding {padding} must be at most half the kernel {k}")
    if H + sum(pads[0]) < k[0] or W + sum(pads[1]) < k[1]:
        raise ValueError(f"{name}: window {k} is larger than the input {H}x{W} "
                         f"(input shape {x.shape})")
    y = cls(k, s, pads, **kw).apply(xin) if cls is not MaxPool2d else _max_pool(xin, k, s, pads,
                                                                               **kw)
    return transpose(y, 0, 3, 1, 2) if layout == "NCHW" else y


def _max_pool(x, k, s, pads, relu):
    fast = kernels.max_pool2d(k, s, pads, relu)
    if fast is not None:
        return fast.apply(x)
    y = MaxPool2d(k, s, pads).apply(x)
    return relu_(y) if relu else y


def max_pool2d(x, kernel_size, stride=None, padding=0, layout: str = "NCHW",
               activation: Optional[str] = None) -> Tensor:
    """Max pooling (stride defaults to the kernel size); of tied maxima in a window the
    first (row by row) takes the gradient, as in PyTorch and TensorFlow.

    ``layout='NCHW'`` (PyTorch) or ``'NHWC'`` (Keras); padding pads with -inf.
    ``activation='relu'`` returns ReLU(maxpool(x)) = maxpool(ReLU(x)) (in one op on the
    fast path).
    """
    if activation not in (None, "relu"):
        raise ValueError(f"max_pool2d: only activation='relu' can be fused, got {activation!r}")
    return _pool(MaxPool2d, x, kernel_size, stride, padding, layout, "max_pool2d",
                 relu=activation == "relu")


def avg_pool2d(x, kernel_size, stride=None, padding=0, layout: str = "NCHW",
               count_include_pad: bool = True) -> Tensor:
    """Average pooling (stride defaults to the kernel size).

    With ``count_include_pad=True`` (PyTorch's default) padded positions count as zeros
    in the mean; with False (Keras' ``padding='same'``) each window is averaged over its
    real inputs only.
    """
    return _pool(AvgPool2d, x, kernel_size, stride, padding, layout, "avg_pool2d",
                 count_include_pad=count_include_pad)
