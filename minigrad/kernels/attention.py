"""Attention as one op: the fast path of :func:`minigrad.functional.attention`.

The reference builds ``softmax(q k^T * scale + mask) v`` from five ops (a product, a
scaling, the mask added, a softmax, a product), each a node of the graph with its own
passes over the (..., L, S) scores. Here the scores are scaled and masked in place, the
softmax runs on their rows through the fused row kernels, and the backward is written out:

    p = softmax(s),  s = q k^T * scale + mask,  out = p v
    dv = p^T dout,   dp = dout v^T (+ the gradient of the weights, when they have one)
    ds = p (dp - sum(dp p)) * scale  (the sums over each row)
    dq = ds k,       dk = ds^T q

written once (:func:`_grads`) for arrays (backward) and Tensors (double backprop). Both
outputs are returned: the result and the attention weights ``p`` (as one op, ``v`` gets a
gradient, of zeros, even when only the weights are used). Chosen by
:func:`minigrad.kernels.attention` when no dropout applies; checked against the reference
by the op catalogue.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from .elementwise import fused, softmax_rows_grad_generic

__all__ = ["Attention"]


def _swap(a):
    """The last two axes swapped: an array's view, or a Tensor op (both ``transpose``)."""
    axes = list(range(a.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return a.transpose(*axes)


def _rows(a):
    return a.reshape(-1, a.shape[-1])


def _grads(gout, gw, q, k, v, p, scale, on_arrays):
    """(dq, dk, dv) from the gradients of the output (``gout``) and of the weights
    (``gw``: zeros when nothing used them), on arrays or on Tensors."""
    gp = gout @ _swap(v) + gw
    gv = _swap(p) @ gout
    if on_arrays:
        gs = fused("softmax_rows_grad", gp)(_rows(gp), _rows(p)).reshape(gp.shape)
        gs *= scale
    else:
        gs = softmax_rows_grad_generic(gp, p) * scale
    return gs @ k, _swap(gs) @ q, gv


class Attention(Function):
    """(softmax(q k^T * scale + mask) v, the weights) for q (..., L, E), k (..., S, E),
    v (..., S, Ev); ``mask`` an additive array (0 / -inf for a boolean one) broadcastable
    to the scores, or None."""

    def __init__(self, scale: float, mask=None):
        self.scale, self.mask = scale, mask

    def _weights(self, q, k):
        s = q @ _swap(k)
        s *= s.dtype.type(self.scale)
        if self.mask is not None:
            if np.broadcast_shapes(s.shape, self.mask.shape) == s.shape:
                s += self.mask
            else:                             # the mask has more batch axes than q and k
                s = s + self.mask
        with np.errstate(invalid="ignore"):   # a fully masked row: NaN, as the reference
            return fused("softmax_rows", s)(_rows(s)).reshape(s.shape)

    def forward(self, q, k, v):
        p = self._weights(q, k)
        self.p = p
        return p @ v, p

    def backward(self, gout, gw):
        q, k, v = (t.data for t in self.inputs)
        return _grads(gout, gw, q, k, v, self.p, self.scale, True)

    def backward_graph(self, gout, gw):
        from ..functional.activation import softmax
        q, k, v = self.inputs
        s = (q @ _swap(k)) * self.scale
        if self.mask is not None:
            s = s + self.mask
        with np.errstate(invalid="ignore"):
            p = softmax(s, axis=-1)
        return _grads(gout, gw, q, k, v, p, self.scale, False)
