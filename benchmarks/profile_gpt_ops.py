"""Where the GPT training step's time goes, per op: each Function's forward and backward
timed (wall clock, summed over steps), plus the optimizer step. The model and batch are
those of ``bench_gpt.py``.

    python benchmarks/profile_gpt_ops.py [--steps N]

The wrapping adds a little time per op call; read the shares, not the total.
"""
import argparse
import collections
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gpt import CONFIG  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import autograd, nn, optim  # noqa: E402


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _timed(cls, totals):
    fwd, bwd = cls.forward, cls.backward

    def forward(self, *a, **k):
        t = time.perf_counter()
        out = fwd(self, *a, **k)
        totals[cls.__name__ + " forward"] += time.perf_counter() - t
        return out

    def backward(self, *a, **k):
        t = time.perf_counter()
        out = bwd(self, *a, **k)
        totals[cls.__name__ + " backward"] += time.perf_counter() - t
        return out
    cls.forward, cls.backward = forward, backward


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    c = CONFIG
    mg.manual_seed(0)
    model = nn.GPT(c["vocab"], c["block"], c["layers"], c["heads"], c["width"])
    opt = optim.AdamW(optim.weight_decay_groups(model, 0.1), lr=3e-4)
    tokens = np.random.default_rng(0).integers(0, c["vocab"], (c["batch"], c["block"] + 1))
    x, y = tokens[:, :-1], tokens[:, 1:]
    totals = collections.defaultdict(float)
    for cls in set(_subclasses(autograd.Function)):
        if "forward" in cls.__dict__ or "backward" in cls.__dict__:
            _timed(cls, totals)

    def step():
        opt.zero_grad()
        model.loss(x, y).backward()
        t = time.perf_counter()
        opt.step()
        totals["optimizer step"] += time.perf_counter() - t
    for _ in range(2):
        step()
    totals.clear()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    print(f"step {(time.perf_counter() - t0) / args.steps * 1e3:.1f} ms (with the timing)")
    for name, s in sorted(totals.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {name:28s} {s / args.steps * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
