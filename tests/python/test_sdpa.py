"""Conformance of attn.scaled_dot_product_attention, its backward and attention_probs with the
definition (PyTorch 2.x semantics) computed by torch in float64; see reference.py.

Every test runs with ATTN_KERNEL=reference and =fused (conftest.py)."""
import numpy as np
import pytest

import attn
from reference import Reference, max_err

OUT_TOL = 1e-5    # forward output
GRAD_TOL = 1e-4   # gradients and probabilities


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def bool_mask(rng, *shape, p=0.7):
    return rng.random(shape) < p


def float_mask(rng, *shape, p_hidden=0.1):
    m = randn(rng, *shape)
    m[rng.random(shape) < p_hidden] = -np.inf
    return m


def check(q, k, v, attn_mask=None, is_causal=False, scale=None, enable_gqa=False, seed=0,
          probs=True):
    """Compares output, probabilities and gradients with the float64 reference. Returns the
    reference for further checks."""
    kw = dict(attn_mask=attn_mask, is_causal=is_causal, scale=scale, enable_gqa=enable_gqa)
    ref = Reference(q, k, v, **kw)
    out = attn.scaled_dot_product_attention(q, k, v, **kw)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert out.shape == tuple(ref.out.shape)
    assert max_err(out, ref.out.detach().numpy()) <= OUT_TOL

    if probs:
        p = attn.attention_probs(q, k, **kw)
        assert p.dtype == np.float32 and p.flags.c_contiguous
        assert max_err(p, ref.probs.detach().numpy()) <= GRAD_TOL

    g = randn(np.random.default_rng(seed + 1000), *out.shape)
    grads = attn.scaled_dot_product_attention_backward(g, q, k, v, **kw)
    expected = ref.grads(g)
    assert len(grads) == len(expected)
    names = ["grad_query", "grad_key", "grad_value", "grad_attn_mask"]
    for name, got, want in zip(names, grads, expected):
        assert got.dtype == np.float32, name
        err = max_err(got, want)
        assert err <= GRAD_TOL, "%s: max abs error %g" % (name, err)
    return ref, out, grads


# ---- plain attention ---------------------------------------------------------------------------
@pytest.mark.parametrize("L,S,E,Ev", [(8, 8, 16, 16), (5, 11, 8, 24), (13, 4, 32, 8),
                                      (1, 9, 16, 16), (7, 1, 16, 4), (1, 1, 8, 8),
                                      (16, 24, 80, 80)])
def test_no_mask(L, S, E, Ev):
    rng = np.random.default_rng(L * 100 + S)
    check(randn(rng, 2, 3, L, E), randn(rng, 2, 3, S, E), randn(rng, 2, 3, S, Ev))


def test_crosses_fused_tile_boundaries():
    # the fused kernel works in 96 x 96 tiles: one case with several partial tiles
    rng = np.random.default_rng(17)
    check(randn(rng, 1, 2, 100, 16), randn(rng, 1, 2, 130, 16), randn(rng, 1, 2, 130, 8),
          attn_mask=float_mask(rng, 1, 1, 100, 130))
    check(randn(rng, 1, 2, 130, 16), randn(rng, 1, 2, 100, 16), randn(rng, 1, 2, 100, 8),
          is_causal=True)


@pytest.mark.parametrize("scale", [0.0, 0.25, -0.7, 2.0])
def test_explicit_scale(scale):
    rng = np.random.default_rng(1)
    check(randn(rng, 2, 2, 6, 8), randn(rng, 2, 2, 9, 8), randn(rng, 2, 2, 9, 8), scale=scale)


def test_three_dims():
    rng = np.random.default_rng(2)
    check(randn(rng, 3, 7, 16), randn(rng, 3, 10, 16), randn(rng, 3, 10, 12),
          attn_mask=float_mask(rng, 7, 10))


def test_two_dims():
    rng = np.random.default_rng(3)
    check(randn(rng, 7, 16), randn(rng, 10, 16), randn(rng, 10, 8), is_causal=True)


def test_mixed_ranks():
    # key/value without batch dims broadcast over the query's [B, H] (torch.matmul rules)
    rng = np.random.default_rng(4)
    check(randn(rng, 2, 3, 6, 8), randn(rng, 9, 8), randn(rng, 3, 9, 8))


# ---- masks -------------------------------------------------------------------------------------
B, H, L, S, E = 2, 3, 6, 10, 16
MASK_SHAPES = [(L, S), (S,), (1, 1, L, S), (B, 1, 1, S), (B, H, L, S), (1, H, 1, S),
               (B, 1, L, 1), (H, L, S), (1, L, S), (B, H, 1, 1)]


@pytest.mark.parametrize("shape", MASK_SHAPES, ids=str)
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_mask_broadcast(kind, shape):
    rng = np.random.default_rng(len(shape) * 7 + sum(shape))
    q, k, v = randn(rng, B, H, L, E), randn(rng, B, H, S, E), randn(rng, B, H, S, 8)
    m = bool_mask(rng, *shape) if kind == "bool" else float_mask(rng, *shape)
    check(q, k, v, attn_mask=m)


def test_bool_mask_all_true_equals_no_mask():
    rng = np.random.default_rng(5)
    q, k, v = randn(rng, B, H, L, E), randn(rng, B, H, S, E), randn(rng, B, H, S, E)
    a = attn.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((L, S), bool))
    b = attn.scaled_dot_product_attention(q, k, v)
    assert np.array_equal(a, b)


def test_float64_mask_and_inputs_are_converted():
    rng = np.random.default_rng(6)
    q, k, v = (rng.standard_normal((B, H, n, E)) for n in (L, S, S))
    m = rng.standard_normal((B, 1, L, S))
    ref, out, grads = check(q, k, v, attn_mask=m)
    assert len(grads) == 4 and grads[3].shape == m.shape


# ---- causal ------------------------------------------------------------------------------------
@pytest.mark.parametrize("Lq,Sk", [(8, 8), (5, 12), (12, 5), (1, 6), (6, 1)])
def test_causal(Lq, Sk):
    rng = np.random.default_rng(Lq * 31 + Sk)
    ref, out, _ = check(randn(rng, 2, 2, Lq, 16), randn(rng, 2, 2, Sk, 16),
                        randn(rng, 2, 2, Sk, 8), is_causal=True)
    # top-left: query 0 sees key 0 only, so its output is value row 0
    assert np.allclose(out[..., 0, :], ref.v.detach().numpy()[..., 0, :], atol=1e-6)


def test_causal_probs_are_lower_triangular():
    rng = np.random.default_rng(7)
    p = attn.attention_probs(randn(rng, 1, 1, 5, 8), randn(rng, 1, 1, 9, 8), is_causal=True)
    assert np.all(np.triu(p[0, 0], 1) == 0)
    assert np.allclose(p.sum(-1), 1, atol=1e-5)


# ---- fully hidden rows -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_fully_masked_rows(kind):
    rng = np.random.default_rng(8)
    q, k, v = randn(rng, B, H, L, E), randn(rng, B, H, S, E), randn(rng, B, H, S, 8)
    hidden = np.zeros((B, H, L, S), bool)
    hidden[0, :, 2] = True          # row 2 of batch 0, every head
    hidden[1, 1] = True             # every row of batch 1, head 1
    if kind == "bool":
        m = ~hidden & bool_mask(rng, B, H, L, S, p=0.9)
        m[..., 0] |= ~hidden[..., 0]   # keep other rows alive
    else:
        m = np.where(hidden, -np.inf, randn(rng, B, H, L, S)).astype(np.float32)
    ref, out, grads = check(q, k, v, attn_mask=m)
    assert np.all(out[0, :, 2] == 0) and np.all(out[1, 1] == 0)
    dq, dk, dv = grads[:3]
    assert np.all(dq[0, :, 2] == 0) and np.all(dq[1, 1] == 0)
    assert np.all(dk[1, 1] == 0) and np.all(dv[1, 1] == 0)
    if kind == "float":
        assert np.all(grads[3][hidden] == 0)
    p = attn.attention_probs(q, k, attn_mask=m)
    assert np.all(p[0, :, 2] == 0) and np.all(p[1, 1] == 0)


def test_key_padding_hides_a_whole_sequence():
    rng = np.random.default_rng(9)
    q, k, v = randn(rng, B, H, L, E), randn(rng, B, H, S, E), randn(rng, B, H, S, E)
    m = np.ones((B, 1, 1, S), bool)
    m[1] = False
    m[0, ..., 7:] = False
    _, out, _ = check(q, k, v, attn_mask=m)
    assert np.all(out[1] == 0)


# ---- grouped-query attention -------------------------------------------------------------------
@pytest.mark.parametrize("Hkv", [4, 2, 1])
@pytest.mark.parametrize("extra", ["none", "causal", "bool", "float"])
def test_gqa(Hkv, extra):
    rng = np.random.default_rng(Hkv * 13 + len(extra))
    q, k, v = randn(rng, 2, 4, 7, 16), randn(rng, 2, Hkv, 9, 16), randn(rng, 2, Hkv, 9, 12)
    kw = {}
    if extra == "causal":
        kw["is_causal"] = True
    elif extra == "bool":
        kw["attn_mask"] = bool_mask(rng, 2, 4, 7, 9)
    elif extra == "float":
        kw["attn_mask"] = float_mask(rng, 1, 4, 1, 9)
    check(q, k, v, enable_gqa=True, **kw)


@pytest.mark.parametrize("hk,hv", [(2, 1), (1, 2), (1, 4)])
def test_gqa_key_value_heads_differ(hk, hv):
    rng = np.random.default_rng(hk * 5 + hv)
    check(randn(rng, 2, 4, 5, 8), randn(rng, 2, hk, 6, 8), randn(rng, 2, hv, 6, 8),
          enable_gqa=True)


def test_single_kv_head_broadcasts_without_gqa():
    # torch.matmul broadcasts a head dim of 1, so PyTorch accepts this without enable_gqa
    rng = np.random.default_rng(10)
    check(randn(rng, 2, 4, 5, 8), randn(rng, 2, 1, 6, 8), randn(rng, 2, 1, 6, 8))


# ---- batch broadcasting and many leading dims --------------------------------------------------
@pytest.mark.parametrize("kshape,mshape", [
    ((1, 3, 9, 8), None),               # key/value shared by the batch
    ((2, 1, 9, 8), (1, 1, 5, 9)),       # one key/value head for every query head
    ((1, 1, 9, 8), (2, 3, 5, 9)),
])
def test_batch_broadcast(kshape, mshape):
    rng = np.random.default_rng(11 + len(str(kshape)))
    m = None if mshape is None else float_mask(rng, *mshape)
    check(randn(rng, 2, 3, 5, 8), randn(rng, *kshape), randn(rng, *kshape[:-1], 6),
          attn_mask=m)


@pytest.mark.parametrize("qshape,kshape,mshape", [
    ((2, 3, 2, 5, 8), (2, 3, 2, 7, 8), (3, 1, 5, 7)),     # merged into one batch dim
    ((2, 3, 2, 5, 8), (1, 3, 2, 7, 8), (2, 1, 1, 1, 7)),  # key broadcast over dim 0
    ((2, 3, 2, 5, 8), (2, 1, 2, 7, 8), (1, 3, 2, 5, 7)),  # key broadcast over dim 1
    ((2, 1, 3, 2, 4, 8), (1, 2, 3, 2, 6, 8), (2, 2, 1, 1, 4, 6)),
])
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_many_leading_dims(qshape, kshape, mshape, kind):
    rng = np.random.default_rng(len(qshape) + sum(kshape))
    m = bool_mask(rng, *mshape) if kind == "bool" else float_mask(rng, *mshape)
    check(randn(rng, *qshape), randn(rng, *kshape), randn(rng, *kshape[:-1], 6),
          attn_mask=m)


# ---- strided inputs ----------------------------------------------------------------------------
def test_transposed_bhld_view():
    # [B, L, H, E] storage, attended as the [B, H, L, E] view, no copy
    rng = np.random.default_rng(12)
    q = randn(rng, 2, 7, 3, 16).transpose(0, 2, 1, 3)
    k = randn(rng, 2, 9, 3, 16).transpose(0, 2, 1, 3)
    v = randn(rng, 2, 9, 3, 8).transpose(0, 2, 1, 3)
    m = float_mask(rng, 2, 7, 9, 3).transpose(0, 3, 1, 2)   # a strided mask as well
    check(q, k, v, attn_mask=m)


def test_step_two_slices():
    rng = np.random.default_rng(13)
    q = randn(rng, 4, 3, 12, 32)[::2, :, ::2, ::2]
    k = randn(rng, 2, 6, 18, 16)[:, ::2, 1::2]
    v = randn(rng, 2, 3, 9, 20)[..., 3:15]
    m = bool_mask(rng, 2, 3, 6, 18)[:, :, :, ::2]
    check(q, k, v, attn_mask=m)


def test_negative_and_odd_strides_are_copied():
    rng = np.random.default_rng(14)
    q = randn(rng, 2, 2, 6, 8)[:, ::-1, ::-1]
    rec = np.zeros((2, 2, 7, 8), dtype=[("x", "<f4"), ("pad", "u1")])   # 5-byte stride
    rec["x"] = randn(rng, 2, 2, 7, 8)
    k = rec["x"]
    assert k.strides[-1] == 5
    v = randn(rng, 2, 2, 7, 8)[..., ::-1]
    check(q, k, v, attn_mask=float_mask(rng, 6, 7)[::-1])


def test_broadcast_to_views():
    # zero-stride views made by np.broadcast_to are read in place; gradients keep their shape
    rng = np.random.default_rng(15)
    k = np.broadcast_to(randn(rng, 1, 3, 9, 8), (2, 3, 9, 8))
    v = np.broadcast_to(randn(rng, 9, 8), (2, 3, 9, 8))
    m = np.broadcast_to(float_mask(rng, 1, 1, 5, 9), (2, 3, 5, 9))
    check(randn(rng, 2, 3, 5, 8), k, v, attn_mask=m)


# ---- empty problems ----------------------------------------------------------------------------
def test_empty_sizes():
    rng = np.random.default_rng(16)
    o = attn.scaled_dot_product_attention(randn(rng, 2, 0, 4), randn(rng, 2, 3, 4),
                                          randn(rng, 2, 3, 5))
    assert o.shape == (2, 0, 5)
    q = randn(rng, 2, 3, 4)
    o = attn.scaled_dot_product_attention(q, randn(rng, 2, 0, 4), randn(rng, 2, 0, 5))
    assert o.shape == (2, 3, 5) and np.all(o == 0)
    g = attn.scaled_dot_product_attention_backward(np.ones((2, 3, 5), np.float32), q,
                                                   randn(rng, 2, 0, 4), randn(rng, 2, 0, 5))
    assert [x.shape for x in g] == [(2, 3, 4), (2, 0, 4), (2, 0, 5)]
    assert np.all(g[0] == 0)
