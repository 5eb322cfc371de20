"""CPU kernels compiled with Numba (the optional extra ``pip install minigrad[fast]``).

The CPU counterpart of :mod:`minigrad.kernels.cuda`: the hot elementwise and row formulas
of :mod:`minigrad.kernels.elementwise`, each written as the plain loop it is and compiled
to machine code on first use. NumPy runs a formula like Adam's update as one pass over
memory per operator (thirteen for Adam, each reading and writing the whole array); a loop
reads each value once and keeps the intermediate results in registers.

* Compiled for float32 and float64 (other dtypes use the generic versions), checked
  against the generic versions on first use for each dtype by
  :func:`minigrad.kernels.elementwise.fused`.
* One thread: BLAS's threads already share the cores during the products, and two thread
  pools on the same cores slow each other down.
* Floating-point semantics: sums may be reordered (``reassoc``, so they vectorise) and
  ``a * b + c`` fused, but NaN and infinity propagate as in NumPy, and a division by zero
  gives infinity or NaN, as in NumPy (``error_model="numpy"``; Python's model would raise
  and keep the loop from vectorising).
* Numba's ``exp`` and ``tanh`` are the C library's, one value at a time: the kernels that
  need them leave that pass to NumPy's vectorised ufuncs.
* The machine code is cached next to this file (or in Numba's cache folder) so that later
  processes load it instead of compiling again.
"""
from __future__ import annotations

import importlib
import importlib.util
import math
import warnings

import numpy as np

from ...backend import scatter_add
from ..elementwise import adam_step_generic

__all__ = ["available", "elementwise_kernels", "DTYPES"]

#: the dtypes the kernels are compiled for
DTYPES = frozenset({np.dtype(np.float32), np.dtype(np.float64)})

_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}     # never 'nnan' or 'ninf'


_IMPORTED: dict = {}


def available() -> bool:
    """Whether Numba is installed and imports (tried once, on the first call). A Numba
    that is installed but fails to import (built for another NumPy, say) is reported by a
    warning, and NumPy's generic kernels are used."""
    if "ok" not in _IMPORTED:
        if importlib.util.find_spec("numba") is None:
            _IMPORTED["ok"] = False
        else:
            try:
                importlib.import_module("numba")
                _IMPORTED["ok"] = True
            except Exception as exc:     # ImportError, or whatever a broken install raises
                warnings.warn(f"Numba is installed but does not import ({exc}); minigrad "
                              "uses NumPy's generic kernels on the CPU", stacklevel=2)
                _IMPORTED["ok"] = False
    return _IMPORTED["ok"]


# -------------------------------------------------------------------------------------
# The loops. Each reads its inputs once; the wrappers below give them flat (1-D) or
# row (2-D) C-contiguous arrays and constants already in the arrays' dtype, so that a
# float32 kernel computes in float32 like NumPy does (a Python number in the loop would
# make Numba compute in float64). Sums along a row accumulate in float64; the sums over
# rows (_sum_rows, _layer_norm_affine_grad's gw and gb) in the arrays' dtype, as NumPy's.
# -------------------------------------------------------------------------------------

def _relu_grad(gy, y, gx):
    for i in range(gx.size):
        gx[i] = gy[i] * (y[i] > 0)          # the generic formula: NaN * False is NaN


def _adam(p, g, m, v, b1, one_minus_b1, b2, one_minus_b2, lr_c1, c2inv, eps):
    for i in range(p.size):
        gi = g[i]
        mi = b1 * m[i] + one_minus_b1 * gi
        vi = b2 * v[i] + one_minus_b2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= lr_c1 * mi / (np.sqrt(vi * c2inv) + eps)


def _gelu_inner(x, k, kc, u):
    for i in range(x.size):
        xi = x[i]
        u[i] = xi * (k + kc * xi * xi)          # k (x + c x^3)


def _gelu_outer(x, t, half, one, y):
    for i in range(x.size):
        y[i] = half * x[i] * (one + t[i])       # x (1 + tanh(...)) / 2


def _gelu_grad(gy, x, t, half, one, k, three_kc, gx):
    for i in range(x.size):
        xi, ti = x[i], t[i]
        gx[i] = gy[i] * half * (one + ti + xi * (one - ti * ti) * (k + three_kc * xi * xi))


def _layer_norm(x, eps, xhat, inv):
    rows, n = x.shape
    for r in range(rows):
        s = 0.0
        for j in range(n):
            s += x[r, j]
        mean = s / n
        q = 0.0
        for j in range(n):
            d = x[r, j] - mean
            q += d * d
        iv = 1.0 / math.sqrt(q / n + eps)
        inv[r, 0] = iv
        for j in range(n):
            xhat[r, j] = (x[r, j] - mean) * iv


def _layer_norm_grad(g, xhat, inv, gx):
    rows, n = g.shape
    for r in range(rows):
        sg = 0.0
        sgx = 0.0
        for j in range(n):
            sg += g[r, j]
            sgx += g[r, j] * xhat[r, j]
        mg, mgx, iv = sg / n, sgx / n, inv[r, 0]
        for j in range(n):
            gx[r, j] = iv * (g[r, j] - mg - xhat[r, j] * mgx)


def _scale_shift(xhat, w, b, y):
    rows, n = xhat.shape
    for r in range(rows):
        for j in range(n):
            y[r, j] = xhat[r, j] * w[j] + b[j]


def _layer_norm_affine_grad(gy, xhat, inv, w, gx, gw, gb):
    rows, n = gy.shape
    for j in range(n):
        gw[j] = 0
        gb[j] = 0
    for r in range(rows):
        sg = 0.0
        sgx = 0.0
        for j in range(n):
            g = gy[r, j] * w[j]
            sg += g
            sgx += g * xhat[r, j]
            gw[j] += gy[r, j] * xhat[r, j]
            gb[j] += gy[r, j]
        mg, mgx, iv = sg / n, sgx / n, inv[r, 0]
        for j in range(n):
            gx[r, j] = iv * (gy[r, j] * w[j] - mg - xhat[r, j] * mgx)


def _shift_by_row_max(x, y):
    rows, n = x.shape
    for r in range(rows):
        m = x[r, 0]
        for j in range(1, n):
            m = max(m, x[r, j])
        for j in range(n):
            y[r, j] = x[r, j] - m


def _divide_by_row_sum(y):
    rows, n = y.shape
    for r in range(rows):
        s = 0.0
        for j in range(n):
            s += y[r, j]
        for j in range(n):
            y[r, j] /= s


def _softmax_grad(gy, y, gx):
    rows, n = y.shape
    for r in range(rows):
        d = 0.0
        for j in range(n):
            d += gy[r, j] * y[r, j]
        for j in range(n):
            gx[r, j] = y[r, j] * (gy[r, j] - d)


def _sum_rows(a, out):
    rows, n = a.shape
    for j in range(n):
        out[j] = 0
    for r in range(rows):                     # row after row, as NumPy's sum(axis=0)
        for j in range(n):
            out[j] += a[r, j]


def _scatter_rows(target, index, rows):
    n = target.shape[1]
    for i in range(index.size):
        r = index[i]                          # a negative index counts from the end
        for j in range(n):
            target[r, j] += rows[i, j]


def _compile(fn):
    import numba
    options = dict(fastmath=_FASTMATH, error_model="numpy", nogil=True)
    try:
        return numba.njit(cache=True, **options)(fn)
    except RuntimeError:        # no folder to keep the machine code in: compile each run
        return numba.njit(**options)(fn)


def _flat(a, dtype):
    """``a`` as a C-contiguous 1-D array of ``dtype`` (a view when it already is one)."""
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1)


def _rows(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)


#: the loops compiled, by name (filled by :func:`elementwise_kernels`)
_LOOPS: dict = {}


def relu_grad(gy, y):
    gx = np.empty(gy.shape, gy.dtype)
    _LOOPS["relu_grad"](_flat(gy, gy.dtype), _flat(y, y.dtype), gx.reshape(-1))
    return gx


def adam_step(p, g, m, v, b1, b2, lr_c1, c2inv, eps):
    if not (p.flags.c_contiguous and m.flags.c_contiguous and v.flags.c_contiguous
            and p.dtype == m.dtype == v.dtype):
        # updated in place: a flat copy would update the copy
        return adam_step_generic(p, g, m, v, b1, b2, lr_c1, c2inv, eps)
    t = p.dtype.type
    _LOOPS["adam"](p.reshape(-1), _flat(g, p.dtype), m.reshape(-1), v.reshape(-1),
                   t(b1), t(1 - b1), t(b2), t(1 - b2), t(lr_c1), t(c2inv), t(eps))
    return None


def gelu_tanh(x, k, c):
    t = x.dtype.type
    xf = _flat(x, x.dtype)
    u = np.empty(x.shape, x.dtype)
    _LOOPS["gelu_inner"](xf, t(k), t(k * c), u.reshape(-1))
    np.tanh(u, out=u)
    y = np.empty(x.shape, x.dtype)
    _LOOPS["gelu_outer"](xf, u.reshape(-1), t(0.5), t(1), y.reshape(-1))
    return y, u


def gelu_tanh_grad(gy, x, t, k, c):
    d = gy.dtype
    gx = np.empty(gy.shape, d)
    _LOOPS["gelu_grad"](_flat(gy, d), _flat(x, d), _flat(t, d), d.type(0.5), d.type(1),
                        d.type(k), d.type(3 * k * c), gx.reshape(-1))
    return gx


def sum_rows(a):
    out = np.empty(a.shape[1], a.dtype)
    _LOOPS["sum_rows"](_rows(a, a.dtype), out)
    return out


def layer_norm(x, eps):
    x = _rows(x, x.dtype)
    xhat = np.empty(x.shape, x.dtype)
    inv = np.empty((x.shape[0], 1), x.dtype)
    _LOOPS["layer_norm"](x, float(eps), xhat, inv)
    return xhat, inv


def layer_norm_grad(g, xhat, inv):
    d = g.dtype
    gx = np.empty(g.shape, d)
    _LOOPS["layer_norm_grad"](_rows(g, d), _rows(xhat, d), _rows(inv, d), gx)
    return gx


def layer_norm_affine(x, w, b, eps):
    d = x.dtype
    x = _rows(x, d)
    y, xhat = np.empty(x.shape, d), np.empty(x.shape, d)
    inv = np.empty((x.shape[0], 1), d)
    _LOOPS["layer_norm"](x, float(eps), xhat, inv)
    _LOOPS["scale_shift"](xhat, _flat(w, d), _flat(b, d), y)
    return y, xhat, inv


def layer_norm_affine_grad(gy, xhat, inv, w):
    d = gy.dtype
    gx = np.empty(gy.shape, d)
    gw, gb = np.empty(gy.shape[1], d), np.empty(gy.shape[1], d)
    _LOOPS["layer_norm_affine_grad"](_rows(gy, d), _rows(xhat, d), _rows(inv, d),
                                     _flat(w, d), gx, gw, gb)
    return gx, gw, gb


def softmax_rows(x):
    y = np.empty(x.shape, x.dtype)
    _LOOPS["shift_by_row_max"](_rows(x, x.dtype), y)
    np.exp(y, out=y)
    _LOOPS["divide_by_row_sum"](y)
    return y


def softmax_rows_grad(gy, y):
    d = gy.dtype
    gx = np.empty(gy.shape, d)
    _LOOPS["softmax_grad"](_rows(gy, d), _rows(y, d), gx)
    return gx


def scatter_rows(target, index, rows):
    if not target.flags.c_contiguous:          # updated in place: a copy would be updated
        return scatter_add(target, index, rows)
    _LOOPS["scatter_rows"](target, _flat(index, np.int64), _rows(rows, target.dtype))
    return None


def elementwise_kernels() -> dict:
    """{name: kernel} for the 'cpu' backend, the names and signatures of
    :data:`minigrad.kernels.elementwise.GENERIC`. Hands each loop to Numba, which
    compiles it on its first call."""
    for loop in (_relu_grad, _adam, _gelu_inner, _gelu_outer, _gelu_grad, _sum_rows,
                 _layer_norm, _layer_norm_grad, _scale_shift, _layer_norm_affine_grad,
                 _shift_by_row_max, _divide_by_row_sum, _softmax_grad, _scatter_rows):
        _LOOPS[loop.__name__.lstrip("_")] = _compile(loop)
    return {"relu_grad": relu_grad, "adam_step": adam_step, "gelu_tanh": gelu_tanh,
            "gelu_tanh_grad": gelu_tanh_grad, "sum_rows": sum_rows, "layer_norm": layer_norm,
            "layer_norm_grad": layer_norm_grad, "softmax_rows": softmax_rows,
            "softmax_rows_grad": softmax_rows_grad, "scatter_rows": scatter_rows,
            "layer_norm_affine": layer_norm_affine,
            "layer_norm_affine_grad": layer_norm_affine_grad}
