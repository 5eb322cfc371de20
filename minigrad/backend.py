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

    register_backend(Backend(
        name="cuda", xp=_cupy, array_type=_cupy.ndarray,
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

    Devices compare equal to their string form, so ``t.device == 'cpu'`` works, and hash
    as it (``'cpu'``, ``'cuda:1'``): a device finds the entry of its name in a dict.
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
        return hash(str(self))


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
