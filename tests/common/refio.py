"""Writes reference tensors for the C tests (format in tests/common/refio.h).

    from refio import RefWriter
    with RefWriter(path) as w:
        w.add("x", tensor)          # torch tensor or numpy array, up to 4 dimensions
"""
import os
import struct

import numpy as np


class RefWriter:
    def __init__(self, path):
        self.path = path
        self.tmp = path + ".tmp"
        self.f = None

    def __enter__(self):
        self.f = open(self.tmp, "wb")
        self.f.write(b"ATTNREF1")
        return self

    def add(self, name, value):
        if hasattr(value, "detach"):
            value = value.detach().cpu().double().numpy()
        a = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
        if a.ndim > 4:
            raise ValueError(f"{name}: at most 4 dimensions, got {a.ndim}")
        raw = name.encode()
        if len(raw) >= 64:
            raise ValueError(f"{name}: name longer than 63 bytes")
        shape = list(a.shape) + [1] * (4 - a.ndim)
        self.f.write(raw.ljust(64, b"\0"))
        self.f.write(struct.pack("<i4q", a.ndim, *shape))
        self.f.write(a.astype("<f4").tobytes())

    def __exit__(self, kind, value, tb):
        self.f.close()
        if kind is None:
            os.replace(self.tmp, self.path)  # never leave a half-written file
        else:
            os.unlink(self.tmp)
        return False
