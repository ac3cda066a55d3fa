"""Reference tensors for the Transformer building blocks (read by tests/nn/test_*.c).

Usage: torch_transformer.py OUTPUT

Every case runs a PyTorch module in float64 on float32-representable weights and inputs, with
the loss L = sum(y * dy) for a random upstream gradient dy, and writes (tests/common/refio.py):

    <case>.x, <case>.mem        inputs ([B, T, E]; mem for cross-attention and decoders)
    <case>.lens, <case>.mlens   valid lengths per sequence (padding masks), as floats
    <case>.dy                   upstream gradient
    <case>.y                    output
    <case>.dx, <case>.dmem      input gradients
    w:<case>.<param>            every parameter, by its PyTorch name under the prefix <case>
    g:<case>.<param>            its gradient

The C tests build the same layer under the prefix <case>, load w:* by name and compare.
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from refio import RefWriter

torch.manual_seed(20240611)
B, T, TK, E, H, FF = 2, 5, 6, 8, 2, 16


def f32(t):
    """round to float32 values, keep float64 storage"""
    return t.float().double()


def rand(*shape, amp=1.0):
    return f32((torch.rand(*shape, dtype=torch.float64) * 2 - 1) * amp)


def randomise(module):
    """every parameter uniform in +-0.4, except layer norm scales, uniform in 1 +- 0.3"""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(rand(*p.shape, amp=0.4))
        for mod in module.modules():
            if isinstance(mod, nn.LayerNorm):
                mod.weight.copy_(1.0 + rand(*mod.weight.shape, amp=0.3))


def padding_mask(lens, n):
    """True where the key is padding (PyTorch's key_padding_mask)"""
    return torch.arange(n)[None, :] >= torch.tensor(lens)[:, None]


def causal_mask(n):
    return torch.triu(torch.full((n, n), float("-inf"), dtype=torch.float64), diagonal=1)


def write_case(w, case, module, inputs, y, extra):
    """inputs: dict name -> leaf tensor with requires_grad; y: output"""
    dy = rand(*y.shape)
    (y * dy).sum().backward()
    for name, t in inputs.items():
        w.add(f"{case}.{name}", t)
        w.add(f"{case}.d{name}", t.grad)
    w.add(f"{case}.dy", dy)
    w.add(f"{case}.y", y)
    for name, t in extra.items():
        w.add(f"{case}.{name}", t)
    for name, p in module.named_parameters():
        w.add(f"w:{case}.{name}", p)
        w.add(f"g:{case}.{name}", p.grad)


def leaf(*shape, amp=1.0):
    return rand(*shape, amp=amp).requires_grad_(True)


def main(out):
    with RefWriter(out) as w:
        # nn.Linear with and without bias: x [7, 6] -> [7, 5]
        for case, bias in (("lin", True), ("linnb", False)):
            m = nn.Linear(6, 5, bias=bias).double()
            randomise(m)
            x = leaf(7, 6)
            write_case(w, case, m, {"x": x}, m(x), {})

        # nn.LayerNorm(8): rows with a mean offset and different spreads
        m = nn.LayerNorm(E).double()
        randomise(m)
        x = (rand(6, E, amp=2.0) + rand(6, 1, amp=3.0)).requires_grad_(True)
        write_case(w, "ln", m, {"x": x}, m(x), {})

        # activations on [-5, 5]
        for case, fn in (("gelu", lambda v: F.gelu(v)),
                         ("gelut", lambda v: F.gelu(v, approximate="tanh")),
                         ("relu", F.relu)):
            x = leaf(64, amp=5.0)
            write_case(w, case, nn.Module(), {"x": x}, fn(x), {})

        # nn.MultiheadAttention(E, H, batch_first=True), need_weights=False
        lens, mlens = [5, 3], [6, 4]
        for case, kind in (("mhaself", "self"), ("mhacausal", "causal"), ("mhacross", "cross")):
            m = nn.MultiheadAttention(E, H, batch_first=True).double()
            randomise(m)
            x = leaf(B, T, E)
            inputs = {"x": x}
            if kind == "cross":
                mem = leaf(B, TK, E)
                inputs["mem"] = mem
                y, _ = m(x, mem, mem, key_padding_mask=padding_mask(mlens, TK),
                         need_weights=False)
                extra = {"mlens": torch.tensor(mlens, dtype=torch.float64)}
            else:
                mask = causal_mask(T) if kind == "causal" else None
                y, _ = m(x, x, x, key_padding_mask=padding_mask(lens, T), attn_mask=mask,
                         need_weights=False)
                extra = {"lens": torch.tensor(lens, dtype=torch.float64)}
            write_case(w, case, m, inputs, y, extra)

        # nn.TransformerEncoderLayer(norm_first=True, batch_first=True, dropout=0)
        for case, act, causal in (("enc", "gelu", False), ("encc", "relu", True)):
            m = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, activation=act,
                                           batch_first=True, norm_first=True).double()
            randomise(m)
            m.train()
            x = leaf(B, T, E)
            y = m(x, src_mask=causal_mask(T) if causal else None,
                  src_key_padding_mask=padding_mask(lens, T))
            write_case(w, case, m, {"x": x}, y, {"lens": torch.tensor(lens, dtype=torch.float64)})

        # nn.TransformerDecoderLayer(norm_first=True, batch_first=True, dropout=0)
        for case, act, tl, ml in (("dec", "gelu", [5, 4], [6, 3]), ("decr", "relu", None, None)):
            m = nn.TransformerDecoderLayer(E, H, FF, dropout=0.0, activation=act,
                                           batch_first=True, norm_first=True).double()
            randomise(m)
            m.train()
            x, mem = leaf(B, T, E), leaf(B, TK, E)
            y = m(x, mem, tgt_mask=causal_mask(T),
                  tgt_key_padding_mask=padding_mask(tl, T) if tl else None,
                  memory_key_padding_mask=padding_mask(ml, TK) if ml else None)
            extra = {}
            if tl:
                extra = {"lens": torch.tensor(tl, dtype=torch.float64),
                         "mlens": torch.tensor(ml, dtype=torch.float64)}
            write_case(w, case, m, {"x": x, "mem": mem}, y, extra)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: torch_transformer.py OUTPUT")
    main(sys.argv[1])
