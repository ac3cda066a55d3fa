"""Mapping numpy arrays with PyTorch-style broadcasting onto the C API's [B, H, N, D] layout.

Every array is viewed with rank R = max(ranks, 3): leading dims are padded with size 1 (stride 0),
dim R-3 is the head dim and dims 0 .. R-4 are batch dims. The batch dims of query, key, value and
mask broadcast against each other. The trailing batch dims that all operands can address with a
single stride are merged into the C batch B (zero strides express broadcasting); the remaining
outer batch dims are looped over in Python, one C call per outer index, moving the data pointers.
Outputs and gradients are written into contiguous buffers of the full broadcast shape; gradients
of broadcast inputs are then summed down to the input's own shape, as autograd does.
"""
import math

import numpy as np

from . import _lib

F32 = np.dtype(np.float32)
_CONVERTIBLE = (np.dtype(np.float64), np.dtype(np.float16))


def _usable(a):
    """a itself when the C API can read it in place, else a C-contiguous copy. Needs element
    strides: non-negative multiples of the item size (dims of size 1 do not matter) and
    aligned data."""
    bad = any(n > 1 and (s < 0 or s % a.itemsize) for n, s in zip(a.shape, a.strides))
    if bad or not a.flags.aligned:
        a = np.ascontiguousarray(a)
    return a


def as_f32(x, name):
    """x as a float32 array the C API can read. float64/float16 are converted to float32."""
    a = np.asarray(x)
    if a.dtype != F32:
        if a.dtype not in _CONVERTIBLE:
            raise TypeError("attn: %s has dtype %s; pass float32 (float64 and float16 are "
                            "converted to float32)" % (name, a.dtype))
        a = a.astype(F32)
    return _usable(a)


def as_mask(x):
    """(array, kind) for attn_mask: bool (True = the key takes part) or float (added)."""
    a = np.asarray(x)
    if a.dtype == np.bool_:
        return _usable(a), _lib.MASK_BOOL
    if a.dtype == F32 or a.dtype in _CONVERTIBLE:
        return as_f32(a, "attn_mask"), _lib.MASK_BIAS
    raise TypeError("attn: attn_mask has dtype %s; pass a bool mask (True = take part) or a "
                    "float mask (added to the scores)" % a.dtype)


class Operand:
    """An array viewed with rank R: padded shape and element strides (0 for size-1 dims)."""

    def __init__(self, arr, rank):
        self.arr = arr
        pad = rank - arr.ndim
        self.shape = (1,) * pad + tuple(arr.shape)
        self.strides = (0,) * pad + tuple(
            s // arr.itemsize if n > 1 else 0 for n, s in zip(arr.shape, arr.strides))

    def address(self, offset):
        return self.arr.ctypes.data + offset * self.arr.itemsize


def _broadcast(sizes, what):
    """The common size of one dim across operands (each 1 or that size)."""
    full = {n for n in sizes if n != 1}
    if len(full) > 1:
        raise ValueError("attn: %s do not broadcast (sizes %s)" % (what, sizes))
    return full.pop() if full else 1


def sum_to(buf, padded_shape, shape):
    """Sums buf over the dims where padded_shape has 1 (the broadcast dims) -> shape."""
    axes = tuple(d for d, (b, n) in enumerate(zip(buf.shape, padded_shape)) if n == 1 and b != 1)
    if axes:
        buf = buf.sum(axis=axes, keepdims=True, dtype=np.float64).astype(F32)
    return np.ascontiguousarray(buf.reshape(shape))


class Plan:
    """A validated attention problem: sizes, the C shape, and how to address every operand."""

    def __init__(self, query, key, value, attn_mask, is_causal, scale, enable_gqa):
        q = as_f32(query, "query")
        k = as_f32(key, "key")
        v = None if value is None else as_f32(value, "value")
        for name, a in (("query", q), ("key", k), ("value", v)):
            if a is not None and a.ndim < 2:
                raise ValueError("attn: %s has shape %s; it needs at least 2 dims (..., N, E)"
                                 % (name, a.shape))
        if attn_mask is not None and is_causal:
            raise ValueError("attn: attn_mask and is_causal=True were both given; PyTorch "
                             "forbids that too. Put the causal rule into attn_mask instead")
        if scale is not None:
            scale = float(scale)
            if math.isnan(scale):
                raise ValueError("attn: scale is NaN; pass None for 1/sqrt(E)")
        self.L, self.E = q.shape[-2:]
        self.S = k.shape[-2]
        if k.shape[-1] != self.E:
            raise ValueError("attn: query has feature size E=%d (shape %s) but key has %d "
                             "(shape %s); they must match" % (self.E, q.shape, k.shape[-1],
                                                              k.shape))
        self.Ev = 1
        if v is not None:
            if v.shape[-2] != self.S:
                raise ValueError("attn: key has S=%d keys (shape %s) but value has %d (shape "
                                 "%s); they must match" % (self.S, k.shape, v.shape[-2], v.shape))
            self.Ev = v.shape[-1]

        ranks = [a.ndim for a in (q, k, v) if a is not None]
        self.out_ndim = max(ranks)
        self.R = R = max(self.out_ndim, 3)
        self.nb = nb = R - 3
        self.q, self.k = Operand(q, R), Operand(k, R)
        self.v = None if v is None else Operand(v, R)
        inputs = [op for op in (self.q, self.k, self.v) if op is not None]
        lead = ", ".join(str(op.arr.shape[:-2]) for op in inputs)
        self.Bf = tuple(_broadcast([op.shape[d] for op in inputs],
                                   "the batch dims of query, key and value %s" % lead)
                        for d in range(nb))
        self._heads(enable_gqa, lead)

        self.mask = None
        self.mask_kind = _lib.MASK_NONE
        if attn_mask is not None:
            self._set_mask(attn_mask)
        self._merge()
        self.params = _lib.attn_default_params()
        self.params.scale = float("nan") if scale is None else scale
        self.params.causal = _lib.CAUSAL_TOP_LEFT if is_causal else _lib.CAUSAL_NONE
        if self.mask is not None:
            m = self.params.mask
            m.kind = self.mask_kind
            ms, st = self.mask.shape, self.mask.strides
            m.shape[:] = [self.Bm, ms[R - 3], ms[R - 2], ms[R - 1]]
            m.stride[:] = [self.bstride(self.mask), st[R - 3], st[R - 2], st[R - 1]]
        self.cshape = _lib.Shape(self.B, self.Hout, self.Hkv, self.L, self.S, self.E, self.Ev)

    # ---- validation helpers -------------------------------------------------------------------
    def _heads(self, enable_gqa, lead):
        h = self.R - 3
        hq, hk = self.q.shape[h], self.k.shape[h]
        hv = hk if self.v is None else self.v.shape[h]
        if enable_gqa and not hq == hk == hv:
            if hk == 0 or hv == 0 or hq % hk or hq % hv:
                raise ValueError("attn: enable_gqa=True needs the query heads (%d) to be a "
                                 "multiple of the key heads (%d) and the value heads (%d)"
                                 % (hq, hk, hv))
            if hk != hv and hk != 1 and hv != 1:
                raise ValueError("attn: key and value have different head counts (%d, %d); "
                                 "this is only supported when one of them is 1" % (hk, hv))
            self.Hout = hq
        else:
            try:
                self.Hout = _broadcast([hq, hk, hv], "heads")
            except ValueError:
                hint = ""
                if hk and hq % hk == 0 and hk == hv:
                    hint = "; for grouped-query attention pass enable_gqa=True"
                raise ValueError("attn: query has %d heads (dim -3) but key has %d and value %d;"
                                 " without enable_gqa they must be equal (or 1 to broadcast)%s"
                                 " (leading dims %s)" % (hq, hk, hv, hint, lead)) from None
        self.Hkv = hk if hk == hv else max(hk, hv)
        if self.Hout == 0 or self.Hkv == 0:
            self.Hkv = self.Hout  # empty problem; never reaches the C library

    def _set_mask(self, attn_mask):
        arr, self.mask_kind = as_mask(attn_mask)
        target = (self.Bf + (self.Hout, self.L, self.S))[self.R - self.out_ndim:]
        if arr.ndim > self.out_ndim:
            raise ValueError("attn: attn_mask has shape %s, more dims than the scores %s"
                             % (arr.shape, target))
        self.mask = Operand(arr, self.R)
        full = self.Bf + (self.Hout, self.L, self.S)
        for n, f in zip(self.mask.shape, full):
            if n != 1 and n != f:
                raise ValueError("attn: attn_mask has shape %s, which does not broadcast to "
                                 "the scores (..., L, S) = %s; each dim must be 1 or the full "
                                 "size" % (arr.shape, target))

    # ---- batch merging ------------------------------------------------------------------------
    def _operands(self):
        return [op for op in (self.q, self.k, self.v, self.mask) if op is not None]

    def _mergeable(self, dims):
        for op in self._operands():
            for a, b in zip(dims, dims[1:]):
                if op.strides[a] != op.strides[b] * self.Bf[b]:
                    return False
            if op is self.mask and len({op.shape[d] for d in dims}) > 1:
                return False
        return True

    def _merge(self):
        active = [d for d in range(self.nb) if self.Bf[d] > 1]
        t = len(active)
        while t > 0 and self._mergeable(active[t - 1:]):
            t -= 1
        self.outer, self.inner = active[:t], active[t:]
        self.B = 1
        for d in self.inner:
            self.B *= self.Bf[d]
        self.Bm = 1
        if self.mask is not None and self.inner and self.mask.shape[self.inner[0]] > 1:
            self.Bm = self.B

    def bstride(self, op):
        """The stride of the merged batch dim B for op (0 when B is 1)."""
        return op.strides[self.inner[-1]] if self.inner else 0

    # ---- addressing ---------------------------------------------------------------------------
    @property
    def empty(self):
        """True when there is nothing for the C library to do (a size is 0)."""
        return 0 in self.Bf or 0 in (self.Hout, self.L, self.S, self.Ev)

    def out_shape(self, last):
        return (self.Bf + (self.Hout, self.L, last))[self.R - self.out_ndim:]

    def buffer(self, heads, n, d, batch=None):
        """A zeroed float32 buffer of the full batch shape (or batch) + (heads, n, d)."""
        return Operand(np.zeros((batch or self.Bf) + (heads, n, d), F32), self.R)

    def outer_indices(self):
        return np.ndindex(*[self.Bf[d] for d in self.outer])

    def offset(self, op, idx):
        return sum(i * op.strides[d] for i, d in zip(idx, self.outer))

    def src(self, op, idx):
        st = op.strides
        return _lib.Src(op.address(self.offset(op, idx)), _lib.DTYPE_F32,
                        (self.bstride(op), st[-3], st[-2], st[-1]))

    def dst(self, op, idx):
        st = op.strides
        return _lib.Dst(op.address(self.offset(op, idx)),
                        (self.bstride(op), st[-3], st[-2], st[-1]))

    def set_mask_data(self, idx):
        if self.mask is not None:
            self.params.mask.data = self.mask.address(self.offset(self.mask, idx))

    def mask_grad_buffer(self):
        """Buffer for the float mask's gradient: full size on looped dims, the mask's own sizes
        elsewhere (the C library reduces those)."""
        ms = self.mask.shape
        batch = tuple(self.Bf[d] if d in self.outer else ms[d] for d in range(self.nb))
        return self.buffer(ms[-3], ms[-2], ms[-1], batch)
