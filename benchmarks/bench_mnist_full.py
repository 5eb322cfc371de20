"""The full 10-epoch run of the article's CNN on MNIST: minigrad (examples/mnist_cnn.py,
unchanged) against the equivalent PyTorch CPU loop, one after the other in this run.

    MINIGRAD_DATA=/path/with/mnist python benchmarks/bench_mnist_full.py

Both read the same arrays (minigrad's verified loader), train with Adam (lr 1e-3), batch
64, 10 epochs, shuffling each epoch, and report wall time and final test accuracy.
"""
import os
import re
import subprocess
import sys
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


def run_torch(epochs=10, batch=64):
    import numpy as np
    import torch
    from minigrad.keras.datasets import mnist
    torch.manual_seed(0)
    t0 = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train = torch.tensor(x_train.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)
    x_test = torch.tensor(x_test.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)
    y_train, y_test = torch.tensor(y_train.astype(np.int64)), torch.tensor(y_test.astype(np.int64))
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    n = len(x_train)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            loss.item()                        # the progress bar's read, as in Keras
        model.eval()
        with torch.no_grad():
            acc = sum((model(x_test[i:i + 1000]).argmax(1) == y_test[i:i + 1000]).sum().item()
                      for i in range(0, len(x_test), 1000)) / len(x_test)
    return {"wall_s": time.perf_counter() - t0, "test_accuracy": acc}


def main():
    res = {"machine": machine(), "minigrad": run_minigrad()}
    print("minigrad", res["minigrad"], flush=True)
    try:
        res["torch"] = run_torch()
        res["ratio"] = res["minigrad"]["wall_s"] / res["torch"]["wall_s"]
        print("torch", res["torch"], "ratio", res["ratio"])
    except ImportError:
        pass
    print("wrote", save("mnist_full", res))


if __name__ == "__main__":
    main()
