"""Array backends and devices.

This is the only module that imports CuPy. Everything else asks for the array module of
its operands with :func:`get_array_module` and then uses ``xp.*`` only. Where NumPy and
CuPy differ (strided views, scatter-add, random generators, host transfers) the helper
lives here, so that ops never branch on the backend.

A backend is registered with :func:`register_backend`; NumPy (``'cpu'``) is always
present, CuPy (``'cuda'``) when it imports and sees a GPU. The test suite registers a
third, ``'strict'``, that refuses implicit host conversion as CuPy does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

__all__ = [
    "Backend", "Device", "register_backend", "get_backend", "get_array_module",
    "as_device", "is_cuda_available", "cuda_unavailable_reason", "to_host",
    "as_strided", "scatter_add", "default_rng_for",
]


@dataclass
class Backend:
    """How one kind of device stores and moves arrays.

    Attributes:
        name: device kind, e.g. ``'cpu'`` or ``'cuda'``.
        xp: the NumPy-compatible module (``numpy``, ``cupy``).
        array_type: the array class whose instances live on this backend.
        from_host: ``(ndarray, index) -> array`` copies a host array to the device.
        to_host: ``array -> ndarray`` copies an array back to host memory.
        as_strided: ``(array, shape, strides) -> view`` strided view (bytes strides).
        scatter_add: ``(target, index, values)`` unbuffered ``target[index] += values``.
        fused: optional fused elementwise kernels by name (see :func:`fused`).
        current_index: returns the device index an array lives on.
        synchronize: waits for queued work (a no-op on CPU).
    """

    name: str
    xp: Any
    array_type: type
    from_host: Callable[[np.ndarray, int], Any]
    to_host: Callable[[Any], np.ndarray]
    as_strided: Callable[[Any, tuple, tuple], Any]
    scatter_add: Callable[[Any, Any, Any], None]
    array_index: Callable[[Any], int] = lambda a: 0
    synchronize: Callable[[], None] = lambda: None
    seed: Callable[[int], None] = lambda s: None
    rngs: dict = field(default_factory=dict)
    fused: dict = field(default_factory=dict)


_BACKENDS: dict = {}          # name -> Backend
_BY_TYPE: dict = {}           # array type -> Backend


def register_backend(backend: Backend) -> None:
    """Make a backend available under ``backend.name``."""
    _BACKENDS[backend.name] = backend
    _BY_TYPE[backend.array_type] = backend


def _numpy_as_strided(x, shape, strides):
    return np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides, writeable=False)


register_backend(Backend(
    name="cpu", xp=np, array_type=np.ndarray,
    from_host=lambda a, index: a,
    to_host=lambda a: a,
    as_strided=_numpy_as_strided,
    scatter_add=np.add.at,
))

# --- CuPy, guarded: the reason of a failure is kept and shown on request. -------------
_cuda_reason: Optional[str] = None
try:  # pragma: no cover - exercised only where CuPy is installed
    import cupy as _cupy
    import cupyx as _cupyx

    if _cupy.cuda.runtime.getDeviceCount() < 1:
        raise RuntimeError("CuPy is installed but sees no CUDA device")

    def _cupy_from_host(a, index):
        with _cupy.cuda.Device(index):
            return _cupy.asarray(a)

    _relu_grad_kernel = _cupy.ElementwiseKernel(
        "T gy, T y", "T gx", "gx = y > (T)0 ? gy : (T)0", "minigrad_relu_grad")
    _adam_kernel = _cupy.ElementwiseKernel(
        "T g, T b1, T b2, T lr_c1, T c2inv, T eps", "T p, T m, T v",
        """m = b1 * m + ((T)1 - b1) * g;
           v = b2 * v + ((T)1 - b2) * g * g;
           p -= lr_c1 * m / (sqrt(v * c2inv) + eps);""",
        "minigrad_adam_step")

    def _cupy_adam(p, g, m, v, b1, b2, lr_c1, c2inv, eps):
        _adam_kernel(g, b1, b2, lr_c1, c2inv, eps, p, m, v)

    register_backend(Backend(
        name="cuda", xp=_cupy, array_type=_cupy.ndarray,
        fused={"relu_grad": lambda gy, y: _relu_grad_kernel(gy, y),
               "adam_step": _cupy_adam},
        from_host=_cupy_from_host,
        to_host=_cupy.asnumpy,
        as_strided=lambda x, shape, strides: _cupy.lib.stride_tricks.as_strided(
            x, shape=shape, strides=strides),
        scatter_add=getattr(getattr(_cupy, "add", None), "at", None) or _cupyx.scatter_add,
        array_index=lambda a: a.device.id,
        synchronize=lambda: _cupy.cuda.Stream.null.synchronize(),
        seed=lambda s: _cupy.random.seed(s),
    ))
except Exception as exc:  # ImportError, CUDA driver errors, no device
    _cuda_reason = f"{type(exc).__name__}: {exc}"


def is_cuda_available() -> bool:
    """True when CuPy imported and sees at least one CUDA device."""
    return "cuda" in _BACKENDS


def cuda_unavailable_reason() -> Optional[str]:
    """Why CUDA is unavailable (``None`` when it is available)."""
    return None if is_cuda_available() else _cuda_reason


class Device:
    """A device: a backend kind plus an index, written like ``'cpu'`` or ``'cuda:1'``.

    Devices compare equal to their string form, so ``t.device == 'cpu'`` works.
    """

    __slots__ = ("kind", "index")

    def __init__(self, kind: str, index: int = 0):
        self.kind = kind
        self.index = index

    @property
    def backend(self) -> Backend:
        return _BACKENDS[self.kind]

    @property
    def xp(self):
        return _BACKENDS[self.kind].xp

    def __str__(self) -> str:
        return self.kind if self.kind == "cpu" else f"{self.kind}:{self.index}"

    def __repr__(self) -> str:
        return f"device('{self}')"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = as_device(other)
            except (ValueError, RuntimeError):
                return False
        return isinstance(other, Device) and (self.kind, self.index) == (other.kind, other.index)

    def __hash__(self) -> int:
        return hash((self.kind, self.index))


_CPU = Device("cpu")


def as_device(device) -> Device:
    """Parse ``None``, ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or a :class:`Device`.

    Raises:
        RuntimeError: CUDA was asked for but is unavailable; the message says why.
        ValueError: the string names no known device.
    """
    if device is None:
        return _CPU
    if isinstance(device, Device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a string like 'cpu' or 'cuda:0', got {device!r}")
    kind, _, index = device.partition(":")
    if kind == "cuda" and kind not in _BACKENDS:
        raise RuntimeError(
            f"device '{device}' requested but CUDA is unavailable: {_cuda_reason}. "
            "Install the GPU extra (pip install 'minigrad[cuda]') on a machine with an "
            "NVIDIA GPU and driver.")
    if kind not in _BACKENDS:
        known = ", ".join(sorted(_BACKENDS))
        raise ValueError(f"unknown device '{device}' (known kinds: {known})")
    try:
        idx = int(index) if index else 0
    except ValueError:
        raise ValueError(f"bad device index in '{device}'") from None
    if kind == "cpu":
        return _CPU
    return Device(kind, idx)


def get_backend(x) -> Backend:
    """The backend an array lives on (NumPy scalars count as CPU)."""
    b = _BY_TYPE.get(type(x))
    if b is not None:
        return b
    for t, b in _BY_TYPE.items():
        if isinstance(x, t):
            return b
    return _BACKENDS["cpu"]


def get_array_module(*arrays):
    """The array module (``numpy``, ``cupy``, ...) of the first array argument."""
    for a in arrays:
        t = type(a)
        if t is np.ndarray:
            return np
        b = _BY_TYPE.get(t)
        if b is not None:
            return b.xp
    return np


def device_of(x) -> Device:
    """The :class:`Device` an array lives on."""
    b = get_backend(x)
    if b.name == "cpu":
        return _CPU
    return Device(b.name, b.array_index(x))


def to_host(x) -> np.ndarray:
    """Copy an array of any backend into a NumPy array (no copy for NumPy input)."""
    if isinstance(x, np.ndarray):
        return x
    return get_backend(x).to_host(x)


def move(x, device: Device):
    """Return array ``x`` on ``device`` (no copy when it is already there)."""
    src = device_of(x)
    if src == device:
        return x
    host = to_host(x)
    return device.backend.from_host(host, device.index)


def as_strided(x, shape, strides):
    """A read-only strided view of ``x`` (strides in bytes) on any backend."""
    return get_backend(x).as_strided(x, tuple(shape), tuple(strides))


def scatter_add(target, index, values) -> None:
    """``target[index] += values`` with repeated indices accumulated, on any backend."""
    get_backend(target).scatter_add(target, index, values)


def erf(x):
    """The error function on any backend (SciPy's when installed, else exact per element)."""
    b = get_backend(x)
    if b.name == "cuda":  # pragma: no cover
        from cupyx.scipy.special import erf as _cuerf
        return _cuerf(x)
    if b.name == "cpu":
        try:
            from scipy.special import erf as _sperf
            return _sperf(x).astype(x.dtype, copy=False)
        except ImportError:
            import math
            return np.vectorize(math.erf, otypes=[x.dtype])(x)
    return b.xp.asarray(erf(b.to_host(x)))


# ---------------------------------------------------------------------------------------
# Fused elementwise kernels for hot paths. Each has a generic xp version (NumPy, any
# backend); a backend may register a fused one (CuPy: one ElementwiseKernel launch instead
# of several). A fused kernel is checked against the generic version on its first use for
# each dtype and dropped, with a warning, if it fails or disagrees.
# ---------------------------------------------------------------------------------------


def _relu_grad_generic(gy, y):
    return gy * (y > 0)


def _adam_step_generic(p, g, m, v, b1, b2, lr_c1, c2inv, eps):
    xp = get_array_module(p)
    m *= b1
    m += (1 - b1) * g
    v *= b2
    v += (1 - b2) * (g * g)
    denom = xp.sqrt(v * c2inv)
    denom += eps
    p -= lr_c1 * m / denom


_GENERIC = {"relu_grad": _relu_grad_generic, "adam_step": _adam_step_generic}
_FUSED_OK: dict = {}        # (backend, kernel, dtype) -> bool


def _self_check(b, name, dtype) -> bool:
    import warnings
    xp, fused, generic = b.xp, b.fused[name], _GENERIC[name]
    rng = np.random.default_rng(0)

    def arrs(k):
        return [b.from_host(rng.standard_normal(64).astype(dtype), 0) for _ in range(k)]
    try:
        if name == "relu_grad":
            gy, y = arrs(2)
            ok = bool(xp.allclose(fused(gy, y), generic(gy, y)))
        else:
            p, g, m, v = arrs(4)
            v = xp.abs(v)
            args = (0.9, 0.999, 1e-3, 1.001, 1e-7)
            p2, m2, v2 = p.copy(), m.copy(), v.copy()
            fused(p, g, m, v, *args)
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
    that passed its self-check, else the generic xp implementation.

    Kernels: ``relu_grad(gy, y) -> gy * (y > 0)``;
    ``adam_step(p, g, m, v, b1, b2, lr_c1, c2inv, eps)`` updates p, m, v in place:
    m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr_c1 m / (sqrt(c2inv v) + eps).
    """
    b = get_backend(x)
    if name not in b.fused:
        return _GENERIC[name]
    key = (b.name, name, x.dtype.str)
    ok = _FUSED_OK.get(key)
    if ok is None:
        ok = _FUSED_OK[key] = _self_check(b, name, x.dtype)
    return b.fused[name] if ok else _GENERIC[name]


def synchronize(device=None) -> None:
    """Wait until queued work on ``device`` (default: every backend) has finished."""
    if device is None:
        for b in _BACKENDS.values():
            b.synchronize()
    else:
        as_device(device).backend.synchronize()


_seed: list = [None]
_host_rng: list = [np.random.default_rng()]


def host_rng() -> np.random.Generator:
    """The host generator for weight initialisation and shuffling (seeded by manual_seed).

    Initial weights are drawn on the host and then moved, so a seeded model starts from
    the same weights on every device.
    """
    return _host_rng[0]


def default_rng_for(device: Device):
    """The generator on ``device`` used for random masks (dropout), seeded by manual_seed."""
    if device.kind == "cpu":
        return _host_rng[0]
    b = device.backend
    rng = b.rngs.get(device.index)
    if rng is None:
        seed = None if _seed[0] is None else (_seed[0], device.index)
        rng = b.xp.random.default_rng(None if seed is None else hash(seed) & 0xFFFFFFFF)
        b.rngs[device.index] = rng
    return rng


def manual_seed(seed: int) -> None:
    """Seed every generator minigrad uses (initialisation, shuffling, dropout), all backends."""
    seed = int(seed)
    _seed[0] = seed
    _host_rng[0] = np.random.default_rng(seed)
    for b in _BACKENDS.values():
        b.rngs.clear()
        b.seed(seed)
