"""Training-step speed: the article's CNN and an MLP 784-128-10, Adam, minigrad vs PyTorch
CPU interleaved in one run, several batch sizes; plus peak memory (RSS) of CNN training.

Both train on the same real MNIST images (the full set under $MINIGRAD_DATA if present,
else minigrad's bundled sample): PyTorch steps about 7% faster on MNIST's many zeros than
on uniform noise, so noise would flatter minigrad. Each measurement is a fresh process
(the PyTorch one never imports minigrad, whose first step tunes glibc's allocator). The
same model with ``fuse=False`` (every layer's reference op, no fast kernels) is timed
too, as the price of reading along; with Numba installed (the ``fast`` extra), so is the
default model with NumPy's generic kernels instead of the compiled ones ("NumPy only").

    python benchmarks/bench_train.py            # table + JSON in benchmarks/results/
    python benchmarks/bench_train.py --quick    # fewer batch sizes
    python benchmarks/bench_train.py --quick --rounds 7   # on a machine whose speed moves
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (generic_kernels, has_compiled_kernels, machine, median_step,  # noqa: E402
                    save, table, vm_hwm_mb)


def load_batch(path, kind, batch):
    """The first ``batch`` MNIST images of the file written by :func:`write_batches`,
    scaled to [0, 1], (N, 28, 28) for the CNN or flattened for the MLP, and their labels."""
    with np.load(path) as d:
        x, y = d["x"][:batch].astype(np.float32) / 255.0, d["y"][:batch].astype(np.int64)
    return (x if kind == "cnn" else x.reshape(batch, -1)), y


def write_batches(path, n=1024):
    """Real MNIST training images (the full set if present, else minigrad's bundled
    sample) for the workers; written once so that the PyTorch worker never imports
    minigrad (whose training tunes the allocator)."""
    import warnings

    from minigrad.keras.datasets import mnist
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x, y), _ = mnist.load_data()
    np.savez(path, x=x[:n], y=y[:n])


def article_cnn(fuse=True):
    """The article's Keras CNN, built with minigrad."""
    from minigrad.keras import layers, models
    return models.Sequential(fuse=fuse, layers=[
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax")])


def minigrad_step(kind, batch, device="cpu", data=None, fuse=True):
    import minigrad as mg
    from minigrad.keras import layers, models
    mg.manual_seed(0)
    if kind == "cnn":
        model = article_cnn(fuse)
    else:
        model = models.Sequential([layers.Dense(128, activation="relu", input_shape=(784,)),
                                   layers.Dense(10, activation="softmax")], fuse=fuse)
    if data is None:
        x = np.random.default_rng(0).random((batch, 784), dtype=np.float32)
        labels = np.random.default_rng(1).integers(0, 10, batch)
    else:
        x, labels = load_batch(data, kind, batch)
    if kind == "cnn":
        x = x.reshape(batch, 28, 28, 1)
    model.to(device)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    y = np.eye(10, dtype=np.float32)[labels]
    if device != "cpu":
        from minigrad import backend
        x, y = backend.move(x, mg.device(device)), backend.move(y, mg.device(device))
    return lambda: model.train_on_batch(x, y)


def torch_step(kind, batch, device="cpu", data=None):
    import torch
    torch.manual_seed(0)
    nn = torch.nn
    if kind == "cnn":
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
                              nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))
    else:
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    if data is None:
        x = torch.rand(batch, 784)
        y = torch.randint(0, 10, (batch,))
    else:
        xa, ya = load_batch(data, kind, batch)
        x, y = torch.from_numpy(xa.reshape(batch, -1)), torch.from_numpy(ya)
    if kind == "cnn":
        x = x.reshape(batch, 1, 28, 28)
    model.to(device)
    x, y = x.to(device), y.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()           # one host read per step, as minigrad's progress bar
    return step


def worker(framework, kind, batch, steps, data, device="cpu"):
    """Run in a fresh process: time ``steps`` steps after a warm-up; print JSON."""
    make = {"minigrad": minigrad_step, "torch": torch_step,
            "unfused": lambda *a: minigrad_step(*a, fuse=False),
            "numpy": generic_kernels(minigrad_step)}[framework]
    median, _ = median_step(make(kind, batch, device, data), steps)
    print(json.dumps({"median_s": median, "rss_mb": vm_hwm_mb()}))


def run_worker(framework, kind, batch, steps, data):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework, kind,
           str(batch), str(steps), data]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(kind, batch, frameworks, data, rounds=3):
    """Alternate fresh processes of each framework (threads of one never spin while the
    other computes); median over rounds of each process's median step time, the peak RSS,
    and every round's times (seconds) for the record."""
    steps = 20 if batch <= 256 else 6
    got = {f: [] for f in frameworks}
    rss = {f: [] for f in frameworks}
    for _ in range(rounds):
        for f in frameworks:
            r = run_worker(f, kind, batch, steps, data)
            got[f].append(r["median_s"])
            rss[f].append(r["rss_mb"])
    return ({f: float(np.median(v)) for f, v in got.items()},
            {f: float(np.max(v)) for f, v in rss.items()}, got)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=3,
                    help="fresh processes per contender and row, alternating (default 3; "
                         "more on a machine whose speed moves between processes)")
    ap.add_argument("--worker", nargs=5, metavar=("FRAMEWORK", "MODEL", "BATCH", "STEPS",
                                                  "DATA"))
    args = ap.parse_args()
    if args.worker:
        f, kind, batch, steps, data = args.worker
        worker(f, kind, int(batch), int(steps), data)
        return
    try:
        import torch  # noqa: F401
        frameworks = ["minigrad", "torch", "unfused"]
    except ImportError:
        frameworks = ["minigrad", "unfused"]
    have_torch = "torch" in frameworks
    if has_compiled_kernels():
        frameworks.append("numpy")         # the same step with NumPy's generic kernels
    res = {"machine": machine(), "method": f"alternating fresh processes, {args.rounds} rounds, "
           "median of per-process medians; peak RSS = VmHWM of the process; real MNIST "
           "batches", "steps": []}
    tmp = tempfile.TemporaryDirectory()
    data = os.path.join(tmp.name, "batches.npz")
    write_batches(data)
    plan = [("cnn", b) for b in ([64, 256] if args.quick else [16, 64, 256, 1024])]
    plan += [("mlp", b) for b in ([64] if args.quick else [64, 256])]
    rows = []
    for kind, batch in plan:
        t, rss, rounds = compare(kind, batch, frameworks, data, args.rounds)
        entry = {"model": kind, "batch": batch, "minigrad_ms": t["minigrad"] * 1e3,
                 "rounds_ms": {f: [s * 1e3 for s in v] for f, v in rounds.items()},
                 "minigrad_us_per_sample": t["minigrad"] * 1e6 / batch,
                 "minigrad_rss_mb": rss["minigrad"]}
        row = [kind, batch, f"{t['minigrad'] * 1e3:.2f}", f"{t['minigrad'] * 1e6 / batch:.1f}",
               f"{rss['minigrad']:.0f}"]
        if have_torch:
            entry.update(torch_ms=t["torch"] * 1e3, ratio=t["minigrad"] / t["torch"],
                         torch_rss_mb=rss["torch"], rss_ratio=rss["minigrad"] / rss["torch"])
            row += [f"{t['torch'] * 1e3:.2f}", f"{t['minigrad'] / t['torch']:.2f}",
                    f"{rss['torch']:.0f}", f"{rss['minigrad'] / rss['torch']:.2f}"]
        entry["unfused_ms"] = t["unfused"] * 1e3
        row.append(f"{t['unfused'] * 1e3:.2f}")
        if have_torch:
            entry["unfused_ratio"] = t["unfused"] / t["torch"]
            row.append(f"{t['unfused'] / t['torch']:.2f}")
        if "numpy" in t:
            entry["numpy_only_ms"] = t["numpy"] * 1e3
            row.append(f"{t['numpy'] * 1e3:.2f}")
            if have_torch:
                entry["numpy_only_ratio"] = t["numpy"] / t["torch"]
                row.append(f"{t['numpy'] / t['torch']:.2f}")
        res["steps"].append(entry)
        rows.append(row)
        print(*row, flush=True)
    headers = ["model", "batch", "minigrad ms", "us/sample", "RSS MB"]
    if have_torch:
        headers += ["torch ms", "time ratio", "torch RSS MB", "RSS ratio"]
    headers += ["fuse=False ms"] + (["fuse=False ratio"] if have_torch else [])
    if "numpy" in frameworks:
        headers += ["NumPy-only ms"] + (["NumPy-only ratio"] if have_torch else [])
    print("\nTraining step (forward + backward + Adam), median; peak RSS of the process")
    print(table(rows, headers))
    print("wrote", save("train", res))


if __name__ == "__main__":
    main()
