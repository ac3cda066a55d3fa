#!/usr/bin/env bash
# Builds tests/fuzz/fuzz_safetensors.c with clang's libFuzzer, AddressSanitizer and UBSan, and
# runs it for a bounded time from a generated seed corpus. Run by ctest (io_fuzz_safetensors);
# fails when clang or its libFuzzer runtime is missing, and when the fuzzer finds a crash, a
# leak, undefined behaviour or a broken invariant (the input is kept as <work>/crash-*).
#
#   run_fuzz.sh <clang> <source-dir> <work-dir> <seed-tool> <seconds>
#
# Debian 12 packages: clang (the compiler) and libclang-rt-14-dev (the libFuzzer and
# sanitizer runtimes; only "recommended" by clang, so a --no-install-recommends install lacks
# it). Reproduce a crash with: <work-dir>/fuzz_safetensors <work-dir>/crash-<hash>
set -euo pipefail
cc=$1 src=$2 work=$3 seeds=$4 seconds=$5

if ! command -v "$cc" >/dev/null 2>&1; then
  echo "FAIL: the fuzz test needs clang ('$cc' not found): apt-get install clang libclang-rt-14-dev"
  exit 1
fi
mkdir -p "$work/corpus" "$work/seeds"
bin=$work/fuzz_safetensors
sources=(tests/fuzz/fuzz_safetensors.c src/io/json.c src/io/safetensors.c
         src/io/safetensors_write.c src/io/atomic_file.c src/core/status.c)
if ! "$cc" -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra \
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -I"$src/include" -I"$src/src" "${sources[@]/#/$src/}" -o "$bin"; then
  echo "FAIL: $cc cannot build a libFuzzer binary (-fsanitize=fuzzer,address,undefined)."
  echo "      Install the runtimes: apt-get install libclang-rt-14-dev (for clang 14)"
  exit 1
fi

rm -f "$work"/seeds/*
"$seeds" "$work/seeds"

echo "fuzzing for ${seconds}s (corpus kept in $work/corpus)"
set +e
"$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
       -dict="$src/tests/fuzz/safetensors.dict" -artifact_prefix="$work/" \
       -print_final_stats=1 "$work/corpus" "$work/seeds" 2>"$work/fuzz.log"
rc=$?
set -e
grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|INFO: Loaded|Done )" \
  "$work/fuzz.log" || true
if [ "$rc" -ne 0 ]; then
  tail -n 60 "$work/fuzz.log"
  echo "FAIL: the fuzzer found a problem (exit $rc); the input is in $work/ (crash-*, leak-*,"
  echo "      timeout-*); reproduce with: $bin <that file>"
  exit 1
fi
echo "fuzz_safetensors: no crash in ${seconds}s"
