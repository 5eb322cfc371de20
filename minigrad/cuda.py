"""``mg.cuda``: is a GPU usable, and why not."""
from . import backend


def is_available() -> bool:
    """True when CuPy imported and sees at least one CUDA device."""
    return backend.is_cuda_available()


def unavailable_reason():
    """Why CUDA cannot be used (None when it can)."""
    return backend.cuda_unavailable_reason()


def device_count() -> int:
    """Number of visible CUDA devices (0 without CuPy)."""
    if not is_available():
        return 0
    return backend._BACKENDS["cuda"].xp.cuda.runtime.getDeviceCount()


def synchronize() -> None:
    """Wait for all queued GPU work (use before reading a clock)."""
    backend.synchronize("cuda") if is_available() else None
