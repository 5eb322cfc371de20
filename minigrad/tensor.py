"""Tensor: an array on some device plus the autograd bookkeeping.

Operators are written out in the class body; each one calls an op from
:mod:`minigrad.functional`, where its forward and backward live side by side.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from . import autograd, backend, engine
from .dtypes import check_grad_dtype, get_default_dtype, set_default_dtype  # noqa: F401
from .hooks import register_tensor_hook

_object_new = object.__new__


def as_array(data, dtype=None, device=None, copy=True):
    """Convert ``data`` (a Tensor, a backend array, a NumPy value or nested lists of
    numbers) to an array of the chosen device and dtype; used by the ops to take their
    non-Tensor arguments."""
    if isinstance(data, Tensor):
        data = data.data
    types = autograd.backend_array_types()
    if isinstance(data, types):
        src = backend.device_of(data)
        dev = src if device is None else backend.as_device(device)
        arr = backend.move(data, dev)
        moved = arr is not data
        if dtype is not None and arr.dtype != np.dtype(dtype):
            arr = arr.astype(dtype)
        elif copy and not moved:
            arr = arr.copy()
        return arr
    dev = backend.as_device(device)
    arr = np.asarray(data)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"cannot build a tensor from {type(data).__name__} of dtype "
                        f"{arr.dtype}: tensors hold numbers (bool, integer, floating, "
                        "complex)")
    if not isinstance(data, np.generic):
        if dtype is None and arr.dtype.kind == "f" and not isinstance(data, np.ndarray):
            arr = arr.astype(get_default_dtype())
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    if copy and arr is data:
        arr = arr.copy()
    return backend.move(arr, dev)


class Tensor:
    """A multi-dimensional array that records the operations applied to it.

    Args:
        data: array-like (list, scalar, NumPy/CuPy array, Tensor); copied.
        dtype: NumPy dtype or name; Python floats default to float32.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:N'``; default: where ``data`` lives.
        requires_grad: record operations for differentiation (floating dtypes only).

    Attributes:
        data: the backend array (``numpy.ndarray`` or ``cupy.ndarray``).
        grad: the accumulated gradient (a Tensor) after ``backward()``, or None.
        creator: the Function that produced this tensor (None for leaves).

    Example:
        >>> x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
        >>> y = (x * x).sum()
        >>> y.backward()
        >>> x.grad.numpy()
        array([2., 4., 6.], dtype=float32)
    """

    # _assigned: the in-place epoch of the last assignment into this tensor (unset: never);
    # _base: for a tensor made by detach(), the tensor whose data it shares.
    # _hooks: {handle id: fn} of register_hook (unset: none).
    __slots__ = ("data", "grad", "creator", "requires_grad", "name", "_retains_grad",
                 "_assigned", "_base", "_hooks", "__weakref__")
    # NumPy arrays on the left of an operator defer to Tensor's reflected operators.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data, dtype=None, device=None, requires_grad: bool = False,
                 name: Optional[str] = None):
        self.data = as_array(data, dtype, device)
        if requires_grad:
            check_grad_dtype(self.data.dtype)
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.creator = None
        self.name = name
        self._retains_grad = False

    @classmethod
    def _wrap(cls, data, requires_grad: bool = False) -> "Tensor":
        """Wrap a backend array without copying or checking (internal fast path)."""
        t = _object_new(cls)
        t.data = data
        t.grad = t.creator = t.name = None
        t.requires_grad = requires_grad
        t._retains_grad = False
        return t

    # --- array attributes ---------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def device(self) -> backend.Device:
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    @property
    def T(self) -> "Tensor":
        return _shape.transpose(self)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        """The sub-tensors along the first axis (as NumPy; a 0-d tensor is not iterable)."""
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)``: the values of a CPU tensor. A tensor on another device is
        refused (copy it explicitly with ``.numpy()``), as CuPy and PyTorch do."""
        if self.device != "cpu":
            raise TypeError(f"cannot convert a tensor on {self.device} to a NumPy array "
                            "implicitly; call .numpy() to copy it to the host")
        if copy is False and dtype is not None and np.dtype(dtype) != self.data.dtype:
            raise ValueError("a copy is needed to change the dtype")
        a = self.data if dtype is None else self.data.astype(dtype, copy=False)
        return a.copy() if copy else a

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = ""
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.dtype != np.float32:
            extra += f", dtype={self.dtype}"
        if self.creator is not None:
            extra += f", creator=<{type(self.creator).__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # --- conversion -----------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A host NumPy array with this tensor's values (a copy for device tensors)."""
        return backend.to_host(self.data)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a one-element tensor, got shape {self.shape}")
        return self.data.reshape(()).item() if hasattr(self.data, "item") else float(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous")
        return bool(self.item())

    def tolist(self):
        """The values as nested Python lists."""
        return self.numpy().tolist()

    def detach(self) -> "Tensor":
        """A tensor sharing this one's data, cut from the graph. An assignment into it
        counts as one into this tensor (see ``__setitem__``)."""
        t = Tensor._wrap(self.data)
        t._base = self
        return t

    def to(self, device) -> "Tensor":
        """This tensor on ``device`` (itself when already there); differentiable."""
        dev = backend.as_device(device)
        if self.device == dev:
            return self
        return _shape.to_device(self, dev)

    def cpu(self) -> "Tensor":
        """This tensor on the CPU."""
        return self.to("cpu")

    def cuda(self, index: int = 0) -> "Tensor":
        """This tensor on CUDA device ``index``."""
        return self.to(f"cuda:{index}")

    def astype(self, dtype) -> "Tensor":
        """A copy with another dtype; differentiable between floating dtypes."""
        return _shape.astype(self, dtype)

    def float(self) -> "Tensor":
        """A float32 copy."""
        return self.astype(np.float32)

    def double(self) -> "Tensor":
        """A float64 copy."""
        return self.astype(np.float64)

    # --- autograd ---------------------------------------------------------------------------
    def requires_grad_(self, mode: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place (leaves only)."""
        if mode:
            check_grad_dtype(self.data.dtype)
        if self.creator is not None and not mode:
            raise RuntimeError("requires_grad_(False) is only valid on leaf tensors; "
                               "use .detach()")
        self.requires_grad = bool(mode)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retains_grad = True
        if self.creator is not None:
            self.creator._watch = True      # the engine then looks at its outputs

    # --- DLPack: arrays shared with PyTorch, JAX, CuPy, NumPy without a copy -------------
    def __dlpack__(self, *args, **kwargs):
        """The DLPack capsule of this tensor's array (``torch.from_dlpack(t)``,
        ``np.from_dlpack(t)``): the memory is shared, not copied."""
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()

    def register_hook(self, fn):
        """Call ``fn(grad)`` when this tensor's gradient has been computed in a backward
        pass (``grad`` a Tensor; for a leaf, the sum of the pass's contributions, before
        it is added to ``.grad``). ``fn`` may return a Tensor (or array) of the same shape
        to use instead. Hooks run in the order registered.

        Returns a handle whose ``remove()`` takes the hook out.

        Example:
            >>> h = x.register_hook(lambda g: g * 2)      # doubles x's gradient
            >>> h.remove()
        """
        return register_tensor_hook(self, fn)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``grad = None``)."""
        self.grad = None

    def backward(self, grad=None, retain_graph: bool = False, create_graph: bool = False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        Args:
            grad: upstream gradient with this tensor's shape; may be omitted only for
                one-element tensors (then it is 1).
            retain_graph: keep the graph so backward can run through it again.
            create_graph: record the backward pass so the gradients are differentiable.
        """
        g = engine.initial_grad(self, grad, create_graph)
        engine.run_backward([self], [g], retain_graph=retain_graph or create_graph,
                            create_graph=create_graph)

    # --- operators -------------------------------------------------------------------------
    def __add__(self, other):
        return _arith.add(self, other)

    def __radd__(self, other):
        return _arith.add(other, self)

    def __sub__(self, other):
        return _arith.sub(self, other)

    def __rsub__(self, other):
        return _arith.sub(other, self)

    def __mul__(self, other):
        return _arith.mul(self, other)

    def __rmul__(self, other):
        return _arith.mul(other, self)

    def __truediv__(self, other):
        return _arith.div(self, other)

    def __rtruediv__(self, other):
        return _arith.div(other, self)

    def __pow__(self, other):
        return _arith.pow(self, other)

    def __rpow__(self, other):
        return _arith.pow(other, self)

    def __matmul__(self, other):
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other):
        return _linalg.matmul(other, self)

    def __neg__(self):
        return _arith.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _arith.abs(self)

    # Comparisons give bool tensors outside the graph.
    def __eq__(self, other):
        return _arith.compare("equal", self, other)

    def __ne__(self, other):
        return _arith.compare("not_equal", self, other)

    def __lt__(self, other):
        return _arith.compare("less", self, other)

    def __le__(self, other):
        return _arith.compare("less_equal", self, other)

    def __gt__(self, other):
        return _arith.compare("greater", self, other)

    def __ge__(self, other):
        return _arith.compare("greater_equal", self, other)

    __hash__ = object.__hash__

    def __getitem__(self, index):
        return _shape.getitem(self, index)

    def __setitem__(self, index, value):
        """In-place assignment ``x[index] = value``.

        Refused on a tensor that requires grad while grad mode is on. Under
        :class:`~minigrad.no_grad` (an optimizer's update, an initialisation) it is
        allowed; a graph recorded before that still needs the old values, so its backward
        then raises instead of returning wrong gradients (PyTorch's version counter).
        Writes into ``.data`` directly bypass this check.
        """
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(
                "in-place assignment to a tensor that requires grad would corrupt its "
                "graph; assign under `with mg.no_grad():` (graphs recorded before then "
                "refuse to backward), or compute a new tensor instead")
        if isinstance(value, Tensor):
            value = value.data
        self.data[_shape.index_arrays(index)] = value
        autograd.mark_assigned(self)

    # --- methods ------------------------------------------------------------------------------
    def sum(self, axis=None, keepdims: bool = False):
        """Sum over ``axis`` (all axes when None); see :func:`minigrad.functional.sum`."""
        return _reduce.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        """Mean over ``axis``: sum / n."""
        return _reduce.mean(self, axis, keepdims)

    def var(self, axis=None, keepdims: bool = False, ddof: int = 0):
        """Variance sum((x - mean)^2) / (n - ddof) over ``axis``."""
        return _reduce.var(self, axis, keepdims, ddof)

    def std(self, axis=None, keepdims: bool = False, ddof: int = 0):
        """Standard deviation: sqrt of :meth:`var`."""
        return _reduce.var(self, axis, keepdims, ddof) ** 0.5

    def max(self, axis=None, keepdims: bool = False):
        """Maximum over ``axis``; tied maxima share the gradient evenly."""
        return _reduce.max(self, axis, keepdims)

    def min(self, axis=None, keepdims: bool = False):
        """Minimum over ``axis``; tied minima share the gradient evenly."""
        return _reduce.min(self, axis, keepdims)

    def argmax(self, axis=None, keepdims: bool = False):
        """Index of the maximum over ``axis`` (int64, not differentiable)."""
        return _reduce.argmax(self, axis, keepdims)

    def argmin(self, axis=None, keepdims: bool = False):
        """Index of the minimum over ``axis`` (int64, not differentiable)."""
        return _reduce.argmin(self, axis, keepdims)

    def reshape(self, *shape):
        """The same values with another shape (one dimension may be -1)."""
        return _shape.reshape(self, *shape)

    def view(self, *shape):
        """Alias of :meth:`reshape`."""
        return _shape.reshape(self, *shape)

    def transpose(self, *axes):
        """Permute the axes (reverse them when none are given)."""
        return _shape.transpose(self, *axes)

    def flatten(self, start_dim: int = 0):
        """Merge the axes from ``start_dim`` on into one."""
        return _shape.flatten(self, start_dim)

    def squeeze(self, axis=None):
        """Drop axes of length one (all, or the ones named)."""
        return _shape.squeeze(self, axis)

    def expand_dims(self, axis):
        """Insert an axis of length one at ``axis``."""
        return _shape.expand_dims(self, axis)

    unsqueeze = expand_dims

    def broadcast_to(self, shape):
        """Broadcast to ``shape``; the gradient is summed back."""
        return _shape.broadcast_to(self, shape)

    def exp(self):
        """Elementwise e^x; d/dx = e^x."""
        return _arith.exp(self)

    def log(self):
        """Elementwise natural logarithm; d/dx = 1/x."""
        return _arith.log(self)

    def sqrt(self):
        """Elementwise square root; d/dx = 1 / (2 sqrt x)."""
        return _arith.sqrt(self)

    def abs(self):
        """Elementwise |x|; the gradient at 0 is 0."""
        return _arith.abs(self)

    def clip(self, min=None, max=None):
        """Clamp into [min, max]; the gradient passes only inside."""
        return _arith.clip(self, min, max)

    def tanh(self):
        """Hyperbolic tangent; d/dx = 1 - tanh^2 x."""
        return _act.tanh(self)

    def sigmoid(self):
        """Logistic sigmoid 1 / (1 + e^-x); d/dx = s (1 - s)."""
        return _act.sigmoid(self)

    def relu(self):
        """max(0, x); the derivative is 1 for x > 0, else 0."""
        return _act.relu(self)

    def softmax(self, axis: int = -1):
        """Softmax along ``axis`` (shifted by the maximum)."""
        return _act.softmax(self, axis)

    def log_softmax(self, axis: int = -1):
        """log(softmax(x)) along ``axis``, computed stably."""
        return _act.log_softmax(self, axis)


autograd._set_tensor_class(Tensor)

from .functional import activation as _act  # noqa: E402  (needs Tensor defined)
from .functional import arithmetic as _arith  # noqa: E402
from .functional import linalg as _linalg  # noqa: E402
from .functional import reduce as _reduce  # noqa: E402
from .functional import shape as _shape  # noqa: E402
