"""Fused kernels for the hot paths: the ReLU gradient, the Adam update, GELU (tanh form)
and its gradient, the sum over rows (bias gradients), layer normalisation and softmax of
rows and their gradients.

Each kernel has a generic version written with the array module's operations (NumPy, or
any backend); a backend may have a fused one (on CUDA, one CuPy ``ElementwiseKernel``
launch instead of several passes over memory: :mod:`minigrad.kernels.cuda`; on the CPU
with Numba installed, one compiled loop: :mod:`minigrad.kernels.cpu.compiled`). A fused
kernel is checked against the generic version on its first use for each dtype, and
dropped, with a warning, if it fails or disagrees. Inside
:class:`minigrad.kernels.reference_ops` the generic versions run.

* ``relu_grad(gy, y) -> gy * (y > 0)``
* ``adam_step(p, g, m, v, b1, b2, lr_c1, c2inv, eps)`` updates p, m, v in place:
  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr_c1 m / (sqrt(c2inv v) + eps)
* ``gelu_tanh(x, k, c) -> (y, t)``: t = tanh(k (x + c x^3)), y = x (1 + t) / 2
* ``gelu_tanh_grad(gy, x, t, k, c) -> gy ((1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2)``
* ``sum_rows(a) -> a.sum(axis=0)`` for a 2-D ``a`` (on CUDA a matrix-vector product with
  ones, which cuBLAS runs at full memory speed)
* ``layer_norm(x, eps) -> (xhat, inv)`` for each row of a 2-D ``x``: inv = 1 / sqrt(var +
  eps) as an (R, 1) column, xhat = (x - mean) inv
* ``layer_norm_grad(g, xhat, inv) -> inv (g - mean(g) - xhat mean(g xhat))``, the means
  over each row (the input gradient of layer_norm, ``g`` the gradient of xhat)
* ``softmax_rows(x) -> exp(x - max) / sum(exp(x - max))`` over each row of a 2-D ``x``
* ``softmax_rows_grad(gy, y) -> y (gy - sum(gy y))``, the sums over each row
* ``scatter_rows(target, index, rows)``: ``target[index[i]] += rows[i]``, repeated indices
  accumulated (the gradient of an embedding lookup), in place
* ``layer_norm_affine(x, w, b, eps) -> (xhat w + b, xhat, inv)`` and
  ``layer_norm_affine_grad(gy, xhat, inv, w) -> (gx, gw, gb)``: layer normalisation with
  its weight and bias, the forward in two passes over the rows and the backward in one
  (only where a backend has them fused: :func:`fused_only`)
"""
from __future__ import annotations

import warnings

import numpy as np

from ..backend import get_array_module, get_backend, scatter_add
from .switches import compiled_kernels_wanted, fast_paths_enabled

__all__ = ["fused", "relu_grad_generic", "adam_step_generic", "gelu_tanh_generic",
           "gelu_tanh_grad_generic", "sum_rows_generic", "layer_norm_generic",
           "layer_norm_grad_generic", "softmax_rows_generic", "softmax_rows_grad_generic",
           "scatter_rows_generic", "layer_norm_affine_generic",
           "layer_norm_affine_grad_generic", "FUSED", "FUSED_DTYPES", "forget_kernels"]


def relu_grad_generic(gy, y):
    return gy * (y > 0)


def adam_step_generic(p, g, m, v, b1, b2, lr_c1, c2inv, eps):
    xp = get_array_module(p)
    m *= b1
    tmp = xp.multiply(g, 1 - b1, dtype=m.dtype)    # the one temporary, reused below
    m += tmp
    v *= b2
    xp.multiply(g, g, out=tmp)
    tmp *= 1 - b2
    v += tmp
    xp.multiply(v, c2inv, out=tmp)
    xp.sqrt(tmp, out=tmp)
    tmp += eps                  # sqrt(v / c2) + eps
    xp.divide(m, tmp, out=tmp)
    tmp *= lr_c1
    p -= tmp


def gelu_tanh_generic(x, k, c):
    """In two buffers: one NumPy pass per operator, never a fresh array per operator
    (GELU runs on a Transformer's largest activations)."""
    xp = get_array_module(x)
    t = xp.asarray(x * x)          # t = tanh(x (k + k c x^2)) = tanh(k (x + c x^3))
    t *= k * c
    t += k
    t *= x
    xp.tanh(t, out=t)
    y = xp.asarray(t + 1)          # y = x (1 + t) / 2
    y *= x
    y *= 0.5
    return y, t


def gelu_tanh_grad_generic(gy, x, t, k, c):
    xp = get_array_module(gy)
    g = xp.asarray(x * x)          # k (1 + 3 c x^2)
    g *= 3 * k * c
    g += k
    s = xp.asarray(t * t)          # 1 - t^2
    xp.subtract(1, s, out=s)
    g *= s
    g *= x
    g += t                         # (1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2
    g += 1
    g *= 0.5
    g *= gy
    return g


def sum_rows_generic(a):
    return a.sum(axis=0)


def layer_norm_generic(x, eps, axes=-1):
    """Two passes (the mean, then the squares of the centred values), so rows of equal
    values give xhat = 0 exactly. Over ``axes`` (the last by default: the rows of a 2-D
    ``x``); also on Tensors, where each in-place step makes a new Tensor of the graph
    (LayerNorm's double backprop)."""
    xc = x - x.mean(axis=axes, keepdims=True)
    inv = ((xc * xc).mean(axis=axes, keepdims=True) + eps) ** -0.5
    xc *= inv
    return xc, inv


def layer_norm_grad_generic(g, xhat, inv, axes=-1):
    """inv (g - mean(g) - xhat mean(g xhat)) over ``axes``; arrays or Tensors, as above."""
    gx = g - xhat * (g * xhat).mean(axis=axes, keepdims=True)
    gx -= g.mean(axis=axes, keepdims=True)
    gx *= inv
    return gx


def softmax_rows_generic(x, axis=-1):
    """Over ``axis`` (the last by default: the rows of a 2-D ``x``)."""
    xp = get_array_module(x)
    y = xp.asarray(x - x.max(axis=axis, keepdims=True))
    xp.exp(y, out=y)                       # in place: one array for the result
    y /= y.sum(axis=axis, keepdims=True)
    return y


def softmax_rows_grad_generic(gy, y, axis=-1):
    gx = gy - (gy * y).sum(axis=axis, keepdims=True)
    gx *= y
    return gx


def layer_norm_affine_generic(x, w, b, eps):
    """(y, xhat, inv): :func:`layer_norm_generic` of the rows of ``x``, then
    y = xhat w + b with ``w`` and ``b`` of one row's length."""
    xhat, inv = layer_norm_generic(x, eps)
    y = xhat * w
    y += b
    return y, xhat, inv


def layer_norm_affine_grad_generic(gy, xhat, inv, w):
    """(gx, gw, gb) of y = xhat w + b over rows: gx is :func:`layer_norm_grad_generic` of
    gy w, gw the sum over rows of gy xhat, gb the sum over rows of gy."""
    gx = layer_norm_grad_generic(gy * w, xhat, inv)
    return gx, sum_rows_generic(gy * xhat), sum_rows_generic(gy)


def scatter_rows_generic(target, index, rows):
    """``target[index[i]] += rows[i]`` for each i, repeated indices accumulated: the
    gradient of picking rows (an embedding lookup). ``target`` (R, D) is updated in place."""
    scatter_add(target, index, rows)


GENERIC = {"relu_grad": relu_grad_generic, "adam_step": adam_step_generic,
           "gelu_tanh": gelu_tanh_generic, "gelu_tanh_grad": gelu_tanh_grad_generic,
           "sum_rows": sum_rows_generic, "layer_norm": layer_norm_generic,
           "layer_norm_grad": layer_norm_grad_generic, "softmax_rows": softmax_rows_generic,
           "softmax_rows_grad": softmax_rows_grad_generic,
           "scatter_rows": scatter_rows_generic,
           "layer_norm_affine": layer_norm_affine_generic,
           "layer_norm_affine_grad": layer_norm_affine_grad_generic}

#: for each kernel, its self-check's arguments from ``a()`` (a fresh random array of 64
#: values) and the array module
SAMPLES = {
    "relu_grad": lambda a, xp: (a(), a()),
    "adam_step": lambda a, xp: (a(), a(), a(), xp.abs(a()), 0.9, 0.999, 1e-3, 1.001, 1e-7),
    "gelu_tanh": lambda a, xp: (3 * a(), 0.7978845608, 0.044715),
    "gelu_tanh_grad": lambda a, xp: (a(), 3 * a(), xp.tanh(a()), 0.7978845608, 0.044715),
    "sum_rows": lambda a, xp: (a().reshape(16, 4),),
    "layer_norm": lambda a, xp: (3 * a().reshape(4, 16) + 1, 1e-5),
    "layer_norm_grad": lambda a, xp: (a().reshape(4, 16), a().reshape(4, 16),
                                      xp.abs(a()[:4]).reshape(4, 1) + 0.5),
    "softmax_rows": lambda a, xp: (3 * a().reshape(4, 16),),
    "softmax_rows_grad": lambda a, xp: (a().reshape(4, 16), xp.abs(a().reshape(4, 16)) / 8),
    "scatter_rows": lambda a, xp: (a().reshape(8, 8), xp.asarray([1, 3, 1, 7, 0, -1, 3, 2]),
                                   a().reshape(8, 8)),
    "layer_norm_affine": lambda a, xp: (3 * a().reshape(4, 16) + 1, a()[:16], a()[:16], 1e-5),
    "layer_norm_affine_grad": lambda a, xp: (a().reshape(4, 16), a().reshape(4, 16),
                                             xp.abs(a()[:4]).reshape(4, 1) + 0.5, a()[:16]),
}

#: {backend name: {kernel name: fused kernel}}; a backend's kernels are built when it
#: first needs one
FUSED: dict = {}
#: {backend name: the dtypes its fused kernels take}; a backend not named takes all
FUSED_DTYPES: dict = {}
_checked: dict = {}        # (backend, kernel, dtype) -> passed its self-check?


def _fused_kernels(b) -> dict:
    if b.name not in FUSED:
        if b.name == "cuda":
            from .cuda import elementwise_kernels
            FUSED["cuda"] = elementwise_kernels(b.xp)
        elif b.name == "cpu" and compiled_kernels_wanted():
            from .cpu import compiled
            FUSED["cpu"] = compiled.elementwise_kernels() if compiled.available() else {}
            FUSED_DTYPES["cpu"] = compiled.DTYPES
        else:
            FUSED[b.name] = {}
    return FUSED[b.name]


def forget_kernels(backend_name: str) -> None:
    """Drop a backend's fused kernels and their self-checks: the next use builds them
    again (after the compiled CPU kernels were turned on or off)."""
    FUSED.pop(backend_name, None)
    FUSED_DTYPES.pop(backend_name, None)
    for key in [k for k in _checked if k[0] == backend_name]:
        del _checked[key]


def _arrays(value):
    """The arrays in a kernel's result (an array, a tuple of them, or None)."""
    if value is None:
        return []
    return list(value) if isinstance(value, tuple) else [value]


def _self_check(b, name, kernel, dtype, index=0) -> bool:
    """Run the kernel and the generic version on the same random arguments (copies of
    them: some kernels update arrays in place), on device ``index`` of backend ``b``, and
    compare every result and every array argument afterwards."""
    xp, generic = b.xp, GENERIC[name]
    rng = np.random.default_rng(0)

    def a():
        return b.from_host(rng.standard_normal(64).astype(dtype), index)
    try:
        args = SAMPLES[name](a, xp)
        mine = [v.copy() if hasattr(v, "copy") else v for v in args]
        got, want = kernel(*mine), generic(*args)
        pairs = list(zip(_arrays(got), _arrays(want)))
        pairs += [(m, v) for m, v in zip(mine, args) if hasattr(v, "shape")]
        tol = max(1e-5, 8 * float(np.finfo(dtype).eps))      # float16: rounding
        ok = len(_arrays(got)) == len(_arrays(want)) and all(
            m.shape == v.shape and bool(xp.allclose(m, v, rtol=tol, atol=tol / 10))
            for m, v in pairs)
    except Exception as exc:  # a kernel that does not compile or run
        warnings.warn(f"fused kernel {name} failed on {b.name} ({exc}); using the generic one",
                      stacklevel=3)
        return False
    if not ok:
        warnings.warn(f"fused kernel {name} disagrees with the generic one on {b.name}; "
                      "using the generic one", stacklevel=3)
    return ok


def fused_only(name: str, x):
    """The backend's own kernel ``name`` for arrays like ``x`` (as :func:`fused` chooses
    it), or None where :func:`fused` would give the generic version: for a kernel that
    only pays when fused (its generic version is the composition the caller already
    runs)."""
    kernel = fused(name, x)
    return None if kernel is GENERIC[name] else kernel


def fused(name: str, x):
    """The kernel ``name`` for arrays like ``x``: the backend's fused one when it has one
    for ``x``'s dtype that passed its self-check, else the generic version (always inside
    :class:`minigrad.kernels.reference_ops`)."""
    if not fast_paths_enabled():
        return GENERIC[name]
    b = get_backend(x)
    kernel = _fused_kernels(b).get(name)
    if kernel is None or x.dtype not in FUSED_DTYPES.get(b.name, (x.dtype,)):
        return GENERIC[name]
    key = (b.name, name, x.dtype.str)
    ok = _checked.get(key)
    if ok is None:
        ok = _checked[key] = _self_check(b, name, kernel, x.dtype, b.array_index(x))
    return kernel if ok else GENERIC[name]
