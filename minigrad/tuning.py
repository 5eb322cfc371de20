"""CPU tuning: what makes NumPy code fast on a real CPU without changing any result.

* the allocator cache (glibc ``mallopt``), turned on by the first training step;
* cache-sized chunks of samples for the passes of one op (``batch_chunks``);
* optimizer states flushed of near-subnormal values (``flush_tiny``);
* large batches run as micro-batches whose gradients add up (``micro_batches``);
* minigrad's own CPU threads, turned on by the first training step: long passes split over
  the cores, with BLAS on one thread (``set_cpu_threads``, ``parallel``).

On GPUs each of these is a no-op or one slice: there a launch costs more than a pass.
"""
from __future__ import annotations

import os
import threading
from typing import Optional

import numpy as np

from .backend import get_backend

__all__ = ["set_cpu_allocator_cache", "training_step_begins", "CPU_CHUNK_BYTES",
           "batch_chunks", "flush_tiny", "micro_batches", "set_cpu_threads", "cpu_threads",
           "split", "parallel"]


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
    """Called at each training step: turns the CPU allocator cache and minigrad's CPU
    threads on the first time, unless the user chose a setting with
    :func:`set_cpu_allocator_cache` or :func:`set_cpu_threads`."""
    if _ALLOCATOR_CACHE["enabled"] is None:
        set_cpu_allocator_cache(True)
    if _THREADS["n"] is None:
        set_cpu_threads()


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


# =====================================================================================
# minigrad's own CPU threads
# =====================================================================================

#: minigrad's CPU thread count: None until a training step (or set_cpu_threads) decides;
#: ``blas`` holds BLAS's thread count from before minigrad set it to one
_THREADS = {"n": None, "blas": None}
_pool = {"executor": None, "size": 0}
_in_worker = threading.local()


def set_cpu_threads(n: Optional[int] = None) -> int:
    """Run minigrad's long CPU passes on ``n`` threads, with BLAS on one thread; ``n=1``
    turns this off and gives BLAS back its thread count. ``None`` picks the cores this
    process may run on (the environment variable ``MINIGRAD_CPU_THREADS`` overrides).
    Returns the count in effect.

    Not done at import: the first training step turns it on unless this was called
    before. Why minigrad runs threads of its own: NumPy computes each operation on one
    core, but releases the GIL inside its loops, so the halves of an array can be computed
    at once by two Python threads. OpenBLAS has threads of its own for matrix products,
    and after each product its workers spin, waiting for the next one, on the other
    cores: a second thread of NumPy passes then gains nothing. With BLAS on one thread and
    the products split by minigrad too (``kernels.cpu.threaded``), both kinds of work use
    every core. Where BLAS's thread count cannot be set (no OpenBLAS found among the
    loaded libraries), minigrad keeps to one thread.
    """
    if n is None:
        n = int(os.environ.get("MINIGRAD_CPU_THREADS", 0)) or _usable_cores()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"set_cpu_threads: n must be a positive integer, got {n!r}")
    n = int(n)
    if n > 1 and _THREADS["blas"] is None:
        before = _blas_threads()
        if before is None or not _set_blas_threads(1):
            n = 1
        else:
            _THREADS["blas"] = before
    if n == 1 and _THREADS["blas"] is not None:
        _set_blas_threads(_THREADS["blas"])
        _THREADS["blas"] = None
    _THREADS["n"] = n
    return n


def cpu_threads() -> int:
    """How many threads minigrad's CPU kernels use now (1 until turned on)."""
    return _THREADS["n"] or 1


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                  # not on Linux
        return os.cpu_count() or 1


def _openblas_functions() -> list:
    """(set, get) thread-count functions of each OpenBLAS loaded in this process (NumPy's
    among them), found through the process's memory map (Linux)."""
    import ctypes
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f
                     if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return []
    found = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", "_64_", ""):
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    getter.restype = ctypes.c_int
                    found.append((setter, getter))
                    break
            else:
                continue
            break
    return found


_BLAS = {}


def _blas() -> list:
    if "functions" not in _BLAS:
        _BLAS["functions"] = _openblas_functions()
    return _BLAS["functions"]


def _blas_threads() -> Optional[int]:
    """BLAS's thread count now (None where it cannot be read)."""
    functions = _blas()
    return int(functions[0][1]()) if functions else None


def _set_blas_threads(n: int) -> bool:
    import ctypes
    functions = _blas()
    for setter, _ in functions:
        setter(ctypes.c_int(n))
    return bool(functions)


def split(n: int, min_size: int) -> Optional[list]:
    """Slices of ``range(n)``, one per thread, each at least ``min_size`` long; None when
    the work is too small to share (or there is one thread): run it as one piece."""
    t = min(cpu_threads(), n // max(min_size, 1))
    if t < 2 or getattr(_in_worker, "busy", False):
        return None
    step = -(-n // t)
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def parallel(fn, slices) -> None:
    """``fn(s)`` for each of ``slices`` at once: the first on this thread, the others on
    minigrad's worker threads; returns when all are done (re-raising the first error)."""
    executor = _executor(len(slices) - 1)
    futures = [executor.submit(_work, fn, s) for s in slices[1:]]
    error = None
    try:
        fn(slices[0])
    except BaseException as exc:       # the workers still write into shared arrays: wait
        error = exc
    for f in futures:
        exc = f.exception()
        error = error or exc
    if error is not None:
        raise error


def _work(fn, s):
    _in_worker.busy = True             # a kernel a worker calls runs as one piece
    fn(s)


def _executor(size: int):
    if _pool["executor"] is None or _pool["size"] < size:
        from concurrent.futures import ThreadPoolExecutor
        if _pool["executor"] is not None:
            _pool["executor"].shutdown(wait=False)
        _pool["executor"] = ThreadPoolExecutor(size, thread_name_prefix="minigrad-cpu")
        _pool["size"] = size
    return _pool["executor"]


def _forget_pool() -> None:            # a forked child has none of its parent's threads
    _pool["executor"], _pool["size"] = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)
