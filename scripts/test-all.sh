#!/usr/bin/env bash
# The whole test suite, as README.md's second command line and CI run it:
#   build/       warnings are errors (-DATTN_FATAL_WARNINGS=ON); every ctest test
#   build-asan/  the same under AddressSanitizer and UBSan (-DATTN_SANITIZE=ON); every ctest test
#                (without the Python tests: an uninstrumented Python cannot load that library)
# Stops at the first failure. Run from anywhere; the builds go in the repository root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S . -B build -DATTN_FATAL_WARNINGS=ON
cmake --build build --parallel "$jobs"
(cd build && ctest --output-on-failure)

cmake -S . -B build-asan -DATTN_SANITIZE=ON -DATTN_FATAL_WARNINGS=ON
cmake --build build-asan --parallel "$jobs"
(cd build-asan && ctest --output-on-failure)
