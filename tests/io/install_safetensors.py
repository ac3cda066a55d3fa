"""Fixture of the io_interop test: installs the safetensors package (PyPI) into a directory of
the build tree with pip --target, leaving the system's Python untouched.

Usage: install_safetensors.py <target-dir>

Always exits 0: when pip is missing or PyPI cannot be reached, io_interop falls back to its own
reader and writer written from the format's specification, and says so in its output.
"""
import subprocess
import sys

VERSION = "0.8.0"  # pinned: its raw deserialize() API and writer order are what the test uses


def main():
    target = sys.argv[1]
    sys.path.insert(0, target)
    try:
        import safetensors  # noqa: F401
        print(f"safetensors {safetensors.__version__} already in {target}")
        return 0
    except ImportError:
        pass
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--no-deps", "--no-input", "--target", target, f"safetensors=={VERSION}"]
    print(" ".join(cmd))
    try:
        r = subprocess.run(cmd, timeout=240)
        ok = r.returncode == 0
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"pip failed: {e}")
        ok = False
    if not ok:
        print("WARNING: could not install safetensors (is python3-pip installed and PyPI "
              "reachable?); io_interop will compare against its own spec-based reader/writer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
