"""Fused elementwise kernels for the hot paths: the ReLU gradient and the Adam update.

Each kernel has a generic version written with the array module's operations (NumPy, or
any backend); a backend may have a fused one (on CUDA, one CuPy ``ElementwiseKernel``
launch instead of several passes over memory: :mod:`minigrad.kernels.cuda`). A fused
kernel is checked against the generic version on its first use for each dtype, and
dropped, with a warning, if it fails or disagrees.

* ``relu_grad(gy, y) -> gy * (y > 0)``
* ``adam_step(p, g, m, v, b1, b2, lr_c1, c2inv, eps)`` updates p, m, v in place:
  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr_c1 m / (sqrt(c2inv v) + eps)
"""
from __future__ import annotations

import warnings

import numpy as np

from ..backend import get_array_module, get_backend

__all__ = ["fused", "relu_grad_generic", "adam_step_generic", "FUSED"]


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


GENERIC = {"relu_grad": relu_grad_generic, "adam_step": adam_step_generic}

#: {backend name: {kernel name: fused kernel}}; the CUDA kernels are built on first use
FUSED: dict = {}
_checked: dict = {}        # (backend, kernel, dtype) -> passed its self-check?


def _fused_kernels(b) -> dict:
    if b.name not in FUSED:
        if b.name == "cuda":
            from .cuda import elementwise_kernels
            FUSED["cuda"] = elementwise_kernels(b.xp)
        else:
            FUSED[b.name] = {}
    return FUSED[b.name]


def _self_check(b, name, kernel, dtype) -> bool:
    xp, generic = b.xp, GENERIC[name]
    rng = np.random.default_rng(0)

    def arrs(k):
        return [b.from_host(rng.standard_normal(64).astype(dtype), 0) for _ in range(k)]
    try:
        if name == "relu_grad":
            gy, y = arrs(2)
            ok = bool(xp.allclose(kernel(gy, y), generic(gy, y)))
        else:
            p, g, m, v = arrs(4)
            v = xp.abs(v)
            args = (0.9, 0.999, 1e-3, 1.001, 1e-7)
            p2, m2, v2 = p.copy(), m.copy(), v.copy()
            kernel(p, g, m, v, *args)
            generic(p2, g, m2, v2, *args)
            ok = all(bool(xp.allclose(a, c, rtol=1e-5, atol=1e-6))
                     for a, c in ((p, p2), (m, m2), (v, v2)))
    except Exception as exc:  # a kernel that does not compile or run
        warnings.warn(f"fused kernel {name} failed on {b.name} ({exc}); using the generic one",
                      stacklevel=3)
        return False
    if not ok:
        warnings.warn(f"fused kernel {name} disagrees with the generic one on {b.name}; "
                      "using the generic one", stacklevel=3)
    return ok


def fused(name: str, x):
    """The kernel ``name`` for arrays like ``x``: the backend's fused one when it has one
    that passed its self-check, else the generic version."""
    b = get_backend(x)
    kernel = _fused_kernels(b).get(name)
    if kernel is None:
        return GENERIC[name]
    key = (b.name, name, x.dtype.str)
    ok = _checked.get(key)
    if ok is None:
        ok = _checked[key] = _self_check(b, name, kernel, x.dtype)
    return kernel if ok else GENERIC[name]
