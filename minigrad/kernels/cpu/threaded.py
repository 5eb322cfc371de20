"""The CPU's fused kernels: the generic formulas of :mod:`minigrad.kernels.elementwise`,
each run at once on slices of its rows by minigrad's CPU threads
(:func:`minigrad.tuning.set_cpu_threads`), and matrix products split by rows.

NumPy releases the GIL inside its loops, so two threads computing two halves of an array
run on two cores. A row is never cut: every elementwise and row result is bitwise the
generic version's (the sum over rows is split by columns instead). Work too small to gain
from a second thread (a hand-off to a thread costs some 10-20 µs, about one pass over
32K floats), and every call while minigrad runs one thread, goes to the generic version as
it is.
"""
from __future__ import annotations

import numpy as np

from ... import tuning
from .. import elementwise as ew

__all__ = ["elementwise_kernels", "MIN_VALUES", "MIN_PRODUCT"]

#: the fewest values a thread's share of an elementwise or row kernel may have
MIN_VALUES = 1 << 15
#: the fewest multiply-adds a thread's share of a matrix product may have
MIN_PRODUCT = 1 << 19


def _row_slices(a, axis=-1):
    """Slices of ``a``'s leading axis, one per thread, or None (run as one piece); None
    also when the kernel works along the leading axis itself."""
    if a.ndim == 0 or (a.ndim == 1 and axis is not None) or a.shape[0] == 0:
        return None
    if axis is not None and axis % a.ndim == 0:
        return None
    per_row = max(a.size // a.shape[0], 1)
    return tuning.split(a.shape[0], -(-MIN_VALUES // per_row))


def _flat_slices(*arrays):
    """Slices of the flattened arrays (all C-contiguous, of one size), or None."""
    if not all(a.flags.c_contiguous for a in arrays):
        return None
    return tuning.split(arrays[0].size, MIN_VALUES)


def relu_grad(gy, y):
    parts = _row_slices(gy, None) if gy.shape == y.shape else None
    if parts is None:
        return ew.relu_grad_generic(gy, y)
    out = np.empty(gy.shape, gy.dtype)
    tuning.parallel(lambda s: ew.relu_grad_generic(gy[s], y[s], out=out[s]), parts)
    return out


def adam_step(p, g, m, v, b1, b2, lr_c1, c2inv, eps):
    parts = _flat_slices(p, g, m, v) if p.shape == g.shape else None
    if parts is None:
        return ew.adam_step_generic(p, g, m, v, b1, b2, lr_c1, c2inv, eps)
    flat = [a.reshape(-1) for a in (p, g, m, v)]
    tuning.parallel(lambda s: ew.adam_step_generic(*[a[s] for a in flat], b1, b2, lr_c1,
                                                   c2inv, eps), parts)


def gelu_tanh(x, k, c):
    parts = _row_slices(x, None)
    if parts is None:
        return ew.gelu_tanh_generic(x, k, c)
    y, t = np.empty(x.shape, x.dtype), np.empty(x.shape, x.dtype)
    tuning.parallel(lambda s: ew.gelu_tanh_generic(x[s], k, c, out=(y[s], t[s])), parts)
    return y, t


def gelu_tanh_grad(gy, x, t, k, c):
    parts = _row_slices(x, None) if gy.shape == x.shape else None
    if parts is None:
        return ew.gelu_tanh_grad_generic(gy, x, t, k, c)
    out = np.empty(x.shape, x.dtype)
    tuning.parallel(lambda s: ew.gelu_tanh_grad_generic(gy[s], x[s], t[s], k, c, out=out[s]),
                    parts)
    return out


def sum_rows(a):
    """Split by columns: each column's sum adds its rows in the generic order."""
    if a.ndim != 2 or a.shape[0] == 0:
        return ew.sum_rows_generic(a)
    parts = tuning.split(a.shape[1], -(-MIN_VALUES // a.shape[0]))
    if parts is None:
        return ew.sum_rows_generic(a)
    out = np.empty(a.shape[1], a[:1, :1].sum(axis=0).dtype)
    tuning.parallel(lambda s: np.sum(a[:, s], axis=0, out=out[s]), parts)
    return out


def layer_norm(x, eps, axes=-1):
    parts = _row_slices(x, axes) if isinstance(axes, int) else None
    if parts is None:
        return ew.layer_norm_generic(x, eps, axes)
    xhat, inv = np.empty(x.shape, x.dtype), {}

    def rows(s):
        inv[s.start] = ew.layer_norm_generic(x[s], eps, axes, out=xhat[s])[1]
    tuning.parallel(rows, parts)
    return xhat, np.concatenate([inv[s.start] for s in parts])


def layer_norm_grad(g, xhat, inv, axes=-1):
    parts = _row_slices(g, axes) if isinstance(axes, int) and g.shape == xhat.shape else None
    if parts is None:
        return ew.layer_norm_grad_generic(g, xhat, inv, axes)
    out = np.empty(g.shape, np.result_type(g.dtype, xhat.dtype))
    tuning.parallel(lambda s: ew.layer_norm_grad_generic(g[s], xhat[s], inv[s], axes,
                                                         out=out[s]), parts)
    return out


def softmax_rows(x, axis=-1):
    parts = _row_slices(x, axis)
    if parts is None:
        return ew.softmax_rows_generic(x, axis)
    out = np.empty(x.shape, x.dtype)
    tuning.parallel(lambda s: ew.softmax_rows_generic(x[s], axis, out=out[s]), parts)
    return out


def softmax_rows_grad(gy, y, axis=-1):
    parts = _row_slices(gy, axis) if gy.shape == y.shape else None
    if parts is None:
        return ew.softmax_rows_grad_generic(gy, y, axis)
    out = np.empty(gy.shape, np.result_type(gy.dtype, y.dtype))
    tuning.parallel(lambda s: ew.softmax_rows_grad_generic(gy[s], y[s], axis, out=out[s]),
                    parts)
    return out


def matmul(a, b):
    """``a @ b`` split along the rows of a 2-D ``a``, or along the batch axis both share
    (or of ``a`` alone, times one matrix ``b``)."""
    if a.ndim < 2 or b.ndim < 2:
        return ew.matmul_generic(a, b)
    if a.ndim == 2 and b.ndim == 2:
        sliced_b, per_row = False, a.shape[1] * b.shape[1]
    elif a.ndim > 2 and (b.ndim == 2 or (b.ndim == a.ndim and b.shape[:-2] == a.shape[:-2])):
        sliced_b = b.ndim > 2
        per_row = max(a.size // max(a.shape[0], 1), 1) * b.shape[-1]
    else:
        return ew.matmul_generic(a, b)
    parts = tuning.split(a.shape[0], -(-MIN_PRODUCT // max(per_row, 1)))
    if parts is None:
        return ew.matmul_generic(a, b)
    shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
    out = np.empty(shape, np.result_type(a.dtype, b.dtype))
    tuning.parallel(lambda s: ew.matmul_generic(a[s], b[s] if sliced_b else b, out=out[s]),
                    parts)
    return out


def elementwise_kernels() -> dict:
    """{kernel name: the CPU's version}, for :func:`minigrad.kernels.elementwise.fused`."""
    return {"relu_grad": relu_grad, "adam_step": adam_step, "gelu_tanh": gelu_tanh,
            "gelu_tanh_grad": gelu_tanh_grad, "sum_rows": sum_rows, "layer_norm": layer_norm,
            "layer_norm_grad": layer_norm_grad, "softmax_rows": softmax_rows,
            "softmax_rows_grad": softmax_rows_grad, "matmul": matmul}
