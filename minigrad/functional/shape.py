"""Shape and indexing ops: reshape, transpose, broadcast_to, sum_to, getitem, concatenate,
stack, pad, flatten, squeeze, expand_dims, device and dtype moves.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import AsType, Function, sum_to_array
from ..backend import get_array_module
from ..kernels.elementwise import fused
from ..tensor import Tensor
from .arithmetic import _as_tensor

__all__ = ["reshape", "transpose", "broadcast_to", "sum_to", "getitem", "concatenate",
           "stack", "pad", "flatten", "squeeze", "expand_dims", "to_device", "astype"]


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


class Reshape(Function):
    """y = x viewed with another shape; the gradient is reshaped back."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {tuple(x.shape)} "
                             f"({x.size} elements) into shape {self.shape}") from None

    def backward(self, gy):
        return gy.reshape(self.in_shape)

    def backward_graph(self, gy):
        return reshape(gy, self.in_shape)


def reshape(x, *shape) -> Tensor:
    """Same data, new shape (one dimension may be -1)."""
    x = _as_tensor(x)
    shape = _shape_arg(shape)
    if shape == x.data.shape:
        return x
    return Reshape(shape).apply(x)


class Transpose(Function):
    """y = x with axes permuted; the gradient is permuted back."""

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def _inverse(self):
        return tuple(int(a) for a in np.argsort(self.axes))

    def backward(self, gy):
        return gy.transpose(self._inverse())

    def backward_graph(self, gy):
        return transpose(gy, *self._inverse())


def transpose(x, *axes) -> Tensor:
    """Permute axes (reverse them when none are given), like ``numpy.transpose``."""
    x = _as_tensor(x)
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = axes[0]
    if not axes:
        axes = tuple(range(x.ndim))[::-1]
    axes = tuple(int(a) % max(x.ndim, 1) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation for shape {x.shape}")
    return Transpose(axes).apply(x)


class BroadcastTo(Function):
    """y = x broadcast to a shape; the gradient is summed back (sum_to)."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to_array(gy, self.in_shape)

    def backward_graph(self, gy):
        return sum_to(gy, self.in_shape)


def broadcast_to(x, shape) -> Tensor:
    """Broadcast ``x`` to ``shape`` (NumPy rules)."""
    x = _as_tensor(x)
    shape = tuple(shape)
    if shape == x.shape:
        return x
    try:
        np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise ValueError(f"cannot broadcast shape {x.shape} to {shape}") from None
    return BroadcastTo(shape).apply(x)


class SumTo(Function):
    """y = x summed down to a shape (inverse of broadcasting)."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return sum_to_array(x, self.shape)

    def backward(self, gy):
        return get_array_module(gy).broadcast_to(gy, self.in_shape)

    def backward_graph(self, gy):
        return broadcast_to(gy, self.in_shape)


def sum_to(x, shape) -> Tensor:
    """Sum ``x`` down to ``shape`` so that ``shape`` broadcasts to ``x.shape``."""
    x = _as_tensor(x)
    shape = tuple(shape)
    if shape == x.shape:
        return x
    try:
        fits = np.broadcast_shapes(shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"sum_to: shape {shape} does not broadcast to the input's shape "
                         f"{x.shape}")
    return SumTo(shape).apply(x)


# =====================================================================================
# Indexing
# =====================================================================================

def index_arrays(index):
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _is_basic(index) -> bool:
    """True when no element can be selected twice (no integer-array index)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice, np.integer))
               or getattr(i, "dtype", None) == bool for i in items)


def _picks_rows(index) -> bool:
    """True for one integer array (not a tuple): ``x[index]`` picks whole rows of ``x``."""
    return getattr(index, "ndim", None) is not None and index.dtype.kind in "iu"


class GetItem(Function):
    """y = x[index]; the gradient is scattered back (accumulating repeated indices)."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy):
        xp = get_array_module(gy)
        gx = xp.zeros(self.in_shape, dtype=gy.dtype)
        if _is_basic(self.index):
            gx[self.index] = gy          # basic indices never repeat an element
        elif _picks_rows(self.index):    # x[indices]: whole rows, as an embedding lookup
            width = math.prod(gx.shape[1:])
            fused("scatter_rows", gx)(gx.reshape(gx.shape[0], width), self.index.reshape(-1),
                                      gy.reshape(self.index.size, width))
        else:
            backend.scatter_add(gx, self.index, gy)
        return gx

    def backward_graph(self, gy):
        return GetItemGrad(self.index, self.in_shape).apply(gy)


class GetItemGrad(Function):
    """Scatter-add of ``gy`` into zeros of ``in_shape`` (the adjoint of GetItem)."""

    def __init__(self, index, in_shape):
        self.index, self.in_shape = index, in_shape

    def forward(self, gy):
        return GetItem.backward(self, gy)

    def backward(self, ggx):
        return ggx[self.index]

    def backward_graph(self, ggx):
        return getitem(ggx, self.index)


def _index_on_device(index, device):
    """Move host index arrays (NumPy arrays, lists) to the indexed tensor's device."""
    def move(i):
        if isinstance(i, list):
            i = np.asarray(i)
        if isinstance(i, np.ndarray):
            return backend.move(i, device)
        return i
    if isinstance(index, tuple):
        return tuple(move(i) for i in index)
    return move(index)


def _check_index(x: Tensor, index) -> None:
    items = index if isinstance(index, tuple) else (index,)
    for it in items:
        if hasattr(it, "dtype") and it.dtype.kind == "b":
            continue
        if hasattr(it, "dtype") and it.dtype.kind not in "iu":
            raise IndexError(f"tensors used as indices must be integer or bool, got {it.dtype}")


def getitem(x, index) -> Tensor:
    """``x[index]`` with ints, slices, None, Ellipsis, integer and bool arrays."""
    x = _as_tensor(x)
    index = _index_on_device(index_arrays(index), x.device)
    _check_index(x, index)
    return GetItem(index).apply(x)


# =====================================================================================
# Joining and padding
# =====================================================================================

class Concatenate(Function):
    """y = concatenate(xs, axis); the gradient is split back."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def _bounds(self):
        start = 0
        for n in self.sizes:
            yield start, start + n
            start += n

    def backward(self, gy):
        sl = [slice(None)] * gy.ndim
        out = []
        for (a, b), need in zip(self._bounds(), self.needs_input_grad):
            sl[self.axis] = slice(a, b)
            out.append(gy[tuple(sl)] if need else None)
        return tuple(out)

    def backward_graph(self, gy):
        sl = [slice(None)] * gy.ndim
        out = []
        for (a, b), need in zip(self._bounds(), self.needs_input_grad):
            sl[self.axis] = slice(a, b)
            out.append(getitem(gy, tuple(sl)) if need else None)
        return tuple(out)


def _axis_in_range(axis: int, nd: int, where: str) -> int:
    """``axis`` counted from 0 (negative ones from the end); an axis outside ``nd`` axes
    is an error, as in NumPy (never wrapped around)."""
    if not -nd <= axis < nd:
        raise ValueError(f"{where}: axis {axis} is out of range for {nd} axes")
    return axis % nd


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis; shapes must match except along ``axis``."""
    ts = [_as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("concatenate: need at least one tensor")
    nd = ts[0].ndim
    if nd == 0:
        raise ValueError("concatenate: 0-d tensors have no axis to join along (use stack)")
    axis = _axis_in_range(axis, nd, "concatenate")
    for t in ts[1:]:
        if t.ndim != nd or any(a != b for i, (a, b) in enumerate(zip(t.shape, ts[0].shape))
                               if i != axis):
            raise ValueError(
                f"concatenate: shapes {ts[0].shape} and {t.shape} differ outside axis {axis}")
    return Concatenate(axis).apply(*ts)


def stack(tensors, axis: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis."""
    ts = [_as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("stack: need at least one tensor")
    for t in ts[1:]:
        if t.shape != ts[0].shape:
            raise ValueError(f"stack: all shapes must be equal, got {ts[0].shape} and {t.shape}")
    axis = _axis_in_range(axis, ts[0].ndim + 1, "stack")
    return concatenate([expand_dims(t, axis) for t in ts], axis=axis)


class Pad(Function):
    """Constant padding; the gradient is the central slice."""

    def __init__(self, pad_width, value):
        self.pad_width, self.value = pad_width, value

    def _center(self, shape):
        return tuple(slice(a, n - b) for (a, b), n in zip(self.pad_width, shape))

    def forward(self, x):
        xp = get_array_module(x)
        return xp.pad(x, self.pad_width, mode="constant", constant_values=self.value)

    def backward(self, gy):
        return gy[self._center(gy.shape)]

    def backward_graph(self, gy):
        return getitem(gy, self._center(gy.shape))


def pad(x, pad_width, value: float = 0.0) -> Tensor:
    """Constant padding, ``pad_width`` as in ``numpy.pad`` (an int, a pair, or pairs)."""
    x = _as_tensor(x)
    raw = np.asarray(pad_width)
    if raw.dtype.kind not in "iu":                  # 1.5 would pad 1, silently
        raise TypeError(f"pad: pad widths must be integers, got {pad_width}")
    pw = np.broadcast_to(raw.astype(np.int64), (x.ndim, 2))
    if (pw < 0).any():
        raise ValueError(f"pad: negative pad width {pad_width}")
    return Pad(tuple(tuple(int(v) for v in row) for row in pw), value).apply(x)


# =====================================================================================
# Shape conveniences (built on reshape)
# =====================================================================================

def flatten(x, start_dim: int = 0) -> Tensor:
    """Merge the axes from ``start_dim`` on (``start_dim=1`` keeps the batch axis)."""
    x = _as_tensor(x)
    start_dim = _axis_in_range(start_dim, max(x.ndim, 1), "flatten")
    return reshape(x, x.shape[:start_dim] + (-1,))


def squeeze(x, axis=None) -> Tensor:
    """Drop axes of length one (all of them, or the ones named)."""
    x = _as_tensor(x)
    if axis is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        axes = {_axis_in_range(a, x.ndim, "squeeze")
                for a in (axis if isinstance(axis, (tuple, list)) else (axis,))}
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {x.shape} is not 1")
        shape = tuple(s for i, s in enumerate(x.shape) if i not in axes)
    return reshape(x, shape)


def expand_dims(x, axis: int) -> Tensor:
    """Insert an axis of length one at ``axis``."""
    x = _as_tensor(x)
    axis = _axis_in_range(axis, x.ndim + 1, "expand_dims")
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


# =====================================================================================
# Moves between devices and dtypes
# =====================================================================================

class ToDevice(Function):
    """y = x on another device; the gradient moves back."""

    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.src = backend.device_of(x)
        return backend.move(x, self.device)

    def backward(self, gy):
        return backend.move(gy, self.src)

    def backward_graph(self, gy):
        return to_device(gy, self.src)


def to_device(x, device) -> Tensor:
    """Copy ``x`` to ``device``; differentiable."""
    return ToDevice(backend.as_device(device)).apply(_as_tensor(x))


def astype(x, dtype) -> Tensor:
    """A copy with another dtype. The graph continues only between floating dtypes."""
    x = _as_tensor(x)
    dtype = np.dtype(dtype)
    if x.requires_grad and dtype.kind not in "fc":
        from ..autograd import no_grad
        with no_grad():
            return AsType(dtype).apply(x)
    return AsType(dtype).apply(x)
