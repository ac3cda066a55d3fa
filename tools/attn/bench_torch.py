#!/usr/bin/python3
"""The PyTorch side of `attn bench`.

    bench_torch.py --probe              prints {"ok": true, "torch": VERSION, ...} or {"ok": false, ...}
    bench_torch.py CASE_JSON            times one case (or a JSON list of cases), one JSON line each
    bench_torch.py -                    the same with CASE_JSON read from stdin

A case is {"name", "kind": "fwd"|"bwd"|"dec", "B", "Hq", "Hkv", "Nq", "Nk", "D", "Dv", "causal",
"threads", "target_s"}. Inputs are fp32 in [B, H, N, D] layout. Every form PyTorch offers for the
computation runs once untimed (the forward's warm-up, or the forward building the backward's graph)
and once timed; the fastest is then timed like attn's kernels (median of R runs, R >= 3, about
target_s seconds in all), that first timed run having been its warm-up. Forms:

    math      torch.softmax(q @ k.transpose(-2, -1) * scale + mask, -1) @ v
    baddbmm   3-d batches: torch.baddbmm(mask, q, k^T, alpha=scale), softmax_, torch.bmm with v
    sdpa      F.scaled_dot_product_attention(q, k, v, is_causal=...) when torch has it (2.x)
    sdpa_1.13 F._scaled_dot_product_attention (1.13's private form) when torch has it

The causal mask is an additive [N, N] tensor of 0 and -inf made before timing. Grouped-query
heads (decoding) fold the query heads of a group into the query axis, so K and V are not copied.
A form whose output differs from the math form's by more than 1e-4 is left out.

The backward is timed alone: the forward builds the graph once, then each timed run is
out.backward(grad, retain_graph=True) with the input gradients reset to None before it.

Each result line: {"name", "ok", "form", "median_ms", "min_ms", "max_ms", "reps", "forms":
{form: ms of its single timed run}, "maxrss_kib" (this process's peak, so including torch
itself), "error" when ok is false}.
"""
import json
import math
import os
import resource
import sys
import time


def maxrss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def probe():
    try:
        import torch
    except Exception as e:  # no torch, or a broken one
        return {"ok": False, "error": "import torch failed: %s" % e}
    import torch.nn.functional as F
    return {"ok": True, "torch": torch.__version__,
            "sdpa": hasattr(F, "scaled_dot_product_attention"),
            "sdpa_private": hasattr(F, "_scaled_dot_product_attention"),
            "threads": torch.get_num_threads(), "maxrss_kib": maxrss_kib()}


def make_inputs(torch, c):
    g = torch.Generator().manual_seed(1234)

    def rand(*shape):
        return torch.rand(*shape, generator=g, dtype=torch.float32) * 2 - 1

    q = rand(c["B"], c["Hq"], c["Nq"], c["D"])
    k = rand(c["B"], c["Hkv"], c["Nk"], c["D"])
    v = rand(c["B"], c["Hkv"], c["Nk"], c["Dv"])
    return q, k, v


def forms_for(torch, c):
    """(name, function(q, k, v) -> out) for every applicable form; q may be folded (GQA)."""
    import torch.nn.functional as F
    scale = 1.0 / math.sqrt(c["D"])
    causal = bool(c["causal"])
    mask = None
    if causal:
        mask = torch.full((c["Nq"], c["Nk"]), float("-inf")).triu(1)

    def math_form(q, k, v):
        s = q @ k.transpose(-2, -1) * scale
        if mask is not None:
            s = s + mask
        return torch.softmax(s, dim=-1) @ v

    def baddbmm_form(q, k, v):
        B, H, N, D = q.shape
        q3, k3, v3 = q.reshape(B * H, N, D), k.reshape(B * H, -1, D), v.reshape(B * H, -1, v.shape[-1])
        if mask is not None:
            s = torch.baddbmm(mask, q3, k3.transpose(1, 2), alpha=scale)
        else:
            s = torch.bmm(q3, k3.transpose(1, 2)).mul_(scale)
        p = torch.softmax(s, dim=-1)
        return torch.bmm(p, v3).reshape(B, H, N, -1)

    forms = [("math", math_form), ("baddbmm", baddbmm_form)]
    if hasattr(F, "scaled_dot_product_attention"):
        forms.append(("sdpa", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal)))
    if hasattr(F, "_scaled_dot_product_attention"):
        def private_form(q, k, v):
            r = F._scaled_dot_product_attention(q, k, v, None, 0.0, False, causal)
            return r[0] if isinstance(r, tuple) else r
        forms.append(("sdpa_1.13", private_form))
    return forms


def timed(fn, n, target_s, first=None):
    """Median, min, max in ms of max(3, target_s / first) runs of fn."""
    reps = 3 if not first else max(3, min(2000, int(math.ceil(target_s / first))))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    mid = len(times) // 2
    med = times[mid] if len(times) % 2 else 0.5 * (times[mid - 1] + times[mid])
    return med * 1e3, times[0] * 1e3, times[-1] * 1e3, reps


def run_case(torch, c):
    torch.manual_seed(0)
    q, k, v = make_inputs(torch, c)
    group = c["Hq"] // c["Hkv"]
    if group > 1:
        if c["causal"]:
            raise ValueError("grouped-query heads with a causal mask are not supported here")
        # Fold the query heads of a group into the query axis: [B, Hkv, group * Nq, D].
        q = q.reshape(c["B"], c["Hkv"], group * c["Nq"], c["D"])
    bwd = c["kind"] == "bwd"
    target = float(c.get("target_s", 1.0))

    def build(form):
        """A step function running the form once (forward, or backward on a kept graph), and
        the forward output."""
        if bwd:
            qq, kk, vv = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
            out = form(qq, kk, vv)
            grad = torch.rand(out.shape, generator=torch.Generator().manual_seed(7)) * 2 - 1

            def step():
                for t in (qq, kk, vv):
                    t.grad = None
                out.backward(grad, retain_graph=True)
            return step, out.detach()

        def step():
            with torch.no_grad():
                return form(q, k, v)
        return step, step()

    # Each form runs once untimed (the forward's warm-up; for the backward, the forward that
    # builds the graph) and once timed; the fastest is then timed R times, its first timed run
    # having been its warm-up.
    results = {}
    reference = None
    forms = dict(forms_for(torch, c))
    for name, form in forms.items():
        try:
            step, out = build(form)
            t0 = time.perf_counter()
            step()
            once = time.perf_counter() - t0
            if reference is None:
                reference = out
            elif out.shape != reference.shape or not torch.allclose(out, reference, atol=1e-4, rtol=0):
                results[name] = "left out: output differs from the math form"
                continue
            results[name] = once
        except Exception as e:  # a form this torch cannot run
            results[name] = "error: %s" % str(e).splitlines()[0][:80]
        finally:
            step = out = None  # frees the graph before the next form
    usable = {n: t for n, t in results.items() if isinstance(t, float)}
    if not usable:
        raise RuntimeError("no form ran: %s" % results)
    best = min(usable, key=usable.get)
    if bwd:
        step, _ = build(forms[best])  # a new graph; the old one was freed
    else:
        def step(form=forms[best]):
            with torch.no_grad():
                return form(q, k, v)
    med, lo, hi, reps = timed(step, None, target, usable[best])
    return {"name": c["name"], "ok": True, "form": best, "median_ms": med, "min_ms": lo,
            "max_ms": hi, "reps": reps,
            "forms": {n: (round(t * 1e3, 3) if isinstance(t, float) else t) for n, t in results.items()},
            "backward": "out.backward(grad, retain_graph=True) alone" if bwd else None}


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "--probe":
        print(json.dumps(probe()))
        return 0
    text = sys.stdin.read() if argv[1] == "-" else argv[1]
    cases = json.loads(text)
    if isinstance(cases, dict):
        cases = [cases]
    try:
        import torch
    except Exception as e:
        for c in cases:
            print(json.dumps({"name": c.get("name"), "ok": False, "error": "import torch failed: %s" % e}))
        return 0
    for c in cases:
        threads = int(c.get("threads", 0)) or os.cpu_count() or 1
        torch.set_num_threads(threads)
        try:
            r = run_case(torch, c)
        except Exception as e:
            r = {"name": c.get("name"), "ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        r["threads"] = torch.get_num_threads()
        r["torch"] = torch.__version__
        r["maxrss_kib"] = maxrss_kib()
        print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
