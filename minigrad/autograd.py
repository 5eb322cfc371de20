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
import weakref


import numpy as np

from . import backend

_grad_enabled = contextvars.ContextVar("minigrad_grad_enabled", default=True)
_anomaly_enabled = contextvars.ContextVar("minigrad_anomaly", default=False)
#: Inside ``mixed_precision.autocast(dtype)``: that low-precision dtype; None outside.
_autocast_dtype = contextvars.ContextVar("minigrad_autocast", default=None)

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


#: How many tensor hooks are registered (Tensor.register_hook): while none is, backward
#: runs its plain pass, which never looks for them.
_hooks_active = [0]


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
    # gradient kept (Tensor.retain_grad) or has hooks.
    _gy = None
    _multi = False
    _watch = False
    _hooked = ()       # outputs with tensor hooks, held until backward reaches them
    #: How the op runs inside :class:`minigrad.mixed_precision.autocast`: ``"low"`` (matrix
    #: products, convolutions) first converts its float32 inputs to the autocast dtype,
    #: ``"float32"`` (softmax, losses, normalisation, sums, exp, log, pow) its float16 or
    #: bfloat16 inputs to float32; None (the rest) runs in the dtypes it is given.
    autocast = None

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
        # 0. under autocast, the dtype the op computes in (mixed precision)
        if self.autocast is not None and _autocast_dtype.get() is not None:
            inputs = _autocast_inputs(self.autocast, inputs)
        # 1. the arrays, all on one device, and which inputs need a gradient
        if len(inputs) == 2:                    # binary ops: unrolled, the hot path
            x0, x1 = inputs
            xs = (x0.data, x1.data)
            if type(xs[0]) is not _NDARRAY or type(xs[1]) is not _NDARRAY:
                _check_same_device(self, xs)
            needs_in = (x0.requires_grad, x1.requires_grad)
        elif len(inputs) == 1:
            xs = (inputs[0].data,)
            needs_in = (inputs[0].requires_grad,)
        else:
            xs = [x.data for x in inputs]
            _check_same_device(self, xs)
            needs_in = tuple([x.requires_grad for x in inputs])
        needs = True in needs_in and _grad_enabled.get()
        if needs:
            self.needs_input_grad = needs_in
        # 2. forward on arrays
        try:
            ys = self.forward(*xs)
        except ValueError as exc:
            raise _shape_error(self, exc, xs) from None
        # 3. the results as Tensors
        if type(ys) is _NDARRAY:                # one NumPy array, the hot path: wrapped
            out = _object_new(_Tensor)          # here (Tensor._wrap, inlined)
            out.data = ys
            out.grad = out.creator = out.name = None
            out._retains_grad = False
            out.requires_grad = needs
        elif type(ys) is not tuple:
            out = _new_tensor(ys, needs)
        else:
            out = tuple([_new_tensor(y, needs) for y in ys])
        # 4. the call recorded in the graph
        if needs:
            self._record(inputs, out)
        return out

    def _record(self, inputs, out) -> None:
        """Link this call into the graph: strong references to the inputs, weak ones to
        the outputs (``out``: a Tensor or a tuple of them), the generation after every
        input's creator, and the in-place epoch of the forward."""
        gen = 0
        for x in inputs:
            c = x.creator
            if c is not None and c.generation > gen:
                gen = c.generation
        self.generation = gen + 1
        self.epoch = _inplace_epoch[0]
        self.inputs = inputs
        if type(out) is not tuple:
            self.outputs = (_weakref(out),)
            out.creator = self
            return
        self.outputs = tuple(map(_weakref, out))
        self._multi = True
        self._out_meta = [(t.data.shape, t.data.dtype) for t in out]
        for t in out:
            t.creator = self

    def _release(self) -> None:
        """Drop inputs and saved arrays after backward (the graph is freed)."""
        d = self.__dict__
        self.__dict__ = {"inputs": None, "generation": d["generation"], "outputs": d["outputs"],
                         "epoch": d["epoch"]}


class AsType(Function):
    """y = x converted to another dtype; the gradient converts back."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.src = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        if is_half(self.src):
            # a gradient too large for float16 becomes inf: under mixed precision the
            # loss scaling finds it and skips the step, so no warning
            with np.errstate(over="ignore"):
                return gy.astype(self.src)
        return gy.astype(self.src)

    def backward_graph(self, gy):
        return AsType(self.src).apply(gy)


_FLOAT32 = np.dtype(np.float32)


def is_half(dtype) -> bool:
    """True for the 16-bit floating dtypes: float16, and bfloat16 (from ``ml_dtypes``)."""
    return dtype.itemsize == 2 and (dtype.kind == "f" or dtype.name == "bfloat16")


def _autocast_inputs(kind, inputs):
    """The inputs of an op of autocast ``kind`` ("low" or "float32"), converted with
    AsType (so each gradient converts back): float32 to the autocast dtype for "low",
    16-bit floats to float32 for "float32". Other dtypes (float64, integers) and Python
    numbers are left as they are."""
    low = _autocast_dtype.get()
    out = []
    for x in inputs:
        dt = getattr(x.data, "dtype", None)
        if dt is not None and (dt == _FLOAT32 if kind == "low" else is_half(dt)):
            x = AsType(low if kind == "low" else _FLOAT32).apply(x)
        out.append(x)
    return tuple(out)


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


def _shape_error(fn, exc, xs) -> ValueError:
    """A forward's ValueError, as it is, or naming the shapes when they do not broadcast."""
    if "broadcast" not in str(exc):
        return exc
    shapes = " and ".join(str(tuple(getattr(x, "shape", ()))) for x in xs)
    return ValueError(f"{type(fn).__name__}: shapes {shapes} cannot be broadcast together")


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


# The backward engine lives in engine.py; these names are part of autograd's API.
from .engine import grad, run_backward, sum_to_array  # noqa: E402,F401
