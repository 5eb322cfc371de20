"""The reverse-mode engine: Function, graph recording, backward, no_grad.

A :class:`Function` computes arrays in ``forward`` and their vector-Jacobian products in
``backward``. Calling :meth:`Function.apply` on Tensors runs ``forward`` and, when grad
mode is on and some input requires grad, records the call in the graph:

* the Function holds STRONG references to its inputs and WEAK references to its outputs,
  and each output holds its creator: no reference cycles, so a graph is freed as soon as
  the user drops the last tensor of it;
* ``generation = max(generation of inputs) + 1``; backward pops Functions from a heap
  keyed by ``(-generation, counter)``, so every Function runs after all its consumers,
  iteratively (no recursion, any depth);
* broadcasting is undone in ONE place (:func:`run_backward`), which then asserts that each
  gradient has its input's shape.

``backward`` works on plain arrays, the fast path. For double backprop
(``create_graph=True``) the engine calls ``backward_graph`` instead, which computes the
same products with Tensor ops so that the gradient is itself part of a graph.
"""
from __future__ import annotations

import contextvars
import functools
import heapq
import weakref
from typing import Optional, Sequence

import numpy as np

from . import backend

_grad_enabled = contextvars.ContextVar("minigrad_grad_enabled", default=True)
_anomaly_enabled = contextvars.ContextVar("minigrad_anomaly", default=False)

# In-place assignments (Tensor.__setitem__) count up this epoch and stamp the tensor with
# it; every recorded Function keeps the epoch of its forward. A backward that finds the
# epoch moved looks for inputs assigned to after their use (PyTorch's version counter,
# at the cost of one integer per op).
_inplace_epoch = [0]


def mark_assigned(t) -> None:
    """Record an in-place assignment into ``t`` (and into the tensor it was detached
    from)."""
    _inplace_epoch[0] += 1
    while t is not None:
        t._assigned = _inplace_epoch[0]
        t = getattr(t, "_base", None)


def _check_not_assigned(f) -> None:
    for i, x in enumerate(f.inputs):
        if getattr(x, "_assigned", 0) > f.epoch:
            raise RuntimeError(
                f"one of the tensors needed to compute gradients was modified in place: "
                f"input {i} of {type(f).__name__} (shape {tuple(x.data.shape)}) was assigned "
                "to after the forward pass used it, so its saved values are stale. Assign "
                "before the forward pass, or compute a new tensor instead of assigning")


# Python numbers travel as-is inside graphs (as constant inputs): xp ops take them
# without a host-to-device copy and without changing the array's dtype.
SCALAR_TYPES = (int, float, bool)


def is_grad_enabled() -> bool:
    """True unless inside :class:`no_grad` (or ``set_grad_enabled(False)``)."""
    return _grad_enabled.get()


class set_grad_enabled:
    """Context manager and decorator that turns graph recording on or off.

    Backed by a :mod:`contextvars` variable, so it is thread- and task-local.
    """

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._tokens = []

    def __enter__(self):
        self._tokens.append(_grad_enabled.set(self.mode))
        return self

    def __exit__(self, *exc):
        _grad_enabled.reset(self._tokens.pop())
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            token = _grad_enabled.set(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                _grad_enabled.reset(token)
        return wrapper


class no_grad(set_grad_enabled):
    """Record nothing: ops inside return tensors with no creator.

    Example:
        >>> with mg.no_grad():
        ...     y = model(x)          # no graph, no saved activations
        >>> @mg.no_grad()
        ... def predict(x): ...
    """

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Turn recording back on inside a :class:`no_grad` block."""

    def __init__(self):
        super().__init__(True)


class detect_anomaly:
    """Opt-in check: raise as soon as a backward produces NaN or Inf, naming the op.

    Example:
        >>> with mg.detect_anomaly():
        ...     loss.backward()
    """

    def __enter__(self):
        self._token = _anomaly_enabled.set(True)
        return self

    def __exit__(self, *exc):
        _anomaly_enabled.reset(self._token)
        return False


class Function:
    """Base class of every differentiable op.

    Subclasses implement ``forward(*arrays) -> array | tuple`` and
    ``backward(*grad_arrays) -> array | tuple`` (one gradient per input, ``None`` where
    ``self.needs_input_grad[i]`` is False), and optionally ``backward_graph`` working on
    Tensors for double backprop. forward saves on ``self`` only what backward needs.
    """

    inputs = None
    outputs = ()
    generation = 0
    epoch = 0          # the in-place epoch at forward (see mark_assigned)
    needs_input_grad = ()
    # Used by the backward engine only: the gradient of the output that is pending while
    # the Function waits in the engine's queue (a list, one per output, when it has
    # several), whether it has several outputs, and whether some output wants its
    # gradient kept (Tensor.retain_grad).
    _gy = None
    _multi = False
    _watch = False

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError

    def backward_graph(self, *gys):
        raise NotImplementedError(
            f"{type(self).__name__} does not support double backprop (create_graph=True)")

    def apply(self, *inputs):
        """Run forward on the inputs' arrays and record the call when grads are needed.

        ``inputs`` are Tensors; a Tensor whose ``data`` is a Python number is a constant.
        Returns one Tensor, or a tuple when forward returns a tuple.
        """
        if len(inputs) == 2:                    # binary ops: unrolled, the hot path
            x0, x1 = inputs
            d0, d1 = x0.data, x1.data
            xs = (d0, d1)
            if type(d0) is not _NDARRAY or type(d1) is not _NDARRAY:
                _check_same_device(self, xs)
            needs_in = (x0.requires_grad, x1.requires_grad)
        elif len(inputs) == 1:
            xs = (inputs[0].data,)
            needs_in = (inputs[0].requires_grad,)
        else:
            xs = [x.data for x in inputs]
            if len(xs) > 1:
                t0 = type(xs[0])
                for x in xs:
                    if type(x) is not t0 or t0 is not _NDARRAY:
                        _check_same_device(self, xs)
                        break
            needs_in = tuple([x.requires_grad for x in inputs])
        needs = False
        if True in needs_in and _grad_enabled.get():
            needs = True
            self.needs_input_grad = needs_in
        try:
            ys = self.forward(*xs)
        except ValueError as exc:
            if "broadcast" not in str(exc):
                raise
            shapes = " and ".join(str(tuple(getattr(x, "shape", ()))) for x in xs)
            raise ValueError(f"{type(self).__name__}: shapes {shapes} cannot be broadcast "
                             "together") from None
        if type(ys) is _NDARRAY:                # one NumPy array, the hot path: wrapped
            out = _object_new(_Tensor)          # here (Tensor._wrap, inlined)
            out.data = ys
            out.grad = out.creator = out.name = None
            out._retains_grad = False
            out.requires_grad = needs
            outputs = None
        elif type(ys) is not tuple:
            out = _new_tensor(ys, needs)
            outputs = None
        else:
            out = outputs = tuple([_new_tensor(y, needs) for y in ys])
        if needs:                               # record the call in the graph
            gen = 0
            for x in inputs:
                c = x.creator
                if c is not None and c.generation > gen:
                    gen = c.generation
            self.generation = gen + 1
            self.epoch = _inplace_epoch[0]
            self.inputs = inputs
            if outputs is None:
                self.outputs = (_weakref(out),)
                out.creator = self
            else:
                self.outputs = tuple(map(_weakref, outputs))
                self._multi = True
                self._out_meta = [(t.data.shape, t.data.dtype) for t in outputs]
                for t in outputs:
                    t.creator = self
        return out

    def _release(self) -> None:
        """Drop inputs and saved arrays after backward (the graph is freed)."""
        d = self.__dict__
        self.__dict__ = {"inputs": None, "generation": d["generation"], "outputs": d["outputs"],
                         "epoch": d["epoch"]}


_NDARRAY = np.ndarray
_weakref = weakref.ref
_object_new = object.__new__
_Tensor = None    # set by tensor.py once the class exists (it imports this module)


def _set_tensor_class(cls) -> None:
    global _Tensor
    _Tensor = cls


def _new_tensor(y, requires_grad):
    """Wrap a forward result; NumPy scalars become 0-d arrays, constants stay numbers."""
    if type(y) is not _NDARRAY:
        if isinstance(y, np.generic):      # full reductions give NumPy scalars
            y = np.asarray(y)
        elif type(y) in SCALAR_TYPES:      # constants combined with constants
            return _Tensor._wrap(y)
        elif not isinstance(y, backend_array_types()):
            y = backend.get_array_module(y).asarray(y)
    return _Tensor._wrap(y, requires_grad)


def _array_types():
    return tuple(b.array_type for b in backend._BACKENDS.values())


_ARRAY_TYPES_CACHE: list = [None, None]


def backend_array_types() -> tuple:
    """The array classes of all registered backends (cached per registry state)."""
    key = len(backend._BACKENDS)
    if _ARRAY_TYPES_CACHE[0] != key:
        _ARRAY_TYPES_CACHE[0] = key
        _ARRAY_TYPES_CACHE[1] = _array_types()
    return _ARRAY_TYPES_CACHE[1]


def _check_same_device(fn, xs) -> None:
    t0 = None
    for x in xs:
        t = type(x)
        if t in SCALAR_TYPES:
            continue
        if t0 is None:
            t0, x0 = t, x
        elif t is not t0 or t is not _NDARRAY:
            d0, d1 = backend.device_of(x0), backend.device_of(x)
            if d0 != d1:
                raise RuntimeError(
                    f"{type(fn).__name__}: expected all tensors on the same device, "
                    f"found {d0} and {d1}. Move them with .to(device) first.")


# ---------------------------------------------------------------------------------------
# The backward engine
# ---------------------------------------------------------------------------------------

def sum_to_array(g, shape):
    """Sum array ``g`` down to ``shape`` (undo NumPy broadcasting)."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)      # leading axes stay, of length 1
    return g.reshape(shape) if g.shape != tuple(shape) else g


_FREED_MSG = (
    "Trying to backward through the graph a second time (or to use its saved values "
    "after they were freed). The graph of {op} was freed by an earlier backward(); "
    "call backward(retain_graph=True) the first time if you need to backward twice.")


def run_backward(roots: Sequence, root_grads: Sequence, retain_graph: bool = False,
                 create_graph: bool = False, capture: Optional[Sequence] = None):
    """Propagate ``root_grads`` from ``roots`` back through the recorded graph.

    Args:
        roots: output Tensors.
        root_grads: their upstream gradients (arrays; Tensors when ``create_graph``).
        retain_graph: keep the graph (saved arrays) for another backward.
        create_graph: record the backward itself, so gradients can be differentiated.
        capture: if given, the Tensors whose gradients are returned (``mg.grad``);
            nothing is accumulated into any ``.grad`` then.

    Returns:
        With ``capture``, a list of gradients aligned with it (None where unreachable).
    """
    Tensor = _Tensor
    if create_graph:
        token = _grad_enabled.set(True)
    capture_ids = None if capture is None else {id(t) for t in capture}
    captured = {}
    # plain: the everyday backward (no mg.grad capture, no double backprop), whose leaf
    # gradients are accumulated directly; the other modes go through _deliver.
    plain = capture_ids is None and not create_graph
    # The gradient pending for a non-leaf tensor is kept on its creator (``_gy``) until
    # the creator is popped from this heap, ordered by decreasing generation.
    heap = []
    counter = 0
    anomaly = _anomaly_enabled.get()
    push, pop = heapq.heappush, heapq.heappop

    try:
        for t, g in zip(roots, root_grads):
            c = t.creator
            if c is None:
                _deliver(t, g, True, capture_ids, captured, create_graph)
            elif _pend(c, t, g):
                push(heap, (-c.generation, counter, c))
                counter += 1

        while heap:
            f = pop(heap)[2]
            gy0 = f._gy
            f._gy = None
            if f._multi:
                gys = _fill_missing(f, gy0, create_graph)
                gy0 = gys[0]
            else:
                gys = None
            if capture_ids is not None or f._watch:
                _keep_output_grads(f, gys or (gy0,), capture_ids, captured, create_graph)
            inputs = f.inputs
            if inputs is None:
                raise RuntimeError(_FREED_MSG.format(op=type(f).__name__))
            if f.epoch != _inplace_epoch[0]:
                _check_not_assigned(f)
            if create_graph:
                gxs = f.backward_graph(*gys) if gys else f.backward_graph(gy0)
            else:
                gxs = f.backward(*gys) if gys else f.backward(gy0)
            if type(gxs) is not tuple:
                gxs = (gxs,)
            if anomaly:
                _check_finite(f, gxs)
            for x, gx, need in zip(inputs, gxs, f.needs_input_grad):
                if gx is None or not need:
                    continue
                shape = x.data.shape
                if gx.shape != shape:
                    if create_graph:
                        from .functional.shape import sum_to
                        gx = sum_to(gx, shape)
                    else:
                        gx = sum_to_array(gx, shape)
                    assert gx.shape == shape, (type(f).__name__, gx.shape, shape)
                    borrowed = False
                else:
                    borrowed = gx is gy0 or (gys is not None and any(gx is g for g in gys))
                c = x.creator
                if c is not None:                    # an intermediate: schedule its creator
                    if _pend(c, x, gx):
                        push(heap, (-c.generation, counter, c))
                        counter += 1
                elif plain:
                    _accumulate_grad(x, gx, borrowed)
                else:
                    _deliver(x, gx, borrowed, capture_ids, captured, create_graph)
            if not retain_graph:
                f._release()
    finally:
        for entry in heap:                   # after an error: no gradient left behind
            entry[2]._gy = None
        if create_graph:
            _grad_enabled.reset(token)

    if capture is not None:
        out = []
        for t in capture:
            g = captured.get(id(t))
            if g is not None and not isinstance(g, Tensor):
                g = Tensor._wrap(g.copy() if g.base is not None else g)
            out.append(g)
        return out
    return None


def _pend(c, x, gx) -> bool:
    """Add ``gx`` to the pending gradient of ``x``, an output of ``c``; True when ``c``
    had none pending yet (it must be queued then)."""
    if not c._multi:
        first = c._gy is None
        c._gy = gx if first else c._gy + gx
        return first
    first = c._gy is None
    if first:
        c._gy = [None] * len(c.outputs)
    i = next(i for i, r in enumerate(c.outputs) if r() is x)
    c._gy[i] = gx if c._gy[i] is None else c._gy[i] + gx
    return first


def _keep_output_grads(f, gys, capture_ids, captured, create_graph):
    """The finished gradients of f's outputs: captured for mg.grad, or kept by
    retain_grad."""
    for r, g in zip(f.outputs, gys):
        o = r()
        if o is None:
            continue
        if capture_ids is not None:
            if id(o) in capture_ids:
                captured[id(o)] = g
        elif o._retains_grad:
            _deliver(o, g, True, capture_ids, captured, create_graph)


def _deliver(x, gx, borrowed, capture_ids, captured, create_graph):
    """Hand a finished gradient to a leaf's ``.grad`` (or to the capture dict)."""
    if capture_ids is not None:
        key = id(x)
        if key in capture_ids:
            prev = captured.get(key)
            captured[key] = gx if prev is None else prev + gx
        return
    if create_graph:
        if not isinstance(gx, _Tensor):
            gx = _Tensor._wrap(gx)
        if gx.dtype != x.data.dtype:
            gx = gx.astype(x.data.dtype)
        x.grad = gx if x.grad is None else x.grad + gx
    else:
        _accumulate_grad(x, gx, borrowed)


def _accumulate_grad(x, gx, borrowed):
    """``x.grad += gx`` for a leaf, with array ``gx`` (``borrowed``: owned by another op)."""
    prev = x.grad
    if gx.dtype != x.data.dtype:        # a float64 upstream gradient on a float32 leaf
        gx = gx.astype(x.data.dtype)    # (a new array: not borrowed any more)
        borrowed = False
    if prev is None:
        if borrowed or gx.base is not None:
            gx = gx.copy()      # no grad may alias another array
        x.grad = _Tensor._wrap(gx)
    else:
        x.grad = _Tensor._wrap(prev.data + gx)


def _fill_missing(f, gys, create_graph):
    """The gradients of a multi-output Function's outputs, zeros for those that received
    none (shaped from the metadata kept at forward, so the output may be gone)."""
    like = next(g for g in gys if g is not None)
    like = like.data if create_graph else like
    out = []
    for g, (shape, dtype) in zip(gys, f._out_meta):
        if g is None:
            g = backend.get_array_module(like).zeros_like(like, dtype=dtype, shape=shape)
            g = _Tensor._wrap(g) if create_graph else g
        out.append(g)
    return out


def _check_finite(f, gxs) -> None:
    for i, gx in enumerate(gxs):
        if gx is None:
            continue
        a = gx.data if hasattr(gx, "creator") else gx
        xp = backend.get_array_module(a)
        if not bool(xp.isfinite(a).all()):
            raise FloatingPointError(
                f"anomaly: the backward of {type(f).__name__} produced NaN or Inf in the "
                f"gradient of its input {i} (shape {tuple(a.shape)})")


def grad(outputs, inputs, grad_outputs=None, create_graph: bool = False,
         retain_graph: Optional[bool] = None, allow_unused: bool = False):
    """Gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``.

    Args:
        outputs: a Tensor or a sequence of Tensors.
        inputs: a Tensor or a sequence of Tensors.
        grad_outputs: upstream gradients (default: ones, for one-element outputs).
        create_graph: make the result differentiable (double backprop).
        retain_graph: keep the graph; defaults to ``create_graph``.
        allow_unused: return None for an input the outputs do not depend on instead of
            raising.

    Returns:
        A tuple of Tensors aligned with ``inputs``.

    Example:
        >>> x = mg.tensor(3.0, requires_grad=True)
        >>> (g,) = mg.grad(x ** 3, x, create_graph=True)   # 3x^2 = 27
        >>> (h,) = mg.grad(g, x)                            # 6x = 18
    """
    from .tensor import Tensor

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if retain_graph is None:
        retain_graph = create_graph
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor) or not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
    gs = [_initial_grad(o, g, create_graph) for o, g in zip(outputs, grad_outputs)]
    res = run_backward(outputs, gs, retain_graph=retain_graph, create_graph=create_graph,
                       capture=inputs)
    for i, g in enumerate(res):
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} is not part of the graph of the outputs "
                "(pass allow_unused=True to get None for it)")
    return tuple(res)


def _initial_grad(out, g, create_graph):
    """The upstream gradient that starts a backward at ``out``."""
    Tensor = _Tensor

    if not out.requires_grad:
        raise RuntimeError(
            "element 0 of tensors does not require grad and does not have a grad_fn: "
            "nothing to differentiate (did you compute it under no_grad, or from tensors "
            "created without requires_grad=True?)")
    data = out.data
    if g is None and type(data) is _NDARRAY and data.size == 1:
        g = np.empty(data.shape, dtype=data.dtype)
        g.fill(1)                   # a third of np.ones' time on tiny arrays
        return Tensor._wrap(g) if create_graph else g
    xp = backend.get_array_module(out.data)
    if g is None:
        if out.data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for one-element outputs; this "
                f"output has shape {tuple(out.shape)}: pass grad= (same shape) explicitly")
        g = xp.ones(out.data.shape, dtype=out.data.dtype)
    else:
        given = g if isinstance(g, Tensor) else None
        g = g.data if given is not None else g
        if not isinstance(g, backend_array_types()):
            g = xp.asarray(g, dtype=out.data.dtype)
        if tuple(g.shape) != tuple(out.data.shape):
            raise ValueError(
                f"backward: grad has shape {tuple(g.shape)} but the output has shape "
                f"{tuple(out.data.shape)}")
        if backend.device_of(g) != backend.device_of(out.data):
            raise RuntimeError(
                f"backward: grad is on {backend.device_of(g)} but the output is on "
                f"{backend.device_of(out.data)}")
        if create_graph and given is not None:
            return given        # kept in the graph: the result is differentiable in it
    return Tensor._wrap(g) if create_graph else g
