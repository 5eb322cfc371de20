"""Each compiled CPU kernel (minigrad.kernels.cpu.compiled, the ``fast`` extra) against the
NumPy version it replaces (minigrad.kernels.elementwise), at the sizes of bench_gpt.py's
GPT step (batch 32 x context 64 = 2,048 rows; width 128, MLP width 512, 4 heads' 64 x 64
attention scores) and of the MLP's 784 x 128 weight (Adam). float32, one thread, the two
versions interleaved call by call in one process.

    python benchmarks/bench_compiled_kernels.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved, machine, save, table  # noqa: E402

from minigrad.kernels import elementwise  # noqa: E402

K, C = 0.7978845608028654, 0.044715


def cases(rng):
    """{kernel: its arguments} at the GPT's (and Adam at the MLP's) sizes."""
    def a(*shape):
        return rng.standard_normal(shape).astype(np.float32)
    mlp_hidden, rows, scores = a(2048, 512), a(2048, 128), a(8192, 64)
    xhat, inv = elementwise.layer_norm_generic(rows, 1e-5)
    probs = elementwise.softmax_rows_generic(scores)
    _, t = elementwise.gelu_tanh_generic(mlp_hidden, K, C)
    w, b = a(128), a(128)
    return {
        "relu_grad": (a(2048, 512), mlp_hidden),
        "adam_step": (a(784 * 128), a(784 * 128), a(784 * 128), np.abs(a(784 * 128)),
                      0.9, 0.999, 1e-3, 1.001, 1e-7),
        "gelu_tanh": (mlp_hidden, K, C),
        "gelu_tanh_grad": (a(2048, 512), mlp_hidden, t, K, C),
        "sum_rows": (a(2048, 512),),
        "layer_norm": (rows, 1e-5),
        "layer_norm_grad": (a(2048, 128), xhat, inv),
        "layer_norm_affine": (rows, w, b, 1e-5),
        "layer_norm_affine_grad": (a(2048, 128), xhat, inv, w),
        "softmax_rows": (scores,),
        "softmax_rows_grad": (a(8192, 64), probs),
        "scatter_rows": (np.zeros((65, 128), np.float32), rng.integers(0, 65, 2048),
                         a(2048, 128)),
    }


def main():
    from minigrad.kernels.cpu import compiled
    if not compiled.available():
        raise SystemExit("Numba is not installed: pip install minigrad[fast]")
    kernels = compiled.elementwise_kernels()
    rows, out = [], []
    for name, args in cases(np.random.default_rng(0)).items():
        t = interleaved({"numpy": lambda: elementwise.GENERIC[name](*args),
                         "compiled": lambda: kernels[name](*args)}, repeats=30)
        speedup = t["numpy"] / t["compiled"]
        out.append({"kernel": name, "numpy_ms": t["numpy"] * 1e3,
                    "compiled_ms": t["compiled"] * 1e3, "speedup": speedup})
        rows.append([name, f"{t['numpy'] * 1e3:.3f}", f"{t['compiled'] * 1e3:.3f}",
                     f"{speedup:.2f}"])
    print(table(rows, ["kernel", "NumPy ms", "compiled ms", "speed-up"]))
    print("wrote", save("compiled-kernels", {"machine": machine(), "dtype": "float32",
                                             "kernels": out}))


if __name__ == "__main__":
    main()
