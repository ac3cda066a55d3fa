"""Loading libattn with ctypes, and ctypes mirrors of the structs and enums in include/attn.h.

The library is looked up in this order:
  1. the file named by the environment variable ATTN_LIBRARY (when set, nothing else is tried);
  2. ../../build/libattn.so relative to this package, i.e. <repository>/build/libattn.so.
"""
import ctypes
import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_REPO_DIR = os.path.dirname(os.path.dirname(_PACKAGE_DIR))
DEFAULT_LIBRARY = os.path.join(_REPO_DIR, "build", "libattn.so")

# ---- enums (C enums are int) -------------------------------------------------------------------
STATUS_OK = 0
STATUS_OUT_OF_MEMORY = 8

KERNEL_AUTO = 0

DTYPE_F32 = 0

CAUSAL_NONE = 0
CAUSAL_TOP_LEFT = 1
CAUSAL_BOTTOM_RIGHT = 2

MASK_NONE = 0
MASK_BOOL = 1
MASK_BIAS = 2

_Int64x4 = ctypes.c_int64 * 4


# ---- structs -----------------------------------------------------------------------------------
class Src(ctypes.Structure):
    """attn_src_t: a read-only [B, H, N, D] tensor, strides in elements."""
    _fields_ = [("data", ctypes.c_void_p),
                ("dtype", ctypes.c_int),
                ("stride", _Int64x4)]


class Dst(ctypes.Structure):
    """attn_dst_t: a writable fp32 [B, H, N, D] tensor (float *data)."""
    _fields_ = [("data", ctypes.c_void_p),
                ("stride", _Int64x4)]


class Shape(ctypes.Structure):
    """attn_shape_t."""
    _fields_ = [("batch", ctypes.c_int64),
                ("heads_q", ctypes.c_int64),
                ("heads_kv", ctypes.c_int64),
                ("len_q", ctypes.c_int64),
                ("len_k", ctypes.c_int64),
                ("dim_qk", ctypes.c_int64),
                ("dim_v", ctypes.c_int64)]


class Mask(ctypes.Structure):
    """attn_mask_t: [Bm, Hm, Mq, Mk] broadcast to [B, Hq, Nq, Nk]."""
    _fields_ = [("kind", ctypes.c_int),
                ("data", ctypes.c_void_p),
                ("shape", _Int64x4),
                ("stride", _Int64x4)]


class Params(ctypes.Structure):
    """attn_params_t."""
    _fields_ = [("scale", ctypes.c_float),
                ("causal", ctypes.c_int),
                ("key_lens", ctypes.POINTER(ctypes.c_int64)),
                ("mask", Mask),
                ("kernel", ctypes.c_int),
                ("dropout_p", ctypes.c_float),
                ("dropout_seed", ctypes.c_uint64)]


# Sizes on LP64 (x86-64, aarch64), checked against the C compiler's sizeof.
EXPECTED_SIZES = {Src: 48, Dst: 40, Shape: 56, Mask: 80, Params: 112}


# ---- loading -----------------------------------------------------------------------------------
def _load():
    env = os.environ.get("ATTN_LIBRARY")
    path = env if env else DEFAULT_LIBRARY
    how = ("the environment variable ATTN_LIBRARY" if env
           else "the default location <repository>/build/libattn.so")
    if not os.path.exists(path):
        raise ImportError(
            "attn: cannot find the C library libattn.so at %s (from %s). Build it with "
            "`cmake -S . -B build && cmake --build build` in %s, or set ATTN_LIBRARY to the "
            "full path of libattn.so." % (path, how, _REPO_DIR))
    try:
        return ctypes.CDLL(path), path
    except OSError as exc:
        raise ImportError(
            "attn: cannot load %s (from %s): %s. Rebuild it with `cmake -S . -B build && "
            "cmake --build build` in %s (not with ATTN_SANITIZE=ON: a sanitized library cannot "
            "be loaded into an unsanitized python), or set ATTN_LIBRARY to a working "
            "libattn.so." % (path, how, exc, _REPO_DIR)) from exc


lib, LIBRARY_PATH = _load()


def _proto(name, restype, argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


_c_int = ctypes.c_int
_c_i64 = ctypes.c_int64
_fptr = ctypes.c_void_p  # float * (data pointers are passed as plain addresses)

attn_status_string = _proto("attn_status_string", ctypes.c_char_p, [_c_int])
attn_last_error = _proto("attn_last_error", ctypes.c_char_p, [])
attn_version = _proto("attn_version", ctypes.c_char_p, [])
attn_set_num_threads = _proto("attn_set_num_threads", _c_int, [ctypes.c_int32])
attn_get_num_threads = _proto("attn_get_num_threads", ctypes.c_int32, [])
attn_kernel_name = _proto("attn_kernel_name", ctypes.c_char_p, [_c_int])
attn_simd_isa = _proto("attn_simd_isa", ctypes.c_char_p, [])
attn_default_params = _proto("attn_default_params", Params, [])
attn_forward = _proto("attn_forward", _c_int,
                      [ctypes.POINTER(Shape), ctypes.POINTER(Params), Src, Src, Src, Dst, _fptr])
attn_backward = _proto("attn_backward", _c_int,
                       [ctypes.POINTER(Shape), ctypes.POINTER(Params), Src, Src, Src, Src, _fptr,
                        Src, Dst, Dst, Dst, Dst])
attn_probs = _proto("attn_probs", _c_int,
                    [ctypes.POINTER(Shape), ctypes.POINTER(Params), Src, Src, _fptr,
                     _c_i64, _c_i64, _c_i64, _c_i64, _fptr, _c_i64])


def check(status):
    """Turns a failing attn_status_t into a Python exception carrying attn_last_error()."""
    if status == STATUS_OK:
        return
    message = (attn_last_error() or b"").decode("utf-8", "replace")
    if not message:
        message = attn_status_string(status).decode()
    if status == STATUS_OUT_OF_MEMORY:
        raise MemoryError("attn: " + message)
    raise ValueError("attn: " + message)
