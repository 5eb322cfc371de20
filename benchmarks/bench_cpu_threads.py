"""Why the small CPU models do not go faster with a second thread: OpenBLAS's worker.

After a matrix product OpenBLAS's worker thread keeps spinning on the second core (for
about 2**28 cycles, ``OPENBLAS_THREAD_TIMEOUT``), waiting for the next product. Each
measurement below runs in fresh processes with three settings of the BLAS library
(read only at start-up):

* ``default``: two BLAS threads, the worker spinning between products;
* ``blas1``: ``OPENBLAS_NUM_THREADS=1`` (no worker);
* ``timeout4``: ``OPENBLAS_THREAD_TIMEOUT=4`` (the worker sleeps at once; each product
  wakes it again).

and measures (1) GELU's eight NumPy passes over a (2048, 512) float32 array split in two
halves, the second on a Python thread (NumPy releases the interpreter lock inside a
ufunc), right after a product, against the same passes on one thread; (2) Adam's update
of a 784 x 128 matrix right after the product that made its gradient; (3) the MLP step of
``bench_train.py`` (the 0.7x goal). Ratios come from the same run.

    python benchmarks/bench_cpu_threads.py [--out DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine, median_step, save, table  # noqa: E402

SETTINGS = {"default": {}, "blas1": {"OPENBLAS_NUM_THREADS": "1"},
            "timeout4": {"OPENBLAS_THREAD_TIMEOUT": "4"}}


def gelu_into(x, y, t, k=0.7978845608028654, c=0.044715):
    """GELU's passes writing into y and t (no fresh arrays): the generic kernel's order."""
    np.multiply(x, x, out=t)
    t *= k * c
    t += k
    t *= x
    np.tanh(t, out=t)
    np.add(t, 1, out=y)
    y *= x
    y *= 0.5


def measure_kernels(reps=60):
    """(GELU one thread, GELU two threads, Adam after the gradient's product) in ms."""
    from concurrent.futures import ThreadPoolExecutor

    from minigrad import tuning
    from minigrad.kernels.elementwise import adam_step_generic
    tuning.set_cpu_allocator_cache(True)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, 128)).astype(np.float32)
    w = rng.standard_normal((128, 512)).astype(np.float32)
    pool = ThreadPoolExecutor(1)
    out = {}
    for threads in (1, 2):
        total = 0.0
        for _ in range(reps):
            x = a @ w                              # the product right before, as in a step
            y, t = np.empty_like(x), np.empty_like(x)
            s = time.perf_counter()
            if threads == 1:
                gelu_into(x, y, t)
            else:
                h = x.shape[0] // 2
                second = pool.submit(gelu_into, x[h:], y[h:], t[h:])
                gelu_into(x[:h], y[:h], t[:h])
                second.result()
            total += time.perf_counter() - s
        out[f"gelu_{threads}_thread_ms"] = total / reps * 1e3
    xb = rng.random((64, 784), dtype=np.float32)
    gy = rng.standard_normal((64, 128)).astype(np.float32)
    p, m = rng.standard_normal(784 * 128).astype(np.float32), np.zeros(784 * 128, np.float32)
    v = np.abs(rng.standard_normal(784 * 128)).astype(np.float32)
    total = 0.0
    for _ in range(reps * 5):
        g = (xb.T @ gy).reshape(-1)               # the gradient, made by the product
        s = time.perf_counter()
        adam_step_generic(p, g, m, v, 0.9, 0.999, 1e-3, 1.0, 1e-7)
        total += time.perf_counter() - s
    out["adam_after_product_ms"] = total / (reps * 5) * 1e3
    return out


def run(setting, what):
    env = dict(os.environ, **SETTINGS[setting])
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", what]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def worker(what):
    if what == "kernels":
        print(json.dumps(measure_kernels()))
        return
    from bench_train import minigrad_step, torch_step
    path = os.environ["BATCHES"]
    make = torch_step if what == "torch" else minigrad_step
    median, _ = median_step(make("mlp", 64, "cpu", path), 300)
    print(json.dumps({"step_ms": median * 1e3}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return
    import tempfile

    from bench_train import write_batches
    tmp = tempfile.TemporaryDirectory()
    os.environ["BATCHES"] = os.path.join(tmp.name, "batches.npz")
    write_batches(os.environ["BATCHES"])
    import importlib.util
    have_torch = importlib.util.find_spec("torch") is not None
    rows, res = [], {"machine": machine(), "settings": SETTINGS, "rows": []}
    for rnd in range(2):
        for setting in SETTINGS:
            k = run(setting, "kernels")
            step = run(setting, "mlp")["step_ms"]
            torch_ms = run(setting, "torch")["step_ms"] if have_torch else None
            entry = {"round": rnd, "setting": setting, **k, "mlp_step_ms": step,
                     "torch_mlp_step_ms": torch_ms,
                     "mlp_ratio": step / torch_ms if torch_ms else None}
            res["rows"].append(entry)
            rows.append([rnd, setting, f"{k['gelu_1_thread_ms']:.2f}",
                         f"{k['gelu_2_thread_ms']:.2f}",
                         f"{k['gelu_1_thread_ms'] / k['gelu_2_thread_ms']:.2f}",
                         f"{k['adam_after_product_ms'] * 1e3:.0f}", f"{step:.3f}",
                         "-" if torch_ms is None else f"{torch_ms:.3f}",
                         "-" if torch_ms is None else f"{step / torch_ms:.2f}"])
            print(*rows[-1], flush=True)
    print(table(rows, ["round", "BLAS setting", "GELU 1 thread ms", "GELU 2 threads ms",
                       "speed-up", "Adam us", "MLP step ms", "PyTorch ms", "ratio"]))
    print("wrote", save("cpu-threads", res, args.out))


if __name__ == "__main__":
    main()
