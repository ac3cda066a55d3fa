"""The attention definition written out with torch in float64, the oracle of the tests.

PyTorch 1.13 has no scaled_dot_product_attention, so this is PyTorch 2.x's math path spelled out:
softmax(Q K^T * scale + mask) V, with boolean masks hiding keys where False, is_causal hiding
key j from query i when j > i (top-left), and enable_gqa repeating key/value heads with
repeat_interleave along dim -3. One deliberate difference: a row whose keys are all hidden gives
zero probabilities (PyTorch: NaN), which is what attn promises; gradients through such rows are 0.
"""
import math

import numpy as np
import torch


def _leaf(x):
    return torch.tensor(np.array(x, dtype=np.float64), requires_grad=True)


def safe_softmax(s):
    """softmax over the last dim that gives 0 (not NaN) for rows that are entirely -inf."""
    m = s.amax(dim=-1, keepdim=True).detach()
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    e = torch.exp(s - m)
    z = e.sum(dim=-1, keepdim=True)
    return e / torch.where(z == 0, torch.ones_like(z), z)


class Reference:
    """Forward result (out, probs) and autograd gradients of the definition, in float64."""

    def __init__(self, q, k, v, attn_mask=None, is_causal=False, scale=None, enable_gqa=False):
        self.q, self.k, self.v = _leaf(q), _leaf(k), _leaf(v)
        self.mask = None
        kk, vv = self.k, self.v
        if enable_gqa:
            hq = self.q.shape[-3]
            kk = kk.repeat_interleave(hq // kk.shape[-3], dim=-3)
            vv = vv.repeat_interleave(hq // vv.shape[-3], dim=-3)
        if scale is None:
            scale = 1.0 / math.sqrt(q.shape[-1])
        s = torch.matmul(self.q, kk.transpose(-2, -1)) * scale
        L, S = s.shape[-2:]
        if is_causal:
            visible = torch.ones(L, S, dtype=torch.bool).tril()
            s = s.masked_fill(~visible, float("-inf"))
        if attn_mask is not None:
            m = np.asarray(attn_mask)
            if m.dtype == np.bool_:
                s = s.masked_fill(~torch.from_numpy(np.array(m)), float("-inf"))
            else:
                self.mask = _leaf(m)
                s = s + self.mask
        self.probs = safe_softmax(s)
        self.out = torch.matmul(self.probs, vv)

    def grads(self, grad_out):
        """(dq, dk, dv[, dmask]) as float64 numpy arrays for dLoss/dOut = grad_out."""
        leaves = [self.q, self.k, self.v] + ([self.mask] if self.mask is not None else [])
        for t in leaves:
            t.grad = None
        self.out.backward(torch.tensor(np.array(grad_out, dtype=np.float64)), retain_graph=True)
        return [t.grad.numpy() for t in leaves]


def max_err(actual, expected):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if actual.size == 0:
        return 0.0
    assert np.all(np.isfinite(actual)), "non-finite values in the result"
    return float(np.max(np.abs(actual - expected)))
