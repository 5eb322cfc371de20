"""Training-step speed: the article's CNN and an MLP 784-128-10, Adam, minigrad vs PyTorch
CPU interleaved in one run, several batch sizes; plus peak memory (RSS) of CNN training.

    python benchmarks/bench_train.py            # table + JSON in benchmarks/results/
    python benchmarks/bench_train.py --quick    # fewer batch sizes
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine, save, table  # noqa: E402


def minigrad_step(kind, batch, device="cpu"):
    import minigrad as mg
    from minigrad.keras import layers, models
    mg.manual_seed(0)
    if kind == "cnn":
        model = models.Sequential([
            layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax")])
        x = np.random.default_rng(0).random((batch, 28, 28, 1), dtype=np.float32)
    else:
        model = models.Sequential([layers.Dense(128, activation="relu", input_shape=(784,)),
                                   layers.Dense(10, activation="softmax")])
        x = np.random.default_rng(0).random((batch, 784), dtype=np.float32)
    model.to(device)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    y = np.eye(10, dtype=np.float32)[np.random.default_rng(1).integers(0, 10, batch)]
    if device != "cpu":
        from minigrad import backend
        x, y = backend.move(x, mg.device(device)), backend.move(y, mg.device(device))
    return lambda: model.train_on_batch(x, y)


def torch_step(kind, batch, device="cpu"):
    import torch
    torch.manual_seed(0)
    nn = torch.nn
    if kind == "cnn":
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
                              nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))
        x = torch.rand(batch, 1, 28, 28)
    else:
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        x = torch.rand(batch, 784)
    model.to(device)
    x = x.to(device)
    y = torch.randint(0, 10, (batch,), device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()           # one host read per step, as minigrad's progress bar
    return step


def _vm_hwm_mb() -> float:
    """Peak resident set of this process (VmHWM; unlike ru_maxrss it resets at exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(framework, kind, batch, steps, device="cpu"):
    """Run in a fresh process: time ``steps`` steps after a warm-up; print JSON."""
    import time
    fn = (minigrad_step if framework == "minigrad" else torch_step)(kind, batch, device)
    for _ in range(3):
        fn()
    ts = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    print(json.dumps({"median_s": float(np.median(ts)), "rss_mb": _vm_hwm_mb()}))


def run_worker(framework, kind, batch, steps):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework, kind,
           str(batch), str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(kind, batch, frameworks, rounds=3):
    """Alternate fresh processes of each framework (threads of one never spin while the
    other computes); median over rounds of each process's median step time."""
    steps = 20 if batch <= 256 else 6
    got = {f: [] for f in frameworks}
    rss = {f: [] for f in frameworks}
    for _ in range(rounds):
        for f in frameworks:
            r = run_worker(f, kind, batch, steps)
            got[f].append(r["median_s"])
            rss[f].append(r["rss_mb"])
    return ({f: float(np.median(v)) for f, v in got.items()},
            {f: float(np.max(v)) for f, v in rss.items()})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker", nargs=4, metavar=("FRAMEWORK", "MODEL", "BATCH", "STEPS"))
    args = ap.parse_args()
    if args.worker:
        f, kind, batch, steps = args.worker
        worker(f, kind, int(batch), int(steps))
        return
    try:
        import torch  # noqa: F401
        frameworks = ["minigrad", "torch"]
    except ImportError:
        frameworks = ["minigrad"]
    have_torch = len(frameworks) == 2
    res = {"machine": machine(), "method": "alternating fresh processes, 3 rounds, median of "
           "per-process medians; peak RSS = VmHWM of the process", "steps": []}
    plan = [("cnn", b) for b in ([64, 256] if args.quick else [16, 64, 256, 1024])]
    plan += [("mlp", b) for b in ([64] if args.quick else [64, 256])]
    rows = []
    for kind, batch in plan:
        t, rss = compare(kind, batch, frameworks)
        entry = {"model": kind, "batch": batch, "minigrad_ms": t["minigrad"] * 1e3,
                 "minigrad_us_per_sample": t["minigrad"] * 1e6 / batch,
                 "minigrad_rss_mb": rss["minigrad"]}
        row = [kind, batch, f"{t['minigrad'] * 1e3:.2f}", f"{t['minigrad'] * 1e6 / batch:.1f}",
               f"{rss['minigrad']:.0f}"]
        if have_torch:
            entry.update(torch_ms=t["torch"] * 1e3, ratio=t["minigrad"] / t["torch"],
                         torch_rss_mb=rss["torch"], rss_ratio=rss["minigrad"] / rss["torch"])
            row += [f"{t['torch'] * 1e3:.2f}", f"{t['minigrad'] / t['torch']:.2f}",
                    f"{rss['torch']:.0f}", f"{rss['minigrad'] / rss['torch']:.2f}"]
        res["steps"].append(entry)
        rows.append(row)
        print(*row, flush=True)
    headers = ["model", "batch", "minigrad ms", "us/sample", "RSS MB"]
    if have_torch:
        headers += ["torch ms", "time ratio", "torch RSS MB", "RSS ratio"]
    print("\nTraining step (forward + backward + Adam), median; peak RSS of the process")
    print(table(rows, headers))
    print("wrote", save("train", res))


if __name__ == "__main__":
    main()
