"""The full 10-epoch run of the article's CNN on MNIST: minigrad (examples/mnist_cnn.py,
unchanged) against the equivalent PyTorch CPU loop, each in its own fresh process.

    MINIGRAD_DATA=/path/with/mnist python benchmarks/bench_mnist_full.py [--rounds 2]

Both train on the same arrays (read once by minigrad's verified loader and handed to the
PyTorch process as an .npz file) with Adam (lr 1e-3, eps 1e-7), batch 64, 10 epochs,
shuffling each epoch, and do what Keras' ``fit``/``evaluate`` do: the loss and accuracy of
every batch read once per step, a validation pass over the test set after each epoch in
batches of 64 (``validation_batch_size`` defaults to ``batch_size``), and a final
``evaluate`` in batches of 32. The PyTorch process never imports minigrad, so it runs
with PyTorch's and glibc's default settings (minigrad tunes glibc's allocator at import;
see README). The wall time of each process, start to exit, is reported; with several
rounds the two alternate.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine, save  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_minigrad():
    t = time.perf_counter()
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mnist_cnn.py")],
                         capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - t
    acc = float(re.findall(r"Test accuracy: ([0-9.]+)", out)[-1])
    data = re.sub(r"full: \S+", "full", re.findall(r"Data: (.*)", out)[0])   # no local paths
    epochs = [line.split("\r")[-1] for line in out.splitlines() if "val_accuracy" in line]
    return {"wall_s": wall, "test_accuracy": acc, "data": data, "epochs": epochs}


def torch_worker(path, epochs=10, batch=64):
    """The PyTorch loop; runs in a process that has not imported minigrad."""
    t0 = time.perf_counter()
    import numpy as np
    import torch
    nn = torch.nn
    with np.load(path) as d:
        x_train = torch.tensor(d["x_train"].reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)
        x_test = torch.tensor(d["x_test"].reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)
        y_train = torch.tensor(d["y_train"].astype(np.int64))
        y_test = torch.tensor(d["y_test"].astype(np.int64))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    ce = nn.functional.cross_entropy

    def evaluate(bs):
        model.eval()
        loss = correct = 0.0
        with torch.no_grad():
            for i in range(0, len(x_test), bs):
                out = model(x_test[i:i + bs])
                yb = y_test[i:i + bs]
                loss += ce(out, yb, reduction="sum").item()
                correct += (out.argmax(1) == yb).sum().item()
        return loss / len(x_test), correct / len(x_test)

    n = len(x_train)
    log = []
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            yb = y_train[idx]
            opt.zero_grad()
            out = model(x_train[idx])
            loss = ce(out, yb)
            loss.backward()
            opt.step()
            loss.item(), (out.argmax(1) == yb).sum().item()    # the progress bar's reads
        log.append(evaluate(batch))                            # validation_data
    _, acc = evaluate(32)                                      # model.evaluate
    return {"loop_s": time.perf_counter() - t0, "test_accuracy": acc,
            "val_per_epoch": log}


def run_torch(path):
    t = time.perf_counter()
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-worker", path],
                         capture_output=True, text=True, check=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    res["wall_s"] = time.perf_counter() - t
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--torch-worker", metavar="NPZ")
    args = ap.parse_args()
    if args.torch_worker:
        print(json.dumps(torch_worker(args.torch_worker)))
        return
    import numpy as np
    from minigrad.keras.datasets import mnist
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    res = {"machine": machine(), "minigrad": [], "torch": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mnist.npz")
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
        np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
        for _ in range(args.rounds):
            res["minigrad"].append(run_minigrad())
            print("minigrad", res["minigrad"][-1]["wall_s"],
                  res["minigrad"][-1]["test_accuracy"], flush=True)
            if have_torch:
                res["torch"].append(run_torch(path))
                print("torch", res["torch"][-1]["wall_s"], res["torch"][-1]["test_accuracy"],
                      flush=True)
    if have_torch:
        res["ratios"] = [m["wall_s"] / t["wall_s"] for m, t in zip(res["minigrad"], res["torch"])]
        print("wall-time ratios minigrad/torch:", ", ".join(f"{r:.2f}" for r in res["ratios"]))
    print("wrote", save("mnist_full", res))


if __name__ == "__main__":
    main()
