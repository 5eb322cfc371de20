"""Data-parallel speed-up: the article's CNN, one epoch of 8,192 MNIST images at global batch
256, in one process with one thread against two MPI ranks with one thread each; PyTorch's
DistributedDataParallel (gloo) with the same settings in the same run.

Each configuration runs in fresh processes (OMP/OpenBLAS/MKL limited to one thread each),
alternating, 2 rounds; the time is the epoch's wall time on rank 0 after a warm-up of two
steps. Needs mpi4py and mpiexec (pip install -e ".[mpi]"); PyTorch is optional.

    python benchmarks/bench_distributed.py
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine, save, table  # noqa: E402

N, BATCH = 8192, 256
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def write_data(path):
    import warnings

    from minigrad.keras.datasets import mnist
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x, y), _ = mnist.load_data()
    reps = -(-N // len(x))                      # the bundled sample has 6,000: repeat it
    np.savez(path, x=np.concatenate([x] * reps)[:N], y=np.concatenate([y] * reps)[:N])


def minigrad_worker(path):
    import minigrad as mg
    import minigrad.distributed as dist
    from minigrad.keras import layers, models
    rank, size = dist.init()
    with np.load(path) as d:
        x = d["x"].reshape(-1, 28, 28, 1).astype(np.float32) / 255
        y = d["y"].astype(np.int64)
    mg.manual_seed(0)
    m = models.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D((2, 2)), layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)), layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(), layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m.fit(x[:2 * BATCH], y[:2 * BATCH], batch_size=BATCH, epochs=1, verbose=0)   # warm-up
    dist.barrier()
    t = time.perf_counter()
    h = m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    dist.barrier()
    if rank == 0:
        print(json.dumps({"seconds": time.perf_counter() - t, "loss": h.history["loss"][0]}))


def torch_worker(rank, size, path, port, out):
    import torch
    import torch.distributed as tdist
    import torch.nn as nn
    torch.set_num_threads(1)
    if size > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        tdist.init_process_group("gloo", rank=rank, world_size=size)
    with np.load(path) as d:
        x = torch.from_numpy(d["x"].reshape(-1, 1, 28, 28).astype(np.float32) / 255)
        y = torch.from_numpy(d["y"].astype(np.int64))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(64, 64, 3), nn.ReLU(),
                          nn.Flatten(), nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))
    if size > 1:
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    local = BATCH // size

    def epoch(n):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
        for b in range(0, n, BATCH):
            idx = perm[b:b + BATCH][rank * local:(rank + 1) * local]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        return loss.item()
    epoch(2 * BATCH)
    if size > 1:
        tdist.barrier()
    t = time.perf_counter()
    epoch(N)
    if size > 1:
        tdist.barrier()
        tdist.destroy_process_group()
    if rank == 0:
        with open(out, "w") as f:
            json.dump({"seconds": time.perf_counter() - t}, f)


def run_minigrad(path, ranks):
    env = {**os.environ, **ONE_THREAD}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", path]
    if ranks > 1:
        cmd = [shutil.which("mpiexec"), "-n", str(ranks)] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def run_torch(path, ranks, port):
    env = {**os.environ, **ONE_THREAD}
    out = path + f".torch{ranks}.json"
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r});"
            "import bench_distributed as b, torch.multiprocessing as mp;"
            f"mp.spawn(b.torch_worker, args=({ranks}, {path!r}, {port}, {out!r}), "
            f"nprocs={ranks})")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    with open(out) as f:
        return json.load(f)["seconds"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if args.worker:
        minigrad_worker(args.worker)
        return
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    tmp = tempfile.TemporaryDirectory()
    path = os.path.join(tmp.name, "data.npz")
    write_data(path)
    times = {k: [] for k in ("minigrad 1", "minigrad 2") + (
        ("torch 1", "torch 2") if have_torch else ())}
    for r in range(args.rounds):
        times["minigrad 1"].append(run_minigrad(path, 1))
        times["minigrad 2"].append(run_minigrad(path, 2))
        if have_torch:
            times["torch 1"].append(run_torch(path, 1, 29500 + r))
            times["torch 2"].append(run_torch(path, 2, 29510 + r))
    med = {k: float(np.median(v)) for k, v in times.items()}
    rows = [["minigrad", f"{med['minigrad 1']:.1f}", f"{med['minigrad 2']:.1f}",
             f"{med['minigrad 1'] / med['minigrad 2']:.2f}"]]
    res = {"machine": machine(), "images": N, "global_batch": BATCH, "times_s": times,
           "minigrad_speedup": med["minigrad 1"] / med["minigrad 2"]}
    if have_torch:
        rows.append(["PyTorch DDP (gloo)", f"{med['torch 1']:.1f}", f"{med['torch 2']:.1f}",
                     f"{med['torch 1'] / med['torch 2']:.2f}"])
        res["torch_speedup"] = med["torch 1"] / med["torch 2"]
        res["minigrad_2_vs_torch_2"] = med["minigrad 2"] / med["torch 2"]
    print(f"One epoch of {N} images, global batch {BATCH}, one thread per process (s)")
    print(table(rows, ["framework", "1 process", "2 ranks", "speed-up"]))
    print("wrote", save("distributed", res))


if __name__ == "__main__":
    main()
