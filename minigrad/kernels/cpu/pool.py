"""Fast max pooling: strided views instead of windows, cache-sized chunks, a byte per
output for the backward. Shared with the fused convolution + pooling kernel."""
from __future__ import annotations

from math import prod

import numpy as np

from ... import tuning
from ...autograd import Function
from ...backend import get_array_module
from ..elementwise import fused

__all__ = ["MaxPool2dStrided", "max_of", "first_max", "to_first", "index_dtype"]


def max_of(parts, out=None):
    """Elementwise max of equally shaped arrays (into ``out``, else a new array)."""
    xp = get_array_module(parts[0])
    if len(parts) == 1:
        if out is None:
            return parts[0].copy()
        out[...] = parts[0]
        return out
    y = xp.maximum(parts[0], parts[1], out=out)
    for v in parts[2:]:
        xp.maximum(y, v, out=y)
    return y


def index_dtype(n):
    """The dtype of an index among ``n`` window positions: a byte up to 256."""
    return np.uint8 if n <= 256 else np.int32


def first_max(parts, y, out):
    """The index of the first of ``parts`` equal to their max ``y`` (tied maxima: the first
    takes the gradient, as in PyTorch's and TensorFlow's max pooling), into ``out`` (an
    array of :func:`index_dtype`): the number of leading parts that differ from the max."""
    xp = get_array_module(y)
    differs = xp.not_equal(parts[0], y)
    out[...] = differs
    if len(parts) > 2:
        tmp = xp.empty_like(differs)
        for v in parts[1:-1]:
            differs &= xp.not_equal(v, y, out=tmp)
            out += differs
    return out


def to_first(gy, first, outs, mask=None):
    """Backward of a max over parts: ``outs[k] = gy`` where ``first == k``, else 0."""
    xp = get_array_module(gy)
    for k, o in enumerate(outs):
        xp.multiply(gy, xp.equal(first, k, out=mask), out=o)


class MaxPool2dStrided(Function):
    """Max pooling whose stride equals its window, without padding (the usual 2 x 2
    pooling): the fast path of :class:`minigrad.functional.conv.MaxPool2d`, same values
    and gradients (the first maximum of a window takes its gradient).

    The window's k*k positions are k*k strided views of x: the max is k*k - 1
    elementwise maximums, and the index of each window's first maximum (a byte per
    output, kept only when a backward can follow) is computed chunk by chunk of samples
    while the chunk is in cache. The backward writes the gradient through k*k masks into
    the same strided views: no window copy, no scatter.

    With ``relu=True`` it computes ReLU(maxpool(x)) = maxpool(ReLU(x)) (ReLU is
    monotone): a ReLU before the pooling runs after it, on a k*k times smaller array.
    """

    def __init__(self, k, relu=False):
        self.k, self.relu = k, relu

    def _out(self, y):
        if not self.relu:
            return y
        self.y = y                     # the ReLU mask is read from it
        return get_array_module(y).maximum(y, 0)

    def forward(self, x):
        kh, kw = self.k
        self.in_shape = x.shape
        xp = get_array_module(x)
        N, H, W, C = x.shape
        Ho, Wo = H // kh, W // kw
        views = [x[:, i:Ho * kh:kh, j:Wo * kw:kw, :] for i in range(kh) for j in range(kw)]
        if not self.needs_input_grad:
            return self._out(max_of(views))
        y = xp.empty((N, Ho, Wo, C), dtype=x.dtype)
        self.first = xp.empty(y.shape, dtype=index_dtype(kh * kw))
        per_item = x.itemsize * int(prod(x.shape[1:])) * 2
        for s in tuning.batch_chunks(x, N, per_item):
            parts = [v[s] for v in views]
            first_max(parts, max_of(parts, out=y[s]), out=self.first[s])
        return self._out(y)

    def backward(self, gy):
        xp = get_array_module(gy)
        if self.relu:
            gy = fused("relu_grad", gy)(gy, self.y)   # ReLU'(0) = 0
        (kh, kw), first = self.k, self.first
        H, W = self.in_shape[1:3]
        cropped = H % kh != 0 or W % kw != 0           # edge rows/columns get no gradient
        gx = (xp.zeros if cropped else xp.empty)(self.in_shape, dtype=gy.dtype)
        N, Ho, Wo, C = first.shape
        per_item = gy.itemsize * int(prod(self.in_shape[1:])) * 3
        for s in tuning.batch_chunks(gy, N, per_item):
            to_first(gy[s], first[s], [gx[s, i:Ho * kh:kh, j:Wo * kw:kw, :]
                                       for i in range(kh) for j in range(kw)])
        return gx
