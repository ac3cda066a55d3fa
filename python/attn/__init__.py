"""attn: scaled dot-product attention on the CPU (numpy front end of libattn, via ctypes).

    import numpy as np, attn
    q = np.random.standard_normal((2, 4, 16, 32)).astype(np.float32)   # [B, H, L, E]
    o = attn.scaled_dot_product_attention(q, q, q, is_causal=True)      # [B, H, L, E]

The functions follow torch.nn.functional.scaled_dot_product_attention (PyTorch 2.x):
  - query (..., L, E), key (..., S, E), value (..., S, Ev); the leading dims broadcast against
    each other like torch.matmul; the dim -3 is the head dim (with enable_gqa=True the query
    heads may be a multiple of the key/value heads: query head h reads head h // (Hq // Hkv)).
  - attn_mask broadcastable to (..., L, S): bool (True = the key takes part) or float (added to
    the scaled scores). attn_mask together with is_causal=True raises ValueError, as in PyTorch.
  - is_causal: query i sees key j when j <= i (top-left aligned, PyTorch's rule, also for L != S).
  - scale: None means 1/sqrt(E).
  - dropout_p: each attention weight is zeroed with that probability and the others scaled by
    1 / (1 - dropout_p), inside the C kernel.
Differences from PyTorch:
  - A query row whose keys are all hidden gives zeros and zero gradients (PyTorch before 2.5
    gives NaN; since 2.5 its math path gives zeros as well).
  - Inputs must be float32; float64 and float16 arrays are converted to float32, other dtypes
    raise TypeError. Results are always float32. Float masks are converted to float32 too.
  - Any strides are used without a copy; negative, non-itemsize-multiple strides or unaligned
    data are copied into a contiguous array first.
  - Dropout's mask is a function of the keyword-only dropout_seed (an integer; random when not
    given, as torch's generator would make it); the backward needs the forward's seed.
The C kernel is chosen at run time by the environment variable ATTN_KERNEL=reference|fused
(default fused). The C library is loaded from $ATTN_LIBRARY, else <repository>/build/libattn.so.
Invalid arguments raise ValueError carrying the library's message.
"""
import numpy as np

from . import _lib
from ._plan import F32, Operand, Plan, as_f32, sum_to

__all__ = ["scaled_dot_product_attention", "scaled_dot_product_attention_backward",
           "attention_probs", "version", "set_num_threads", "get_num_threads", "kernel_name",
           "simd_isa"]

LIBRARY_PATH = _lib.LIBRARY_PATH


def version():
    """The C library's version string, e.g. "0.1.0"."""
    return _lib.attn_version().decode()


def set_num_threads(n):
    """Threads used by the C kernels; n <= 0 restores the default (ATTN_NUM_THREADS or the
    number of cores). Results do not depend on it."""
    _lib.check(_lib.attn_set_num_threads(int(n)))


def get_num_threads():
    """Threads the C kernels use now."""
    return int(_lib.attn_get_num_threads())


def kernel_name():
    """The kernel the next call will use ("reference" or "fused"), from ATTN_KERNEL."""
    return _lib.attn_kernel_name(_lib.KERNEL_AUTO).decode()


def simd_isa():
    """The instruction set the optimised kernels run with: "avx512", "avx2" or "generic" (the
    widest this CPU has, unless the ATTN_ISA environment variable names a narrower one)."""
    return _lib.attn_simd_isa().decode()


def _dropout(plan, dropout_p, dropout_seed, need_seed):
    """Sets the plan's attention dropout; returns the seed (drawn at random when not given and
    not needed: then, as torch's, the mask is not reproducible)."""
    p = float(dropout_p)
    if not 0.0 <= p <= 1.0:
        raise ValueError("attn: dropout_p is %r; use a probability in [0, 1]" % (dropout_p,))
    if p > 0.0 and dropout_seed is None:
        if need_seed:
            raise ValueError("attn: dropout_p > 0 needs dropout_seed, the integer the forward "
                             "used, so that the backward drops the same weights")
        dropout_seed = int(np.random.default_rng().integers(0, 2**63))
    plan.params.dropout_p = p
    plan.dropout_seed = int(dropout_seed or 0) % 2**64
    return plan.dropout_seed


def _call_seed(plan, n):
    """The seed of the n-th C call of a plan: calls over outer indices each get their own
    mask (inside one call the mask follows (b, h, i, j))."""
    return (plan.dropout_seed * 0x9E3779B97F4A7C15 + n) % 2**64


def _forward(plan):
    """Runs attn_forward over all outer batch indices: (O buffer, LSE buffer) operands."""
    o = plan.buffer(plan.Hout, plan.L, plan.Ev)
    lse = plan.buffer(plan.Hout, plan.L, 1)
    for n, idx in enumerate(plan.outer_indices()):
        plan.set_mask_data(idx)
        plan.params.dropout_seed = _call_seed(plan, n)
        _lib.check(_lib.attn_forward(
            plan.cshape, plan.params, plan.src(plan.q, idx), plan.src(plan.k, idx),
            plan.src(plan.v, idx), plan.dst(o, idx), lse.address(plan.offset(lse, idx))))
    return o, lse


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False, *,
                                 dropout_seed=None):
    """softmax(query @ key^T * scale + mask) @ value, like PyTorch's function of the same name
    (and its argument order).

    Returns a new C-contiguous float32 array of shape (..., L, Ev), where ... is the broadcast
    of the leading dims. Rows with every key hidden are zeros. dropout_p zeroes each attention
    weight with that probability and scales the others by 1 / (1 - dropout_p); the mask is a
    function of dropout_seed (an integer; random when not given, as torch's), which
    scaled_dot_product_attention_backward needs to drop the same weights."""
    plan = Plan(query, key, value, attn_mask, is_causal, scale, enable_gqa)
    _dropout(plan, dropout_p, dropout_seed, False)
    shape = plan.out_shape(plan.Ev)
    if plan.empty:
        return np.zeros(shape, F32)
    if plan.E == 0:
        raise ValueError("attn: query and key have feature size E=0; nothing to attend with")
    o, _ = _forward(plan)
    return o.arr.reshape(shape)


def scaled_dot_product_attention_backward(grad_out, query, key, value, attn_mask=None,
                                          dropout_p=0.0, is_causal=False, scale=None,
                                          enable_gqa=False, *, dropout_seed=None):
    """Gradients of scaled_dot_product_attention given grad_out = dLoss/dOutput.

    Returns (grad_query, grad_key, grad_value), each float32 in its input's shape (summed over
    the dims where that input was broadcast, as autograd does), plus grad_attn_mask in the
    mask's own shape as a fourth item when attn_mask is a float mask. Runs the forward first.
    With dropout_p > 0, dropout_seed must be the forward's."""
    plan = Plan(query, key, value, attn_mask, is_causal, scale, enable_gqa)
    _dropout(plan, dropout_p, dropout_seed, True)
    shape = plan.out_shape(plan.Ev)
    d_o = as_f32(grad_out, "grad_out")
    if d_o.shape != shape:
        raise ValueError("attn: grad_out has shape %s but the attention output has shape %s"
                         % (d_o.shape, shape))
    with_mask_grad = plan.mask_kind == _lib.MASK_BIAS
    inputs = [plan.q, plan.k, plan.v] + ([plan.mask] if with_mask_grad else [])
    if plan.empty:
        return tuple(np.zeros(op.arr.shape, F32) for op in inputs)
    if plan.E == 0:
        raise ValueError("attn: query and key have feature size E=0; nothing to attend with")
    o, lse = _forward(plan)
    d_o = Operand(d_o, plan.R)
    dq = plan.buffer(plan.Hout, plan.L, plan.E)
    dk = plan.buffer(plan.Hkv, plan.S, plan.E)
    dv = plan.buffer(plan.Hkv, plan.S, plan.Ev)
    grads = [dq, dk, dv]
    dbias_of = lambda idx: _lib.Dst(None, (0, 0, 0, 0))  # noqa: E731
    if with_mask_grad:
        dbias = plan.mask_grad_buffer()
        grads.append(dbias)
        dbias_of = lambda idx: plan.dst(dbias, idx)  # noqa: E731
    for n, idx in enumerate(plan.outer_indices()):
        plan.set_mask_data(idx)
        plan.params.dropout_seed = _call_seed(plan, n)
        _lib.check(_lib.attn_backward(
            plan.cshape, plan.params, plan.src(plan.q, idx), plan.src(plan.k, idx),
            plan.src(plan.v, idx), plan.src(o, idx), lse.address(plan.offset(lse, idx)),
            plan.src(d_o, idx), plan.dst(dq, idx), plan.dst(dk, idx), plan.dst(dv, idx),
            dbias_of(idx)))
    return tuple(sum_to(g.arr, op.shape, op.arr.shape) for g, op in zip(grads, inputs))


def attention_probs(query, key, attn_mask=None, is_causal=False, scale=None, enable_gqa=False):
    """The attention probabilities softmax(query @ key^T * scale + mask), shape (..., L, S),
    float32. Rows with every key hidden are zeros (torch.softmax would give NaN)."""
    plan = Plan(query, key, None, attn_mask, is_causal, scale, enable_gqa)
    shape = plan.out_shape(plan.S)
    if plan.empty:
        return np.zeros(shape, F32)
    if plan.E == 0:
        raise ValueError("attn: query and key have feature size E=0; nothing to attend with")
    out = plan.buffer(plan.Hout, plan.L, plan.S)
    for idx in plan.outer_indices():
        plan.set_mask_data(idx)
        q, k = plan.src(plan.q, idx), plan.src(plan.k, idx)
        base = plan.offset(out, idx)
        bstride, hstride = plan.bstride(out), out.strides[-3]
        for b in range(plan.B):
            for h in range(plan.Hout):
                _lib.check(_lib.attn_probs(
                    plan.cshape, plan.params, q, k, None, b, h, 0, plan.L,
                    out.address(base + b * bstride + h * hstride), plan.S))
    return out.arr.reshape(shape)
