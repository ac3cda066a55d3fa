"""The PyTorch side of `attn bench-train`: the same sequence-to-sequence models as attn's,
trained on batches of the same shapes, timed per training step.

Reads a JSON job on stdin:
    {"threads": 2, "model": {...attn's model config...}, "warmup": 3, "lr": 1e-3,
     "label_smoothing": 0.1, "clip": 1.0,
     "batches": [{"src_len": [...], "tgt_len": [...]}, ...]}   (tgt_len counts </s>)
and prints one JSON line: {"torch": "1.13.1", "seconds": [...], "tokens": [...]}.
Ids are random (the shapes, lengths and padding are what cost time). Errors go to stderr with
a non-zero exit.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoids(n, d):
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(0, d, 2, dtype=torch.float64)[None, :]
    ang = pos / torch.pow(10000.0, i / d)
    pe = torch.zeros(n, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(ang)
    pe[:, 1::2] = torch.cos(ang)[:, : d // 2]
    return pe.float()


class Transformer(nn.Module):
    """Pre-norm encoder-decoder, as attn's models/transformer_s2s.c."""

    def __init__(self, c):
        super().__init__()
        d, h, ff, p = c["d_model"], c["heads"], c["ff"], c["dropout"]
        act = c.get("activation", "relu")
        self.d = d
        self.src = nn.Embedding(c["src_vocab"], d, padding_idx=0)
        self.tgt = nn.Embedding(c["tgt_vocab"], d, padding_idx=0)
        self.drop = nn.Dropout(p)
        enc = nn.TransformerEncoderLayer(d, h, ff, p, act, batch_first=True, norm_first=True)
        dec = nn.TransformerDecoderLayer(d, h, ff, p, act, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(enc, c["enc_layers"], norm=nn.LayerNorm(d),
                                         enable_nested_tensor=False)
        self.dec = nn.TransformerDecoder(dec, c["dec_layers"], norm=nn.LayerNorm(d))
        self.gen = nn.Linear(d, c["tgt_vocab"])
        self.register_buffer("pe", sinusoids(512, d))

    def forward(self, src, src_pad, tgt_in):
        S, T = src.shape[1], tgt_in.shape[1]
        scale = math.sqrt(self.d)
        x = self.drop(self.src(src) * scale + self.pe[:S])
        mem = self.enc(x, src_key_padding_mask=src_pad)
        y = self.drop(self.tgt(tgt_in) * scale + self.pe[:T])
        causal = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)
        y = self.dec(y, mem, tgt_mask=causal, memory_key_padding_mask=src_pad)
        return self.gen(y)


class RNN(nn.Module):
    """Bidirectional encoder, bridge, one-cell decoder with Luong attention and input feeding
    (kind rnn-attention) or without attention (kind rnn), as attn's models/rnn_s2s.c."""

    def __init__(self, c):
        super().__init__()
        E, H = c["d_model"], c["hidden"]
        self.attn = c["kind"] == "rnn-attention"
        self.lstm = c.get("cell", "gru") == "lstm"
        self.score = c.get("score", "additive")
        self.H = H
        cell_in = E + (2 * H if self.attn else 0)
        self.src = nn.Embedding(c["src_vocab"], E, padding_idx=0)
        self.tgt = nn.Embedding(c["tgt_vocab"], E, padding_idx=0)
        self.drop = nn.Dropout(c["dropout"])
        rnn = nn.LSTM if self.lstm else nn.GRU
        self.enc = rnn(E, H, c["enc_layers"], batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * H, 2 * H)
        if self.lstm:
            self.bridge_c = nn.Linear(2 * H, 2 * H)
        self.cell = (nn.LSTMCell if self.lstm else nn.GRUCell)(cell_in, 2 * H)
        if self.attn:
            if self.score == "additive":
                self.W = nn.Linear(2 * H, 2 * H, bias=False)
                self.U = nn.Linear(2 * H, 2 * H, bias=False)
                self.v = nn.Linear(2 * H, 1, bias=False)
            elif self.score == "general":
                self.W = nn.Linear(2 * H, 2 * H, bias=False)
            self.combine = nn.Linear(4 * H, 2 * H)
        self.gen = nn.Linear(2 * H, c["tgt_vocab"])

    def forward(self, src, src_len, tgt_in):
        B, S = src.shape
        x = self.drop(self.src(src))
        packed = nn.utils.rnn.pack_padded_sequence(x, src_len, batch_first=True,
                                                   enforce_sorted=False)
        out, state = self.enc(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=S)
        hn = state[0] if self.lstm else state
        s = torch.tanh(self.bridge(torch.cat([hn[-2], hn[-1]], dim=1)))
        c = torch.tanh(self.bridge_c(torch.cat([state[1][-2], state[1][-1]], 1))) if self.lstm else None
        mask = torch.arange(S)[None, :] >= src_len[:, None]
        if self.attn:
            keys = self.U(h) if self.score == "additive" else (self.W(h) if self.score == "general" else h)
        att = torch.zeros(B, 2 * self.H)
        outs = []
        for t in range(tgt_in.shape[1]):
            e = self.tgt(tgt_in[:, t])
            inp = torch.cat([e, att], 1) if self.attn else e
            if self.lstm:
                s, c = self.cell(inp, (s, c))
            else:
                s = self.cell(inp, s)
            if self.attn:
                if self.score == "additive":
                    sc = self.v(torch.tanh(self.W(s)[:, None, :] + keys)).squeeze(2)
                else:
                    sc = torch.bmm(keys, s[:, :, None]).squeeze(2)
                sc = sc.masked_fill(mask, float("-inf"))
                a = torch.softmax(sc, 1)
                ctx = torch.bmm(a[:, None, :], h).squeeze(1)
                att = torch.tanh(self.combine(torch.cat([s, ctx], 1)))
                outs.append(self.drop(att))
            else:
                outs.append(self.drop(s))
        return self.gen(torch.stack(outs, 1))


def main():
    job = json.load(sys.stdin)
    torch.set_num_threads(int(job["threads"]))
    torch.manual_seed(1)
    # attn writes its model config with string values: turn the numbers back into numbers
    floats = ("dropout", "attention_dropout")
    c = {k: (float(v) if k in floats else int(v) if str(v).lstrip("-").isdigit() else v)
         for k, v in job["model"].items()}
    model = Transformer(c) if c["kind"] == "transformer" else RNN(c)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=job.get("lr", 1e-3))
    ls, clip = job.get("label_smoothing", 0.1), job.get("clip", 1.0)
    g = torch.Generator().manual_seed(2)
    seconds, tokens = [], []
    for k, bt in enumerate(job["batches"]):
        sl = torch.tensor(bt["src_len"], dtype=torch.int64)
        tl = torch.tensor(bt["tgt_len"], dtype=torch.int64)
        B, S, T = len(bt["src_len"]), int(sl.max()), int(tl.max())
        src = torch.randint(4, c["src_vocab"], (B, S), generator=g)
        src[torch.arange(S)[None, :] >= sl[:, None]] = 0
        tgt = torch.randint(4, c["tgt_vocab"], (B, T), generator=g)
        pad = torch.arange(T)[None, :] >= tl[:, None]
        tgt[pad] = 0
        tgt_in = torch.cat([torch.ones(B, 1, dtype=torch.int64), tgt[:, :-1]], 1)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if c["kind"] == "transformer":
            logits = model(src, torch.arange(S)[None, :] >= sl[:, None], tgt_in)
        else:
            logits = model(src, sl, tgt_in)
        loss = F.cross_entropy(logits.reshape(B * T, -1), tgt.reshape(-1), ignore_index=0,
                               label_smoothing=ls)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        dt = time.perf_counter() - t0
        if k >= job.get("warmup", 3):
            seconds.append(dt)
            tokens.append(int(tl.sum()))
    print(json.dumps({"torch": torch.__version__, "seconds": seconds, "tokens": tokens}))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # reported by the C side
        print(f"bench_train_torch.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
