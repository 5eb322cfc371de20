"""Convolution and pooling over 2-D images.

One implementation, channels-last (NHWC) inside, because then im2col is a strided view
plus ONE copy and the product ``cols @ W`` lands directly in NHWC order:

* x (N, H, W, C) -> windows (N, Ho, Wo, kh, kw, C), a strided view (no copy);
* cols = windows.reshape(N*Ho*Wo, kh*kw*C), the only copy;
* y = cols @ W.reshape(kh*kw*C, O) -> (N, Ho, Wo, O).

With few input channels (an image) the columns are gathered instead as kh*kw*C
contiguous planes, whose transposed view BLAS reads directly.

Backward: gW = cols^T gy, and gx = col2im(gy W^T) computed as kh*kw products
gy W[i, j]^T, each added into its shifted window of gx (no scatter); gx is built in an
(H, W, N, C) buffer, where those windows are long contiguous runs, and returned as its
NHWC view. The PyTorch-layout functions (x (N, C, H, W), W (O, C, kh, kw)) wrap the same
op with transposed views.
"""
from __future__ import annotations

from math import prod
from typing import Optional

import numpy as np

from .. import backend
from ..checks import int_pair
from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor
from .arithmetic import _as_tensor
from .shape import transpose

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "conv_output_size", "same_padding", "im2col"]


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


def windows(x, kh, kw, sh, sw):
    """Strided view (N, Ho, Wo, kh, kw, C) of the sliding windows of NHWC ``x``."""
    N, H, W, C = x.shape
    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    sN, sH, sW, sC = x.strides
    return backend.as_strided(x, (N, Ho, Wo, kh, kw, C), (sN, sH * sh, sW * sw, sH, sW, sC))


def col2im(g6, shape, sh, sw):
    """Adjoint of :func:`windows`: add each window's gradient back to NHWC ``shape``."""
    xp = get_array_module(g6)
    N, Ho, Wo, kh, kw, C = g6.shape
    gx = xp.zeros(shape, dtype=g6.dtype)
    for i in range(kh):
        for j in range(kw):
            gx[:, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw, :] += g6[:, :, :, i, j, :]
    return gx


def _pad_nhwc(x, pads, value=0.0):
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    xp = get_array_module(x)
    return xp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), mode="constant",
                  constant_values=value)


def _crop(gx, pads, in_shape):
    (pt, _), (pl, _) = pads
    if gx.shape == in_shape:
        return gx
    return gx[:, pt:pt + in_shape[1], pl:pl + in_shape[2], :]


# =====================================================================================
# Convolution
# =====================================================================================

_FEW_CHANNELS = 8


def sum_rows(g2):
    """Column sums of a 2-D array as a matrix-vector product (much faster than
    ``g2.sum(axis=0)`` for tall arrays with few columns)."""
    xp = get_array_module(g2)
    return xp.ones(g2.shape[0], dtype=g2.dtype) @ g2


def im2col(xpad, kh, kw, sh, sw, Ho, Wo, pool: int = 1):
    """The columns of a convolution: one row per output position, one column per
    (kernel row, kernel column, channel), for the first Ho x Wo output positions.

    With ``pool = p > 1`` the rows come in p*p blocks, block (a, b) holding the output
    positions (p i + a, p j + b) in (n, i, j) order over Ho/p x Wo/p: a p x p max pooling
    of the product is then an elementwise max of p*p contiguous blocks.
    """
    xp = get_array_module(xpad)
    N, C = xpad.shape[0], xpad.shape[3]
    Hb, Wb = Ho // pool, Wo // pool
    if C < _FEW_CHANNELS:
        # Few channels (an image input): gather the columns as kh*kw*C planes, each
        # one copy; cols is their transposed view (BLAS reads it as is).
        planes = xp.empty((kh * kw * C, pool, pool, N, Hb, Wb), dtype=xpad.dtype)
        for k in range(kh * kw * C):
            (i, j), c = divmod(k // C, kw), k % C
            v = xpad[:, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw, c]
            planes[k] = v.reshape(N, Hb, pool, Wb, pool).transpose(2, 4, 0, 1, 3)
        return planes.reshape(kh * kw * C, -1).T
    win = windows(xpad, kh, kw, sh, sw)[:, :Ho, :Wo]
    if pool > 1:
        win = win.reshape(N, Hb, pool, Wb, pool, kh, kw, C).transpose(2, 4, 0, 1, 3, 5, 6, 7)
    return win.reshape(-1, kh * kw * C)                       # the one copy


def _max_of(parts, out=None):
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


def _index_dtype(n):
    """The dtype of an index among ``n`` window positions: a byte up to 256."""
    return np.uint8 if n <= 256 else np.int32


def _first_max(parts, y, out=None):
    """The index of the first of ``parts`` equal to their max ``y`` (tied maxima: the first
    takes the gradient, as in PyTorch's and TensorFlow's max pooling), into ``out`` or a
    new array of :func:`_index_dtype`: the number of leading parts that differ from the
    max."""
    xp = get_array_module(y)
    differs = xp.not_equal(parts[0], y)
    if out is None:
        out = xp.empty(y.shape, dtype=_index_dtype(len(parts)))
    out[...] = differs
    if len(parts) > 2:
        tmp = xp.empty_like(differs)
        for v in parts[1:-1]:
            differs &= xp.not_equal(v, y, out=tmp)
            out += differs
    return out


def _to_first(gy, first, outs, mask=None):
    """Backward of a max over parts: ``outs[k] = gy`` where ``first == k``, else 0."""
    xp = get_array_module(gy)
    for k, o in enumerate(outs):
        xp.multiply(gy, xp.equal(first, k, out=mask), out=o)


class Conv2d(Function):
    """y[n, i, j, o] = sum_{a, b, c} x[n, s i + a, s j + b, c] W[a, b, c, o] + b[o]
    (cross-correlation, NHWC input, HWIO kernel), optionally followed by a fused ReLU
    computed in place (its mask is read from the saved output in backward)."""

    pool = 1

    def __init__(self, stride, pads, relu=False):
        self.stride, self.pads, self.relu = stride, pads, relu

    def _columns(self, x, W):
        """(cols, Wm): the columns over the output positions that are used (all unless
        pooling drops a last row or column), rows ordered as :func:`im2col` with
        ``self.pool``, and the kernel as a (kh*kw*C, O) matrix."""
        sh, sw = self.stride
        kh, kw, C, O = W.shape
        p = self.pool
        self.in_shape = x.shape
        xpad = _pad_nhwc(x, self.pads)
        N, Hp, Wp = xpad.shape[:3]
        Ho, Wo = ((Hp - kh) // sh + 1) // p * p, ((Wp - kw) // sw + 1) // p * p
        cols = im2col(xpad, kh, kw, sh, sw, Ho, Wo, p)
        Wm = W.reshape(kh * kw * C, O)
        if self.needs_input_grad and self.needs_input_grad[1]:
            self.cols = cols
        self.Wm, self.pad_shape, self.out_shape = Wm, xpad.shape, (N, Ho, Wo)
        self.W_shape = W.shape
        return cols, Wm

    def forward(self, x, W, b=None):
        cols, Wm = self._columns(x, W)
        y = cols @ Wm
        if b is not None:
            y += b
        if self.relu:
            get_array_module(y).maximum(y, 0, out=y)
            self.y = y
        return y.reshape(*self.out_shape, W.shape[3])

    def _input_grad(self, g):
        """col2im(g W^T) for the gradient ``g`` of the product with its rows in (h, w, n)
        order (:meth:`_hwn_order`), as kh*kw products g W[i, j]^T, each added into its
        shifted window of an (H, W, N, C) buffer. In that layout a window is Ho runs of
        Wo*N*C contiguous values (N*C with a column stride), where in NHWC it is N*Ho runs
        of Wo*C, and NumPy's per-run cost made those adds 4x slower than the data they
        move. Returns the (N, H, W, C) view of the buffer."""
        xp = get_array_module(g)
        N, Ho, Wo = self.out_shape
        kh, kw, C, O = self.W_shape
        sh, sw = self.stride
        gx = xp.zeros(self.pad_shape[1:3] + (N, C), dtype=g.dtype)
        tmp = xp.empty((Ho * Wo * N, C), dtype=g.dtype)
        tmp4 = tmp.reshape(Ho, Wo, N, C)
        WT = xp.ascontiguousarray(self.Wm.reshape(kh * kw, C, O).transpose(0, 2, 1))
        for k in range(kh * kw):
            i, j = divmod(k, kw)
            xp.matmul(g, WT[k], out=tmp)
            gx[i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw] += tmp4
        return gx.transpose(2, 0, 1, 3)

    def _hwn_order(self, g):
        """``g`` (rows ordered as the columns: (n, h, w)) with its rows in (h, w, n) order."""
        N, Ho, Wo = self.out_shape
        return g.reshape(N, Ho * Wo, -1).transpose(1, 0, 2).reshape(N * Ho * Wo, -1)

    def _grads(self, g, gb=None, gW=None):
        """Gradients of x, W (and b) from the gradient ``g`` of the product ``cols @ W``,
        the bias gradient ``gb`` and, if already computed, the kernel gradient ``gW``."""
        need = self.needs_input_grad
        gx = None
        if need[0]:
            gx = _crop(self._input_grad(self._hwn_order(g)), self.pads, self.in_shape)
        if need[1] and gW is None:
            gW = self.cols.T @ g
        if gW is not None:
            gW = gW.reshape(self.W_shape)
        if len(need) == 3:
            return gx, gW, gb
        return gx, gW

    def backward(self, gy):
        gy2 = gy.reshape(-1, self.W_shape[3])
        if self.relu:
            gy2 = backend.fused("relu_grad", gy2)(gy2, self.y)      # ReLU'(0) = 0
        need = self.needs_input_grad
        return self._grads(gy2, sum_rows(gy2) if len(need) == 3 and need[2] else None)


class Conv2dMaxPool(Conv2d):
    """maxpool_p(conv(x)) for a p x p pooling with stride p, optionally followed by a
    ReLU (equal to pooling the ReLU of the convolution: ReLU and max commute).

    The columns are ordered in p*p blocks (:func:`im2col`), so the pooling is an
    elementwise max of p*p contiguous blocks of the product, and output positions that
    the pooling would drop (an odd last row or column) are never computed. The forward
    keeps, instead of the product, the index of each window's first maximum (a byte per
    pooled value): the backward sends the gradient to block k where that index is k.
    The bias, the same over a window, is added after the pooling (max(v + b) =
    max(v) + b), on p*p times fewer values.
    """

    def __init__(self, stride, pads, pool, relu=False):
        super().__init__(stride, pads, relu)
        self.pool = pool

    def forward(self, x, W, b=None):
        cols, Wm = self._columns(x, W)
        xp = get_array_module(cols)
        P, (N, Ho, Wo), O = self.pool ** 2, self.out_shape, W.shape[3]
        rows_per_item = Ho * Wo // P                      # pooled rows per sample
        R = N * rows_per_item
        cols = cols.reshape(P, R, -1)
        dtype = xp.result_type(cols, Wm)
        y = xp.empty((R, O), dtype=dtype)
        grad = bool(self.needs_input_grad)          # else no backward: no index to keep
        self.first = xp.empty((R, O), dtype=_index_dtype(P)) if grad else None
        # Pooled chunk by chunk of samples, in cache. With few input channels the product
        # itself is cheap and large, so it is made per chunk too and never kept whole.
        per_item = (P + 3) * rows_per_item * O * y.itemsize
        chunks = backend.batch_chunks(y, N, per_item)
        few = self.W_shape[2] < _FEW_CHANNELS
        if few:
            prod = xp.empty((P, (chunks[0].stop - chunks[0].start) * rows_per_item, O),
                            dtype=dtype)
        else:
            prod = xp.matmul(cols, Wm)
        for s in chunks:
            r = slice(s.start * rows_per_item, s.stop * rows_per_item)
            if few:
                v = xp.matmul(cols[:, r], Wm, out=prod[:, :r.stop - r.start])
            else:
                v = prod[:, r]
            parts = list(v)
            _max_of(parts, out=y[r])
            if grad:
                _first_max(parts, y[r], out=self.first[r])
            if b is not None:
                y[r] += b
            if self.relu:
                xp.maximum(y[r], 0, out=y[r])
        if self.relu:
            self.y = y
        return y.reshape(N, Ho // self.pool, Wo // self.pool, O)

    def backward(self, gy):
        O = self.W_shape[3]
        gy2 = gy.reshape(-1, O)
        xp = get_array_module(gy2)
        need = self.needs_input_grad
        P, N = self.pool ** 2, self.out_shape[0]
        R = gy2.shape[0]
        rows_per_item = R // N
        per_item = (2 * P + 3) * rows_per_item * O * gy2.itemsize
        chunks = backend.batch_chunks(gy2, N, per_item)
        chunk_rows = (chunks[0].stop - chunks[0].start) * rows_per_item
        # With few input channels the kernel gradient cols^T g is a thin, memory-bound
        # product: it is taken chunk by chunk, while that chunk of g is still in cache;
        # g is kept whole only when something after the loop reads it.
        thin = need[1] and self.W_shape[2] < _FEW_CHANNELS
        keep = need[0] or (need[1] and not thin)
        cols = self.cols.reshape(P, R, -1) if thin else None
        g = xp.empty((P, R if keep else chunk_rows, O), dtype=gy2.dtype)
        mask = xp.empty((chunk_rows, O), dtype=bool)
        gb = gW = None
        for s in chunks:
            r = slice(s.start * rows_per_item, s.stop * rows_per_item)
            n = r.stop - r.start
            gr = r if keep else slice(0, n)
            gys = gy2[r]
            if self.relu:
                gys = backend.fused("relu_grad", gys)(gys, self.y[r])      # ReLU'(0) = 0
            if len(need) == 3 and need[2]:
                gb = _add_into(gb, sum_rows(gys))
            _to_first(gys, self.first[r], list(g[:, gr]), mask[:n])
            if thin:
                for k in range(P):
                    gW = _add_into(gW, cols[k, r].T @ g[k, gr])
        return self._grads(g.reshape(-1, O) if keep else None, gb, gW)

    def _hwn_order(self, g):
        """``g`` (rows in pooling blocks (a, b, n, i, j), h = p i + a, w = p j + b) with
        its rows in (h, w, n) order."""
        p, (N, Ho, Wo) = self.pool, self.out_shape
        g = g.reshape(p, p, N, Ho // p, Wo // p, -1).transpose(3, 0, 4, 1, 2, 5)
        return g.reshape(N * Ho * Wo, -1)


def _add_into(total, part):
    """``total + part``, in place into ``total`` unless it is None (the first part)."""
    if total is None:
        return part
    total += part
    return total


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
    if max_pool is None:
        fn = Conv2d((sh, sw), pads, relu)
    else:
        p = int(max_pool)
        Ho, Wo = (Hp - kh) // sh + 1, (Wp - kw) // sw + 1
        if p < 1 or Ho < p or Wo < p:
            raise ValueError(f"{name}: max_pool {max_pool} must be >= 1 and fit the "
                             f"convolution's output {Ho}x{Wo} (input shape {x.shape})")
        fn = Conv2dMaxPool((sh, sw), pads, p, relu)
    if b is None:
        return fn.apply(x, W)
    b = _as_tensor(b)
    if b.shape != (O,):
        raise ValueError(f"{name}: bias must have shape ({O},), got {b.shape}")
    return fn.apply(x, W, b)


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
        activation: None, or ``'relu'`` to fuse a ReLU into the op (one pass less).
        max_pool: p to return ``max_pool2d(conv2d(...), p)`` (window p, stride p) in
            one op, the activation applied after the pooling (they commute). Positions
            the pooling drops are not computed.

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
    """y[n, i, j, c] = max over the window at (s i, s j). Of tied maxima, the first in the
    window (row by row) takes the gradient, as in PyTorch and TensorFlow.

    When the stride equals the window and there is no padding (the usual 2x2 pooling),
    the window's k*k positions are k*k strided views of x: the max is k*k - 1 elementwise
    maximums and the backward k*k masks, with no window copy and no scatter. On every
    path the forward keeps the index of each window's first maximum (a byte per output),
    only when a backward can follow; the backward sends the gradient where it points.

    With ``relu=True`` the op computes ReLU(maxpool(x)), which equals maxpool(ReLU(x))
    because ReLU is monotone: a ReLU before the pooling can be applied after it, on a
    k*k times smaller array, forward and backward.
    """

    def __init__(self, k, s, pads, relu=False):
        self.k, self.s, self.pads, self.relu = k, s, pads, relu

    def _out(self, y):
        if not self.relu:
            return y
        self.y = y                     # the ReLU mask is read from it
        return get_array_module(y).maximum(y, 0)

    def forward(self, x):
        (kh, kw), (sh, sw) = self.k, self.s
        self.in_shape = x.shape
        xp = get_array_module(x)
        self.fast = (kh, kw) == (sh, sw) and self.pads == ((0, 0), (0, 0))
        if self.fast:
            N, H, W, C = x.shape
            Ho, Wo = H // kh, W // kw
            views = [x[:, i:Ho * kh:kh, j:Wo * kw:kw, :] for i in range(kh) for j in range(kw)]
            if not self.needs_input_grad:
                return self._out(_max_of(views))
            # the max and its first-maximum index chunk by chunk, the window in cache
            y = xp.empty((N, Ho, Wo, C), dtype=x.dtype)
            self.first = xp.empty(y.shape, dtype=_index_dtype(kh * kw))
            per_item = x.itemsize * int(prod(x.shape[1:])) * 2
            for s in backend.batch_chunks(x, N, per_item):
                parts = [v[s] for v in views]
                _first_max(parts, _max_of(parts, out=y[s]), out=self.first[s])
            return self._out(y)
        xpad = _pad_nhwc(x, self.pads, -xp.inf)
        win = windows(xpad, kh, kw, sh, sw)
        self.pad_shape = xpad.shape
        y = win.max(axis=(3, 4))
        if self.needs_input_grad:
            self.first = _first_max([win[:, :, :, i, j, :] for i in range(kh)
                                     for j in range(kw)], y)
        return self._out(y)

    def backward(self, gy):
        xp = get_array_module(gy)
        if self.relu:
            gy = backend.fused("relu_grad", gy)(gy, self.y)   # ReLU'(0) = 0
        (kh, kw), first = self.k, self.first
        offsets = [(i, j) for i in range(kh) for j in range(kw)]
        if self.fast:
            gx = xp.zeros(self.in_shape, dtype=gy.dtype) if self._cropped() else \
                xp.empty(self.in_shape, dtype=gy.dtype)
            N, Ho, Wo, C = first.shape
            per_item = gy.itemsize * int(prod(self.in_shape[1:])) * 3
            for s in backend.batch_chunks(gy, N, per_item):
                _to_first(gy[s], first[s],
                          [gx[s, i:Ho * kh:kh, j:Wo * kw:kw, :] for i, j in offsets])
            return gx
        N, Ho, Wo, C = first.shape
        g6 = xp.empty((N, Ho, Wo, kh, kw, C), dtype=gy.dtype)
        _to_first(gy, first, [g6[:, :, :, i, j, :] for i, j in offsets])
        gx = col2im(g6, self.pad_shape, *self.s)
        return _crop(gx, self.pads, self.in_shape)

    def _cropped(self):
        (kh, kw), (H, W) = self.k, self.in_shape[1:3]
        return H % kh != 0 or W % kw != 0


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
        return windows(_pad_nhwc(ones, self.pads), kh, kw, sh, sw).sum(axis=(3, 4))

    def forward(self, x):
        (kh, kw), (sh, sw) = self.k, self.s
        self.in_shape = x.shape
        xpad = _pad_nhwc(x, self.pads)
        self.pad_shape = xpad.shape
        self.count = self._count(x)
        return windows(xpad, kh, kw, sh, sw).sum(axis=(3, 4)) / self.count

    def backward(self, gy):
        xp = get_array_module(gy)
        (kh, kw), (sh, sw) = self.k, self.s
        g = gy / self.count
        N, Ho, Wo, C = g.shape
        g6 = xp.broadcast_to(g[:, :, :, None, None, :], (N, Ho, Wo, kh, kw, C))
        return _crop(col2im(g6, self.pad_shape, sh, sw), self.pads, self.in_shape)


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
    y = cls(k, s, pads, **kw).apply(xin)
    return transpose(y, 0, 3, 1, 2) if layout == "NCHW" else y


def max_pool2d(x, kernel_size, stride=None, padding=0, layout: str = "NCHW",
               activation: Optional[str] = None) -> Tensor:
    """Max pooling (stride defaults to the kernel size); of tied maxima in a window the
    first (row by row) takes the gradient, as in PyTorch and TensorFlow.

    ``layout='NCHW'`` (PyTorch) or ``'NHWC'`` (Keras); padding pads with -inf.
    ``activation='relu'`` returns ReLU(maxpool(x)) = maxpool(ReLU(x)) in one op.
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
