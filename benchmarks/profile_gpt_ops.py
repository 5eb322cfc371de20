"""Where the GPT training step's time goes, per op: each Function's forward and backward
timed (wall clock, summed over steps), plus the optimizer step. The model and batch are
those of ``bench_gpt.py``.

    python benchmarks/profile_gpt_ops.py [--steps N] [--size small|large]
                                         [--device cuda [--sync]] [--generate]

The wrapping adds a little time per op call; read the shares, not the total. On a GPU the
plain times are the host's (launching kernels); ``--sync`` waits for the GPU after each
forward and backward, so each op is charged its kernels' time too. ``--generate`` profiles
sampling with the key/value cache instead (cProfile, the functions with the most own time).
"""
import argparse
import collections
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gpt import CONFIG, configure  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import autograd, nn, optim  # noqa: E402


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _timed(cls, totals, sync):
    fwd, bwd = cls.forward, cls.backward

    def forward(self, *a, **k):
        t = time.perf_counter()
        out = fwd(self, *a, **k)
        sync()
        totals[cls.__name__ + " forward"] += time.perf_counter() - t
        return out

    def backward(self, *a, **k):
        t = time.perf_counter()
        out = bwd(self, *a, **k)
        sync()
        totals[cls.__name__ + " backward"] += time.perf_counter() - t
        return out
    cls.forward, cls.backward = forward, backward


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--size", choices=("small", "large"), default="small")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sync", action="store_true", help="wait for the GPU after each op")
    ap.add_argument("--generate", action="store_true", help="profile sampling instead")
    args = ap.parse_args()
    configure(args.size, args.device)
    c = CONFIG
    mg.manual_seed(0)
    model = nn.GPT(c["vocab"], c["block"], c["layers"], c["heads"], c["width"])
    model.to(args.device)
    if args.generate:
        return profile_generation(model)
    sync = mg.cuda.synchronize if args.sync and args.device.startswith("cuda") else \
        (lambda: None)
    opt = optim.AdamW(optim.weight_decay_groups(model, 0.1), lr=3e-4)
    tokens = np.random.default_rng(0).integers(0, c["vocab"], (c["batch"], c["block"] + 1))
    x = mg.tensor(tokens[:, :-1], device=args.device)
    y = mg.tensor(tokens[:, 1:], device=args.device)
    totals = collections.defaultdict(float)
    for cls in set(_subclasses(autograd.Function)):
        if "forward" in cls.__dict__ or "backward" in cls.__dict__:
            _timed(cls, totals, sync)

    def step():
        opt.zero_grad()
        loss = model.loss(x, y)
        loss.backward()
        t = time.perf_counter()
        opt.step()
        sync()
        totals["optimizer step"] += time.perf_counter() - t
        loss.item()
    for _ in range(2):
        step()
    totals.clear()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    print(f"step {(time.perf_counter() - t0) / args.steps * 1e3:.1f} ms (with the timing)")
    for name, s in sorted(totals.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {name:28s} {s / args.steps * 1e3:7.2f} ms")


def profile_generation(model, new=32):
    import cProfile
    import pstats
    prompt = np.arange(8) % CONFIG["vocab"]
    model.generate(prompt, 4, temperature=0)                   # warm-up
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.runcall(model.generate, prompt, new, temperature=0)
    print(f"generation: {new / (time.perf_counter() - t):.0f} tokens/s (under cProfile)")
    pstats.Stats(prof).sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main()
