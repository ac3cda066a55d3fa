"""attn's Python API around the numerics: errors, determinism, threads, ctypes layout, loading.

Every test runs with ATTN_KERNEL=reference and =fused (conftest.py)."""
import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest

import attn
from attn import _lib, _plan


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture
def qkv():
    rng = np.random.default_rng(0)
    return randn(rng, 2, 4, 6, 8), randn(rng, 2, 4, 9, 8), randn(rng, 2, 4, 9, 5)


def test_kernel_env_reaches_the_library(kernel):
    assert attn.kernel_name() == kernel


def test_simd_isa():
    assert attn.simd_isa() in ("generic", "avx2", "avx512")


def test_version():
    assert attn.version() == "0.1.0"


# ---- determinism -------------------------------------------------------------------------------
def _run_all(q, k, v, m, g):
    out = attn.scaled_dot_product_attention(q, k, v, attn_mask=m, enable_gqa=True)
    grads = attn.scaled_dot_product_attention_backward(g, q, k, v, attn_mask=m, enable_gqa=True)
    probs = attn.attention_probs(q, k, attn_mask=m, enable_gqa=True)
    return [out, probs] + list(grads)


def test_bitwise_identical_for_one_and_two_threads():
    rng = np.random.default_rng(1)
    q, k, v = randn(rng, 2, 4, 33, 16), randn(rng, 2, 2, 47, 16), randn(rng, 2, 2, 47, 24)
    m = randn(rng, 2, 1, 33, 47)
    g = randn(rng, 2, 4, 33, 24)
    try:
        attn.set_num_threads(1)
        assert attn.get_num_threads() == 1
        one = _run_all(q, k, v, m, g)
        attn.set_num_threads(2)
        assert attn.get_num_threads() == 2
        two = _run_all(q, k, v, m, g)
    finally:
        attn.set_num_threads(0)
    assert len(one) == len(two) == 6
    for a, b in zip(one, two):
        assert a.shape == b.shape and a.view(np.uint32).tobytes() == b.view(np.uint32).tobytes()


def test_set_num_threads_default_restores():
    attn.set_num_threads(3)
    assert attn.get_num_threads() == 3
    attn.set_num_threads(0)
    assert attn.get_num_threads() >= 1


# ---- errors ------------------------------------------------------------------------------------
def test_mismatched_feature_size(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match="feature size E=8.*key has 7"):
        attn.scaled_dot_product_attention(q, k[..., :7], v)


def test_mismatched_key_and_value_length(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match="S=9 keys.*value has 8"):
        attn.scaled_dot_product_attention(q, k, v[..., :8, :])


def test_batch_dims_do_not_broadcast(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match="batch dims .* do not broadcast"):
        attn.scaled_dot_product_attention(q, np.concatenate([k, k, k]), v)


def test_rank_below_two(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match="query has shape \\(8,\\); it needs at least 2 dims"):
        attn.scaled_dot_product_attention(q[0, 0, 0], k, v)


@pytest.mark.parametrize("shape", [(6, 8), (3, 6, 9), (2, 4, 1, 6, 9), (9, 6), (3, 1, 1)])
def test_bad_mask_shape(qkv, shape):
    q, k, v = qkv
    with pytest.raises(ValueError, match="attn_mask has shape"):
        attn.scaled_dot_product_attention(q, k, v, attn_mask=np.ones(shape, bool))


def test_bad_mask_dtype(qkv):
    q, k, v = qkv
    with pytest.raises(TypeError, match="attn_mask has dtype int64"):
        attn.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((6, 9), np.int64))


def test_gqa_without_enable_gqa():
    rng = np.random.default_rng(2)
    q, k, v = randn(rng, 2, 4, 6, 8), randn(rng, 2, 2, 9, 8), randn(rng, 2, 2, 9, 8)
    with pytest.raises(ValueError, match="query has 4 heads .* key has 2.*enable_gqa=True"):
        attn.scaled_dot_product_attention(q, k, v)
    with pytest.raises(ValueError, match="enable_gqa=True"):
        attn.scaled_dot_product_attention_backward(np.ones((2, 4, 6, 8), np.float32), q, k, v)
    with pytest.raises(ValueError, match="enable_gqa=True"):
        attn.attention_probs(q, k)


def test_gqa_heads_not_a_multiple():
    rng = np.random.default_rng(3)
    q, k = randn(rng, 1, 3, 4, 8), randn(rng, 1, 2, 4, 8)
    with pytest.raises(ValueError, match="multiple of the key heads"):
        attn.scaled_dot_product_attention(q, k, k, enable_gqa=True)


def test_mask_with_is_causal(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match="is_causal"):
        attn.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((6, 9), bool),
                                          is_causal=True)


def test_grad_out_shape(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match="grad_out has shape"):
        attn.scaled_dot_product_attention_backward(np.ones((2, 4, 6, 8), np.float32), q, k, v)


def test_integer_input(qkv):
    q, k, v = qkv
    with pytest.raises(TypeError, match="query has dtype int32"):
        attn.scaled_dot_product_attention(q.astype(np.int32), k, v)


def test_scale_errors_come_from_the_library(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match="bad argument: params.scale is infinite"):
        attn.scaled_dot_product_attention(q, k, v, scale=float("inf"))
    with pytest.raises(ValueError, match="scale is NaN"):
        attn.scaled_dot_product_attention(q, k, v, scale=float("nan"))


def test_bad_kernel_env_comes_from_the_library(qkv, monkeypatch):
    q, k, v = qkv
    monkeypatch.setenv("ATTN_KERNEL", "bogus")
    with pytest.raises(ValueError, match="ATTN_KERNEL is 'bogus'"):
        attn.scaled_dot_product_attention(q, k, v)


def test_zero_feature_size():
    z = np.zeros((2, 3, 0), np.float32)
    with pytest.raises(ValueError, match="E=0"):
        attn.scaled_dot_product_attention(z, z, np.zeros((2, 3, 4), np.float32))


# ---- layout: no copies, ctypes mirrors attn.h ---------------------------------------------------
def test_strided_views_are_not_copied():
    base = np.zeros((2, 7, 3, 16), np.float32)
    view = base.transpose(0, 2, 1, 3)[:, :, ::2, 1::3]
    assert _plan.as_f32(view, "q") is view
    assert _plan.as_f32(view.astype(np.float64), "q").dtype == np.float32
    rev = base[:, ::-1]
    fixed = _plan.as_f32(rev, "q")
    assert fixed.flags.c_contiguous and np.array_equal(fixed, rev)


def test_ctypes_structs_match_the_header():
    for cls, size in _lib.EXPECTED_SIZES.items():
        assert ctypes.sizeof(cls) == size, cls.__name__
    assert _lib.Params.mask.offset == 16 and _lib.Params.kernel.offset == 96
    assert _lib.Src.stride.offset == 16 and _lib.Mask.stride.offset == 48
    p = _lib.attn_default_params()
    assert np.isnan(p.scale) and p.causal == 0 and not p.key_lens
    assert p.mask.kind == 0 and list(p.mask.shape) == [1, 1, 1, 1] and p.kernel == 0


def test_missing_library_message(tmp_path):
    env = dict(os.environ, ATTN_LIBRARY=str(tmp_path / "libattn.so"),
               PYTHONPATH=os.path.dirname(os.path.dirname(attn.__file__)))
    r = subprocess.run([sys.executable, "-c", "import attn"], env=env, capture_output=True,
                       text=True)
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "ATTN_LIBRARY" in r.stderr
    assert "cmake -S . -B build" in r.stderr
