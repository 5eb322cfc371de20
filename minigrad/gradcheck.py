"""Numerical gradient checks (central differences, float64, random upstream gradient).

Used by the test suite and the notebooks::

    >>> x = mg.randn(3, 4, dtype='float64', requires_grad=True)
    >>> mg.gradcheck(lambda t: (t * t).sum(axis=1), [x])
    True
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from . import backend
from .autograd import grad as _grad
from .tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "check_vjp", "GradcheckError"]


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` with a readable report of the worst mismatch."""


def _as_outputs(out):
    return [out] if isinstance(out, Tensor) else list(out)


def _projected_at(fn, inputs, vs, values) -> float:
    """<fn(inputs), vs> in float64 with ``inputs[i]`` temporarily set to the host array
    ``values[i]`` (in its own dtype and device); the inputs are restored afterwards."""
    originals = {i: inputs[i].data for i in values}
    try:
        for i, arr in values.items():
            x = inputs[i]
            x.data = backend.move(arr.astype(x.dtype), x.device)
        return sum(float((o.numpy().astype(np.float64) * v).sum())
                   for o, v in zip(_as_outputs(fn(*inputs)), vs))
    finally:
        for i, arr in originals.items():
            inputs[i].data = arr


def _numeric_grad(fn, inputs, i, vs, eps):
    """d <fn(inputs), vs> / d inputs[i] by central differences, elementwise."""
    host = inputs[i].numpy().astype(np.float64)
    flat = host.reshape(-1)
    g = np.zeros_like(flat)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        fp = _projected_at(fn, inputs, vs, {i: host})
        flat[k] = old - eps
        fm = _projected_at(fn, inputs, vs, {i: host})
        flat[k] = old
        g[k] = (fp - fm) / (2 * eps)
    return g.reshape(host.shape)


def _report(what, i, analytic, numeric, atol, rtol):
    err = np.abs(analytic - numeric)
    tol = atol + rtol * np.abs(numeric)
    bad = err > tol
    if not bad.any():
        return None
    k = np.unravel_index(np.argmax(np.where(bad, err - tol, -np.inf)), err.shape)
    a, n = analytic[k], numeric[k]
    rel = abs(a - n) / max(abs(n), 1e-300)
    return (f"{what} mismatch for input {i} at index {tuple(int(v) for v in k)}: "
            f"analytic {a:.10g} vs numeric {n:.10g} (abs err {abs(a - n):.3g}, rel err "
            f"{rel:.3g}; atol={atol}, rtol={rtol}); {int(bad.sum())} of {bad.size} "
            f"elements out of tolerance")


def gradcheck(fn: Callable, inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, seed: int = 0) -> bool:
    """Compare autograd's vector-Jacobian product with central differences.

    A random upstream gradient ``v`` (not all ones: a backward that ignored its upstream
    gradient would pass that) is drawn for each output; for each input requiring grad the
    analytic ``J^T v`` is compared elementwise with ``(f(x + eps) - f(x - eps)) / 2 eps``
    projected on ``v``. Inputs should be float64.

    Args:
        fn: maps the input Tensors to a Tensor or a sequence of Tensors.
        inputs: Tensors; those with ``requires_grad=True`` are checked.
        eps, atol, rtol: step and tolerances (PyTorch's gradcheck defaults).
        raise_exception: raise :class:`GradcheckError` with a report (else return False).
        seed: seed of the random upstream gradient.

    Returns:
        True when every gradient matches.
    """
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if x.requires_grad and x.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {x.dtype}; use float64 inputs")
    rng = np.random.default_rng(seed)
    outs = _as_outputs(fn(*inputs))
    vs = [rng.standard_normal(o.shape) for o in outs]
    wrt = [i for i, x in enumerate(inputs) if x.requires_grad]
    diff_outs = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
    if diff_outs:
        gs = _grad([o for o, _ in diff_outs],
                   [inputs[i] for i in wrt],
                   grad_outputs=[backend.move(v.astype(o.dtype), o.device) for o, v in diff_outs],
                   allow_unused=True)
    else:
        gs = [None] * len(wrt)
    for i, g in zip(wrt, gs):
        x = inputs[i]
        analytic = np.zeros(x.shape) if g is None else g.numpy().astype(np.float64)
        if tuple(analytic.shape) != x.shape:
            msg = f"gradient of input {i} has shape {analytic.shape}, expected {x.shape}"
            if raise_exception:
                raise GradcheckError(msg)
            return False
        numeric = _numeric_grad(fn, inputs, i, vs, eps)
        msg = _report("gradient", i, analytic, numeric, atol, rtol)
        if msg:
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradgradcheck(fn: Callable, inputs: Sequence[Tensor], eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
                  seed: int = 0) -> bool:
    """Check double backprop: the ``create_graph=True`` gradient, then its derivatives.

    Two checks, in this order:

    1. The first derivative taken with ``create_graph=True`` (each op's
       ``backward_graph``) is compared with central differences, elementwise, for a fixed
       random upstream gradient ``v``. Without this step a smooth but wrong
       ``backward_graph`` would agree with itself in step 2. On a mismatch the report says
       whether the plain backward (``create_graph=False``) agrees with the numbers, i.e.
       which of the two formulas is wrong.
    2. gradcheck of ``x -> J(x)^T v`` built with ``create_graph=True``: the second
       derivatives against central differences of that gradient.

    Arguments and return value as :func:`gradcheck`.
    """
    inputs = list(inputs)
    rng = np.random.default_rng(seed + 1)
    outs = _as_outputs(fn(*inputs))
    vs = [Tensor(rng.standard_normal(o.shape), dtype=o.dtype, device=o.device) for o in outs]
    wrt = [i for i, x in enumerate(inputs) if x.requires_grad]

    def grads_of(xs, create_graph):
        os = _as_outputs(fn(*xs))
        keep = [k for k, o in enumerate(os) if o.requires_grad]
        if not keep:
            return [None] * len(wrt)
        return _grad([os[k] for k in keep], [xs[i] for i in wrt],
                     grad_outputs=[vs[k] for k in keep], create_graph=create_graph,
                     allow_unused=True)

    host_vs = [v.numpy().astype(np.float64) for v in vs]
    for i, g in zip(wrt, grads_of(inputs, True)):
        msg = _check_first_derivative(fn, inputs, i, g, host_vs, eps, atol, rtol,
                                      lambda: grads_of(inputs, False)[wrt.index(i)])
        if msg:
            if raise_exception:
                raise GradcheckError(msg)
            return False

    def first_grads(*xs):
        # A gradient that does not require grad claims zero second derivatives: it is
        # checked too (against the numbers), not skipped.
        return [g for g in grads_of(xs, True) if g is not None]

    return gradcheck(first_grads, inputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, seed=seed + 2)


def _check_first_derivative(fn, inputs, i, g, vs, eps, atol, rtol, plain_grad):
    """None when the create_graph gradient ``g`` of input ``i`` matches central
    differences, else a report naming the formula at fault."""
    x = inputs[i]
    analytic = np.zeros(x.shape) if g is None else g.numpy().astype(np.float64)
    if tuple(analytic.shape) != x.shape:
        return (f"create_graph=True gradient of input {i} has shape {analytic.shape}, "
                f"expected {x.shape}")
    numeric = _numeric_grad(fn, inputs, i, vs, eps)
    msg = _report("create_graph=True gradient", i, analytic, numeric, atol, rtol)
    if msg is None:
        return None
    plain = plain_grad()
    plain = np.zeros(x.shape) if plain is None else plain.numpy().astype(np.float64)
    if _report("gradient", i, plain, numeric, atol, rtol) is None:
        return (msg + ". The plain backward (create_graph=False) agrees with central "
                "differences: the double-backprop formula (backward_graph) is wrong")
    return msg + ". The plain backward is wrong too (see gradcheck)"


def check_vjp(fn: Callable, inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0, raise_exception: bool = True) -> bool:
    """Directional gradient check, cheap enough for large arrays and GPU arrays.

    One random direction ``u`` (for all inputs requiring grad at once) and one random
    upstream gradient ``v``: the forward-mode product estimated by central differences,
    ``<(f(x + eps u) - f(x - eps u)) / 2 eps, v>``, must equal the reverse-mode product
    ``<u, J^T v>`` computed by autograd (JAX's check_vjp, Chainer's check_backward). The
    sums are accumulated in float64 on the host; two forward passes in all.

    Returns:
        True when the two agree within ``atol + rtol * |numeric|``.
    """
    inputs = list(inputs)
    rng = np.random.default_rng(seed)
    wrt = [i for i, x in enumerate(inputs) if x.requires_grad]
    outs = _as_outputs(fn(*inputs))
    vs = [rng.standard_normal(o.shape) for o in outs]
    us = {i: rng.standard_normal(inputs[i].shape) for i in wrt}
    gs = _grad([o for o in outs if o.requires_grad], [inputs[i] for i in wrt],
               grad_outputs=[backend.move(v.astype(o.dtype), o.device)
                             for o, v in zip(outs, vs) if o.requires_grad],
               allow_unused=True)
    analytic = sum(float((g.numpy().astype(np.float64) * us[i]).sum())
                   for i, g in zip(wrt, gs) if g is not None)
    hosts = {i: inputs[i].numpy().astype(np.float64) for i in wrt}

    def value(sign):
        return _projected_at(fn, inputs, vs, {i: hosts[i] + sign * eps * us[i] for i in wrt})

    numeric = (value(+1) - value(-1)) / (2 * eps)
    if abs(analytic - numeric) <= atol + rtol * abs(numeric):
        return True
    msg = (f"directional check failed: <u, J^T v> = {analytic:.10g} (autograd) vs "
           f"<J u, v> = {numeric:.10g} (central differences), abs err "
           f"{abs(analytic - numeric):.3g}")
    if raise_exception:
        raise GradcheckError(msg)
    return False
