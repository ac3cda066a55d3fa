"""Shared setup for the attn Python tests: every test runs once per C kernel (ATTN_KERNEL)."""
import os
import sys

import pytest

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if os.path.join(_REPO, "python") not in sys.path:
    sys.path.insert(0, os.path.join(_REPO, "python"))

KERNELS = ("reference", "fused")


@pytest.fixture(params=KERNELS, autouse=True)
def kernel(request):
    """Sets ATTN_KERNEL for the duration of one test (the C library reads it on every call)
    and restores the previous value afterwards."""
    old = os.environ.get("ATTN_KERNEL")
    os.environ["ATTN_KERNEL"] = request.param
    try:
        yield request.param
    finally:
        if old is None:
            os.environ.pop("ATTN_KERNEL", None)
        else:
            os.environ["ATTN_KERNEL"] = old
