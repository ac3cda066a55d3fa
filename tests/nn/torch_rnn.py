"""PyTorch references for tests/nn/test_rnn_torch.c: nn.GRU and nn.LSTM over packed padded
batches, and the classic RNN attentions written with autograd, all in double precision.

    torch_rnn.py OUT.bin

Weights come from PyTorch's own initialisation in float32 (so the C side holds them exactly)
and are evaluated in float64. Inputs are float32 values too. For each case the loss is
    L = sum(y * gy) + sum(h_n * ghn) [+ sum(c_n * gcn)]      (recurrent layers)
    L = sum(ctx * gctx) + sum(alpha * galpha)                (attention)
and the file holds the inputs, the weights under the C parameter names ("<case>.<name>"),
the outputs, and every gradient ("grad.<case>.<name>", "<case>.grad_x", ...)."""
import sys

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from refio import RefWriter

# name, module, B, T, in, H, layers, bidirectional, lengths, with initial states
RNN_CASES = [
    ("gru_uni", "GRU", 3, 5, 4, 6, 1, False, [5, 2, 1], True),
    ("gru_bi", "GRU", 3, 5, 4, 6, 1, True, [3, 5, 1], True),
    ("gru_stack", "GRU", 4, 5, 3, 4, 2, True, [4, 1, 5, 2], False),
    ("lstm_uni", "LSTM", 3, 5, 4, 6, 1, False, [5, 2, 1], True),
    ("lstm_bi", "LSTM", 3, 5, 4, 6, 1, True, [3, 5, 1], True),
    ("lstm_stack", "LSTM", 4, 5, 3, 4, 2, True, [4, 1, 5, 2], False),
]

# name, score, B, Tk, Hs, Hh, A, lengths
ATT_CASES = [
    ("att_add", "additive", 3, 6, 5, 4, 7, [6, 2, 1]),
    ("att_dot", "dot", 3, 6, 4, 4, 0, [3, 6, 1]),
    ("att_gen", "general", 3, 6, 5, 4, 0, [6, 1, 4]),
]


def f32(*shape, scale=1.0):
    """random values that are exact in float32, as float64"""
    return (torch.randn(*shape) * scale).float().double()


def rnn_case(w, name, kind, B, T, n_in, H, layers, bidir, lens, with_h0):
    D = 2 if bidir else 1
    module = getattr(torch.nn, kind)(n_in, H, num_layers=layers, batch_first=True,
                                     bidirectional=bidir).double()
    x = f32(B, T, n_in).requires_grad_()
    h0 = f32(layers * D, B, H, scale=0.5).requires_grad_()
    c0 = f32(layers * D, B, H, scale=0.5).requires_grad_()
    gy, ghn, gcn = f32(B, T, D * H), f32(layers * D, B, H), f32(layers * D, B, H)

    packed = pack_padded_sequence(x, torch.tensor(lens, dtype=torch.int64), batch_first=True,
                                  enforce_sorted=False)
    if kind == "LSTM":
        out, (hn, cn) = module(packed, (h0, c0) if with_h0 else None)
    else:
        out, hn = module(packed, h0 if with_h0 else None)
        cn = None
    y, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    loss = (y * gy).sum() + (hn * ghn).sum()
    if cn is not None:
        loss = loss + (cn * gcn).sum()
    loss.backward()

    w.add(f"{name}.x", x)
    w.add(f"{name}.lens", torch.tensor(lens, dtype=torch.float64))
    w.add(f"{name}.h0", h0)
    w.add(f"{name}.c0", c0)
    w.add(f"{name}.gy", gy)
    w.add(f"{name}.ghn", ghn)
    w.add(f"{name}.gcn", gcn)
    w.add(f"{name}.y", y)
    w.add(f"{name}.hn", hn)
    if cn is not None:
        w.add(f"{name}.cn", cn)
    w.add(f"{name}.grad_x", x.grad)
    if with_h0:
        w.add(f"{name}.grad_h0", h0.grad)
        if kind == "LSTM":
            w.add(f"{name}.grad_c0", c0.grad)
    for pname, p in module.named_parameters():
        w.add(f"{name}.{pname}", p)
        w.add(f"grad.{name}.{pname}", p.grad)


def att_case(w, name, score, B, Tk, Hs, Hh, A, lens):
    lin = {}  # bias-free nn.Linear modules named as in src/nn/rnn_attention.h
    if score == "additive":
        lin = {"W": torch.nn.Linear(Hs, A, bias=False), "U": torch.nn.Linear(Hh, A, bias=False),
               "v": torch.nn.Linear(A, 1, bias=False)}
    elif score == "general":
        lin = {"W": torch.nn.Linear(Hh, Hs, bias=False)}
    lin = {k: m.double() for k, m in lin.items()}
    s = f32(B, Hs).requires_grad_()
    h = f32(B, Tk, Hh).requires_grad_()
    gctx, galpha = f32(B, Hh), f32(B, Tk)

    if score == "additive":
        e = lin["v"](torch.tanh(lin["W"](s)[:, None, :] + lin["U"](h))).squeeze(-1)
    elif score == "dot":
        e = (h * s[:, None, :]).sum(-1)
    else:
        e = (lin["W"](h) * s[:, None, :]).sum(-1)
    hidden = torch.arange(Tk)[None, :] >= torch.tensor(lens)[:, None]
    alpha = torch.softmax(e.masked_fill(hidden, float("-inf")), dim=-1)
    ctx = (alpha[:, :, None] * h).sum(1)
    ((ctx * gctx).sum() + (alpha * galpha).sum()).backward()

    for k, m in lin.items():
        w.add(f"{name}.{k}.weight", m.weight)
        w.add(f"grad.{name}.{k}.weight", m.weight.grad)
    w.add(f"{name}.s", s)
    w.add(f"{name}.h", h)
    w.add(f"{name}.lens", torch.tensor(lens, dtype=torch.float64))
    w.add(f"{name}.gctx", gctx)
    w.add(f"{name}.galpha", galpha)
    w.add(f"{name}.alpha", alpha)
    w.add(f"{name}.ctx", ctx)
    w.add(f"{name}.grad_s", s.grad)
    w.add(f"{name}.grad_h", h.grad)


def main():
    torch.manual_seed(20240611)
    with RefWriter(sys.argv[1]) as w:
        for case in RNN_CASES:
            rnn_case(w, *case)
        for case in ATT_CASES:
            att_case(w, *case)


if __name__ == "__main__":
    main()
