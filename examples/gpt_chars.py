"""A character-level GPT: it reads a text one character at a time and learns to predict the
next one, then writes text of its own.

By default it trains on Shakespeare's Hamlet (public domain), shipped with minigrad
(``minigrad.datasets.load_text('hamlet')``); ``--text FILE`` trains on any UTF-8 text.
The first 90% of the text is for training, the last 10% for validation. The validation
loss is reported in bits per character next to a bigram model's (the next character
predicted from the previous one alone, counted on the training part): the gap is what
attention over the context has learned.

    python examples/gpt_chars.py                       # a few minutes on two cores
    python examples/gpt_chars.py --text my.txt --steps 3000
"""
import argparse
import math
import time

import numpy as np

import minigrad as mg
from minigrad import nn, optim
from minigrad.datasets import load_text


def bigram_bits(train, val, vocab):
    """Validation bits per character of P(next | previous) counted on ``train`` (add-one
    smoothing, so unseen pairs keep some probability)."""
    counts = np.ones((vocab, vocab))
    np.add.at(counts, (train[:-1], train[1:]), 1)
    p = counts / counts.sum(axis=1, keepdims=True)
    return float(-np.log2(p[val[:-1], val[1:]]).mean())


def windows(data, starts, block):
    """Inputs (B, block) and next-character targets (B, block) at ``starts``."""
    idx = starts[:, None] + np.arange(block)
    return data[idx], data[idx + 1]


def validation_bits(model, val, block, batch_size, batches=20):
    """Mean loss over the same ``batches`` x ``batch_size`` windows every time, in bits."""
    rng = np.random.default_rng(1234)
    total = 0.0
    with mg.no_grad():
        model.eval()
        for _ in range(batches):
            x, y = windows(val, rng.integers(0, len(val) - block - 1, batch_size), block)
            total += model.loss(x, y).item()
        model.train()
    return total / batches / math.log(2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--text", default="hamlet", help="a text file (default: Hamlet)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--block-size", type=int, default=64)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample", type=int, default=400, help="characters to generate")
    args = ap.parse_args()

    text = load_text(args.text)
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    n = int(0.9 * len(data))
    train, val = data[:n], data[n:]
    if len(val) <= args.block_size + 1:
        raise SystemExit(f"the text is too short for --block-size {args.block_size}: its "
                         f"last 10% has {len(val)} characters")
    print(f"{len(text):,} characters, {len(chars)} distinct; {len(train):,} for training, "
          f"{len(val):,} for validation")
    print(f"bigram baseline: {bigram_bits(train, val, len(chars)):.3f} bits/char on "
          f"validation (uniform: {math.log2(len(chars)):.3f})")

    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = nn.GPT(len(chars), args.block_size, n_layer=args.layers, n_head=args.heads,
                   n_embd=args.width, dropout=args.dropout)
    print(f"GPT: {args.layers} layers, width {args.width}, {args.heads} heads, context "
          f"{args.block_size}: {sum(p.size for p in model.parameters()):,} parameters")
    warmup = max(1, args.steps // 20)
    schedule = optim.CosineDecay(0.0, max(1, args.steps - warmup), alpha=0.1,
                                 warmup_target=args.lr, warmup_steps=warmup)
    opt = optim.AdamW(optim.weight_decay_groups(model, 0.1), lr=schedule, beta_2=0.99,
                      global_clipnorm=1.0)
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = windows(train, rng.integers(0, len(train) - args.block_size - 1,
                                           args.batch_size), args.block_size)
        loss = model.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0 or step == args.steps:
            print(f"step {step:5d}  train {loss.item() / math.log(2):.3f} bits/char  "
                  f"validation {validation_bits(model, val, args.block_size, args.batch_size):.3f}"
                  f"  {time.perf_counter() - start:6.0f} s")
    bits = validation_bits(model, val, args.block_size, args.batch_size)
    print(f"validation: {bits:.3f} bits/char (bigram {bigram_bits(train, val, len(chars)):.3f})")
    prompt = np.array([stoi[c] for c in "HAMLET:\n" if c in stoi] or [0])
    out = model.generate(prompt, args.sample, temperature=0.8, top_k=20, seed=args.seed)
    print("-" * 60)
    print("".join(chars[i] for i in out))
    return bits


if __name__ == "__main__":
    main()
