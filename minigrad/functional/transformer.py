"""The Transformer's ops: embedding look-up, layer normalisation, scaled dot-product
attention (GELU is in activation.py, cross-entropy with ``ignore_index`` in loss.py).

* embedding(i, W) = W[i]; dW is the upstream rows scattered back (repeated tokens add up)
* layer_norm(x) = (x - mean) / sqrt(var + eps) * w + b, the statistics over the last axes;
  with g = gy * w and xhat the normalised input:
  dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps),
  dw = sum(gy * xhat), db = sum(gy) over the leading axes
* attention(q, k, v) = softmax(q k^T * scale + mask) v, scale = 1 / sqrt(E) by default

Embedding and attention are built from ops that already have their backward (indexing,
matmul, softmax), so their gradients are those ops' gradients; layer normalisation is one
op, its derivative written once (:func:`_layer_norm_grads`) for arrays and for Tensors.
Attention also has a fast path, the same formula as one op with its backward written out
(:mod:`minigrad.kernels.attention`); ``reference_ops()`` runs the composition here.
"""
from __future__ import annotations

import math

import numpy as np

from .. import kernels
from ..autograd import Function
from ..backend import get_array_module
from ..kernels.elementwise import fused, fused_only, layer_norm_generic, \
    layer_norm_grad_generic
from ..mixed_precision import autocast_dtype
from ..tensor import Tensor
from .activation import dropout, softmax
from .arithmetic import _as_tensor
from .linalg import matmul
from .shape import _index_on_device, getitem, transpose

__all__ = ["embedding", "layer_norm", "scaled_dot_product_attention", "attention",
           "causal_mask"]


# =====================================================================================
# Embedding
# =====================================================================================

def _token_indices(indices, device):
    """Integer indices as an array on ``device`` (a Tensor's data, or a host array)."""
    if isinstance(indices, Tensor):
        if indices.requires_grad:
            raise TypeError("embedding: indices must not require grad (they are integers)")
        idx = indices.data
    else:
        # a tuple or an int as one array of indices (lists _index_on_device converts)
        idx = np.asarray(indices) if isinstance(indices, (tuple, int)) else indices
    idx = _index_on_device(idx, device)
    if not hasattr(idx, "dtype") or idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype "
                        f"{getattr(idx, 'dtype', type(idx).__name__)}")
    return idx


def check_rows(idx, num_rows: int, where: str = "embedding") -> None:
    """Raise IndexError unless every index is in ``[0, num_rows)`` (NumPy would take -1
    as the last row and CuPy wraps out-of-range indices; on a GPU this is one read)."""
    if idx.size == 0:
        return
    xp = get_array_module(idx)
    lo, hi = int(xp.min(idx)), int(xp.max(idx))
    if lo < 0 or hi >= num_rows:
        bad = lo if lo < 0 else hi
        raise IndexError(f"{where}: index {bad} is out of range for {num_rows} rows "
                         f"(indices must be in [0, {num_rows - 1}])")


def embedding(indices, weight) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``indices`` of any shape:
    the result has shape ``indices.shape + (dim,)`` (PyTorch's ``F.embedding``).

    It is ``weight[indices]``: the gradient of ``weight`` is the upstream gradient's rows
    added into the rows they came from, so a token that appears twice gets both.

    Raises:
        IndexError: an index outside ``[0, num_embeddings)``, on every backend.
        TypeError: indices that are not integers.
    """
    W = _as_tensor(weight)
    if W.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), got shape "
                         f"{W.shape}")
    idx = _token_indices(indices, W.device)
    check_rows(idx, W.shape[0])
    return getitem(W, idx)


# =====================================================================================
# Layer normalisation
# =====================================================================================

def _layer_norm_grads(gy, xhat, inv, w, axes, lead, need):
    """(dx, dw, db) of y = xhat * w + b, xhat = (x - mean) * inv, written once: every line
    works on arrays (the backward) and on Tensors (the graph double backprop builds).
    ``need`` says which of the three are wanted (None for the others)."""
    fused_grads = _affine_grads_in_one_pass(gy, xhat, inv, w, need)
    if fused_grads is not None:
        return fused_grads
    g = gy if w is None else gy * w
    gx = gw = gb = None
    if need[0] and (isinstance(g, Tensor) or not g.size):
        # inv * (g - mean(g) - xhat * mean(g * xhat)), the means over ``axes``
        gx = layer_norm_grad_generic(g, xhat, inv, axes)
    elif need[0]:
        # the same on arrays, by the rows of the normalised axes: the layer_norm_grad
        # kernel (one of the formula's row reductions per launch on CUDA)
        n = math.prod(g.shape[len(lead):])
        gx = fused("layer_norm_grad", g)(g.reshape(-1, n), xhat.reshape(-1, n),
                                         inv.reshape(-1, 1)).reshape(g.shape)
    if need[1]:
        gw = _sum_lead(gy * xhat, lead)
    if need[2]:
        gb = _sum_lead(gy, lead)
    return gx, gw, gb


def _affine_grads_in_one_pass(gy, xhat, inv, w, need):
    """The three gradients from the backend's fused ``layer_norm_affine_grad`` kernel (one
    pass over the rows instead of five), when it has one and all three are wanted on
    arrays of one dtype; else None."""
    if need != (True, True, True) or isinstance(gy, Tensor) or not gy.size or \
            not gy.dtype == xhat.dtype == w.dtype:
        return None
    kernel = fused_only("layer_norm_affine_grad", gy)
    if kernel is None:
        return None
    n = w.size
    gx, gw, gb = kernel(gy.reshape(-1, n), xhat.reshape(-1, n), inv.reshape(-1, 1),
                        w.reshape(-1))
    return gx.reshape(gy.shape), gw.reshape(w.shape), gb.reshape(w.shape)


def _sum_lead(a, lead):
    """``a`` summed over its leading axes ``lead``: a Tensor op in the graph double
    backprop builds, the ``sum_rows`` kernel on arrays."""
    if not lead:
        return a
    if isinstance(a, Tensor):
        return a.sum(axis=lead)
    rest = a.shape[len(lead):]
    rows = a.reshape(-1, math.prod(rest))
    return fused("sum_rows", rows)(rows).reshape(rest)


def _normalise(x, axes, eps):
    """(xhat, inv) with inv = 1 / sqrt(var + eps) over ``axes``: the formula of
    :func:`minigrad.kernels.elementwise.layer_norm_generic`. On arrays, by rows of the
    normalised axes: the ``layer_norm`` kernel (on CUDA one launch per pass)."""
    if isinstance(x, Tensor) or not x.size:
        return layer_norm_generic(x, eps, axes)
    n = math.prod(x.shape[x.ndim - len(axes):])
    xhat, inv = fused("layer_norm", x)(x.reshape(-1, n), eps)
    return _from_rows(x, len(axes), xhat, inv)


def _from_rows(x, k, xhat, inv):
    """``xhat`` and ``inv`` computed on the rows of ``x``'s last ``k`` axes, in ``x``'s
    layout: xhat of x's shape, inv with ones for the normalised axes."""
    return xhat.reshape(x.shape), inv.reshape(x.shape[:x.ndim - k] + (1,) * k)


class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b over the last ``k`` axes (``w`` and ``b``
    optional: ``has`` says which are inputs); the derivative in :func:`_layer_norm_grads`."""

    autocast = "float32"

    def __init__(self, k, eps, has_weight, has_bias):
        self.k, self.eps = k, eps
        self.has = (True, has_weight, has_bias)        # which of x, w, b are inputs

    def _axes(self, ndim):
        return tuple(range(ndim - self.k, ndim)), tuple(range(ndim - self.k))

    def _split(self, inputs):
        """(x, w or None, b or None) from the inputs actually passed."""
        it = iter(inputs)
        return tuple(next(it) if h else None for h in self.has)

    def _need(self):
        it = iter(self.needs_input_grad)
        return tuple(next(it) if h else False for h in self.has)

    def _present(self, grads):
        return tuple(g for g, h in zip(grads, self.has) if h)

    def forward(self, *inputs):
        x, w, b = self._split(inputs)
        axes, _ = self._axes(x.ndim)
        kernel = None
        if w is not None and b is not None and x.size and x.dtype == w.dtype == b.dtype:
            kernel = fused_only("layer_norm_affine", x)    # two passes instead of three
        if kernel is not None:
            y, xhat, inv = kernel(x.reshape(-1, w.size), w.reshape(-1), b.reshape(-1),
                                  self.eps)
            self.xhat, self.inv = _from_rows(x, self.k, xhat, inv)
            self.w = w
            return y.reshape(x.shape)
        xhat, inv = _normalise(x, axes, self.eps)
        self.xhat, self.inv, self.w = xhat, inv, w
        if w is None:
            return xhat if b is None else xhat + b
        y = xhat * w
        if b is None:
            return y
        if b.dtype == y.dtype:
            y += b                 # in place: no third array
            return y
        return y + b

    def backward(self, gy):
        axes, lead = self._axes(gy.ndim)
        return self._present(_layer_norm_grads(gy, self.xhat, self.inv, self.w, axes, lead,
                                               self._need()))

    def backward_graph(self, gy):
        x, w, _ = self._split(self.inputs)
        axes, lead = self._axes(x.ndim)
        xhat, inv = _normalise(x, axes, self.eps)
        return self._present(_layer_norm_grads(gy, xhat, inv, w, axes, lead, self._need()))


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the last ``len(normalized_shape)`` axes (PyTorch's
    ``F.layer_norm``): each row is shifted to mean 0 and scaled to variance 1 (population
    variance, plus ``eps``), then scaled by ``weight`` and shifted by ``bias`` (both of
    ``normalized_shape``, optional). A constant row gives ``bias`` exactly.

    Raises:
        ValueError: when the last axes of ``x`` are not ``normalized_shape``, or
            ``weight``/``bias`` have another shape.
    """
    x = _as_tensor(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
        tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} must be the last axes of "
                         f"the input, whose shape is {x.shape}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ValueError(f"layer_norm: eps must be a positive number, got {eps!r}")
    inputs = [x]
    for name, t in (("weight", weight), ("bias", bias)):
        if t is None:
            continue
        t = _as_tensor(t)
        if t.shape != shape:
            raise ValueError(f"layer_norm: {name} has shape {t.shape}, expected {shape}")
        inputs.append(t)
    op = LayerNorm(k, float(eps), weight is not None, bias is not None)
    return op.apply(*inputs)


# =====================================================================================
# Scaled dot-product attention
# =====================================================================================

def causal_mask(L: int, S: int, device="cpu") -> Tensor:
    """A (L, S) boolean mask, True where query i may attend to key j: j <= i (the upper
    left triangle, PyTorch's ``is_causal``)."""
    mask = np.tril(np.ones((L, S), dtype=bool))
    return Tensor(mask, device=device)


def _swap_last(t: Tensor) -> Tensor:
    axes = list(range(t.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(t, *axes)


def _additive_mask(mask, shape, dtype, device):
    """A mask as something to add to scores of ``shape`` and ``dtype``: a boolean mask
    (True takes part) becomes 0 / -inf, a float mask is added as it is."""
    if isinstance(mask, Tensor):
        data = mask.data
    else:
        data = _index_on_device(np.asarray(mask) if isinstance(mask, (list, tuple)) else mask,
                                device)
    try:
        np.broadcast_shapes(tuple(data.shape), shape)
    except ValueError:
        raise ValueError(f"attention: mask of shape {tuple(data.shape)} does not broadcast "
                         f"to the scores' shape {shape} (..., L, S)") from None
    if data.dtype.kind == "b":
        xp = get_array_module(data)
        return Tensor._wrap(xp.where(data, dtype.type(0), dtype.type(-np.inf)))
    if data.dtype.kind != "f":
        raise TypeError(f"attention: a mask must be boolean or floating point, got "
                        f"{data.dtype}")
    return mask if isinstance(mask, Tensor) else Tensor._wrap(data.astype(dtype))


def _fast_attention(q, k, v, attn_mask, is_causal, scale, dropout):
    """(result, weights) from the fast Function that :func:`minigrad.kernels.attention`
    chooses, or None (the reference ops run, and report any error): it takes inputs of one
    floating dtype whose batch axes broadcast, outside autocast, and a mask that needs no
    gradient."""
    if not (q.dtype == k.dtype == v.dtype) or q.dtype.kind != "f" or \
            autocast_dtype() is not None or \
            (isinstance(attn_mask, Tensor) and attn_mask.requires_grad):
        return None
    try:
        shape = np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (q.shape[-2], k.shape[-2])
    except ValueError:
        return None
    if is_causal:
        attn_mask = causal_mask(q.shape[-2], k.shape[-2], device=q.device)
    mask = None if attn_mask is None else \
        _additive_mask(attn_mask, shape, q.dtype, q.device).data
    op = kernels.attention(scale, mask, bool(dropout))
    return None if op is None else op.apply(q, k, v)


def attention(query, key, value, attn_mask=None, is_causal: bool = False, scale=None,
              dropout_p: float = 0.0, training: bool = True):
    """``(softmax(q k^T * scale + mask) v, the attention weights)``; see
    :func:`scaled_dot_product_attention`."""
    q, k, v = _as_tensor(query), _as_tensor(key), _as_tensor(value)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"attention: query, key and value need at least 2 axes (..., L, E), "
                         f"got shapes {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"attention: query (..., L, E) and key (..., S, E) must share E, "
                         f"got shapes {q.shape} and {k.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention: key (..., S, E) and value (..., S, Ev) must share S, "
                         f"got shapes {k.shape} and {v.shape}")
    if is_causal and attn_mask is not None:
        raise ValueError("attention: pass either attn_mask or is_causal=True, not both")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    fast = _fast_attention(q, k, v, attn_mask, is_causal, scale, dropout_p and training)
    if fast is not None:
        return fast
    scores = matmul(q, _swap_last(k)) * scale                      # (..., L, S)
    if is_causal:
        attn_mask = causal_mask(q.shape[-2], k.shape[-2], device=q.device)
    if attn_mask is not None:
        scores = scores + _additive_mask(attn_mask, scores.shape, scores.dtype, scores.device)
    with np.errstate(invalid="ignore"):        # a fully masked row: NaN, documented
        weights = softmax(scores, axis=-1)
    if dropout_p:
        weights = dropout(weights, dropout_p, training)
    return matmul(weights, v), weights


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale=None,
                                 training: bool = True) -> Tensor:
    """Attention of queries (..., L, E) over keys (..., S, E) and values (..., S, Ev):
    ``softmax(q k^T * scale + mask) v``, shape (..., L, Ev) (PyTorch's
    ``F.scaled_dot_product_attention``).

    Args:
        attn_mask: broadcastable to (..., L, S). Boolean: True means the key takes part
            (as PyTorch); floating point: added to the scores.
        dropout_p: dropout on the attention weights (only when ``training``).
        is_causal: query i sees keys 0..i (the upper-left triangle; L == S in GPT).
        scale: multiplies the scores; 1 / sqrt(E) when None.

    The softmax subtracts each row's maximum, so large scores do not overflow. A row whose
    keys are all masked out has no weights to normalise and gives NaN (as PyTorch).
    """
    return attention(query, key, value, attn_mask, is_causal, scale, dropout_p, training)[0]
