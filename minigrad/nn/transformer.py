"""The Transformer's layers (Keras names): Embedding, PositionEmbedding, LayerNormalization,
MultiHeadAttention and a pre-LayerNorm TransformerBlock, plus sinusoidal positions and the
key/value cache used when generating one token at a time.

Shapes: tokens (batch, T) integers; hidden states (batch, T, dim). The ops are those of
:mod:`minigrad.functional.transformer`.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import backend
from .. import functional as F
from ..autograd import backend_array_types
from ..backend import get_array_module
from ..checks import number, positive_int
from ..tensor import Tensor, get_default_dtype
from .layers import Dense, Dropout, Layer, _shape_mismatch

__all__ = ["Embedding", "PositionEmbedding", "LayerNormalization", "MultiHeadAttention",
           "TransformerBlock", "KVCache", "sinusoidal_positions"]


class Embedding(Layer):
    """A table of ``input_dim`` vectors of size ``output_dim``; integer inputs of any shape
    (batch, ...) pick rows: the output has shape (batch, ..., output_dim).

    Keras' default initialiser, uniform in [-0.05, 0.05]; ``F.embedding`` does the look-up
    (out-of-range tokens raise IndexError)."""

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform",
                 input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        self.input_dim = positive_int(input_dim, "Embedding", "input_dim")
        self.output_dim = positive_int(output_dim, "Embedding", "output_dim")
        self.embeddings_initializer = embeddings_initializer
        # the table does not depend on the input's shape: made now, the shape noted later
        self.embeddings = self.add_weight((self.input_dim, self.output_dim),
                                          embeddings_initializer)
        self.built = True

    def ensure_built(self, input_shape) -> None:
        if self.input_shape is None:
            self.input_shape = tuple(input_shape)

    def prepare(self, x) -> Tensor:
        """Integer token indices; whole numbers stored as floats (``fit`` hands the layer
        float32 batches, as Keras does) are converted, anything else is an error."""
        if not isinstance(x, Tensor):
            x = Tensor._wrap(backend.move(x if isinstance(x, backend_array_types())
                                          else np.asarray(x), self._device))
        if x.dtype.kind == "f":
            xp = get_array_module(x.data)
            if not bool((x.data == xp.floor(x.data)).all()):
                raise TypeError(f"layer '{self.name}' (Embedding): inputs must be token "
                                f"indices (whole numbers), got fractional {x.dtype} values")
            x = Tensor._wrap(x.data.astype(np.int64))
        elif x.dtype.kind not in "iu":
            raise TypeError(f"layer '{self.name}' (Embedding): inputs must be integer token "
                            f"indices, got dtype {x.dtype}")
        self.ensure_built(x.shape[1:])
        return x

    def call(self, x):
        return F.embedding(x, self.embeddings)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {"name": self.name, "input_dim": self.input_dim,
                "output_dim": self.output_dim}


class PositionEmbedding(Layer):
    """Learned position vectors (KerasHub's ``PositionEmbedding``): for inputs (batch, T,
    dim) it returns the first T of ``sequence_length`` trained vectors, from
    ``start_index`` on (the position of the first input when generating with a cache), to
    be added to the token embeddings."""

    def __init__(self, sequence_length: int, initializer="glorot_uniform", name=None):
        super().__init__(name=name)
        self.sequence_length = positive_int(sequence_length, "PositionEmbedding",
                                            "sequence_length")
        self.initializer = initializer

    def build(self, input_shape):
        self.position_embeddings = self.add_weight((self.sequence_length, input_shape[-1]),
                                                   self.initializer)

    def forward(self, x, start_index: int = 0, apply_activation: bool = True):
        x = self.prepare(x)
        T = x.shape[-2]
        if start_index < 0 or start_index + T > self.sequence_length:
            raise ValueError(f"layer '{self.name}' (PositionEmbedding): positions "
                             f"{start_index}..{start_index + T - 1} are outside the "
                             f"{self.sequence_length} it has")
        return self.position_embeddings[start_index:start_index + T]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def sinusoidal_positions(length: int, dim: int, base: float = 10000.0,
                         dtype=None) -> Tensor:
    """The fixed position encodings of "Attention Is All You Need" (length, dim):
    PE[p, 2i] = sin(p / base^(2i/dim)), PE[p, 2i+1] = cos(p / base^(2i/dim))."""
    length = positive_int(length, "sinusoidal_positions", "length")
    dim = positive_int(dim, "sinusoidal_positions", "dim")
    pos = np.arange(length)[:, None]
    freq = base ** (-np.arange(0, dim, 2) / dim)
    pe = np.zeros((length, dim))
    pe[:, 0::2] = np.sin(pos * freq)
    pe[:, 1::2] = np.cos(pos * freq[: dim // 2])
    return Tensor(pe.astype(dtype or get_default_dtype()))


class LayerNormalization(Layer):
    """Layer normalisation over the last axis (Keras: ``epsilon=1e-3``, ``center``,
    ``scale``): y = (x - mean) / sqrt(var + epsilon) * gamma + beta, per sample."""

    def __init__(self, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 axis: int = -1, input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        if axis != -1:
            raise ValueError(f"LayerNormalization: only axis=-1 (the features) is supported, "
                             f"got {axis!r}")
        self.epsilon = number(epsilon, "LayerNormalization", "epsilon", low=0.0,
                              low_open=True)
        self.center, self.scale = bool(center), bool(scale)
        if self.input_shape is not None:
            self.ensure_built(self.input_shape)

    def build(self, input_shape):
        c = input_shape[-1]
        if self.scale:
            self.gamma = self.add_weight((c,), "ones")
        if self.center:
            self.beta = self.add_weight((c,), "zeros")
        self.features = c

    def _check_input(self, shape):
        if len(shape) < 2 or shape[-1] != self.features:
            raise _shape_mismatch(self, (None, "...", self.features), tuple(shape))

    def call(self, x):
        return F.layer_norm(x, (self.features,), self.gamma if self.scale else None,
                            self.beta if self.center else None, self.epsilon)

    def get_config(self):
        return {"name": self.name, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale}


class KVCache:
    """The keys and values a MultiHeadAttention layer has seen, so that generating one
    more token computes attention for that one query only (its key and value are appended).

    ``cache.layer(i)`` gives each attention layer its own entry; ``length`` is the number
    of positions stored."""

    def __init__(self):
        self._entries = {}

    def layer(self, key) -> "_LayerCache":
        if key not in self._entries:
            self._entries[key] = _LayerCache()
        return self._entries[key]

    @property
    def length(self) -> int:
        return max((e.length for e in self._entries.values()), default=0)


class _LayerCache:
    def __init__(self):
        self.keys = self.values = None

    @property
    def length(self) -> int:
        return 0 if self.keys is None else self.keys.shape[-2]

    def extend(self, k: Tensor, v: Tensor):
        """Append the new positions' keys and values (batch, heads, new, dim); return all."""
        if self.keys is not None:
            k = F.concatenate([self.keys, k], axis=-2)
            v = F.concatenate([self.values, v], axis=-2)
        self.keys, self.values = k.detach(), v.detach()
        return k, v


class MultiHeadAttention(Layer):
    """Multi-head attention (Keras' layer): ``mha(query, value, key=None,
    attention_mask=None, use_causal_mask=False)``.

    query (B, T, dq), value (B, S, dv), key (B, S, dk) (the value when None). Each of the
    ``num_heads`` heads projects the query and key to ``key_dim`` and the value to
    ``value_dim`` (default ``key_dim``), attends (``F.attention``), and the heads'
    results, concatenated, are projected back to dq.

    ``attention_mask`` (B, T, S) or (T, S) booleans: True where a query may attend to a key.
    ``use_causal_mask``: query t sees keys up to its own position (with a cache holding
    P earlier positions, key j <= P + t). ``return_attention_scores=True`` also returns the
    weights (B, heads, T, S).
    """

    def __init__(self, num_heads: int, key_dim: int, value_dim: Optional[int] = None,
                 dropout: float = 0.0, use_bias: bool = True, output_shape=None,
                 kernel_initializer="glorot_uniform", name=None):
        super().__init__(name=name)
        self.num_heads = positive_int(num_heads, "MultiHeadAttention", "num_heads")
        self.key_dim = positive_int(key_dim, "MultiHeadAttention", "key_dim")
        self.value_dim = positive_int(value_dim if value_dim is not None else key_dim,
                                      "MultiHeadAttention", "value_dim")
        self.dropout = number(dropout, "MultiHeadAttention", "dropout", 0.0, 1.0,
                              high_open=True)
        self.use_bias = use_bias
        self.out_features = output_shape
        h = self.num_heads
        init = dict(use_bias=use_bias, kernel_initializer=kernel_initializer)
        self.query_dense = Dense(h * self.key_dim, name=f"{self.name}_query", **init)
        self.key_dense = Dense(h * self.key_dim, name=f"{self.name}_key", **init)
        self.value_dense = Dense(h * self.value_dim, name=f"{self.name}_value", **init)
        self._init = init
        self.output_dense = None          # its size is the query's: see build_for
        if output_shape is not None:
            self.output_dense = Dense(output_shape, name=f"{self.name}_output", **init)

    def build_for(self, query_dim: int, value_dim: int, key_dim: Optional[int] = None):
        """Create every weight now for inputs of these feature sizes (otherwise they are
        made on the first call), so that ``parameters()`` is complete before training."""
        if self.output_dense is None:
            self.output_dense = Dense(self.out_features or query_dim,
                                      name=f"{self.name}_output", **self._init)
        self.query_dense.ensure_built((query_dim,))
        self.key_dense.ensure_built((key_dim or value_dim,))
        self.value_dense.ensure_built((value_dim,))
        self.output_dense.ensure_built((self.num_heads * self.value_dim,))
        self.built = True

    def _heads(self, x: Tensor, dim: int) -> Tensor:
        """(B, T, heads * dim) -> (B, heads, T, dim)."""
        B, T = x.shape[0], x.shape[1]
        return x.reshape(B, T, self.num_heads, dim).transpose(0, 2, 1, 3)

    def _check(self, query, value, key):
        for name, t in (("query", query), ("value", value), ("key", key)):
            if t.ndim != 3:
                raise ValueError(f"layer '{self.name}' (MultiHeadAttention): {name} must have "
                                 f"shape (batch, length, features), got {t.shape}")
        if key.shape[1] != value.shape[1]:
            raise ValueError(f"layer '{self.name}' (MultiHeadAttention): key and value must "
                             f"have the same length, got {key.shape} and {value.shape}")

    def _mask(self, attention_mask, causal: bool, T: int, S: int, device):
        """One boolean mask (T, S) or (B, 1, T, S) from the arguments, or None."""
        mask = None
        if attention_mask is not None:
            m = attention_mask.data if isinstance(attention_mask, Tensor) else \
                backend.move(np.asarray(attention_mask), device)
            if m.dtype.kind != "b":
                raise TypeError(f"layer '{self.name}' (MultiHeadAttention): attention_mask "
                                f"must be boolean (True: attend), got {m.dtype}")
            mask = m[:, None] if m.ndim == 3 else m          # one mask for every head
        if causal:
            # bottom-right aligned: the last query is the newest position
            c = backend.move(np.tril(np.ones((T, S), dtype=bool), k=S - T), device)
            mask = c if mask is None else mask & c
        return mask

    def forward(self, query, value, key=None, attention_mask=None,
                use_causal_mask: bool = False, return_attention_scores: bool = False,
                training: Optional[bool] = None, cache: Optional[_LayerCache] = None):
        query, value = self._as_input(query), self._as_input(value)
        key = value if key is None else self._as_input(key)
        self._check(query, value, key)
        if not self.built:
            self.build_for(query.shape[-1], value.shape[-1], key.shape[-1])
        q = self._heads(self.query_dense(query), self.key_dim)
        k = self._heads(self.key_dense(key), self.key_dim)
        v = self._heads(self.value_dense(value), self.value_dim)
        if cache is not None:
            k, v = cache.extend(k, v)
        mask = self._mask(attention_mask, use_causal_mask, q.shape[-2], k.shape[-2],
                          query.device)
        training = self.training if training is None else training
        y, weights = F.attention(q, k, v, attn_mask=mask, dropout_p=self.dropout,
                                 training=training)
        B, _, T, _ = y.shape
        y = self.output_dense(y.transpose(0, 2, 1, 3).reshape(B, T,
                                                              self.num_heads * self.value_dim))
        return (y, weights) if return_attention_scores else y

    def get_config(self):
        return {"name": self.name, "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout,
                "use_bias": self.use_bias}


class TransformerBlock(Layer):
    """One pre-LayerNorm Transformer block (GPT-2's):

        x = x + Dropout(MultiHeadAttention(LN1(x), LN1(x), causal))
        x = x + Dropout(Dense(dim)(gelu(Dense(ff_dim)(LN2(x)))))

    Inputs and outputs (batch, T, dim); ``dim`` must be a multiple of ``num_heads``.
    Works in a Sequential model (one input, one output) and in explicit loops."""

    def __init__(self, num_heads: int, ff_dim: Optional[int] = None, dropout: float = 0.0,
                 causal: bool = True, epsilon: float = 1e-5, name=None):
        super().__init__(name=name)
        self.num_heads = positive_int(num_heads, "TransformerBlock", "num_heads")
        self.ff_dim = None if ff_dim is None else positive_int(ff_dim, "TransformerBlock",
                                                               "ff_dim")
        self.rate = number(dropout, "TransformerBlock", "dropout", 0.0, 1.0, high_open=True)
        self.causal, self.epsilon = bool(causal), epsilon

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"layer '{self.name}' (TransformerBlock) expects inputs of shape "
                             f"(batch, length, dim), got feature shape {tuple(input_shape)}")
        dim = input_shape[-1]
        if dim % self.num_heads:
            raise ValueError(f"layer '{self.name}' (TransformerBlock): dim {dim} is not a "
                             f"multiple of num_heads {self.num_heads}")
        self.ln1 = LayerNormalization(self.epsilon, name=f"{self.name}_ln1")
        self.attn = MultiHeadAttention(self.num_heads, dim // self.num_heads,
                                       dropout=self.rate, name=f"{self.name}_attn")
        self.ln2 = LayerNormalization(self.epsilon, name=f"{self.name}_ln2")
        self.ff1 = Dense(self.ff_dim or 4 * dim, name=f"{self.name}_ff1")
        self.ff2 = Dense(dim, name=f"{self.name}_ff2")
        self.drop = Dropout(self.rate)
        self.dim = dim
        # every weight exists once the block is built (parameters() complete)
        for ln in (self.ln1, self.ln2):
            ln.ensure_built((dim,))
        self.attn.build_for(dim, dim)
        self.ff1.ensure_built((dim,))
        self.ff2.ensure_built((self.ff1.units,))

    def _check_input(self, shape):
        if len(shape) != 3 or shape[-1] != self.dim:
            raise _shape_mismatch(self, (None, None, self.dim), tuple(shape))

    def forward(self, x, cache: Optional[_LayerCache] = None, apply_activation: bool = True):
        x = self.prepare(x)
        h = self.ln1(x)
        x = x + self.drop(self.attn(h, h, use_causal_mask=self.causal, cache=cache))
        h = self.ff2(F.gelu(self.ff1(self.ln2(x)), approximate="tanh"))
        return x + self.drop(h)

    def get_config(self):
        return {"name": self.name, "num_heads": self.num_heads, "ff_dim": self.ff_dim,
                "dropout": self.rate, "causal": self.causal}

