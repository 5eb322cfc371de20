"""GPU vs CPU: the article's CNN, an MLP and large matmul/conv ops on NumPy and on CuPy,
sweeping batch size (and width), with PyTorch on the same device when importable.

    python benchmarks/bench_gpu_vs_cpu.py [--quick] [--out DIR]

Prints a table, writes JSON (GPU name, driver, CuPy/CUDA versions, CPU) to
benchmarks/results/ (or --out), and a plot of time per sample against batch size when
matplotlib is present. Runs on CPU alone too (then only the CPU columns are filled).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from bench_train import minigrad_step, torch_step  # noqa: E402

import minigrad as mg  # noqa: E402
import minigrad.functional as F  # noqa: E402


def sync_for(device):
    if device.startswith("cuda"):
        return mg.cuda.synchronize
    return lambda: None


def torch_sync(device):
    import torch
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def devices():
    out = ["cpu"]
    if mg.cuda.is_available():
        out.append("cuda")
    return out


def have_torch(device):
    """PyTorch runs beside minigrad on the GPU only: on the CPU, two thread pools in one
    process spin against each other, so the CPU comparison lives in bench_train.py
    (separate processes)."""
    if device == "cpu":
        return False
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def bench_models(quick):
    rows = []
    for kind, batches in (("cnn", [64, 256, 1024] if quick else [64, 256, 512, 1024, 4096]),
                          ("mlp", [64, 1024] if quick else [64, 256, 1024, 4096])):
        for dev in devices():
            for batch in batches:
                if dev == "cpu" and batch > 1024:
                    continue
                cont = {"minigrad": minigrad_step(kind, batch, dev)}
                if have_torch(dev):
                    cont["torch"] = torch_step(kind, batch, dev)
                sync = sync_for(dev)
                tsync = torch_sync(dev) if "torch" in cont else None
                def both(sync=sync, tsync=tsync):
                    sync()
                    if tsync:
                        tsync()
                reps = 9 if batch <= 1024 else 5
                t = common.interleaved(cont, repeats=reps, warmup=3, sync=both)
                row = {"model": kind, "device": dev, "batch": batch,
                       "minigrad_ms": t["minigrad"] * 1e3,
                       "minigrad_us_per_sample": t["minigrad"] * 1e6 / batch}
                if "torch" in t:
                    row.update(torch_ms=t["torch"] * 1e3, ratio=t["minigrad"] / t["torch"])
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def bench_ops(quick):
    rows = []
    sizes = [1024, 4096] if quick else [1024, 2048, 4096]
    for dev in devices():
        xp = mg.device(dev).xp
        sync = sync_for(dev)
        for n in sizes:
            if dev == "cpu" and n > 2048:
                continue
            a, b = mg.randn(n, n, device=dev), mg.randn(n, n, device=dev)
            with mg.no_grad():
                t = common.interleaved({"minigrad": lambda a=a, b=b: a @ b,
                                        "raw": lambda a=a, b=b: a.data @ b.data},
                                       repeats=7, warmup=2, sync=sync)
            rows.append({"op": f"matmul {n}x{n}", "device": dev, "minigrad_ms": t["minigrad"] * 1e3,
                         "raw_ms": t["raw"] * 1e3, "ratio": t["minigrad"] / t["raw"],
                         "raw": xp.__name__})
            print(json.dumps(rows[-1]), flush=True)
        x = mg.randn(256, 32, 32, 64, device=dev, requires_grad=True)
        W = mg.randn(3, 3, 64, 128, device=dev, requires_grad=True)

        def conv_step(x=x, W=W, dev=dev):
            y = F.conv2d(x, W, padding=1, layout="NHWC")
            y.backward(mg.ones(y.shape, device=dev))
            x.grad = W.grad = None
        t = common.interleaved({"minigrad": conv_step}, repeats=5, warmup=1, sync=sync)
        rows.append({"op": "conv3x3 fwd+bwd (256,32,32,64)->128", "device": dev,
                     "minigrad_ms": t["minigrad"] * 1e3})
        print(json.dumps(rows[-1]), flush=True)
        a = mg.randn(10, device=dev, requires_grad=True)
        b = mg.randn(10, device=dev, requires_grad=True)

        def tiny(a=a, b=b):
            (a * b + a).sum().backward()
        t = common.interleaved({"minigrad": tiny}, repeats=9, warmup=50, inner=100, sync=sync)
        rows.append({"op": "overhead (a*b+a).sum().backward(), 10 elements", "device": dev,
                     "minigrad_us": t["minigrad"] * 1e6})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, kind in zip(axes, ("cnn", "mlp")):
        for dev in devices():
            sel = [r for r in rows if r["model"] == kind and r["device"] == dev]
            if not sel:
                continue
            bs = [r["batch"] for r in sel]
            ax.plot(bs, [r["minigrad_us_per_sample"] for r in sel], "o-",
                    label=f"minigrad {dev}")
            if "torch_ms" in sel[0]:
                ax.plot(bs, [r["torch_ms"] * 1e3 / r["batch"] for r in sel], "s--",
                        label=f"PyTorch {dev}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel("time per sample (us)")
        ax.set_title(f"{kind.upper()} training step")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None, help="folder for the JSON and the plot")
    args = ap.parse_args()
    res = {"machine": common.machine(), "models": bench_models(args.quick),
           "ops": bench_ops(args.quick)}
    path = common.save("gpu_vs_cpu", res, args.out)
    print("wrote", path)
    png = plot(res["models"], path.replace(".json", ".png"))
    if png:
        print("wrote", png)
    rows = [[r["model"], r["device"], r["batch"], f"{r['minigrad_ms']:.2f}",
             f"{r.get('torch_ms', float('nan')):.2f}", f"{r.get('ratio', float('nan')):.2f}"]
            for r in res["models"]]
    print(common.table(rows, ["model", "device", "batch", "minigrad ms", "torch ms", "ratio"]))


if __name__ == "__main__":
    main()
