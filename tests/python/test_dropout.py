"""Attention dropout in the Python package: PyTorch's argument order, dropout_p = 0 changes
nothing, the mask read off the output (V = identity, so out[..., i, j] = Z_ij P_ij) has the drop
rate p and kept weights P / (1 - p), a seed gives the same mask in the forward and in the
backward (whose gradients match central differences of the forward with that seed), and
identical slices of the leading dimensions still get masks of their own.

Runs with ATTN_KERNEL=reference and =fused (conftest.py)."""
import inspect

import numpy as np
import pytest

import attn


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def test_argument_order_is_torchs():
    fwd = list(inspect.signature(attn.scaled_dot_product_attention).parameters)
    assert fwd[:8] == ["query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale",
                       "enable_gqa"]
    bwd = list(inspect.signature(attn.scaled_dot_product_attention_backward).parameters)
    assert bwd[:9] == ["grad_out"] + fwd[:8]


def test_zero_is_off():
    rng = np.random.default_rng(1)
    q, k, v = randn(rng, 2, 3, 7, 8), randn(rng, 2, 3, 9, 8), randn(rng, 2, 3, 9, 5)
    a = attn.scaled_dot_product_attention(q, k, v, is_causal=True)
    b = attn.scaled_dot_product_attention(q, k, v, None, 0.0, True, dropout_seed=123)
    assert np.array_equal(a, b)


def identity_case(p, seed, B=2, H=3, N=48):
    rng = np.random.default_rng(5)
    q, k = randn(rng, B, H, N, 8), randn(rng, B, H, N, 8)
    v = np.broadcast_to(np.eye(N, dtype=np.float32), (B, H, N, N)).copy()
    out = attn.scaled_dot_product_attention(q, k, v, dropout_p=p, dropout_seed=seed)
    return out, attn.attention_probs(q, k)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_mask_rate_and_scale(p):
    out, probs = identity_case(p, 7)
    dropped = out == 0
    n = out.size
    assert abs(dropped.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(out[~dropped], probs[~dropped] / (1 - p), rtol=1e-5, atol=1e-7)


def test_seed_gives_the_mask():
    a, _ = identity_case(0.3, 7)
    b, _ = identity_case(0.3, 7)
    c, _ = identity_case(0.3, 8)
    assert np.array_equal(a, b)
    assert ((a == 0) != (c == 0)).mean() > 0.2


def test_leading_dims_get_their_own_masks():
    rng = np.random.default_rng(2)
    q, k = randn(rng, 1, 2, 16, 8), randn(rng, 1, 2, 16, 8)
    v = np.broadcast_to(np.eye(16, dtype=np.float32), (1, 2, 16, 16)).copy()
    tile = lambda x: np.broadcast_to(x, (3, 2, 2) + x.shape[2:]).copy()  # noqa: E731
    out = attn.scaled_dot_product_attention(tile(q), tile(k), tile(v), dropout_p=0.5,
                                            dropout_seed=3)
    masks = (out == 0).reshape(6, -1)
    assert all((masks[i] != masks[j]).any() for i in range(6) for j in range(i + 1, 6))


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    q, k, v = randn(rng, 1, 2, 4, 3), randn(rng, 1, 2, 5, 3), randn(rng, 1, 2, 5, 2)
    g = randn(rng, 1, 2, 4, 2)
    kw = dict(dropout_p=0.4, dropout_seed=11)
    grads = attn.scaled_dot_product_attention_backward(g, q, k, v, **kw)

    def loss(q, k, v):
        return float(np.sum(attn.scaled_dot_product_attention(q, k, v, **kw).astype(np.float64) * g))

    eps = 1e-2
    for which, x in enumerate((q, k, v)):
        for idx in np.ndindex(x.shape):
            up, down = [a.copy() for a in (q, k, v)], [a.copy() for a in (q, k, v)]
            up[which][idx] += eps
            down[which][idx] -= eps
            step = float(up[which][idx]) - float(down[which][idx])
            fd = (loss(*up) - loss(*down)) / step
            assert abs(fd - grads[which][idx]) <= 2e-3 * abs(fd) + 2e-4, (which, idx)


def test_backward_needs_the_seed():
    rng = np.random.default_rng(4)
    q = randn(rng, 1, 1, 3, 4)
    with pytest.raises(ValueError, match="dropout_seed"):
        attn.scaled_dot_product_attention_backward(q, q, q, q, dropout_p=0.1)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_bad_probability(p):
    q = np.zeros((1, 1, 2, 4), np.float32)
    with pytest.raises(ValueError, match="dropout_p"):
        attn.scaled_dot_product_attention(q, q, q, dropout_p=p)
