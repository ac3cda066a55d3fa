"""PyTorch references for tests/train/test_optim.c and test_schedule_init.c:
torch.optim.AdamW over several steps with given gradients (with and without weight decay, with
a no-decay group), torch.nn.utils.clip_grad_norm_, and torch.nn.init's fans and gains."""
import math
import sys

import torch
from refio import RefWriter

# name, shape; the no-decay rule of the C test: 1-d tensors and names ending in ".bias"
PARAMS = [("enc.weight", (4, 6)), ("enc.bias", (6,)), ("norm.weight", (6,)),
          ("emb.weight", (5, 3)), ("big.weight", (100, 90))]
LRS = [1e-3, 2e-3, 5e-3, 3e-3, 1e-3, 4e-4]


def adamw_case(w, tag, betas, eps, wd, split_groups, seed):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(*s, generator=g).requires_grad_(True) for _, s in PARAMS]
    for (name, _), p in zip(PARAMS, params):
        w.add(f"{tag}.p0.{name}", p)
    if split_groups:
        skip = [p.dim() == 1 or n.endswith(".bias") for (n, _), p in zip(PARAMS, params)]
        decay = [p for s, p in zip(skip, params) if not s]
        no_decay = [p for s, p in zip(skip, params) if s]
        groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
    else:
        groups = [{"params": params, "weight_decay": wd}]
    opt = torch.optim.AdamW(groups, lr=LRS[0], betas=betas, eps=eps, foreach=False)
    for k, lr in enumerate(LRS):
        for (name, _), p in zip(PARAMS, params):
            p.grad = torch.randn(p.shape, generator=g) * (0.1 if k % 2 else 3.0)
            w.add(f"{tag}.g{k}.{name}", p.grad)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        for (name, _), p in zip(PARAMS, params):
            w.add(f"{tag}.p{k + 1}.{name}", p)
    for (name, _), p in zip(PARAMS, params):
        st = opt.state[p]
        w.add(f"{tag}.m.{name}", st["exp_avg"])
        w.add(f"{tag}.v.{name}", st["exp_avg_sq"])
        w.add(f"{tag}.step.{name}", st["step"].reshape(1))
    w.add(f"{tag}.opts", torch.tensor([betas[0], betas[1], eps, wd], dtype=torch.float64))


def clip_case(w, tag, max_norm, scale, seed):
    g = torch.Generator().manual_seed(seed)
    params = [torch.zeros(*s, requires_grad=True) for _, s in PARAMS]
    for (name, _), p in zip(PARAMS, params):
        p.grad = torch.randn(p.shape, generator=g) * scale
        w.add(f"{tag}.g.{name}", p.grad)
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    for (name, _), p in zip(PARAMS, params):
        w.add(f"{tag}.clipped.{name}", p.grad)
    w.add(f"{tag}.meta", torch.tensor([max_norm, float(norm)], dtype=torch.float64))


def init_refs(w):
    shapes = [(7, 3), (3, 7), (8, 4, 3, 3), (16, 1, 5), (5, 2, 2, 2)]
    for k, s in enumerate(shapes):
        fi, fo = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*s))
        w.add(f"fan{k}.shape", torch.tensor(list(s), dtype=torch.float64))
        w.add(f"fan{k}.fans", torch.tensor([fi, fo], dtype=torch.float64))
    gains = [torch.nn.init.calculate_gain("linear"), torch.nn.init.calculate_gain("sigmoid"),
             torch.nn.init.calculate_gain("tanh"), torch.nn.init.calculate_gain("relu"),
             torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5)),
             torch.nn.init.calculate_gain("selu")]
    w.add("gains", torch.tensor(gains, dtype=torch.float64))
    # nn.Linear's default bound: the largest |w| of a large layer approaches 1/sqrt(fan_in)
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 2000)
    w.add("linear.maxabs", lin.weight.detach().abs().max().reshape(1))


def main():
    torch.set_num_threads(1)
    with RefWriter(sys.argv[1]) as w:
        w.add("lrs", torch.tensor(LRS, dtype=torch.float64))
        adamw_case(w, "A", (0.9, 0.999), 1e-8, 0.0, False, 1)
        adamw_case(w, "B", (0.9, 0.98), 1e-6, 0.1, True, 2)
        adamw_case(w, "C", (0.8, 0.95), 1e-8, 0.05, False, 3)
        clip_case(w, "clip", 1.0, 1.0, 4)
        clip_case(w, "noclip", 1000.0, 1.0, 5)
        init_refs(w)


if __name__ == "__main__":
    main()
