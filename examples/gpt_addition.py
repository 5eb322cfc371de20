"""A GPT learns to add two 2-digit numbers (the task minGPT used to show a Transformer
learning an algorithm), on the CPU in a few minutes.

Each problem a + b = c is written as digits: a (2), b (2), then c (3 digits) REVERSED,
so the model produces the sum from its last digit on, as one adds by hand:

    85 + 50 = 135  ->  8 5 5 0 5 3 1

The model reads the 7 tokens but the first four are given: only the three digits of the
sum are targets (the others are ``ignore_index``). A fifth of the 10,000 pairs (at most
1,000) is held out: the model never sees them, and it is scored on them by exact match
of the greedy answer.

    python examples/gpt_addition.py                # about 20 seconds on two cores
    python examples/gpt_addition.py --steps 300    # a quick look
"""
import argparse
import time

import numpy as np

import minigrad as mg
from minigrad import nn, optim

NDIGIT = 2


def encode(a, b):
    """Token rows for arrays of first and second numbers: digits of a, b, reversed c."""
    c = a + b
    digits = [a // 10, a % 10, b // 10, b % 10, c % 10, (c // 10) % 10, c // 100]
    return np.stack(digits, axis=1).astype(np.int64)


def split_pairs(seed):
    """(training pairs, held-out pairs) of all 100 x 100 problems."""
    rng = np.random.default_rng(seed)
    pairs = rng.permutation(10 ** (2 * NDIGIT))
    n_test = min(len(pairs) // 5, 1000)
    return pairs[n_test:], pairs[:n_test]


def batch(pairs, size, rng):
    """Inputs (size, 6) and targets (size, 6): the next token, where it is an answer."""
    p = rng.choice(pairs, size)
    seq = encode(p // 100, p % 100)
    x, y = seq[:, :-1], seq[:, 1:].copy()
    y[:, :2 * NDIGIT - 1] = -100          # the operands are given, not predicted
    return x, y


def exact_match(model, pairs, batch_size=500):
    """The fraction of problems whose 3 greedy answer digits are all right."""
    right = 0
    for i in range(0, len(pairs), batch_size):
        p = pairs[i:i + batch_size]
        seq = encode(p // 100, p % 100)
        out = model.generate(seq[:, :2 * NDIGIT], NDIGIT + 1, temperature=0)
        right += int((out[:, 2 * NDIGIT:] == seq[:, 2 * NDIGIT:]).all(axis=1).sum())
    return right / len(pairs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_pairs, test_pairs = split_pairs(args.seed)
    model = nn.GPT(vocab_size=10, block_size=3 * NDIGIT + 1 - 1, n_layer=args.layers,
                   n_head=args.heads, n_embd=args.width)
    n_params = sum(p.size for p in model.parameters())
    print(f"GPT: {args.layers} layers, width {args.width}, {args.heads} heads, "
          f"{n_params:,} parameters; {len(train_pairs)} training pairs, "
          f"{len(test_pairs)} held out")
    warmup = max(1, args.steps // 20)
    schedule = optim.CosineDecay(0.0, args.steps - warmup, alpha=0.05,
                                 warmup_target=args.lr, warmup_steps=warmup)
    opt = optim.AdamW(optim.weight_decay_groups(model, 0.1), lr=schedule, beta_2=0.99,
                      global_clipnorm=1.0)
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = batch(train_pairs, args.batch_size, rng)
        loss = model.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0 or step == args.steps:
            print(f"step {step:5d}  loss {loss.item():.4f}  lr {opt.lr:.2e}  "
                  f"{time.perf_counter() - start:6.1f} s")
    train_time = time.perf_counter() - start
    acc_test = exact_match(model, test_pairs)
    acc_train = exact_match(model, train_pairs[:1000])
    print(f"exact match: held-out pairs {acc_test:.4f} ({len(test_pairs)}), "
          f"training pairs {acc_train:.4f} (first 1000); trained in {train_time:.0f} s")
    for a, b in ((85, 50), (7, 93), (99, 99)):
        out = model.generate(encode(np.array([a]), np.array([b]))[:, :4], 3, temperature=0)
        c = int("".join(str(d) for d in out[0, 4:][::-1]))
        print(f"  {a} + {b} = {c}")
    return acc_test


if __name__ == "__main__":
    main()
