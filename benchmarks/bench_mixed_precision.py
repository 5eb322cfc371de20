"""Mixed precision against float32: training-step time of the article's CNN and of the
mini-GPT, and the article CNN's test accuracy after training in each.

    python benchmarks/bench_mixed_precision.py [--quick] [--accuracy EPOCHS] [--out DIR]

Runs on the GPU when CuPy sees one (the point of mixed precision: float16 products on
tensor cores), else on the CPU, where NumPy has no fast float16 products and the
numbers only show that the policy runs. Each pair is timed in the same run, round by
round (``common.interleaved``); the JSON records the device, versions and ratios.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from bench_gpt import CONFIG as GPT  # noqa: E402
from bench_train import article_cnn, minigrad_step  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import nn, optim  # noqa: E402
from minigrad.mixed_precision import set_global_policy  # noqa: E402

POLICIES = ("float32", "mixed_float16")


def device():
    return "cuda" if mg.cuda.is_available() else "cpu"


def sync(dev):
    return mg.cuda.synchronize if dev.startswith("cuda") else (lambda: None)


def cnn_step(policy, batch, dev):
    set_global_policy(policy)
    try:
        return minigrad_step("cnn", batch, dev)
    finally:
        set_global_policy(None)


def gpt_step(policy, dev, batch):
    set_global_policy(policy)
    try:
        mg.manual_seed(0)
        model = nn.GPT(GPT["vocab"], GPT["block"], GPT["layers"], GPT["heads"],
                       GPT["width"]).to(dev)
    finally:
        set_global_policy(None)
    opt = optim.AdamW(optim.weight_decay_groups(model, 0.1), lr=3e-4)
    if policy.startswith("mixed_float16"):
        opt = optim.LossScaleOptimizer(opt)
    tokens = np.random.default_rng(0).integers(0, GPT["vocab"], (batch, GPT["block"] + 1))
    x, y = tokens[:, :-1], tokens[:, 1:]

    def step():
        opt.zero_grad()
        loss = model.loss(x, y)
        opt.scale_loss(loss).backward() if opt.loss_scale != 1.0 else loss.backward()
        opt.step()
    return step


def bench_steps(dev, quick):
    rows = []
    cases = [("cnn", b) for b in ((64, 512) if not quick else (64,))]
    cases.append(("gpt", GPT["batch"] if not quick else 4))
    for kind, batch in cases:
        if dev == "cpu" and kind == "cnn" and batch > 64:
            continue
        fns = {p: (cnn_step(p, batch, dev) if kind == "cnn" else gpt_step(p, dev, batch))
               for p in POLICIES}
        t = common.interleaved(fns, repeats=3 if quick else 10, warmup=2, sync=sync(dev))
        rows.append({"model": kind, "batch": batch, "device": dev,
                     "float32_ms": t["float32"] * 1e3,
                     "mixed_float16_ms": t["mixed_float16"] * 1e3,
                     "speedup": t["float32"] / t["mixed_float16"]})
        print(f"{kind:4} batch {batch:5} on {dev}: float32 {t['float32'] * 1e3:8.2f} ms, "
              f"mixed_float16 {t['mixed_float16'] * 1e3:8.2f} ms, speed-up "
              f"{t['float32'] / t['mixed_float16']:.2f}x", flush=True)
    return rows


def accuracy(dev, epochs):
    """Test accuracy of the article's CNN trained ``epochs`` epochs in each policy (same
    seed, same data order)."""
    from minigrad.keras.datasets import mnist
    (xt, yt), (xe, ye) = mnist.load_data()
    xt = xt.reshape(-1, 28, 28, 1).astype(np.float32) / 255
    xe = xe.reshape(-1, 28, 28, 1).astype(np.float32) / 255
    out = {"train_samples": len(xt), "epochs": epochs}
    for policy in POLICIES:
        set_global_policy(policy)
        try:
            mg.manual_seed(0)
            model = article_cnn()
        finally:
            set_global_policy(None)
        model.to(dev)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        mg.manual_seed(0)
        model.fit(xt, yt, batch_size=128, epochs=epochs, verbose=0)
        out[policy] = float(model.evaluate(xe, ye, verbose=0)[1])
        if policy != "float32":
            out["loss_scale"] = model.optimizer.loss_scale
            out["skipped_steps"] = model.optimizer.skipped_steps
    out["difference_points"] = 100 * (out["mixed_float16"] - out["float32"])
    print(f"article CNN, {epochs} epochs on {len(xt)} images: float32 {out['float32']:.4f}, "
          f"mixed_float16 {out['mixed_float16']:.4f} ({out['difference_points']:+.2f} points; "
          f"final loss scale {out['loss_scale']:g}, {out['skipped_steps']} steps skipped)")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--accuracy", type=int, default=0, metavar="EPOCHS",
                    help="also train the article CNN this many epochs in each policy")
    ap.add_argument("--out", default=None, help="folder for the JSON")
    args = ap.parse_args()
    dev = device()
    payload = {"machine": common.machine(), "steps": bench_steps(dev, args.quick)}
    if args.accuracy:
        payload["accuracy"] = accuracy(dev, args.accuracy)
    print("saved", common.save(f"mixed-precision-{dev}", payload, args.out))


if __name__ == "__main__":
    main()
