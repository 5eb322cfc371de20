"""GPT training step and generation: minigrad vs PyTorch CPU, same model, same weights.

The model: 4 pre-LayerNorm blocks, width 128, 4 heads, context 64, 65 tokens, batch 32,
AdamW (weight decay on the matrices only), GELU (tanh) MLPs, a causal mask. minigrad's
nn.GPT writes its initial weights and a batch of tokens to a file; the PyTorch model is
the same architecture written with torch.nn and ``F.scaled_dot_product_attention``,
loaded with those weights (its first loss is checked to agree). Each measurement is a
fresh process, alternating, 3 rounds; peak RSS is the process's VmHWM. With Numba
installed (the ``fast`` extra) minigrad runs its compiled CPU kernels, and the same step
with NumPy's generic kernels is timed too ("NumPy only").

Generation: tokens per second when sampling 64 new tokens after an 8-token prompt, batch
1, with the key/value cache (one position per step) and without (the whole sequence each
step).

``--device cuda`` runs both frameworks on the GPU (the comparison is then minigrad on CuPy
against PyTorch on CUDA); ``--size large`` trains a bigger model (6 blocks, width 384,
6 heads, context 256, batch 64: nanoGPT's character-level Shakespeare model), where a GPU
is busy computing rather than launching kernels.

    python benchmarks/bench_gpt.py            # table + JSON in benchmarks/results/
    python benchmarks/bench_gpt.py --quick    # 2 rounds, fewer steps
    python benchmarks/bench_gpt.py --device cuda --size large
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (generic_kernels, has_compiled_kernels, machine, median_step,  # noqa: E402
                    save, table, vm_hwm_mb)

SIZES = {"small": dict(vocab=65, block=64, layers=4, heads=4, width=128, batch=32),
         "large": dict(vocab=65, block=256, layers=6, heads=6, width=384, batch=64)}
CONFIG = dict(SIZES["small"])
DEVICE = "cpu"


def configure(size, device):
    """Set the model size and the device (the workers get both on their command line)."""
    global DEVICE
    CONFIG.clear()
    CONFIG.update(SIZES[size])
    DEVICE = device


def make_minigrad(path=None):
    import minigrad as mg
    from minigrad import nn, optim
    c = CONFIG
    mg.manual_seed(0)
    model = nn.GPT(c["vocab"], c["block"], c["layers"], c["heads"], c["width"])
    if path is not None and os.path.exists(path):
        with np.load(path) as d:
            model.load_state_dict({k[2:]: d[k] for k in d.files if k.startswith("w.")})
    return model.to(DEVICE), optim


def write_setup(path):
    """The initial weights (minigrad's names) and a batch of tokens, for both workers."""
    model, _ = make_minigrad()
    rng = np.random.default_rng(0)
    c = CONFIG
    tokens = rng.integers(0, c["vocab"], (c["batch"], c["block"] + 1))
    np.savez(path, tokens=tokens, **{"w." + k: v for k, v in model.state_dict().items()})


def minigrad_step(path):
    model, optim = make_minigrad(path)
    import minigrad as mg
    with np.load(path) as d:
        tokens = d["tokens"]
    x = mg.tensor(tokens[:, :-1], device=DEVICE)
    y = mg.tensor(tokens[:, 1:], device=DEVICE)
    opt = optim.AdamW(optim.weight_decay_groups(model, 0.1), lr=3e-4)

    def step():
        opt.zero_grad()
        loss = model.loss(x, y)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def torch_model(path):
    import torch
    nn, F = torch.nn, torch.nn.functional
    c = CONFIG
    W = dict(np.load(path))

    def w(name):
        return torch.from_numpy(np.ascontiguousarray(W["w." + name]))

    class Block(nn.Module):
        def __init__(self, i):
            super().__init__()
            d = c["width"]
            self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-5), nn.LayerNorm(d, eps=1e-5)
            self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
            self.ff1, self.ff2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
            p = f"block{i}."
            with torch.no_grad():
                for ln, name in ((self.ln1, "ln1"), (self.ln2, "ln2")):
                    ln.weight.copy_(w(p + name + ".gamma"))
                    ln.bias.copy_(w(p + name + ".beta"))
                for lin, name in ((self.q, "attn.query_dense"), (self.k, "attn.key_dense"),
                                  (self.v, "attn.value_dense"), (self.o, "attn.output_dense"),
                                  (self.ff1, "ff1"), (self.ff2, "ff2")):
                    lin.weight.copy_(w(p + name + ".kernel").T)
                    lin.bias.copy_(w(p + name + ".bias"))

        def forward(self, x):
            B, T, d = x.shape
            h = self.ln1(x)
            heads = c["heads"]

            def split(t):
                return t.view(B, T, heads, d // heads).transpose(1, 2)
            a = F.scaled_dot_product_attention(split(self.q(h)), split(self.k(h)),
                                               split(self.v(h)), is_causal=True)
            x = x + self.o(a.transpose(1, 2).reshape(B, T, d))
            return x + self.ff2(F.gelu(self.ff1(self.ln2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Parameter(w("tok.embeddings"))
            self.pos = nn.Parameter(w("pos.position_embeddings"))
            self.blocks = nn.ModuleList(Block(i) for i in range(c["layers"]))
            self.ln_f = nn.LayerNorm(c["width"], eps=1e-5)
            self.head = nn.Linear(c["width"], c["vocab"], bias=False)
            with torch.no_grad():
                self.ln_f.weight.copy_(w("ln_f.gamma"))
                self.ln_f.bias.copy_(w("ln_f.beta"))
                self.head.weight.copy_(w("head.kernel").T)

        def forward(self, idx):
            x = self.tok[idx] + self.pos[:idx.shape[1]]
            for b in self.blocks:
                x = b(x)
            return self.head(self.ln_f(x))

    return GPT().to(DEVICE), torch.from_numpy(W["tokens"]).to(DEVICE)


def torch_step(path):
    import torch
    model, tokens = torch_model(path)
    x, y = tokens[:, :-1], tokens[:, 1:]
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}], lr=3e-4)

    def step():
        opt.zero_grad()
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, CONFIG["vocab"]),
                                                 y.reshape(-1))
        loss.backward()
        opt.step()
        return loss.item()
    return step


def generation(path, use_cache, new=64):
    model, _ = make_minigrad(path)
    prompt = np.arange(8) % CONFIG["vocab"]
    model.generate(prompt, 4, temperature=0, use_cache=use_cache)       # warm-up
    t = time.perf_counter()
    model.generate(prompt, new, temperature=0, use_cache=use_cache)
    return new / (time.perf_counter() - t)


def worker(kind, path, steps):
    if kind.startswith("generate"):
        print(json.dumps({"tokens_per_s": generation(path, kind == "generate_cache"),
                          "rss_mb": vm_hwm_mb()}))
        return
    make = {"minigrad": minigrad_step, "torch": torch_step,
            "numpy": generic_kernels(minigrad_step)}[kind]
    median, first = median_step(make(path), steps)
    print(json.dumps({"median_s": median, "first_loss": first, "rss_mb": vm_hwm_mb(),
                      "gpu_mb": gpu_peak_mb(kind)}))


def gpu_peak_mb(kind):
    """GPU memory the framework's allocator holds after the steps (None on the CPU):
    CuPy's pool keeps every block it allocated, PyTorch's peak of reserved memory."""
    if not DEVICE.startswith("cuda"):
        return None
    if kind == "torch":
        import torch
        return torch.cuda.max_memory_reserved() / 2**20
    import cupy
    return cupy.get_default_memory_pool().total_bytes() / 2**20


def run_worker(kind, path, steps, size, device):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, path, str(steps),
           "--size", size, "--device", device]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"worker {kind} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker", nargs=3, metavar=("KIND", "PATH", "STEPS"))
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (both frameworks)")
    ap.add_argument("--out", default=None, help="folder for the JSON (default: results/)")
    args = ap.parse_args()
    configure(args.size, args.device)
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return
    try:
        import torch
        kinds = ["minigrad", "torch"]
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            kinds = ["minigrad"]
    except ImportError:
        kinds = ["minigrad"]
    if args.device == "cpu" and has_compiled_kernels():
        kinds.append("numpy")             # the same step with NumPy's generic kernels
    rounds, steps = (2, 8) if args.quick else (3, 15)
    tmp = tempfile.TemporaryDirectory()
    path = os.path.join(tmp.name, "setup.npz")
    write_setup(path)
    got = {k: [] for k in kinds}
    rss = {k: [] for k in kinds}
    gpu = {}
    first = {}
    for _ in range(rounds):
        for k in kinds:
            r = run_worker(k, path, steps, args.size, args.device)
            got[k].append(r["median_s"])
            rss[k].append(r["rss_mb"])
            gpu[k] = r.get("gpu_mb")
            first[k] = r["first_loss"]
    t = {k: float(np.median(v)) for k, v in got.items()}
    peak = {k: float(np.max(v)) for k, v in rss.items()}
    gen = {k: run_worker(k, path, 0, args.size, args.device)["tokens_per_s"]
           for k in ("generate_cache", "generate_no_cache")}
    res = {"machine": machine(), "config": CONFIG, "size": args.size,
           "device": args.device,
           "method": f"alternating fresh processes, {rounds} rounds, median of per-process "
                     f"medians of {steps} steps; peak RSS = VmHWM",
           "minigrad_ms": t["minigrad"] * 1e3, "minigrad_rss_mb": peak["minigrad"],
           "minigrad_first_loss": first["minigrad"], "minigrad_gpu_mb": gpu["minigrad"],
           "generate_tokens_per_s_cache": gen["generate_cache"],
           "generate_tokens_per_s_no_cache": gen["generate_no_cache"]}

    def row(name, k):
        mb = "-" if gpu[k] is None else f"{gpu[k]:.0f}"
        return [name, f"{t[k] * 1e3:.1f}", f"{peak[k]:.0f}", mb, f"{first[k]:.5f}"]
    rows = [row("minigrad", "minigrad")]
    if "torch" in kinds:
        res.update(torch_ms=t["torch"] * 1e3, ratio=t["minigrad"] / t["torch"],
                   torch_rss_mb=peak["torch"], torch_first_loss=first["torch"],
                   torch_gpu_mb=gpu["torch"])
        rows.append(row("PyTorch", "torch"))
    if "numpy" in kinds:
        res.update(numpy_only_ms=t["numpy"] * 1e3, numpy_only_rss_mb=peak["numpy"])
        rows.append(row("minigrad, NumPy only", "numpy"))
        if "torch" in kinds:
            res["numpy_only_ratio"] = t["numpy"] / t["torch"]
    print(f"GPT training step ({CONFIG}), AdamW, on {args.device}")
    print(table(rows, ["framework", "step ms", "peak RSS MB", "GPU pool MB", "first loss"]))
    if "torch" in kinds:
        print(f"time ratio minigrad / PyTorch: {res['ratio']:.2f}"
              + (f" (NumPy only: {res['numpy_only_ratio']:.2f})" if "numpy" in kinds else ""))
    print(f"generation, batch 1: {gen['generate_cache']:.0f} tokens/s with the cache, "
          f"{gen['generate_no_cache']:.0f} without")
    name = "gpt" if (args.size, args.device) == ("small", "cpu") else \
        f"gpt-{args.size}-{args.device.replace(':', '')}"
    print("wrote", save(name, res, args.out))
    tol = 1e-3 if args.device == "cpu" else 1e-2     # PyTorch may use TF32 on a GPU
    if "torch" in kinds and abs(first["torch"] - first["minigrad"]) > tol:
        raise SystemExit(f"the two models disagree: first losses {first}")


if __name__ == "__main__":
    main()
