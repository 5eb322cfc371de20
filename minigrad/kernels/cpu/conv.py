"""Fast convolutions: the CPU-tuned GEMM convolution and the fused convolution + ReLU +
max pooling. Both are checked against the reference ops of
:mod:`minigrad.functional.conv` by the op catalogue."""
from __future__ import annotations

from ... import tuning
from ...autograd import Function
from ...backend import get_array_module
from ..elementwise import fused
from ...functional.windows import crop_nhwc, pad_nhwc, windows
from .pool import first_max, index_dtype, max_of, to_first

__all__ = ["Conv2dGemm", "Conv2dMaxPool", "im2col", "sum_rows"]

#: below this many input channels the columns are gathered plane by plane
FEW_CHANNELS = 8


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
    if C < FEW_CHANNELS:
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


class Conv2dGemm(Function):
    """The convolution of :class:`minigrad.functional.conv.Conv2d` (same values and
    gradients), tuned for the CPU, optionally followed by a ReLU computed in place (its
    mask is read from the saved output in backward).

    With few input channels (an image) the columns are gathered as kh*kw*C contiguous
    planes, whose transposed view BLAS reads directly; the input gradient is built in an
    (H, W, N, C) buffer where each shifted-window add is a long contiguous run."""

    autocast = "low"

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
        xpad = pad_nhwc(x, self.pads)
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
            gx = crop_nhwc(self._input_grad(self._hwn_order(g)), self.pads, self.in_shape)
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
            gy2 = fused("relu_grad", gy2)(gy2, self.y)      # ReLU'(0) = 0
        need = self.needs_input_grad
        return self._grads(gy2, sum_rows(gy2) if len(need) == 3 and need[2] else None)


class Conv2dMaxPool(Conv2dGemm):
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
        self.first = xp.empty((R, O), dtype=index_dtype(P)) if grad else None
        # Pooled chunk by chunk of samples, in cache. With few input channels the product
        # itself is cheap and large, so it is made per chunk too and never kept whole.
        per_item = (P + 3) * rows_per_item * O * y.itemsize
        chunks = tuning.batch_chunks(y, N, per_item)
        few = self.W_shape[2] < FEW_CHANNELS
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
            max_of(parts, out=y[r])
            if grad:
                first_max(parts, y[r], out=self.first[r])
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
        chunks = tuning.batch_chunks(gy2, N, per_item)
        chunk_rows = (chunks[0].stop - chunks[0].start) * rows_per_item
        # With few input channels the kernel gradient cols^T g is a thin, memory-bound
        # product: it is taken chunk by chunk, while that chunk of g is still in cache;
        # g is kept whole only when something after the loop reads it.
        thin = need[1] and self.W_shape[2] < FEW_CHANNELS
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
                gys = fused("relu_grad", gys)(gys, self.y[r])      # ReLU'(0) = 0
            if len(need) == 3 and need[2]:
                gb = _add_into(gb, sum_rows(gys))
            to_first(gys, self.first[r], list(g[:, gr]), mask[:n])
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
