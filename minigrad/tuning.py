"""CPU tuning: what makes NumPy code fast on a real CPU without changing any result.

* the allocator cache (glibc ``mallopt``), turned on by the first training step;
* cache-sized chunks of samples for the passes of one op (``batch_chunks``);
* optimizer states flushed of near-subnormal values (``flush_tiny``);
* large batches run as micro-batches whose gradients add up (``micro_batches``).

On GPUs each of these is a no-op or one slice: there a launch costs more than a pass.
"""
from __future__ import annotations

import numpy as np

from .backend import get_backend

__all__ = ["set_cpu_allocator_cache", "training_step_begins", "CPU_CHUNK_BYTES",
           "batch_chunks", "flush_tiny", "micro_batches"]


#: The allocator cache's setting: None until a training step (or a call to
#: set_cpu_allocator_cache) decides; importing minigrad changes nothing in the process.
_ALLOCATOR_CACHE = {"enabled": None, "applied": False}


def set_cpu_allocator_cache(enabled: bool = True) -> bool:
    """Keep freed host memory in the process for reuse (glibc ``mallopt``).

    Not done at import: the first training step (``fit``, ``train_on_batch``,
    ``Optimizer.step``) turns it on unless this was called before; call it with False
    first to keep glibc's defaults.

    NumPy gets every large temporary from ``malloc``; glibc serves blocks above its
    mmap threshold with fresh pages and trims freed memory back to the OS, so each
    training step pays page faults again for every large array (measured: up to 45% of
    a CNN step). With the cache on, blocks up to 32 MB come from the heap and freed
    memory stays mapped: peak memory is unchanged, but it is not returned to the OS
    until the process ends. ``False`` restores glibc's defaults. Returns whether the
    setting took effect (only on Linux with glibc).
    """
    _ALLOCATOR_CACHE["enabled"] = bool(enabled)
    try:
        import ctypes
        import platform
        if platform.system() != "Linux":
            return False
        libc = ctypes.CDLL(None)
        m_trim_threshold, m_mmap_threshold = -1, -3
        if enabled:
            ok = libc.mallopt(m_mmap_threshold, 32 << 20) and \
                libc.mallopt(m_trim_threshold, 1 << 30)
        else:
            ok = libc.mallopt(m_mmap_threshold, 128 << 10) and \
                libc.mallopt(m_trim_threshold, 128 << 10)
        _ALLOCATOR_CACHE["applied"] = bool(ok) and enabled
        return bool(ok)
    except (OSError, AttributeError):
        return False


def training_step_begins() -> None:
    """Called at each training step: turns the CPU allocator cache on the first time,
    unless the user chose a setting with :func:`set_cpu_allocator_cache`."""
    if _ALLOCATOR_CACHE["enabled"] is None:
        set_cpu_allocator_cache(True)


#: CPU work on large batches is split into chunks of about this many bytes, so that the
#: several passes of an op over one chunk stay in the core's cache (a core's L2 holds
#: 2 MiB on the machine measured; 2 MiB chunks made the article's first pooled
#: convolution 15% faster forward than 4 MiB ones, and changed nothing else).
CPU_CHUNK_BYTES = 1 << 21


def batch_chunks(x, n: int, bytes_per_item: int):
    """Slices that split the leading axis of length ``n`` into cache-sized chunks on the
    CPU; one slice (the whole batch) on GPUs, where a launch costs more than a pass."""
    if get_backend(x).name != "cpu" or n * bytes_per_item <= CPU_CHUNK_BYTES:
        return [slice(0, n)]
    step = max(1, CPU_CHUNK_BYTES // max(bytes_per_item, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def flush_tiny(a, binades: int = 0) -> None:
    """Set the values of float array ``a`` below the smallest normal float times
    ``2**binades`` in magnitude (1.2e-38 times that in float32) to zero, in place, on the
    CPU; elsewhere, and for other dtypes, do nothing.

    An optimizer state that decays geometrically where the gradient is zero (a dead ReLU
    unit: Adam's m by 0.9 per step) otherwise crosses the subnormal range, about 150 steps
    on its way to zero, and x86 CPUs take 10-100 times longer per subnormal operand or
    result: after one epoch of the article's CNN, thousands of them doubled Adam's time.
    (GPUs and flush-to-zero CPU modes do the same in hardware.)
    """
    if get_backend(a).name != "cpu" or a.dtype not in (np.float32, np.float64):
        return
    a[np.abs(a) < np.finfo(a.dtype).tiny * 2.0 ** binades] = 0


def micro_batches(x, n: int, size: int):
    """Slices of ``size`` samples over a batch of ``n`` on the CPU; the whole batch as one
    slice on GPUs (which want large kernels)."""
    if get_backend(x).name != "cpu" or n <= size:
        return [slice(0, n)]
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]
