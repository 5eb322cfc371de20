"""Property tests for differentiable ops: hypothesis strategies and gradient checks.

For people who write their own ``Function`` (and for minigrad's own op catalogue)::

    from hypothesis import given
    from minigrad import testing

    @given(testing.tensors(testing.shapes(max_dims=2), avoid=(0.0,)))
    def test_my_relu(x):
        testing.check_gradients(lambda t: MyReLU().apply(t), [x])

Values are drawn in float64 (gradient checks need it) within ``[low, high]``, and kept
``min_distance`` away from the points in ``avoid`` (the kinks of ReLU or |x|, the pole of
1/x), where a derivative does not exist and central differences disagree with any
formula. Needs ``hypothesis`` (``pip install "minigrad[test]"``); imported when this module
is.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as exc:                      # pragma: no cover - depends on the install
    raise ImportError("minigrad.testing needs hypothesis: pip install hypothesis "
                      f"(or the 'test' extra) ({exc})") from None

from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .tensor import Tensor

__all__ = ["shapes", "broadcastable_shapes", "arrays", "tensors", "check_gradients",
           "assert_matches"]


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    """Array shapes, 0-d included by default."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(num: int = 2, max_dims: int = 3, max_side: int = 4):
    """Tuples of ``num`` shapes that broadcast together (NumPy's rules), such as
    ((3, 1), (4,))."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num, max_dims=max_dims,
                                             max_side=max_side).map(
        lambda b: tuple(b.input_shapes))


def _keep_off(a, avoid, min_distance):
    """Move values closer than ``min_distance`` to a point of ``avoid`` away from it."""
    for p in avoid:
        near = np.abs(a - p) < min_distance
        a = np.where(near, np.where(a >= p, p + min_distance, p - min_distance), a)
    return a


def arrays(shape, low: float = -3.0, high: float = 3.0, avoid: Sequence[float] = (),
           min_distance: float = 1e-2, distinct: bool = False):
    """float64 arrays of ``shape`` (a tuple or a strategy of tuples) with finite values in
    ``[low, high]``, none within ``min_distance`` of a point of ``avoid``.

    With ``distinct`` (for max, min, sorting: no ties) the drawn values only give the
    order: the array holds the grid (k + 1/2) gap around 0, ``gap = max(2 min_distance,
    (high - low) / size)``, in that order (so 0 is at least half a gap from every value).
    """
    if not isinstance(shape, st.SearchStrategy):
        shape = st.just(tuple(shape))
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)

    def fix(a):
        if distinct and a.size:
            gap = max(2 * min_distance, (high - low) / a.size)
            rank = np.argsort(np.argsort(a.reshape(-1), kind="stable"), kind="stable")
            a = ((rank - a.size // 2 + 0.5) * gap).reshape(a.shape)
        return _keep_off(a, avoid, min_distance)
    return shape.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements)).map(fix)


def tensors(shape=None, requires_grad: bool = True, device="cpu", **array_kw):
    """float64 Tensors (``requires_grad`` by default) drawn by :func:`arrays`; ``shape`` a
    tuple or a strategy (default :func:`shapes`)."""
    shape = shapes() if shape is None else shape
    return arrays(shape, **array_kw).map(
        lambda a: Tensor(a, dtype="float64", device=device, requires_grad=requires_grad))


def check_gradients(fn: Callable, inputs: Sequence[Tensor], second_order: bool = True,
                    **tolerances) -> bool:
    """Check ``fn``'s gradients with respect to every input that requires grad: first
    derivatives against central differences with a random upstream gradient
    (:func:`minigrad.gradcheck`), then, with ``second_order``, the ``create_graph=True``
    gradient and its own derivatives (:func:`minigrad.gradgradcheck`).

    Raises:
        GradcheckError: a report naming the check (first or second order), the input, the
            worst element and both values.
    """
    try:
        gradcheck(fn, inputs, **tolerances)
    except GradcheckError as exc:
        raise GradcheckError(f"first-order check: {exc}") from None
    if second_order:
        try:
            gradgradcheck(fn, inputs, **tolerances)
        except GradcheckError as exc:
            raise GradcheckError(f"second-order check: {exc}") from None
    return True


def assert_matches(fn: Callable, reference: Callable, inputs: Sequence[Tensor],
                   rtol: float = 1e-7, atol: float = 1e-9, gradients: bool = True) -> None:
    """``fn`` gives ``reference``'s values and, when ``reference`` is itself built from
    minigrad ops (it returns a Tensor), the same gradients for a random upstream gradient.
    A ``reference`` taking and returning NumPy arrays is compared on values only.

    Raises:
        AssertionError: naming what differs (the output, or the gradient of input i).
    """
    y = fn(*inputs)
    try:
        ref = reference(*inputs)                # a minigrad function takes the Tensors
    except Exception:
        ref = None
    if not isinstance(ref, Tensor):             # a NumPy function takes arrays
        ref = reference(*[x.numpy() for x in inputs])
    ref_values = ref.numpy() if isinstance(ref, Tensor) else np.asarray(ref)
    np.testing.assert_allclose(y.numpy(), ref_values, rtol=rtol, atol=atol,
                               err_msg="outputs differ")
    if not (gradients and isinstance(ref, Tensor)):
        return
    from .engine import grad
    wrt = [x for x in inputs if x.requires_grad]
    v = np.random.default_rng(0).standard_normal(y.shape)
    gy = grad(y, wrt, grad_outputs=Tensor(v, dtype=y.dtype, device=y.device),
              allow_unused=True)
    gr = grad(ref, wrt, grad_outputs=Tensor(v, dtype=ref.dtype, device=ref.device),
              allow_unused=True)
    for i, (a, b) in enumerate(zip(gy, gr)):
        a = np.zeros(wrt[i].shape) if a is None else a.numpy()
        b = np.zeros(wrt[i].shape) if b is None else b.numpy()
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol,
                                   err_msg=f"gradients of input {i} differ")
