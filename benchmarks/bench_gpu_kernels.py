"""The Transformer's elementwise and reduction work on a GPU, piece by piece: each fused
kernel of ``minigrad.kernels.elementwise`` against its generic version, and the parts of
layer normalisation and of a dense layer's backward, on the activations of the large
GPT of ``bench_gpt.py`` (64 x 256 positions, width 384, MLP width 1536).

    python benchmarks/bench_gpu_kernels.py [--device cuda] [--out DIR]

Times are medians over rounds with the device synchronised (``common.interleaved``);
GB/s counts each array read or written once.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import minigrad as mg  # noqa: E402
import minigrad.functional as F  # noqa: E402
from minigrad.kernels import elementwise  # noqa: E402

K, C = 0.7978845608028654, 0.044715


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if mg.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    dev = args.device
    sync = mg.cuda.synchronize if dev.startswith("cuda") else (lambda: None)
    rows_n, d, h = 64 * 256, 384, 1536
    rng = np.random.default_rng(0)

    def arr(*shape):
        return mg.tensor(rng.standard_normal(shape).astype(np.float32), device=dev).data
    x, gy, t = arr(rows_n, h), arr(rows_n, h), arr(rows_n, h)
    narrow = arr(rows_n, d)
    out = []

    def record(what, fns, nbytes):
        res = common.interleaved(fns, repeats=15, warmup=3, sync=sync)
        row = {"what": what}
        for k, s in res.items():
            row[f"{k}_us"] = s * 1e6
            row[f"{k}_GBps"] = nbytes / s / 1e9
        out.append(row)
        print(json.dumps(row), flush=True)

    n4 = x.size * 4
    for name, args_, nbytes in (("gelu_tanh", (x, K, C), 3 * n4),
                                ("gelu_tanh_grad", (gy, x, t, K, C), 4 * n4),
                                ("sum_rows", (x,), n4),
                                ("sum_rows", (narrow,), narrow.size * 4),
                                ("layer_norm", (narrow, 1e-5), 2 * narrow.size * 4),
                                ("layer_norm_grad", (gy[:, :d], narrow, narrow[:, :1] ** 2 + 1),
                                 3 * narrow.size * 4)):
        generic = elementwise.GENERIC[name]
        fns = {"generic": lambda a=args_, g=generic: g(*a)}
        kernel = elementwise.fused(name, args_[0])     # the generic one when none passed
        if kernel is not generic:
            fns["fused"] = lambda a=args_, k=kernel: k(*a)
        record(f"{name} {args_[0].shape}", fns, nbytes)

    xs = mg.tensor(rng.standard_normal((64, 256, d)).astype(np.float32), device=dev,
                   requires_grad=True)
    w = mg.ones(d, device=dev, requires_grad=True)
    bias = mg.zeros(d, device=dev, requires_grad=True)
    g3 = mg.tensor(rng.standard_normal((64, 256, d)).astype(np.float32), device=dev)

    def ln_forward():
        with mg.no_grad():
            F.layer_norm(xs, (d,), w, bias)

    def ln_both():
        F.layer_norm(xs, (d,), w, bias).backward(g3)
        xs.grad = w.grad = bias.grad = None
    a = narrow
    record("layer_norm (64,256,384) forward", {"minigrad": ln_forward}, 2 * a.size * 4)
    record("layer_norm (64,256,384) forward+backward", {"minigrad": ln_both}, 6 * a.size * 4)
    record("row mean (16384,384)", {"xp": lambda: a.mean(axis=-1, keepdims=True)},
           a.size * 4)
    record("elementwise a*b (16384,384)", {"xp": lambda: a * a}, 3 * a.size * 4)
    W = arr(d, h)
    record("dense backward gy W^T (16384,1536)x(1536,384)", {"xp": lambda: gy @ W.T},
           (gy.size + W.size + narrow.size) * 4)
    record("dense backward x^T gy (384,16384)x(16384,1536)", {"xp": lambda: narrow.T @ gy},
           (gy.size + W.size + narrow.size) * 4)
    res = {"machine": common.machine(), "device": dev, "rows": out}
    print("wrote", common.save(f"gpu-kernels-{dev.replace(':', '')}", res, args.out))


if __name__ == "__main__":
    main()
