"""The Transformer's ops, layers and GPT: semantics the catalogue rows cannot state
(errors, masks, stability, caches, Keras/PyTorch behaviour), with PyTorch as an oracle
where it is installed."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
import minigrad.nn as nn
from minigrad import optim
from minigrad.keras import layers, losses, models

rng = np.random.default_rng(0)


def t64(a, grad=False):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# --- F.embedding ----------------------------------------------------------------------
def test_embedding_gradient_adds_up_repeated_tokens():
    W = t64(rng.standard_normal((5, 3)), grad=True)
    idx = np.array([[1, 1, 4], [1, 0, 2]])
    g = rng.standard_normal((2, 3, 3))
    F.embedding(idx, W).backward(mg.tensor(g))
    expected = np.zeros((5, 3))
    for (i, j), tok in np.ndenumerate(idx):
        expected[tok] += g[i, j]
    np.testing.assert_allclose(W.grad.numpy(), expected)
    assert np.all(W.grad.numpy()[3] == 0)


@pytest.mark.parametrize("bad", [5, -1, 100])
def test_embedding_out_of_range_raises_index_error(bad, device):
    W = mg.tensor(np.zeros((5, 2), np.float32), device=device)
    with pytest.raises(IndexError, match=rf"index {bad} is out of range for 5 rows"):
        F.embedding(mg.tensor(np.array([0, bad]), device=device), W)


def test_embedding_refuses_float_indices_and_bad_weights():
    W = t64(np.zeros((5, 2)))
    with pytest.raises(TypeError, match="integers"):
        F.embedding(np.array([0.0, 1.0]), W)
    with pytest.raises(ValueError, match="2-D"):
        F.embedding(np.array([0]), t64(np.zeros(5)))


# --- F.layer_norm ---------------------------------------------------------------------
def test_layer_norm_constant_rows_give_the_bias_and_finite_gradients():
    x = mg.tensor(np.full((3, 4), 7.0, np.float32), requires_grad=True)
    w = mg.tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    b = mg.tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    y = F.layer_norm(x, 4, w, b)
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to(b.numpy(), (3, 4)))
    y.backward(mg.tensor(rng.standard_normal((3, 4)).astype(np.float32)))
    assert all(np.isfinite(t.grad.numpy()).all() for t in (x, w, b))


def test_layer_norm_large_offset_keeps_precision():
    """Two-pass variance: an offset of 1e4 in float32 still normalises to +-1."""
    x = mg.tensor(np.array([[1e4 - 1, 1e4 + 1]], np.float32))
    np.testing.assert_allclose(F.layer_norm(x, 2).numpy(), [[-1, 1]], atol=1e-4)


def test_layer_norm_argument_errors():
    x = t64(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"normalized_shape \(4,\) must be the last axes"):
        F.layer_norm(x, 4)
    with pytest.raises(ValueError, match=r"weight has shape \(2,\), expected \(3,\)"):
        F.layer_norm(x, 3, weight=t64(np.ones(2)))
    with pytest.raises(ValueError, match="eps must be a positive number"):
        F.layer_norm(x, 3, eps=0)


def test_layer_norm_matches_pytorch_with_gradients():
    torch = pytest.importorskip("torch")
    x, w, b = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((4, 5)), \
        rng.standard_normal((4, 5))
    g = rng.standard_normal((2, 3, 4, 5))
    ours = [t64(a, grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    F.layer_norm(ours[0], (4, 5), ours[1], ours[2]).backward(mg.tensor(g))
    torch.nn.functional.layer_norm(theirs[0], (4, 5), theirs[1], theirs[2]).backward(
        torch.tensor(g))
    for a, b_ in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b_.grad.numpy(), rtol=1e-10, atol=1e-12)


# --- attention --------------------------------------------------------------------------
def test_attention_bool_mask_means_true_takes_part():
    q, k, v = (t64(rng.standard_normal(s)) for s in ((1, 2, 4), (1, 3, 4), (1, 3, 2)))
    mask = np.array([[True, False, False], [False, True, True]])
    _, w = F.attention(q, k, v, attn_mask=mask)
    w = w.numpy()[0]
    assert w[0, 0] == 1.0 and w[0, 1] == 0.0 and w[0, 2] == 0.0
    assert w[1, 0] == 0.0 and abs(w[1, 1:].sum() - 1) < 1e-12


def test_attention_float_mask_is_added_and_causal_is_the_lower_triangle():
    q, k, v = (t64(rng.standard_normal((4, 3))) for _ in range(3))
    m = rng.standard_normal((4, 4))
    _, w_plain = F.attention(q, k, v, scale=1.0)
    _, w_float = F.attention(q, k, v, attn_mask=m, scale=1.0)
    s = q.numpy() @ k.numpy().T + m
    e = np.exp(s - s.max(1, keepdims=True))
    np.testing.assert_allclose(w_float.numpy(), e / e.sum(1, keepdims=True), rtol=1e-12)
    assert not np.allclose(w_plain.numpy(), w_float.numpy())
    _, w_causal = F.attention(q, k, v, is_causal=True)
    assert np.all(np.triu(w_causal.numpy(), 1) == 0)
    np.testing.assert_allclose(w_causal.numpy().sum(1), 1)


def test_attention_is_stable_for_large_scores_and_nan_for_fully_masked_rows():
    q = t64(rng.standard_normal((3, 4)) * 1e4)
    k, v = t64(rng.standard_normal((5, 4))), t64(rng.standard_normal((5, 2)))
    assert np.isfinite(F.scaled_dot_product_attention(q, k, v).numpy()).all()
    mask = np.ones((3, 5), bool)
    mask[1] = False
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).numpy()
    assert np.isnan(y[1]).all() and np.isfinite(y[[0, 2]]).all()


def test_attention_argument_errors():
    q, k, v = t64(np.zeros((2, 3, 4))), t64(np.zeros((2, 5, 4))), t64(np.zeros((2, 5, 6)))
    with pytest.raises(ValueError, match="must share E"):
        F.scaled_dot_product_attention(q, t64(np.zeros((2, 5, 3))), v)
    with pytest.raises(ValueError, match="must share S"):
        F.scaled_dot_product_attention(q, k, t64(np.zeros((2, 4, 6))))
    with pytest.raises(ValueError, match=r"mask of shape \(3, 4\) does not broadcast"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 4), bool))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 5), bool),
                                       is_causal=True)
    with pytest.raises(TypeError, match="boolean or floating"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 5), int))


def test_attention_matches_pytorch():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5)))
    m = rng.random((4, 6)) > 0.3
    m[:, 0] = True
    for kw in ({}, {"attn_mask": m}, {"attn_mask": rng.standard_normal((4, 6))},
               {"scale": 0.3}):
        ours = F.scaled_dot_product_attention(t64(q), t64(k), t64(v), **kw).numpy()
        kt = {a: torch.tensor(b) if isinstance(b, np.ndarray) else b for a, b in kw.items()}
        theirs = tF.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k),
                                                 torch.tensor(v), **kt).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


# --- gelu(tanh), cross_entropy(ignore_index) ------------------------------------------------
def test_gelu_tanh_and_argument_check():
    x = np.linspace(-6, 6, 25)
    expected = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(F.gelu(t64(x), approximate="tanh").numpy(), expected,
                               rtol=1e-12)
    np.testing.assert_array_equal(F.gelu(t64(x), approximate=True).numpy(),
                                  F.gelu(t64(x), approximate="tanh").numpy())
    with pytest.raises(ValueError, match="approximate must be"):
        F.gelu(t64(x), approximate="fast")


def test_cross_entropy_ignore_index_means_over_the_kept_targets():
    x = t64(rng.standard_normal((6, 4)), grad=True)
    t = np.array([1, -100, 3, -100, 0, 2])
    loss = F.cross_entropy(x, t)
    logp = x.numpy() - np.log(np.exp(x.numpy()).sum(1, keepdims=True))
    kept = [0, 2, 4, 5]
    np.testing.assert_allclose(loss.item(), -logp[kept, t[kept]].mean(), rtol=1e-12)
    loss.backward()
    assert np.all(x.grad.numpy()[[1, 3]] == 0)
    np.testing.assert_allclose(x.grad.numpy().sum(1), 0, atol=1e-12)
    # another ignore_index; all ignored -> NaN (as PyTorch); sum is over the kept ones
    t2 = np.array([1, 7, 3, 7, 0, 2])
    np.testing.assert_allclose(F.cross_entropy(x, t2, ignore_index=7).item(), loss.item())
    assert np.isnan(F.cross_entropy(x, np.full(6, -100)).item())
    np.testing.assert_allclose(F.cross_entropy(x, t, reduction="sum").item(),
                               -logp[kept, t[kept]].sum(), rtol=1e-12)
    with pytest.raises(ValueError, match="class label 9 is out of range"):
        F.cross_entropy(x, np.array([1, -100, 3, 9, 0, 2]))


# --- layers -----------------------------------------------------------------------------------
def _mha_reference(mha, q, v, mask=None):
    """Keras' multi-head attention written out with the layer's own weights."""
    def dense(d, x):
        return x @ d.kernel.numpy() + d.bias.numpy()
    h, kd = mha.num_heads, mha.key_dim
    Q = dense(mha.query_dense, q).reshape(q.shape[0], q.shape[1], h, kd).transpose(0, 2, 1, 3)
    K = dense(mha.key_dense, v).reshape(v.shape[0], v.shape[1], h, kd).transpose(0, 2, 1, 3)
    V = dense(mha.value_dense, v).reshape(v.shape[0], v.shape[1], h, -1).transpose(0, 2, 1, 3)
    s = Q @ K.transpose(0, 1, 3, 2) / np.sqrt(kd)
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s - s.max(-1, keepdims=True))
    w = e / e.sum(-1, keepdims=True)
    y = (w @ V).transpose(0, 2, 1, 3).reshape(q.shape[0], q.shape[1], -1)
    return dense(mha.output_dense, y), w


def test_multi_head_attention_matches_its_formula_with_masks():
    mg.manual_seed(1)
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4)
    q = rng.standard_normal((2, 5, 6)).astype(np.float32)
    v = rng.standard_normal((2, 7, 8)).astype(np.float32)
    y, w = mha(q, v, return_attention_scores=True)
    assert y.shape == (2, 5, 6) and w.shape == (2, 2, 5, 7)
    ref_y, ref_w = _mha_reference(mha, q, v)
    np.testing.assert_allclose(y.numpy(), ref_y, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-4, atol=1e-6)
    mask = rng.random((2, 5, 7)) > 0.4
    mask[..., 0] = True
    y = mha(q, v, attention_mask=mask)
    np.testing.assert_allclose(y.numpy(), _mha_reference(mha, q, v, mask[:, None])[0],
                               rtol=1e-4, atol=1e-5)
    y = mha(q[:, :5], q[:, :5].repeat(1, axis=1) @ np.ones((6, 8), np.float32) * 0.1,
            use_causal_mask=True, return_attention_scores=True)[1]
    assert np.all(np.triu(y.numpy(), 1) == 0)


def test_multi_head_attention_errors_name_the_layer():
    mha = layers.MultiHeadAttention(2, 4, name="att")
    with pytest.raises(ValueError, match=r"'att'.*query must have shape"):
        mha(np.zeros((2, 4), np.float32), np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="same length"):
        mha(np.zeros((2, 4, 4), np.float32), np.zeros((2, 3, 4), np.float32),
            np.zeros((2, 5, 4), np.float32))
    with pytest.raises(TypeError, match="must be boolean"):
        mha(np.zeros((2, 4, 4), np.float32), np.zeros((2, 3, 4), np.float32),
            attention_mask=np.ones((2, 4, 3)))


def test_layer_normalization_layer_keras_defaults():
    ln = layers.LayerNormalization()
    x = rng.standard_normal((2, 3, 4)).astype(np.float32) * 5 + 2
    y = ln(x).numpy()
    ref = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    assert [p.shape for p in ln.parameters()] == [(4,), (4,)]
    with pytest.raises(ValueError, match="only axis=-1"):
        layers.LayerNormalization(axis=1)


def test_embedding_layer_takes_whole_floats_but_not_fractions():
    emb = layers.Embedding(10, 3, name="emb")
    a = emb(np.array([[1, 2]])).numpy()
    np.testing.assert_array_equal(emb(np.array([[1.0, 2.0]], np.float32)).numpy(), a)
    with pytest.raises(TypeError, match=r"'emb'.*whole numbers"):
        emb(np.array([[1.5, 2.0]], np.float32))
    with pytest.raises(IndexError, match="index 10 is out of range"):
        emb(np.array([[10]]))


def test_sinusoidal_positions_formula():
    pe = nn.sinusoidal_positions(6, 4).numpy()
    p = np.arange(6)[:, None]
    np.testing.assert_allclose(pe[:, 0::2], np.sin(p / 10000 ** (np.arange(0, 4, 2) / 4)),
                               rtol=1e-6)
    np.testing.assert_allclose(pe[:, 1::2], np.cos(p / 10000 ** (np.arange(0, 4, 2) / 4)),
                               rtol=1e-6)
    assert nn.sinusoidal_positions(3, 5).shape == (3, 5)


def test_position_embedding_start_index_and_range():
    pe = layers.PositionEmbedding(4, name="pos")
    x = np.zeros((2, 3, 5), np.float32)
    full = pe(np.zeros((2, 4, 5), np.float32)).numpy()
    np.testing.assert_array_equal(pe(x[:, :2], start_index=2).numpy(), full[2:4])
    with pytest.raises(ValueError, match=r"'pos'.*positions 2\.\.4 are outside the 4"):
        pe(x, start_index=2)


def test_transformer_block_in_a_keras_sequential_model_trains():
    """Embedding -> TransformerBlock -> LayerNormalization -> Dense on (N, T) tokens, with
    labels (N, T): loss and accuracy are over every position, and fit learns a copy task."""
    mg.manual_seed(0)
    V, T = 5, 6
    x = np.random.default_rng(1).integers(0, V, (256, T))
    model = models.Sequential([layers.Embedding(V, 16), layers.TransformerBlock(2),
                               layers.LayerNormalization(), layers.Dense(V)])
    model.compile(optimizer=mg.optim.Adam(learning_rate=0.01),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, x, epochs=8, batch_size=32, verbose=0)
    loss, acc = model.evaluate(x, x, verbose=0)
    logits = model.predict(x)
    assert logits.shape == (256, T, V)
    np.testing.assert_allclose(acc, (logits.argmax(-1) == x).mean(), rtol=1e-6)
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    np.testing.assert_allclose(loss, -np.take_along_axis(logp, x[..., None], -1).mean(),
                               rtol=1e-4)
    assert acc > 0.95
    with pytest.raises(ValueError, match=r"labels of shape \(256, 6\)"):
        model.fit(x, x[:, 0], epochs=1, verbose=0)


# --- GPT --------------------------------------------------------------------------------------
def small_gpt(**kw):
    mg.manual_seed(0)
    return nn.GPT(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, **kw)


def test_gpt_has_every_parameter_at_construction_and_all_get_gradients():
    m = small_gpt()
    n = len(m.parameters())
    x = np.random.default_rng(0).integers(0, 11, (3, 8))
    m.loss(x, np.roll(x, -1, 1)).backward()
    assert len(m.parameters()) == n == 2 + 2 * 16 + 2 + 1
    assert all(p.grad is not None and np.abs(p.grad.numpy()).sum() > 0 for p in m.parameters())


def test_gpt_cache_gives_the_logits_of_the_full_sequence():
    m = small_gpt()
    x = np.random.default_rng(0).integers(0, 11, (3, 8))
    cache = nn.KVCache()
    first = m(x[:, :5], cache).numpy()
    step = m(x[:, 5:6], cache).numpy()
    full = m(x[:, :6]).numpy()
    np.testing.assert_allclose(first, full[:, :5], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(step[:, 0], full[:, 5], rtol=1e-4, atol=1e-5)
    assert cache.length == 6
    with pytest.raises(ValueError, match="do not fit in the context of 8"):
        m(x[:, :3], cache)


@pytest.mark.parametrize("kw", [dict(temperature=0), dict(temperature=0.8, top_k=4, seed=5)])
def test_gpt_generate_with_cache_equals_without(kw):
    """Past block_size too: the window moves on and the cache is rebuilt."""
    m = small_gpt()
    prompt = np.array([[1, 2, 3], [4, 5, 6]])
    a = m.generate(prompt, 12, **kw)
    b = m.generate(prompt, 12, use_cache=False, **kw)
    assert a.shape == (2, 15)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[:, :3], prompt)


def test_gpt_generate_restores_training_mode_and_checks_its_arguments():
    m = small_gpt(dropout=0.1)
    m.train()
    m.generate(np.array([1, 2]), 2, temperature=0)
    assert m.training and m.block0.attn.training
    with pytest.raises(ValueError, match="prompt must be integer tokens"):
        m.generate(np.array([1.0, 2.0]), 2)
    with pytest.raises(ValueError, match="max_new_tokens"):
        m.generate(np.array([1]), 0)
    with pytest.raises(ValueError, match="top_k"):
        m.generate(np.array([1]), 2, top_k=0)


def test_gpt_top_k_one_is_greedy():
    m = small_gpt()
    p = np.array([3, 1])
    np.testing.assert_array_equal(m.generate(p, 6, top_k=1, seed=0),
                                  m.generate(p, 6, temperature=0))


def test_gpt_learns_a_sequence_with_adamw_groups_and_clipping():
    m = small_gpt()
    seq = np.array([[1, 5, 2, 7, 3, 9, 4, 8, 6]])
    x, y = seq[:, :-1], seq[:, 1:]
    opt = optim.AdamW(optim.weight_decay_groups(m, 0.1), lr=1e-2, global_clipnorm=1.0)
    for _ in range(60):
        opt.zero_grad()
        m.loss(x, y).backward()
        opt.step()
    assert m.loss(x, y).item() < 0.05
    out = m.generate(seq[0, :1], 8, temperature=0)
    np.testing.assert_array_equal(out, seq[0])



def test_a_transformer_sequential_saves_and_loads_with_its_architecture(tmp_path):
    mg.manual_seed(0)
    m = models.Sequential([layers.Embedding(9, 8, input_shape=(5,)), layers.TransformerBlock(2),
                           layers.LayerNormalization(epsilon=1e-4), layers.Dense(9)])
    x = np.random.default_rng(0).integers(0, 9, (3, 5))
    path = m.save(str(tmp_path / "t.npz"))
    again = models.load_model(path)
    assert [type(layer).__name__ for layer in again.layers] == [
        "Embedding", "TransformerBlock", "LayerNormalization", "Dense"]
    assert again.layers[2].epsilon == 1e-4
    np.testing.assert_allclose(again.predict(x), m.predict(x), rtol=1e-6)


# --- from mutation testing: options, inputs and messages no test observed ---------------------
def test_embedding_takes_lists_refuses_grad_indices_and_names_the_dtype():
    W = t64(rng.standard_normal((5, 3)))
    np.testing.assert_array_equal(F.embedding([1, 4], W).numpy(), W.numpy()[[1, 4]])
    assert F.embedding(np.zeros((0,), np.int64), W).shape == (0, 3)
    with pytest.raises(TypeError, match=r"^embedding: indices must not require grad"):
        F.embedding(t64([1.0], grad=True), W)
    with pytest.raises(TypeError, match=r"^embedding: indices must be integers, got dtype "
                                        r"float64$"):
        F.embedding(np.array([1.0]), W)
    with pytest.raises(TypeError, match=r"^embedding: indices must be integers, got dtype "
                                        r"float$"):
        F.embedding(1.5, W)                                     # no dtype: its type named
    with pytest.raises(IndexError, match=r"^embedding: index 5 is out of range for 5 rows "
                                         r"\(indices must be in \[0, 4\]\)$"):
        F.embedding([5], W)


def test_layer_norm_weight_gradient_without_a_bias_gradient_and_double_backprop_on_rows():
    x = t64(rng.standard_normal((3, 4)), grad=True)
    w = t64(rng.standard_normal(4), grad=True)
    b = t64(rng.standard_normal(4))                   # a constant bias
    y = F.layer_norm(x, 4, w, b)
    g = rng.standard_normal((3, 4))
    y.backward(mg.tensor(g))
    xhat = (x.numpy() - x.numpy().mean(1, keepdims=True)) / np.sqrt(
        x.numpy().var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(w.grad.numpy(), (g * xhat).sum(0), rtol=1e-10)
    assert b.grad is None
    assert mg.gradgradcheck(lambda x, w: F.layer_norm(x, 4, w), [x, w])   # several rows


def test_layer_norm_refuses_empty_shapes_boolean_eps_and_names_the_bias():
    x = t64(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"normalized_shape \(\) must be the last axes"):
        F.layer_norm(x, ())
    with pytest.raises(ValueError, match="eps must be a positive number, got True"):
        F.layer_norm(x, 3, eps=True)
    with pytest.raises(ValueError, match=r"^layer_norm: bias has shape \(2,\), expected \(3,\)$"):
        F.layer_norm(x, 3, bias=t64(np.zeros(2)))


def test_attention_dropout_is_on_by_default_and_masks_may_be_lists():
    q, k, v = (t64(rng.standard_normal((4, 8))) for _ in range(3))
    plain = F.scaled_dot_product_attention(q, k, v).numpy()
    mg.manual_seed(1)
    dropped = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    assert not np.allclose(dropped, plain)                      # training=True by default
    _, w = F.attention(q, k, v, dropout_p=0.5)
    assert (w.numpy() == 0).any()                               # F.attention's default too
    np.testing.assert_array_equal(
        F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=False).numpy(), plain)
    mask = [[True, False, True, True]] * 4
    np.testing.assert_array_equal(
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask).numpy(),
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.array(mask)).numpy())
    q32 = mg.tensor(rng.standard_normal((2, 3)).astype(np.float32))
    out = F.scaled_dot_product_attention(q32, q32, q32, attn_mask=np.zeros((2, 2)))
    assert out.dtype == np.float32                              # a float64 mask does not upcast


def test_attention_messages():
    q = t64(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"^attention: query, key and value need at least 2 "
                                         r"axes \(\.\.\., L, E\), got shapes \(2, 3\), \(3,\), "):
        F.attention(q, t64(np.zeros(3)), q)
    with pytest.raises(ValueError, match=r"^attention: pass either attn_mask or is_causal=True, "
                                         r"not both$"):
        F.attention(q, q, q, attn_mask=np.ones((2, 2), bool), is_causal=True)


def test_causal_mask_on_its_own():
    m = F.causal_mask(3, 4)
    assert m.device == "cpu" and m.dtype == bool
    np.testing.assert_array_equal(m.numpy(), np.tril(np.ones((3, 4), bool)))


# --- from mutation testing of nn.transformer and nn.gpt ----------------------------------------
def test_gpt_forward_is_its_layers_composed():
    """logits = head(ln_f(blocks(tok(x) + pos(x)))), written out with the model's layers."""
    m = small_gpt()
    x = np.random.default_rng(2).integers(0, 11, (2, 6))
    h = m.tok(x)
    h = h + m.pos(h)
    for block in m.blocks:
        h = block(h)
    np.testing.assert_allclose(m(x).numpy(), m.head(m.ln_f(h)).numpy(), rtol=1e-6)


def test_gpt_loss_passes_ignore_index():
    m = small_gpt()
    x = np.random.default_rng(3).integers(0, 11, (2, 6))
    y = np.roll(x, -1, 1)
    y_ignored = y.copy()
    y_ignored[:, :3] = 7                                  # ignored with ignore_index=7
    logits = m(x).numpy().reshape(-1, 11)
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    keep = (y_ignored.reshape(-1) != 7)
    want = -logp[np.arange(12), y.reshape(-1)][keep].mean()
    np.testing.assert_allclose(m.loss(x, y_ignored, ignore_index=7).item(), want, rtol=1e-5)


def test_sampling_follows_softmax_of_logits_over_temperature():
    from minigrad.nn.gpt import _sample
    logits = np.tile([[0.0, 1.0, 2.0]], (20000, 1))
    rng = np.random.default_rng(0)
    freq = np.bincount(_sample(logits, 0.5, None, rng), minlength=3) / 20000
    p = np.exp(np.array([0.0, 2.0, 4.0]))
    np.testing.assert_allclose(freq, p / p.sum(), atol=0.01)
    freq = np.bincount(_sample(logits, 1.0, 2, rng), minlength=3) / 20000
    assert freq[0] == 0                                   # top_k=2 keeps classes 1 and 2
    np.testing.assert_allclose(freq[1:], np.exp([1, 2]) / np.exp([1, 2]).sum(), atol=0.01)
    big = np.array([[1000.0, 990.0, 0.0]])                # no overflow for large logits
    assert _sample(big, 1.0, None, rng)[0] == 0
    np.testing.assert_array_equal(_sample(np.array([[0.0, 3.0, 1.0]]), 0, None, rng), [1])


def test_gpt_and_block_arguments_and_defaults():
    m = nn.GPT(vocab_size=5, block_size=4, n_layer=1, n_head=2, dropout=0.1)
    block = m.block0
    assert m.tok.output_dim == 128 and block.ff1.units == 4 * 128       # n_embd default
    assert block.rate == 0.1 and block.attn.dropout == 0.1             # dropout reaches the blocks
    assert block.ln1.epsilon == 1e-5 and m.ln_f.epsilon == 1e-5
    tb = layers.TransformerBlock(2, ff_dim=8)
    tb(np.zeros((1, 3, 4), np.float32))
    assert tb.ff1.units == 8
    for kwargs, msg in [(dict(block_size=0), r"^GPT: block_size must be an integer >= 1"),
                        (dict(n_embd=0), r"^GPT: n_embd must be an integer >= 1"),
                        (dict(dropout=1.0), r"^GPT: dropout must be"),
                        (dict(dropout=-0.1), r"^GPT: dropout must be")]:
        args = dict(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4)
        args.update(kwargs)
        with pytest.raises(ValueError, match=msg):
            nn.GPT(**args)
    with pytest.raises(ValueError, match=r"^TransformerBlock: ff_dim must be an integer >= 1"):
        layers.TransformerBlock(2, ff_dim=0)
    with pytest.raises(ValueError, match=r"'tb' \(TransformerBlock\) expects inputs of shape "
                                         r"\(batch, length, dim\), got feature shape \(4,\)"):
        layers.TransformerBlock(2, name="tb")(np.zeros((2, 4), np.float32))


def test_generate_messages():
    m = small_gpt()
    with pytest.raises(ValueError, match=r"^generate: max_new_tokens must be an integer >= 1"):
        m.generate(np.array([1]), 0)
    with pytest.raises(ValueError, match=r"^generate: temperature must be"):
        m.generate(np.array([1]), 2, temperature=-1.0)
    with pytest.raises(ValueError, match=r"^generate: top_k must be an integer >= 1"):
        m.generate(np.array([1]), 2, top_k=0)
    with pytest.raises(ValueError, match=r"prompt must be integer tokens of shape \(T,\) or "
                                         r"\(B, T\) with T >= 1, got float64 \(2,\)"):
        m.generate(np.array([1.0, 2.0]), 2)
    with pytest.raises(ValueError, match=r"^GPT: tokens must have shape \(batch, length\), "
                                         r"got \(3,\)"):
        m(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"^GPT: 9 positions do not fit in the context of 8"):
        m(np.zeros((1, 9), np.int64))
