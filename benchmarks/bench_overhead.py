"""Framework overhead on tiny tensors: ``(a*b + a).sum().backward()`` on 10 elements,
minigrad vs PyTorch CPU in the same run; plus large-array ops against the raw NumPy
calls they wrap.

    python benchmarks/bench_overhead.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved, machine, save, table  # noqa: E402

import minigrad as mg  # noqa: E402
import minigrad.functional as F  # noqa: E402


def tiny():
    a = mg.randn(10, requires_grad=True)
    b = mg.randn(10, requires_grad=True)

    def step():
        a.grad = b.grad = None
        (a * b + a).sum().backward()
    return step


def tiny_torch():
    import torch
    a = torch.randn(10, requires_grad=True)
    b = torch.randn(10, requires_grad=True)

    def step():
        a.grad = b.grad = None
        (a * b + a).sum().backward()
    return step


def large_pairs():
    """(name, minigrad fn, raw NumPy fn) with the same arithmetic."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2048, 2048), dtype=np.float32)
    y = rng.standard_normal((2048, 2048), dtype=np.float32)
    tx, ty = mg.tensor(x), mg.tensor(y)
    with mg.no_grad():
        return [
            ("add 2048^2", lambda: tx + ty, lambda: x + y),
            ("mul 2048^2", lambda: tx * ty, lambda: x * y),
            ("exp 2048^2", lambda: F.exp(tx), lambda: np.exp(x)),
            ("relu 2048^2", lambda: F.relu(tx), lambda: np.maximum(x, 0)),
            ("sum 2048^2", lambda: tx.sum(), lambda: x.sum()),
            ("matmul 2048^2", lambda: tx @ ty, lambda: x @ y),
        ]


def main():
    res = {"machine": machine(), "tiny": {}, "large": []}
    contenders = {"minigrad": tiny()}
    try:
        contenders["torch"] = tiny_torch()
    except ImportError:
        pass
    t = interleaved(contenders, repeats=21, warmup=200, inner=500)
    res["tiny"] = {k: v * 1e6 for k, v in t.items()}
    rows = [[k, f"{v * 1e6:.1f}"] for k, v in t.items()]
    if "torch" in t:
        res["tiny"]["ratio_vs_torch"] = t["minigrad"] / t["torch"]
        rows.append(["ratio minigrad/torch", f"{t['minigrad'] / t['torch']:.2f}"])
    print("(a*b + a).sum().backward() on 10 elements, microseconds per step")
    print(table(rows, ["", "us"]))
    rows = []
    with mg.no_grad():
        for name, fm, fn in large_pairs():
            t = interleaved({"minigrad": fm, "numpy": fn}, repeats=9, warmup=2)
            r = t["minigrad"] / t["numpy"]
            res["large"].append({"op": name, "minigrad_ms": t["minigrad"] * 1e3,
                                 "numpy_ms": t["numpy"] * 1e3, "ratio": r})
            rows.append([name, f"{t['minigrad'] * 1e3:.2f}", f"{t['numpy'] * 1e3:.2f}",
                         f"{r:.2f}"])
    print("\nLarge-array forward ops vs the raw NumPy call (no grad), ms")
    print(table(rows, ["op", "minigrad", "numpy", "ratio"]))
    print("\nwrote", save("overhead", res))


if __name__ == "__main__":
    main()
