"""Tensor constructors: tensor, zeros, ones, full, arange, rand, randn, *_like."""
from __future__ import annotations

import numpy as np

from . import backend
from .checks import number
from .tensor import Tensor, get_default_dtype

__all__ = ["tensor", "from_numpy", "zeros", "ones", "full", "arange", "rand", "randn",
           "zeros_like", "ones_like", "full_like", "empty", "from_dlpack"]


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``.

    Python floats become the default dtype (float32); NumPy arrays keep their dtype.

    Example:
        >>> mg.tensor([[1, 2], [3, 4]], dtype='float32', requires_grad=True).shape
        (2, 2)
    """
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A CPU tensor that shares memory with ``array`` (no copy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor._wrap(array)


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def _make(host_or_fn, shape, dtype, device, requires_grad):
    dev = backend.as_device(device)
    dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
    arr = host_or_fn(dev.xp, shape, dt)
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (default dtype float32)."""
    return _make(lambda xp, s, dt: xp.zeros(s, dtype=dt), _shape(shape), dtype, device,
                 requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (contents arbitrary)."""
    return _make(lambda xp, s, dt: xp.empty(s, dtype=dt), _shape(shape), dtype, device,
                 requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (default dtype float32)."""
    return _make(lambda xp, s, dt: xp.ones(s, dtype=dt), _shape(shape), dtype, device,
                 requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value``."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _make(lambda xp, s, dt: xp.full(s, fill_value, dtype=dt), shape, dtype, device,
                 requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop); int64 for integer arguments."""
    if stop is None:
        start, stop = 0, start
    for name, v in (("start", start), ("stop", stop), ("step", step)):
        number(v, "arange", name)
    if step == 0:
        raise ValueError("arange: step must not be zero")
    host = np.arange(start, stop, step)
    if dtype is not None:
        host = host.astype(dtype)
    elif host.dtype.kind == "f":
        host = host.astype(get_default_dtype())
    t = Tensor._wrap(backend.move(host, backend.as_device(device)))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _random(draw, shape, dtype, device, requires_grad):
    # Drawn on the host generator and then moved: a seeded program gets the same numbers
    # on every device.
    dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
    host = draw(backend.host_rng(), shape).astype(dt)
    t = Tensor._wrap(backend.move(host, backend.as_device(device)))
    if requires_grad:
        t.requires_grad_(True)
    return t


def rand(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1), seeded by ``mg.manual_seed``."""
    return _random(lambda r, s: r.random(s), _shape(shape), dtype, device, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples, seeded by ``mg.manual_seed``."""
    return _random(lambda r, s: r.standard_normal(s), _shape(shape), dtype, device,
                   requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``t``'s shape, dtype and device."""
    return zeros(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    """Ones with ``t``'s shape, dtype and device."""
    return ones(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` with ``t``'s shape, dtype and device."""
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=t.device,
                requires_grad=requires_grad)


#: DLPack's device types: 1 the CPU, 2 CUDA, 3 CUDA host (pinned) memory
_DLPACK_CPU, _DLPACK_CUDA = (1, 3), 2


def from_dlpack(obj, requires_grad: bool = False) -> Tensor:
    """A Tensor sharing the memory of ``obj``, any object with ``__dlpack__`` (a PyTorch,
    JAX or CuPy tensor, a NumPy array): a write on one side is seen on the other. CPU
    memory becomes a NumPy array, CUDA memory a CuPy array (CuPy needed). The Tensor can
    require grad and take part in a graph like any other.

    Raises:
        TypeError: ``obj`` has no ``__dlpack__``.
        ValueError: memory on a device minigrad has no backend for.
    """
    if not hasattr(obj, "__dlpack__") or not hasattr(obj, "__dlpack_device__"):
        raise TypeError(f"from_dlpack expects an object with __dlpack__ (a PyTorch, JAX "
                        f"or CuPy tensor, a NumPy array), got {type(obj).__name__}")
    kind, _ = obj.__dlpack_device__()
    if kind in _DLPACK_CPU:
        arr = np.from_dlpack(obj)
    elif kind == _DLPACK_CUDA:
        try:
            import cupy
        except ImportError:
            raise ValueError("from_dlpack: the array is in CUDA memory; install CuPy to "
                             "use it from minigrad") from None
        arr = cupy.from_dlpack(obj)
    else:
        raise ValueError(f"from_dlpack: DLPack device type {kind} is not supported (CPU "
                         "and CUDA are)")
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t
