"""A small GPT (decoder-only Transformer) for the examples: build, train, sample.

    tokens (B, T) -> token embedding + position embedding -> n x TransformerBlock (causal)
                  -> LayerNormalization -> Dense(vocab_size) -> logits (B, T, vocab_size)

Training predicts token t+1 from tokens 0..t at every position at once (the causal mask
hides the future); ``loss`` is the cross-entropy over all positions, skipping targets
equal to ``ignore_index``. ``generate`` samples one token at a time, and with the
key/value cache each step runs the network on the new token only.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import backend
from .. import functional as F
from ..autograd import no_grad
from ..checks import number, positive_int
from ..losses import full_precision
from ..tensor import Tensor
from .layers import Dense, Dropout
from .module import Module
from .transformer import (Embedding, KVCache, LayerNormalization, PositionEmbedding,
                          TransformerBlock)

__all__ = ["GPT"]


def _normal(std):
    """GPT-2's initialiser for the embeddings: normal, mean 0, standard deviation ``std``."""
    def init(shape, dtype):
        return (backend.host_rng().standard_normal(size=shape) * std).astype(dtype)
    return init


class GPT(Module):
    """A GPT with ``n_layer`` pre-LayerNorm blocks of width ``n_embd`` and ``n_head``
    heads, over a vocabulary of ``vocab_size`` tokens and contexts of up to ``block_size``.

    Every weight is created here (``parameters()`` is complete at once). Call it on integer
    tokens (B, T) to get logits (B, T, vocab_size).
    """

    def __init__(self, vocab_size: int, block_size: int, n_layer: int = 4, n_head: int = 4,
                 n_embd: int = 128, dropout: float = 0.0):
        super().__init__()
        self.vocab_size = positive_int(vocab_size, "GPT", "vocab_size")
        self.block_size = positive_int(block_size, "GPT", "block_size")
        self.n_layer = positive_int(n_layer, "GPT", "n_layer")
        n_embd = positive_int(n_embd, "GPT", "n_embd")
        dropout = number(dropout, "GPT", "dropout", 0.0, 1.0, high_open=True)
        self.tok = Embedding(vocab_size, n_embd, embeddings_initializer=_normal(0.02),
                             name="tok")
        self.pos = PositionEmbedding(block_size, initializer=_normal(0.02), name="pos")
        self.pos.ensure_built((block_size, n_embd))
        self.drop = Dropout(dropout)
        for i in range(self.n_layer):
            block = TransformerBlock(n_head, 4 * n_embd, dropout, causal=True,
                                     name=f"block{i}")
            block.ensure_built((block_size, n_embd))
            setattr(self, f"block{i}", block)
        self.ln_f = LayerNormalization(1e-5, input_shape=(n_embd,), name="ln_f")
        self.head = Dense(vocab_size, use_bias=False, input_shape=(n_embd,), name="head")

    @property
    def blocks(self):
        return [getattr(self, f"block{i}") for i in range(self.n_layer)]

    def forward(self, tokens, cache: Optional[KVCache] = None) -> Tensor:
        """Logits (B, T, vocab_size) for tokens (B, T). With a ``cache``, the tokens are
        the positions after those it holds, and their keys and values are added to it."""
        start = cache.length if cache is not None else 0
        x = self.tok(tokens)
        if x.ndim != 3:
            raise ValueError(f"GPT: tokens must have shape (batch, length), got "
                             f"{tuple(x.shape[:-1])}")
        if start + x.shape[1] > self.block_size:
            raise ValueError(f"GPT: {start + x.shape[1]} positions do not fit in the context "
                             f"of {self.block_size} (block_size)")
        x = self.drop(x + self.pos(x, start_index=start))
        for i, block in enumerate(self.blocks):
            x = block(x, cache=cache.layer(i) if cache is not None else None)
        return self.head(self.ln_f(x))

    def loss(self, tokens, targets, ignore_index: int = -100) -> Tensor:
        """Mean cross-entropy of the next-token predictions: ``targets`` (B, T) holds the
        token that follows each position (``ignore_index`` where there is nothing to
        learn, for example the prompt of a question)."""
        logits = self(tokens)
        t = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
        logits = full_precision(logits)          # float32 under mixed precision
        return F.cross_entropy(logits.reshape(-1, self.vocab_size), t.reshape(-1),
                               ignore_index=ignore_index)

    def generate(self, prompt, max_new_tokens: int, temperature: float = 1.0,
                 top_k: Optional[int] = None, use_cache: bool = True, seed=None) -> np.ndarray:
        """Extend ``prompt`` (T,) or (B, T) by ``max_new_tokens`` sampled tokens; returns
        the whole sequences as a host array.

        Each new token is drawn from softmax(logits / temperature) over the ``top_k`` most
        likely tokens (all when None); ``temperature=0`` takes the most likely (greedy).
        With ``use_cache`` each step feeds only the newest token and reuses the keys and
        values of the earlier ones; once the sequence is longer than ``block_size`` the
        window moves on and the cache is rebuilt from the last ``block_size`` tokens,
        exactly what running without the cache computes.
        """
        idx = np.asarray(prompt)
        single = idx.ndim == 1
        idx = idx[None] if single else idx
        if idx.ndim != 2 or idx.shape[1] == 0 or idx.dtype.kind not in "iu":
            raise ValueError(f"generate: prompt must be integer tokens of shape (T,) or "
                             f"(B, T) with T >= 1, got {np.asarray(prompt).dtype} "
                             f"{np.asarray(prompt).shape}")
        steps = positive_int(max_new_tokens, "generate", "max_new_tokens")
        temperature = number(temperature, "generate", "temperature", low=0.0)
        if top_k is not None:
            top_k = min(positive_int(top_k, "generate", "top_k"), self.vocab_size)
        rng = np.random.default_rng(seed)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                cache = KVCache() if use_cache else None
                logits = self(idx[:, -self.block_size:], cache)
                for step in range(steps):
                    nxt = _sample(backend.to_host(logits.data[:, -1]), temperature, top_k,
                                  rng)
                    idx = np.concatenate([idx, nxt[:, None]], axis=1)
                    if step == steps - 1:
                        break
                    if use_cache and cache.length < self.block_size:
                        logits = self(nxt[:, None], cache)
                    else:
                        cache = KVCache() if use_cache else None
                        logits = self(idx[:, -self.block_size:], cache)
        finally:
            self.train(was_training)
        return idx[0] if single else idx


def _sample(logits: np.ndarray, temperature: float, top_k, rng) -> np.ndarray:
    """One token per row of ``logits`` (B, V)."""
    logits = logits.astype(np.float64)
    if temperature == 0:
        return logits.argmax(axis=-1)
    if top_k is not None:
        kth = np.sort(logits, axis=-1)[:, -top_k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    z = logits / temperature
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return np.array([rng.choice(p.shape[1], p=row) for row in p])
