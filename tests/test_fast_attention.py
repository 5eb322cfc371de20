"""The fused attention op (minigrad.kernels.attention) against the reference composition
(matmul, scaling, mask, softmax, matmul): when each runs, and the same values and
gradients, through the weights too, in float64."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad.kernels.attention import Attention


def _inputs(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [mg.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


def _both_ways(shapes, **kwargs):
    """Output, weights and input gradients of F.attention, fast and reference, with a
    loss that uses the weights as well as the output."""
    out = []
    for reference in (False, True):
        rng = np.random.default_rng(1)
        q, k, v = _inputs(shapes)
        with mg.kernels.reference_ops(reference):
            y, w = F.attention(q, k, v, **kwargs)
            gy = mg.tensor(rng.standard_normal(y.shape))
            gw = mg.tensor(np.random.default_rng(2).standard_normal(w.shape))
            ((y * gy).sum() + (w * gw).sum()).backward()
        out.append((type(y.creator), [y.numpy(), w.numpy(), q.grad.numpy(),
                                      k.grad.numpy(), v.grad.numpy()]))
    return out


@pytest.mark.parametrize("kwargs", [{}, {"is_causal": True}, {"scale": 0.3},
                                    {"attn_mask": np.array([[True, False, True, True]] * 3)},
                                    {"attn_mask": np.full((3, 4), -0.5)}])
def test_the_fused_op_runs_by_default_and_equals_the_reference(kwargs):
    shapes = [(2, 3, 3, 5), (2, 3, 4, 5), (2, 3, 4, 2)]
    if kwargs.get("is_causal"):
        shapes = [(2, 3, 4, 5), (2, 3, 4, 5), (2, 3, 4, 2)]
    (fast_op, fast), (ref_op, ref) = _both_ways(shapes, **kwargs)
    assert fast_op is Attention and ref_op is not Attention
    for a, b in zip(fast, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_a_mask_with_more_batch_axes_than_the_inputs():
    """q and k (L, E) and (S, E) with a (2, 1, L, S) mask: scores (2, 1, L, S)."""
    mask = np.random.default_rng(3).random((2, 1, 3, 4)) > 0.3
    mask[..., 0] = True                       # no row fully masked
    (_, fast), (_, ref) = _both_ways([(3, 5), (4, 5), (4, 2)], attn_mask=mask)
    assert fast[0].shape == (2, 1, 3, 2)
    for a, b in zip(fast, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_broadcast_batch_axes_get_their_gradients_summed():
    (_, fast), (_, ref) = _both_ways([(2, 3, 3, 5), (1, 3, 4, 5), (3, 4, 2)])
    assert fast[3].shape == (1, 3, 4, 5) and fast[4].shape == (3, 4, 2)
    for a, b in zip(fast, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_a_fully_masked_row_gives_nan_as_the_reference():
    mask = np.array([[True, True], [False, False]])
    (_, fast), (_, ref) = _both_ways([(2, 3), (2, 3), (2, 3)], attn_mask=mask)
    assert np.isnan(fast[0][1]).all() and not np.isnan(fast[0][0]).any()
    for a, b in zip(fast, ref):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(np.nan_to_num(a), np.nan_to_num(b), rtol=1e-12)


def test_the_reference_runs_with_dropout_autocast_or_a_mask_that_learns():
    q, k, v = _inputs([(2, 3, 4)] * 3)
    learned = mg.tensor(np.zeros((3, 3)), requires_grad=True)
    assert type(F.attention(q, k, v)[0].creator) is Attention
    assert type(F.attention(q, k, v, dropout_p=0.5, training=False)[0].creator) is Attention
    assert type(F.attention(q, k, v, dropout_p=0.5)[0].creator) is not Attention
    assert type(F.attention(q, k, v, attn_mask=learned)[0].creator) is not Attention
    q32, k32, v32 = (mg.tensor(t.numpy().astype(np.float32)) for t in (q, k, v))
    with mg.mixed_precision.autocast("float16"):
        y = F.attention(q32, k32, v32)[0]
    assert type(y.creator) is not Attention and y.dtype == np.float16
    assert type(F.attention(q, k32, v)[0].creator) is not Attention     # two dtypes


def test_errors_are_the_reference_ones():
    q, k, v = _inputs([(2, 3, 4), (3, 5, 4), (3, 5, 2)])
    with pytest.raises(ValueError, match=r"^matmul: batch dimensions of shapes \(2, 3, 4\) "
                                         r"and \(3, 4, 5\) do not broadcast$"):
        F.attention(q, k, v)
    q, k, v = _inputs([(3, 4), (5, 4), (5, 2)])
    with pytest.raises(ValueError, match=r"^attention: mask of shape \(2, 3\) does not "
                                         r"broadcast to the scores' shape \(3, 5\) "
                                         r"\(\.\.\., L, S\)$"):
        F.attention(q, k, v, attn_mask=np.ones((2, 3), bool))


def test_double_backprop_through_the_fused_op():
    q, k, v = _inputs([(2, 3, 4), (2, 5, 4), (2, 5, 3)], seed=4)
    assert mg.gradgradcheck(lambda a, b, c: F.attention(a, b, c, is_causal=False)[0],
                            [q, k, v])


def test_a_fully_masked_row_warns_nothing_with_numpys_kernels_too(generic_cpu_kernels):
    """NumPy's generic softmax computes -inf - -inf for a fully masked row: the op keeps
    that silent (the suite turns RuntimeWarnings into errors), forward and double
    backprop alike."""
    mask = np.array([[True, True], [False, False]])
    q, k, v = _inputs([(2, 3), (2, 3), (2, 3)])
    y, w = F.attention(q, k, v, attn_mask=mask)
    assert type(y.creator) is Attention and np.isnan(w.numpy()[1]).all()
    g, = mg.grad(y[0].sum(), [q], create_graph=True)
    assert np.isfinite(g.numpy()[0]).all()
