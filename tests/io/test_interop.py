"""Interoperability of attn's safetensors files with the safetensors Python package.

Usage: test_interop.py <st_tool> <work-dir>     (run by ctest as io_interop)

Checks, each against the reference implementation when the safetensors package can be imported
(install_safetensors.py puts it on PYTHONPATH), else against a reader and writer written here
from the format's specification (the output says which):
  1. a file attn writes reads back in Python with the same names, dtypes, shapes, bytes and
     metadata;
  2. files Python writes (numpy, and torch for BF16 when torch imports) read in C the same way;
  3. for the same tensors and at most one metadata key, attn writes the very bytes Python does;
  4. an attn checkpoint (weights, AdamW moments, step, metadata) reads in Python, and a state
     dict written by Python with the checkpoint's names loads into attn's parameter store;
  5. differential strictness: of ~2000 damaged files, every one attn accepts is also accepted
     by the reference (attn is at least as strict), and the ones only attn rejects are counted.
Exits nonzero on the first failed check and prints "N passed, 0 failed" at the end otherwise.
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

TOOL, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)

try:
    import safetensors
    from safetensors import deserialize as ref_deserialize
    import safetensors.numpy as st_numpy
    REF = f"safetensors {safetensors.__version__}"
except ImportError:
    safetensors = None
    REF = None

# dtype name -> (bytes per element, numpy dtype or None); in the reference's order, narrow first
DTYPES = {
    "BOOL": (1, np.bool_), "U8": (1, np.uint8), "I8": (1, np.int8), "F8_E5M2": (1, None),
    "F8_E4M3": (1, None), "F8_E8M0": (1, None), "I16": (2, np.int16), "U16": (2, np.uint16),
    "F16": (2, np.float16), "BF16": (2, None), "I32": (4, np.int32), "U32": (4, np.uint32),
    "F32": (4, np.float32), "C64": (8, np.complex64), "F64": (8, np.float64),
    "I64": (8, np.int64), "U64": (8, np.uint64),
}
ORDER = list(DTYPES)

TABLE = [
    ("w.f32", "F32", [2, 3]), ("w.f16", "F16", [4]), ("w.bf16", "BF16", [3, 1]),
    ("w.f64", "F64", [2]), ("w.i64", "I64", []), ("w.i32", "I32", [2, 2]), ("w.i16", "I16", [3]),
    ("w.u8", "U8", [5]), ("w.i8", "I8", [1, 1, 1]), ("w.bool", "BOOL", [3]),
    ("w.empty", "F32", [0, 4]), ("w.u16", "U16", [2]), ("w.u32", "U32", [2]),
    ("w.u64", "U64", [1]), ("w.c64", "C64", [1]), ("caf\u00e9 \u20ac", "F32", [1]),
    ("z.f8", "F8_E4M3", [2]),
]
META = {"config": "{\"d_model\": 64}", "step": "100", "unicode": "\u00e9 \u20ac \U0001F600",
        "control": "a\nb\t\"c\\ \x01 /", "": "empty key"}

passed = 0


def check(cond, what):
    global passed
    if not cond:
        print(f"FAIL: {what}")
        print("0 passed, 1 failed" if passed == 0 else f"{passed} passed, 1 failed")
        sys.exit(1)
    passed += 1


def pattern(k, dtype, shape):
    n = DTYPES[dtype][0] * int(np.prod(shape, dtype=np.int64))
    if dtype == "BOOL":
        return bytes(j & 1 for j in range(n))
    return bytes((37 * j + 11 * k + 5) & 0xFF for j in range(n))


def tool(*args, stdout=True):
    r = subprocess.run([TOOL, *args], capture_output=True, text=True)
    check(r.returncode == 0, f"st_tool {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


# ---- the reference, or the specification --------------------------------------------------

def no_dups(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def spec_read(data):
    """(tensors {name: (dtype, shape, bytes)}, metadata) of a file; ValueError if invalid."""
    if len(data) < 8:
        raise ValueError("short")
    n = struct.unpack("<Q", data[:8])[0]
    if n > 100_000_000 or n > len(data) - 8:
        raise ValueError("header length")
    head = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=no_dups)
    if not isinstance(head, dict):
        raise ValueError("not an object")
    meta = head.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("metadata")
    buf = data[8 + n:]
    spans, out = [], {}
    for name, e in head.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise ValueError("entry keys")
        dt, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if dt not in DTYPES or not isinstance(shape, list) or not isinstance(offs, list):
            raise ValueError("entry types")
        if len(offs) != 2 or not all(type(x) is int and x >= 0 for x in shape + offs):
            raise ValueError("numbers")
        b, end = offs
        size = DTYPES[dt][0] * int(np.prod(shape, dtype=object))
        if b > end or end > len(buf) or size != end - b:
            raise ValueError("offsets")
        spans.append((b, end))
        out[name] = (dt, shape, bytes(buf[b:end]))
    pos = 0
    for b, end in sorted(spans):
        if b != pos:
            raise ValueError("gap or overlap")
        pos = end
    if pos != len(buf):
        raise ValueError("trailing bytes")
    return out, meta


def ref_read(data):
    if not REF:
        return spec_read(data)
    tensors = {name: (d["dtype"], list(d["shape"]), bytes(d["data"]))
               for name, d in ref_deserialize(bytes(data))}
    path = os.path.join(WORK, "ref_read.tmp")
    with open(path, "wb") as f:
        f.write(data)
    with safetensors.safe_open(path, framework="numpy") as f:
        meta = f.metadata() or {}
    return tensors, meta


def spec_write(tensors, meta):
    items = sorted(tensors.items(), key=lambda kv: (-ORDER.index(kv[1][0]), kv[0].encode()))
    head, off = {}, 0
    if meta:
        head["__metadata__"] = meta
    for name, (dt, shape, data) in items:
        head[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    h = json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(t[2] for _, t in items)


def ref_write_numpy(tensors, meta):
    """Bytes of the tensors (numpy-representable dtypes only) as the reference writes them."""
    if not REF:
        return spec_write(tensors, meta)
    arrays = {name: np.frombuffer(data, dtype=DTYPES[dt][1]).reshape(shape)
              for name, (dt, shape, data) in tensors.items()}
    return bytes(st_numpy.save(arrays, metadata=meta or None))


def c_write(tensors, meta, name):
    spec = {"tensors": [[n, dt, shape] for n, (dt, shape, _) in tensors.items()],
            "metadata": meta}
    sp, out = os.path.join(WORK, name + ".json"), os.path.join(WORK, name)
    with open(sp, "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False)
    tool("write", out, sp)
    with open(out, "rb") as f:
        return f.read()


def c_dump(path):
    d = json.loads(tool("dump", path))
    return ({n: (t["dtype"], t["shape"], bytes.fromhex(t["hex"])) for n, t in d["tensors"].items()},
            d["metadata"])


def table(rows):
    return {name: (dt, shape, pattern(k, dt, shape)) for k, (name, dt, shape) in enumerate(rows)}


def main():
    print(f"comparing against: {REF or 'the spec-based fallback (safetensors not installed)'}")
    all_t = table(TABLE)

    # 1. attn writes, Python reads
    data = c_write(all_t, META, "c_all.safetensors")
    got, meta = ref_read(data)
    check(got == all_t, f"tensors differ: {sorted(set(got) ^ set(all_t))}")
    check(meta == META, f"metadata differs: {meta}")

    # 2. Python writes, attn reads
    np_rows = [r for r in TABLE if DTYPES[r[1]][1] is not None]
    np_t = table(np_rows)
    path = os.path.join(WORK, "py_numpy.safetensors")
    with open(path, "wb") as f:
        f.write(ref_write_numpy(np_t, META))
    got, meta = c_dump(path)
    check(got == np_t and meta == META, "numpy-written file reads differently in C")
    try:
        import torch
    except ImportError:
        torch = None
    if REF and torch is not None:
        import safetensors.torch as st_torch
        rows = [("b", "BF16", [2, 3]), ("h", "F16", [4]), ("f", "F32", [0, 2]), ("q", "BOOL", [2])]
        tt = table(rows)
        tensors = {}
        for name, (dt, shape, data) in tt.items():
            if dt == "BF16":
                a = np.frombuffer(data, dtype=np.int16).reshape(shape).copy()
                tensors[name] = torch.from_numpy(a).view(torch.bfloat16)
            else:
                a = np.frombuffer(data, dtype=DTYPES[dt][1]).reshape(shape).copy()
                tensors[name] = torch.from_numpy(a)
        path = os.path.join(WORK, "py_torch.safetensors")
        st_torch.save_file(tensors, path, metadata={"format": "pt"})
        got, meta = c_dump(path)
        check(got == tt and meta == {"format": "pt"}, "torch-written file reads differently")
        # 3b. the same bytes as the reference for a torch-only dtype
        check(c_write(tt, {"format": "pt"}, "c_torch.safetensors") == open(path, "rb").read(),
              "attn's bytes differ from safetensors.torch's for the same tensors")
    else:
        print("torch-written files: skipped (needs safetensors and torch)")

    # 3. the same bytes as the reference writer
    for meta in ({}, {"format": "pt"}, {"k\n\u00e9": "v\"\x01"}):
        c = c_write(np_t, meta, "c_np.safetensors")
        check(c == ref_write_numpy(np_t, meta), f"bytes differ from the reference (meta {meta})")

    # 4. checkpoints both ways
    ck = os.path.join(WORK, "ckpt.safetensors")
    tool("ckpt-save", ck)
    with open(ck, "rb") as f:
        tensors, meta = ref_read(f.read())
    weights = {n: t for n, t in tensors.items() if not n.startswith("optimizer.")}
    check(len(weights) == 4 and len(tensors) == 13, f"checkpoint tensors: {sorted(tensors)}")
    check(meta.get("attn.format") == "checkpoint-1" and meta.get("model") == "interop-test"
          and meta.get("step") == "4242", f"checkpoint metadata: {meta}")
    for t, name in enumerate(["encoder.embed.weight", "encoder.layers.0.linear1.weight",
                              "encoder.layers.0.linear1.bias", "decoder.out.weight"]):
        dt, shape, data = weights[name]
        w = np.frombuffer(data, dtype=np.float32)
        want = (np.arange(w.size) % 97).astype(np.float32) * 0.5 - 3 + t
        check(dt == "F32" and np.array_equal(w, want), f"weights of {name}")
        m = np.frombuffer(tensors["optimizer.m." + name][2], dtype=np.float32)
        v = np.frombuffer(tensors["optimizer.v." + name][2], dtype=np.float32)
        check(np.array_equal(m, want * 0.25) and np.array_equal(v, want * want),
              f"moments of {name}")
        check(tensors["optimizer.m." + name][1] == shape, f"moment shape of {name}")
    dt, shape, data = tensors["optimizer.step"]
    check(dt == "I64" and shape == [] and struct.unpack("<q", data)[0] == 4242, "step")

    state = {}
    for k, (name, (dt, shape, _)) in enumerate(sorted(weights.items())):
        a = (np.arange(int(np.prod(shape)), dtype=np.float32) * 0.125 - 1 - k).reshape(shape)
        state[name] = ("F32", shape, a.tobytes())
    sd = os.path.join(WORK, "state_dict.safetensors")
    with open(sd, "wb") as f:
        f.write(ref_write_numpy(state, {"format": "pt"}))
    got = json.loads(tool("ckpt-load", sd))
    check({n: bytes.fromhex(t["hex"]) for n, t in got["tensors"].items()} ==
          {n: t[2] for n, t in state.items()}, "state dict loaded into attn differs")
    check(got["metadata"] == {"format": "pt"}, f"state dict metadata: {got['metadata']}")

    # 4b. 16-bit weights: attn rounds as numpy (fp16) and torch (bf16) do, and a state dict
    # saved in 16 bits (as torch's .half() / .bfloat16() gives) loads widened exactly
    for dt in ("F16", "BF16"):
        p32, p16 = os.path.join(WORK, "w32.safetensors"), os.path.join(WORK, "w16.safetensors")
        tool("ckpt-save16", p32, p16, dt)
        with open(p32, "rb") as f:
            t32, _ = ref_read(f.read())
        with open(p16, "rb") as f:
            t16, meta16 = ref_read(f.read())
        check(sorted(t16) == sorted(weights) and meta16.get("model") == "interop-test",
              f"{dt} weights file: {sorted(t16)}, {meta16}")
        for name in sorted(weights):
            x = np.frombuffer(t32[name][2], dtype=np.float32)
            got = np.frombuffer(t16[name][2], dtype=np.uint16)
            if dt == "F16":
                with np.errstate(over="ignore"):  # 65520 and up round to infinity
                    want = x.astype(np.float16).view(np.uint16)
            elif torch is not None:
                want = torch.from_numpy(x.copy()).to(torch.bfloat16).view(torch.int16).numpy()
                want = want.view(np.uint16)
            else:  # round to nearest even on the bits, as torch's c10::BFloat16 does
                b = x.view(np.uint32).astype(np.uint64)
                want = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)
            check(t16[name][0] == dt and t16[name][1] == t32[name][1] and
                  np.array_equal(got, want), f"{dt} rounding of {name}: {got[:8]} vs {want[:8]}")
        widened = {}
        for name, (_, shape, data) in t16.items():
            h = np.frombuffer(data, dtype=np.uint16)
            w = (h.view(np.float16).astype(np.float32) if dt == "F16"
                 else (h.astype(np.uint32) << 16).view(np.float32))
            widened[name] = w.tobytes()
        got = json.loads(tool("ckpt-load", p16))
        check({n: bytes.fromhex(t["hex"]) for n, t in got["tensors"].items()} == widened,
              f"{dt} weights loaded into attn differ from their exact widening")

    # 5. differential strictness on damaged files
    base = c_write(table(TABLE[:6]), {"k": "v"}, "base.safetensors")
    n = struct.unpack("<Q", base[:8])[0]
    cases = [base[:i] for i in range(len(base))] + [base + b"\0"]
    for i in range(8 + n):
        for mask in (0x01, 0x20, 0x80):
            b = bytearray(base)
            b[i] ^= mask
            cases.append(bytes(b))
    def raw(h, data=b""):
        h = h.encode()
        return struct.pack("<Q", len(h)) + h + data
    e = '{"dtype":"F32","shape":[1],"data_offsets":[%d,%d]}'
    cases += [
        raw('{"a":%s,"b":%s}' % (e % (0, 4), e % (8, 12)), bytes(12)),     # gap
        raw('{"a":%s,"b":%s}' % (e % (0, 4), e % (2, 6)), bytes(6)),       # overlap
        raw('{"a":%s,"a":%s}' % (e % (0, 4), e % (4, 8)), bytes(8)),       # duplicate
        raw('{"a":%s}' % (e % (0, 4)).replace("}", ',"x":1}'), bytes(4)),  # unknown key
        raw('{"a":%s}' % (e % (0, 4)), bytes(5)),                          # trailing byte
        raw('  {"a":%s}  ' % (e % (0, 4)), bytes(4)),                      # whitespace
        raw('{"__metadata__":null}'), raw('{"__metadata__":{"k":1}}'),
        raw('{"a":%s}' % (e % (0, 4)).replace("F32", "F4"), bytes(4)),
        raw('{"a":%s}' % (e % (0, 4)).replace("[1]", "[1.0]"), bytes(4)),
        raw('{"a":%s}' % (e % (0, 4)).replace("[1]", "[-1]"), bytes(4)),
        raw('{"":%s}' % (e % (0, 4)), bytes(4)),
        raw('{"a\\u0000":%s}' % (e % (0, 4)), bytes(4)),
    ]
    paths = []
    for i, c in enumerate(cases):
        p = os.path.join(WORK, f"case{i}.bin")
        with open(p, "wb") as f:
            f.write(c)
        paths.append(p)
    verdicts = tool("check", *paths).splitlines()
    check(len(verdicts) == len(cases), "st_tool check printed one line per file")
    only_c_rejects = []
    for c, v in zip(cases, verdicts):
        try:
            ref_read(c)
            ref_ok = True
        except Exception:
            ref_ok = False
        if v == "ok" and not ref_ok:
            check(False, f"attn accepts a file the reference rejects: {c[:200]!r}")
        if v != "ok" and ref_ok:
            only_c_rejects.append(v)
    passed_cases = len(cases)
    ref = "the reference" if REF else "the spec-based reader"
    print(f"differential: {passed_cases} damaged files; {sum(v == 'ok' for v in verdicts)} "
          f"accepted by attn (all also by {ref}); {len(only_c_rejects)} rejected only "
          f"by attn, e.g.:")
    for v in sorted(set(m.split(": ", 2)[-1] for m in only_c_rejects))[:8]:
        print(f"    {v}")
    for p in paths:
        os.unlink(p)
    print(f"{passed} passed, 0 failed")


if __name__ == "__main__":
    main()
