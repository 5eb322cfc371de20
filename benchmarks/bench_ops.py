"""Per-op forward + backward at the article CNN's sizes (batch 64): minigrad against the
raw NumPy floor (the same arithmetic written directly in NumPy, no autograd) and
against PyTorch CPU, interleaved in one run.

    python benchmarks/bench_ops.py

Each case times one forward and one backward with a given upstream gradient. The NumPy
floor is the textbook vectorised version (im2col by a strided view + GEMM, col2im by
kh*kw shifted adds, pooling masks from reshaped windows, the closed-form gradients); it is
what a plain NumPy implementation costs, not a lower bound on what the hardware can do.
PyTorch runs in this process, so it shares minigrad's allocator setting (see README);
the contenders are timed in alternating blocks, because PyTorch's and OpenBLAS' worker
threads keep spinning for a while after each call and would slow whichever runs next.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import in_blocks, machine, save, table  # noqa: E402

import minigrad as mg  # noqa: E402
import minigrad.functional as F  # noqa: E402

RNG = np.random.default_rng(0)
N = 64


def rand(*shape):
    return RNG.standard_normal(shape, dtype=np.float32)


# --- the NumPy floor of each op: forward then backward, plain arrays --------------------
def np_conv_forward(x, W, b):
    """3x3 valid convolution, NHWC/HWIO: im2col by a strided view, one GEMM."""
    n, H, Wd, C = x.shape
    kh, kw, _, O = W.shape
    Ho, Wo = H - kh + 1, Wd - kw + 1
    s = x.strides
    win = np.lib.stride_tricks.as_strided(x, (n, Ho, Wo, kh, kw, C), s[:3] + s[1:])
    cols = win.reshape(n * Ho * Wo, kh * kw * C)
    return (cols @ W.reshape(-1, O) + b).reshape(n, Ho, Wo, O), cols


def np_conv_backward(x, W, cols, g):
    """gW = cols^T g, gb = column sums, gx = col2im(g W^T) by kh*kw shifted adds."""
    n, Ho, Wo, O = g.shape
    kh, kw, C, _ = W.shape
    g2 = g.reshape(-1, O)
    gc = (g2 @ W.reshape(-1, O).T).reshape(n, Ho, Wo, kh, kw, C)
    gx = np.zeros_like(x)
    for i in range(kh):
        for j in range(kw):
            gx[:, i:i + Ho, j:j + Wo] += gc[:, :, :, i, j]
    return cols.T @ g2, g2.sum(0), gx


def np_conv(x, W, b, g):
    y, cols = np_conv_forward(x, W, b)
    return (y,) + np_conv_backward(x, W, cols, g)


def np_maxpool(x, g):
    """2x2 stride-2 max pooling, NHWC, by reshaped windows; gradient through the mask."""
    n, H, W, C = x.shape
    Hc, Wc = H // 2 * 2, W // 2 * 2
    w = x[:, :Hc, :Wc].reshape(n, H // 2, 2, W // 2, 2, C)
    y = w.max(axis=(2, 4))
    mask = w == y[:, :, None, :, None]
    gx = np.zeros_like(x)
    gx[:, :Hc, :Wc] = (mask * g[:, :, None, :, None]).reshape(n, Hc, Wc, C)
    return y, gx


def np_conv_relu_pool(x, W, b, g):
    c, cols = np_conv_forward(x, W, b)
    y, gr = np_maxpool(np.maximum(c, 0), g)
    return (y,) + np_conv_backward(x, W, cols, gr * (c > 0))


def np_linear(x, W, b, g):
    y = x @ W + b
    return y, x.T @ g, g.sum(0), g @ W.T


def np_softmax_ce(z, labels):
    m = z.max(1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(1, keepdims=True)
    loss = (np.log(s[:, 0]) + m[:, 0] - z[np.arange(len(z)), labels]).mean()
    p = e / s
    p[np.arange(len(z)), labels] -= 1
    return loss, p / len(z)


NP_ACT = {
    "relu": lambda x, g: (np.maximum(x, 0), g * (x > 0)),
    "sigmoid": lambda x, g: (lambda s: (s, g * s * (1 - s)))(1 / (1 + np.exp(-x))),
    "tanh": lambda x, g: (lambda t: (t, g * (1 - t * t)))(np.tanh(x)),
}


# --- cases ----------------------------------------------------------------------------
def cases():
    """(name, minigrad fn, NumPy fn, torch fn or None) per op, sharing input values."""
    try:
        import torch
    except ImportError:
        torch = None
    out = []

    def mg_leaf(a):
        return mg.tensor(a, requires_grad=True)

    def th_leaf(a):
        return torch.tensor(a, requires_grad=True)

    def mg_run(fn, leaves, g):
        """One forward and backward (minigrad and PyTorch share the same API here)."""
        def run():
            for t in leaves:
                t.grad = None
            fn(*leaves).backward(g)
        return run

    th_run = mg_run

    # conv2d 3x3, 32 -> 64 channels on 13x13 (the article's second convolution)
    x, W, b = rand(N, 13, 13, 32), rand(3, 3, 32, 64) * 0.1, rand(64)
    g = rand(N, 11, 11, 64)
    th = None
    if torch:
        tl = [th_leaf(x.transpose(0, 3, 1, 2).copy()), th_leaf(W.transpose(3, 2, 0, 1).copy()),
              th_leaf(b)]
        th = th_run(lambda x, W, b: torch.nn.functional.conv2d(x, W, b), tl,
                    torch.tensor(g.transpose(0, 3, 1, 2).copy()))
    out.append(("conv2d 3x3 32->64, 13x13",
                mg_run(lambda x, W, b: F.conv2d(x, W, b, layout="NHWC"),
                       [mg_leaf(x), mg_leaf(W), mg_leaf(b)], mg.tensor(g)),
                lambda x=x, W=W, b=b, g=g: np_conv(x, W, b, g), th))

    # max pooling 2x2 on the first convolution's output
    x = rand(N, 26, 26, 32)
    g = rand(N, 13, 13, 32)
    if torch:
        th = th_run(lambda x: torch.nn.functional.max_pool2d(x, 2),
                    [th_leaf(x.transpose(0, 3, 1, 2).copy())],
                    torch.tensor(g.transpose(0, 3, 1, 2).copy()))
    out.append(("max_pool2d 2x2, 26x26x32",
                mg_run(lambda x: F.max_pool2d(x, 2, layout="NHWC"), [mg_leaf(x)], mg.tensor(g)),
                lambda x=x, g=g: np_maxpool(x, g), th))

    # conv + ReLU + pool as the Sequential model runs them (one fused op in minigrad)
    x, W, b = rand(N, 13, 13, 32), rand(3, 3, 32, 64) * 0.1, rand(64)
    g = rand(N, 5, 5, 64)
    if torch:
        tnn = torch.nn.functional
        tl = [th_leaf(x.transpose(0, 3, 1, 2).copy()), th_leaf(W.transpose(3, 2, 0, 1).copy()),
              th_leaf(b)]
        th = th_run(lambda x, W, b: tnn.max_pool2d(tnn.relu(tnn.conv2d(x, W, b)), 2), tl,
                    torch.tensor(g.transpose(0, 3, 1, 2).copy()))
    out.append(("conv2d+relu+max_pool2d, 13x13x32",
                mg_run(lambda x, W, b: F.conv2d(x, W, b, layout="NHWC", activation="relu",
                                                max_pool=2),
                       [mg_leaf(x), mg_leaf(W), mg_leaf(b)], mg.tensor(g)),
                lambda x=x, W=W, b=b, g=g: np_conv_relu_pool(x, W, b, g), th))

    # dense 576 -> 64
    x, W, b, g = rand(N, 576), rand(576, 64) * 0.05, rand(64), rand(N, 64)
    if torch:
        th = th_run(lambda x, W, b: x @ W + b, [th_leaf(x), th_leaf(W), th_leaf(b)],
                    torch.tensor(g))
    out.append(("linear 576->64",
                mg_run(lambda x, W, b: F.linear(x, W, b), [mg_leaf(x), mg_leaf(W), mg_leaf(b)],
                       mg.tensor(g)),
                lambda x=x, W=W, b=b, g=g: np_linear(x, W, b, g), th))

    # softmax cross-entropy on 10 classes
    z, labels = rand(N, 10), RNG.integers(0, 10, N)
    if torch:
        tlab = torch.tensor(labels)
        th = th_run(lambda z: torch.nn.functional.cross_entropy(z, tlab), [th_leaf(z)], None)
    mlab = mg.tensor(labels)
    out.append(("softmax cross-entropy 64x10",
                mg_run(lambda z: F.cross_entropy(z, mlab), [mg_leaf(z)], None),
                lambda: np_softmax_ce(z, labels), th))

    # activations on a 64 x 4096 batch
    x, g = rand(N, 4096), rand(N, 4096)
    for name, mfn in [("relu", F.relu), ("sigmoid", F.sigmoid), ("tanh", F.tanh)]:
        if torch:
            tfn = getattr(torch, name)
            th = th_run(tfn, [th_leaf(x)], torch.tensor(g))
        out.append((f"{name} 64x4096", mg_run(mfn, [mg_leaf(x)], mg.tensor(g)),
                    (lambda f: lambda: f(x, g))(NP_ACT[name]), th))
    return out


def verify():
    """Each NumPy floor computes the same numbers as minigrad (small inputs, float64), so
    the timings compare equal work."""
    r = np.random.default_rng(1)

    def grads(fn, arrays, g):
        ts = [mg.tensor(a, requires_grad=True) for a in arrays]
        y = fn(*ts)
        y.backward(None if g is None else mg.tensor(g))
        return [y.numpy()] + [t.grad.numpy() for t in ts]

    def same(got, want):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)

    x, W, b = r.standard_normal((2, 7, 6, 3)), r.standard_normal((3, 3, 3, 4)), \
        r.standard_normal(4)
    g = r.standard_normal((2, 5, 4, 4))
    y, gW, gb, gx = np_conv(x, W, b, g)
    same(grads(lambda x, W, b: F.conv2d(x, W, b, layout="NHWC"), (x, W, b), g),
         [y, gx, gW.reshape(W.shape), gb])
    g = r.standard_normal((2, 2, 2, 4))
    y, gW, gb, gx = np_conv_relu_pool(x, W, b, g)
    same(grads(lambda x, W, b: F.conv2d(x, W, b, layout="NHWC", activation="relu",
                                        max_pool=2), (x, W, b), g),
         [y, gx, gW.reshape(W.shape), gb])
    x, g = r.standard_normal((2, 5, 6, 3)), r.standard_normal((2, 2, 3, 3))
    same(grads(lambda x: F.max_pool2d(x, 2, layout="NHWC"), (x,), g), np_maxpool(x, g))
    x, W, b, g = (r.standard_normal(s) for s in ((4, 6), (6, 3), (3,), (4, 3)))
    y, gW, gb, gx = np_linear(x, W, b, g)
    same(grads(F.linear, (x, W, b), g), [y, gx, gW, gb])
    z, labels = r.standard_normal((5, 4)), r.integers(0, 4, 5)
    same(grads(lambda z: F.cross_entropy(z, mg.tensor(labels)), (z,), None),
         np_softmax_ce(z, labels))
    x, g = r.standard_normal((3, 4)), r.standard_normal((3, 4))
    for name, f in NP_ACT.items():
        same(grads(getattr(F, name), (x,), g), f(x, g))


def main():
    verify()
    res = {"machine": machine(), "batch": N, "ops": []}
    rows = []
    for name, fm, fn, ft in cases():
        contenders = {"minigrad": fm, "numpy": fn}
        if ft is not None:
            contenders["torch"] = ft
        t = in_blocks(contenders, rounds=3, repeats=7, warmup=3, inner=2)
        entry = {"op": name, **{f"{k}_ms": v * 1e3 for k, v in t.items()},
                 "ratio_vs_numpy": t["minigrad"] / t["numpy"]}
        row = [name, f"{t['minigrad'] * 1e3:.3f}", f"{t['numpy'] * 1e3:.3f}",
               f"{t['minigrad'] / t['numpy']:.2f}"]
        if "torch" in t:
            entry["ratio_vs_torch"] = t["minigrad"] / t["torch"]
            row += [f"{t['torch'] * 1e3:.3f}", f"{t['minigrad'] / t['torch']:.2f}"]
        res["ops"].append(entry)
        rows.append(row)
        print(*row, flush=True)
    print("\nForward + backward per call, batch 64, milliseconds (medians)")
    print(table(rows, ["op", "minigrad", "numpy floor", "vs numpy", "torch", "vs torch"]))
    print("wrote", save("ops", res))


if __name__ == "__main__":
    main()
