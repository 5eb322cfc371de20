"""Shared helpers for the benchmark scripts: timing, machine description, results files.

Timing rules: warm up, synchronize the device before reading the clock, take the median
of several runs, and compare against the reference in the SAME run (report ratios; the
absolute times drift on a shared machine). Interleave the contenders round by round.
"""
from __future__ import annotations

import datetime as _dt
import itertools
import json
import os
import platform
import statistics
import time

import numpy as np

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_name() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        return "unknown"


def machine() -> dict:
    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_name(),
    }
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        info["torch"] = None
    import minigrad
    info["minigrad"] = minigrad.__version__
    try:
        import numba
        info["numba"] = numba.__version__
    except ImportError:
        info["numba"] = None
    info["compiled_kernels"] = minigrad.kernels.compiled_kernels_enabled()
    if minigrad.cuda.is_available():
        import cupy
        props = cupy.cuda.runtime.getDeviceProperties(0)
        info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        info["cupy"] = cupy.__version__
        info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        info["driver"] = cupy.cuda.runtime.driverGetVersion()
    return info


def interleaved(contenders: dict, repeats: int = 15, warmup: int = 3, inner: int = 1,
                sync=None) -> dict:
    """Median seconds per call of each ``name -> fn``, run round-robin.

    ``inner`` calls are timed together (for microsecond-scale work); ``sync()`` is called
    before each clock read (device work).
    """
    sync = sync or (lambda: None)
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
        sync()
    times = {k: [] for k in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            sync()
            t = time.perf_counter()
            for _ in range(inner):
                fn()
            sync()
            times[name].append((time.perf_counter() - t) / inner)
    return {k: statistics.median(v) for k, v in times.items()}


def in_blocks(contenders: dict, rounds: int = 3, repeats: int = 5, warmup: int = 2,
              inner: int = 1) -> dict:
    """Median seconds per call of each ``name -> fn``, timed in blocks: each round runs
    every contender in turn, ``warmup`` untimed calls then ``repeats`` timed ones.

    Use it when the contenders run in threads of their own that keep spinning after a call
    (PyTorch's OpenMP pool, OpenBLAS): call by call interleaving would time each one
    against the other's spinning threads.
    """
    times = {k: [] for k in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            for _ in range(warmup):
                fn()
            for _ in range(repeats):
                t = time.perf_counter()
                for _ in range(inner):
                    fn()
                times[name].append((time.perf_counter() - t) / inner)
    return {k: statistics.median(v) for k, v in times.items()}


def vm_hwm_mb() -> float:
    """Peak resident set of this process in MB (VmHWM; unlike ru_maxrss it resets at
    exec, so a fresh worker process reports its own peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def generic_kernels(make):
    """``make`` with minigrad's compiled CPU kernels turned off first: the step as it runs
    with NumPy alone (without the ``fast`` extra)."""
    def wrapped(*args, **kwargs):
        import minigrad as mg
        mg.kernels.set_compiled_kernels(False)
        return make(*args, **kwargs)
    return wrapped


def has_compiled_kernels() -> bool:
    import minigrad as mg
    return mg.kernels.compiled_kernels_enabled()


def median_step(fn, steps: int, warmup: int = 3):
    """(median seconds per call of ``fn`` over ``steps`` calls after ``warmup`` untimed
    ones, the first warm-up call's result)."""
    first = fn()
    for _ in range(warmup - 1):
        fn()
    ts = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), first


def save(name: str, payload: dict, folder=None) -> str:
    """Write ``payload`` as ``<name>-<UTC date>.json`` in ``folder`` (default: results/);
    a later run on the same day goes to ``<name>-<date>-2.json``, ``-3``, ...: the results
    of an earlier run are never overwritten."""
    folder = folder or RESULTS
    os.makedirs(folder, exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d")
    for n in itertools.count(1):
        path = os.path.join(folder, f"{name}-{stamp}{'' if n == 1 else f'-{n}'}.json")
        try:
            with open(path, "x") as f:          # "x": fails if the file exists
                json.dump(payload, f, indent=2)
            return path
        except FileExistsError:
            continue


def table(rows, headers) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = " | ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    sep = "-+-".join("-" * w for w in widths)
    body = "\n".join(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows)
    return f"{line}\n{sep}\n{body}"
