"""PyTorch references for tests/nn/test_embedding_loss.c: nn.Embedding gradients with a
padding_idx, learned positions (an nn.Embedding over positions), and F.cross_entropy with ignore_index and label_smoothing (loss and gradient,
computed in float64 from float32 inputs)."""
import sys

import torch
import torch.nn.functional as F
from refio import RefWriter


def embedding(w):
    g = torch.Generator().manual_seed(11)
    V, C, pad = 11, 5, 3
    ids = torch.tensor([0, 3, 5, 5, 10, 3, 1, 5, 7, 3, 2, 9, 0, 10, 4, 6, 5])
    emb = torch.nn.Embedding(V, C, padding_idx=pad)
    with torch.no_grad():
        emb.weight.copy_(torch.randn(V, C, generator=g))
    dout = torch.randn(len(ids), C, generator=g)
    out = emb(ids)
    out.backward(dout)
    w.add("emb.weight", emb.weight)
    w.add("emb.ids", ids.float())
    w.add("emb.pad", torch.tensor([float(pad)]))
    w.add("emb.dout", dout)
    w.add("emb.out", out)
    w.add("emb.grad", emb.weight.grad)


def learned_positions(w):
    """x + nn.Embedding(Tmax, C)(arange(pos0, pos0 + T)), gradient of sum(y * dy * mask) where
    mask hides rows past each sequence's length (the C backward takes lens instead)."""
    g = torch.Generator().manual_seed(12)
    B, T, C, Tmax, pos0 = 3, 6, 5, 10, 3
    lens = torch.tensor([6, 2, 4])
    emb = torch.nn.Embedding(Tmax, C)
    with torch.no_grad():
        emb.weight.copy_(torch.randn(Tmax, C, generator=g))
    x = torch.randn(B, T, C, generator=g)
    dy = torch.randn(B, T, C, generator=g)
    mask = (torch.arange(T)[None, :] < lens[:, None]).float()[:, :, None]
    y = x + emb(torch.arange(pos0, pos0 + T))[None, :, :]
    y.backward(dy * mask)
    w.add("pos.weight", emb.weight)
    w.add("pos.x", x)
    w.add("pos.dy", dy)
    w.add("pos.y", y)
    w.add("pos.lens", lens.float())
    w.add("pos.pos0", torch.tensor([float(pos0)]))
    w.add("pos.grad", emb.weight.grad)


def cross_entropy(w, k, N, V, ignore_index, eps, scale, n_ignored, seed):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(N, V, generator=g) * scale).float()
    targets = torch.randint(0, V, (N,), generator=g)
    if ignore_index < 0 or ignore_index >= V:
        rows = torch.randperm(N, generator=g)[:n_ignored]
        targets[rows] = ignore_index
    x = logits.double().requires_grad_(True)
    loss = F.cross_entropy(x, targets, ignore_index=ignore_index, label_smoothing=eps)
    loss.backward()
    keep = targets != ignore_index
    correct = ((x.argmax(dim=1) == targets) & keep).sum()
    w.add(f"xe{k}.logits", logits)
    w.add(f"xe{k}.targets", targets.float())
    w.add(f"xe{k}.meta", torch.tensor([float(ignore_index), eps, float(keep.sum())]))
    w.add(f"xe{k}.loss", loss.detach().reshape(1))
    w.add(f"xe{k}.correct", correct.double().reshape(1))
    w.add(f"xe{k}.grad", x.grad)


def main():
    torch.set_num_threads(1)
    with RefWriter(sys.argv[1]) as w:
        embedding(w)
        learned_positions(w)
        cases = [  # N, V, ignore_index, eps, logit scale, ignored rows, seed
            (9, 7, -100, 0.0, 1.0, 2, 1),
            (9, 7, -100, 0.1, 1.0, 2, 2),
            (12, 5, 2, 0.25, 3.0, 0, 3),      # ignore_index is a class id (padding token)
            (150, 300, -100, 0.1, 2.0, 17, 4),
            (6, 10, -100, 0.2, 60.0, 1, 5),   # large logits: needs the row max
            (5, 1, -100, 0.3, 1.0, 1, 6),     # one class
        ]
        w.add("xe.count", torch.tensor([float(len(cases))]))
        for k, c in enumerate(cases):
            cross_entropy(w, k, *c)


if __name__ == "__main__":
    main()
