"""The backward engine: ``run_backward`` (behind ``Tensor.backward``) and ``grad``.

The plain backward, written out (:func:`run_backward`)::

    queue the creator of each root with the root's gradient
    while the queue is not empty:
        f = the queued Function of highest generation (its consumers are all done)
        gxs = f.backward(gradient pending on f's output)
        for each input x of f with its gradient gx:                  (_send_inputs)
            gx = unbroadcast(gx, x.shape)            # undo NumPy broadcasting
            if x is a leaf: x.grad += gx
            else: add gx to the gradient pending on x; queue x.creator
        free f's saved arrays (unless retain_graph)

Everything else is a :class:`_Mode` that changes one step: ``create_graph=True`` calls
``backward_graph`` (Tensor ops, so the gradient is itself differentiable), ``mg.grad``
collects the gradients of chosen tensors instead of writing ``.grad``, ``retain_grad``
keeps an intermediate's gradient, and anomaly mode checks every result for NaN/Inf.
"""
from __future__ import annotations

import heapq
import itertools
from typing import Optional, Sequence

import numpy as np

from . import autograd, backend

__all__ = ["run_backward", "grad", "initial_grad", "sum_to_array"]


def sum_to_array(g, shape):
    """Sum array ``g`` down to ``shape`` (undo NumPy broadcasting).

    Raises:
        ValueError: when ``shape`` does not broadcast to ``g``'s shape (broadcasting
            cannot have made ``g`` from an array of ``shape``).
    """
    shape = tuple(shape)
    lead = g.ndim - len(shape)
    if lead < 0 or any(s not in (1, n) for s, n in zip(shape, g.shape[lead:])):
        raise ValueError(f"shape {shape} does not broadcast to shape {tuple(g.shape)}")
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)      # leading axes stay, of length 1
    return g.reshape(shape) if g.shape != shape else g


_tick = itertools.count().__next__      # queue order among equal generations

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
    mode = _Mode(create_graph, capture) if create_graph or capture is not None or \
        autograd._anomaly_enabled.get() or autograd._hooks_active[0] else _PLAIN
    queue = []                                # (-generation, counter, Function): a heap
    token = autograd._grad_enabled.set(True) if create_graph else None
    try:
        for t, g in zip(roots, root_grads):
            _send(t, g, True, queue, mode)
        while queue:
            f = heapq.heappop(queue)[2]
            gys = _pending_grads(f, create_graph) if f._multi else (f._gy,)
            f._gy = None
            if mode.watches or f._watch:
                gys = mode.outputs_done(f, gys)
            _send_inputs(f, mode.backward(f, gys), gys, queue, mode)
            if not retain_graph:
                f._release()
        if mode.held:                         # leaves with hooks wait for the sum
            mode.release_held()
    finally:
        for entry in queue:                   # after an error: no gradient left behind
            entry[2]._gy = None
        if token is not None:
            autograd._grad_enabled.reset(token)
    return mode.result(capture)


def _send_inputs(f, gxs, gys, queue, mode):
    """Hand each input of ``f`` that needs one its gradient, summed down to the input's
    shape where NumPy broadcasting made it larger."""
    for i, (x, gx, need) in enumerate(zip(f.inputs, gxs, f.needs_input_grad)):
        if gx is None or not need:
            continue
        if gx.shape != x.data.shape:
            _send(x, mode.unbroadcast(gx, x.data.shape, f, i), False, queue, mode)
        else:                                 # gx may be one of gys: then borrowed
            _send(x, gx, gx is gys[0] or (f._multi and any(gx is g for g in gys)), queue,
                  mode)


def _send(x, gx, borrowed, queue, mode):
    """Hand ``gx`` to tensor ``x``: a leaf takes it (as the mode says), an intermediate
    adds it to the gradient pending on it, and its creator is queued the first time."""
    c = x.creator
    if c is None:
        mode.leaf(x, gx, borrowed)
    elif _pend(c, x, gx):
        heapq.heappush(queue, (-c.generation, _tick(), c))


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


def _pending_grads(f, create_graph):
    """The gradients pending on the outputs of a multi-output Function, as a tuple, with
    zeros for the outputs that received none (shaped from the metadata kept at forward,
    so the output itself may be gone)."""
    gy = f._gy
    like = next(g for g in gy if g is not None)
    like = like.data if create_graph else like
    out = []
    for g, (shape, dtype) in zip(gy, f._out_meta):
        if g is None:
            g = backend.get_array_module(like).zeros_like(like, dtype=dtype, shape=shape)
            g = autograd._Tensor._wrap(g) if create_graph else g
        out.append(g)
    return tuple(out)


class _Mode:
    """How one backward pass computes and delivers gradients (the plain pass: one shared
    instance with every option off)."""

    def __init__(self, create_graph=False, capture=None):
        self.create_graph = create_graph
        self.capture = None if capture is None else {id(t) for t in capture}
        self.captured = {}
        self.anomaly = autograd._anomaly_enabled.get()
        self.watches = self.capture is not None   # outputs_done for every Function
        self.hooks = autograd._hooks_active[0] > 0
        self.held = {}                            # leaves with hooks: id -> (leaf, sum)
        if not create_graph and capture is None and not self.hooks:
            self.leaf = _accumulate_grad           # the plain pass: straight into .grad

    def backward(self, f, gys):
        """``f``'s input gradients: ``backward`` on arrays, or ``backward_graph`` on Tensors
        with create_graph; refused on a freed graph or stale saved values."""
        if f.inputs is None:
            raise RuntimeError(_FREED_MSG.format(op=type(f).__name__))
        if f.epoch != autograd._inplace_epoch[0]:
            autograd._check_not_assigned(f)
        gxs = (f.backward_graph if self.create_graph else f.backward)(*gys)
        if type(gxs) is not tuple:
            gxs = (gxs,)
        if self.anomaly:
            _check_finite(f, gxs)
        return gxs

    def unbroadcast(self, gx, shape, f, i):
        """``gx`` summed down to the shape of input ``i`` of ``f`` (a graph op with
        create_graph); a gradient that broadcasting cannot explain is refused."""
        try:
            if self.create_graph:
                from .functional.shape import sum_to
                return sum_to(gx, shape)
            return sum_to_array(gx, shape)
        except ValueError:
            raise RuntimeError(
                f"the backward of {type(f).__name__} returned a gradient of shape "
                f"{tuple(gx.shape)} for its input {i} of shape {tuple(shape)}") from None

    def leaf(self, x, gx, borrowed):
        """A gradient reaching leaf ``x``: held until the pass ends when ``x`` has hooks
        (they see the sum), else delivered at once."""
        if self.hooks and getattr(x, "_hooks", None):
            prev = self.held.get(id(x))
            self.held[id(x)] = (x, gx if prev is None else prev[1] + gx)
        else:
            self.deliver(x, gx, borrowed)

    def release_held(self):
        """Run the hooks of the leaves whose gradients were held, and deliver them."""
        for x, g in self.held.values():
            self.deliver(x, _run_hooks(x, g, self.create_graph), True)
        self.held = {}

    def deliver(self, x, gx, borrowed):
        """Deliver a finished gradient: into the capture for mg.grad, else into
        ``x.grad`` (``borrowed``: ``gx`` belongs to another op and must be copied)."""
        if self.capture is not None:
            key = id(x)
            if key in self.capture:
                prev = self.captured.get(key)
                self.captured[key] = gx if prev is None else prev + gx
        elif self.create_graph:
            _accumulate_tensor(x, gx)
        else:
            _accumulate_grad(x, gx, borrowed)

    def outputs_done(self, f, gys):
        """The finished gradients of ``f``'s outputs: passed through the outputs' hooks
        (which may replace them), then captured for mg.grad or kept by ``retain_grad``.
        Returns the gradients ``f.backward`` is to get."""
        gys = list(gys)
        for i, (r, g) in enumerate(zip(f.outputs, gys)):
            o = r()
            if o is None:
                continue
            if self.hooks and getattr(o, "_hooks", None):
                g = gys[i] = _run_hooks(o, g, self.create_graph)
            if self.capture is not None:
                if id(o) in self.capture:
                    self.captured[id(o)] = g
            elif o._retains_grad:
                self.deliver(o, g, True)
        return tuple(gys)

    def result(self, capture):
        """With ``capture``, the gradients of those tensors (Tensors, or None)."""
        if capture is None:
            return None
        out = []
        for t in capture:
            g = self.captured.get(id(t))
            if g is not None and not isinstance(g, autograd._Tensor):
                g = autograd._Tensor._wrap(g.copy() if g.base is not None else g)
            out.append(g)
        return out




def _run_hooks(t, g, create_graph):
    """``g`` passed through the hooks of tensor ``t`` in order; each gets a Tensor and may
    return a replacement of the same shape."""
    for fn in list(t._hooks.values()):
        out = fn(g if create_graph else autograd._Tensor._wrap(g))
        if out is None:
            continue
        if isinstance(out, autograd._Tensor):
            out = out if create_graph else out.data
        elif create_graph:
            out = autograd._Tensor._wrap(out)
        if tuple(out.shape) != tuple(g.shape):
            raise ValueError(f"a hook of a tensor of shape {tuple(g.shape)} returned a "
                             f"gradient of shape {tuple(out.shape)}")
        g = out
    return g


def _accumulate_grad(x, gx, borrowed):
    """``x.grad += gx`` for a leaf, with array ``gx`` (``borrowed``: owned by another op)."""
    prev = x.grad
    if gx.dtype != x.data.dtype:        # a float64 upstream gradient on a float32 leaf
        gx = gx.astype(x.data.dtype)    # (a new array: not borrowed any more)
        borrowed = False
    if prev is None:
        if borrowed or gx.base is not None:
            gx = gx.copy()      # no grad may alias another array
        x.grad = autograd._Tensor._wrap(gx)
    else:
        x.grad = autograd._Tensor._wrap(prev.data + gx)


def _accumulate_tensor(x, gx):
    """``x.grad += gx`` with create_graph: the gradient stays a Tensor in the graph."""
    if not isinstance(gx, autograd._Tensor):
        gx = autograd._Tensor._wrap(gx)
    if gx.dtype != x.data.dtype:
        gx = gx.astype(x.data.dtype)
    x.grad = gx if x.grad is None else x.grad + gx


_PLAIN = _Mode()


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
    Tensor = autograd._Tensor
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
    gs = [initial_grad(o, g, create_graph) for o, g in zip(outputs, grad_outputs)]
    res = run_backward(outputs, gs, retain_graph=retain_graph, create_graph=create_graph,
                       capture=inputs)
    for i, g in enumerate(res):
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} is not part of the graph of the outputs "
                "(pass allow_unused=True to get None for it)")
    return tuple(res)


def initial_grad(out, g, create_graph):
    """The upstream gradient that starts a backward at ``out``."""
    Tensor = autograd._Tensor

    if not out.requires_grad:
        raise RuntimeError(
            "element 0 of tensors does not require grad and does not have a grad_fn: "
            "nothing to differentiate (did you compute it under no_grad, or from tensors "
            "created without requires_grad=True?)")
    data = out.data
    if g is None and type(data) is np.ndarray and data.size == 1:
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
        if not isinstance(g, autograd.backend_array_types()):
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
