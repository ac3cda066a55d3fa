# ctest test of the attn program: exit codes, messages and the demo's output.
# Run as: cmake -DATTN=/path/to/attn -P test_cli.cmake
if(NOT ATTN)
  message(FATAL_ERROR "pass -DATTN=<path of the attn program>")
endif()

set(failures 0)

# run(<expected exit code> <name> ARGS ... [ENV VAR=VALUE ...] [OUT regex ...] [ERR regex ...]
#     [NOT_OUT regex ...])
function(run expected name)
  cmake_parse_arguments(R "" "" "ARGS;ENV;OUT;ERR;NOT_OUT" ${ARGN})
  set(cmd ${ATTN} ${R_ARGS})
  if(R_ENV)
    set(cmd ${CMAKE_COMMAND} -E env ${R_ENV} ${cmd})
  endif()
  execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(problems "")
  if(NOT rc STREQUAL "${expected}")
    string(APPEND problems "  exit code ${rc}, expected ${expected}\n")
  endif()
  foreach(re IN LISTS R_OUT)
    if(NOT out MATCHES "${re}")
      string(APPEND problems "  stdout does not match '${re}'\n")
    endif()
  endforeach()
  foreach(re IN LISTS R_NOT_OUT)
    if(out MATCHES "${re}")
      string(APPEND problems "  stdout matches '${re}' but should not\n")
    endif()
  endforeach()
  foreach(re IN LISTS R_ERR)
    if(NOT err MATCHES "${re}")
      string(APPEND problems "  stderr does not match '${re}'\n")
    endif()
  endforeach()
  if(problems)
    message("FAIL ${name}: attn ${R_ARGS}\n${problems}--- stdout\n${out}--- stderr\n${err}---")
    math(EXPR n "${failures} + 1")
    set(failures ${n} PARENT_SCOPE)
  else()
    message("ok   ${name}")
  endif()
endfunction()

string(ASCII 27 ESC)

run(0 version ARGS version OUT "^attn [0-9]+\\.[0-9]+\\.[0-9]+\n$")
run(0 dash-version ARGS --version OUT "^attn [0-9]+\\.[0-9]+\\.[0-9]+\n$")
run(0 help ARGS help OUT "Usage: attn COMMAND" "\n  demo " "\n  bench " "\n  version " "\n  help ")
run(0 dash-help ARGS --help OUT "Usage: attn COMMAND")
run(0 help-demo ARGS help demo OUT "^Usage: attn demo")
run(0 demo-dash-help ARGS demo --help OUT "^Usage: attn demo" "--causal")
run(0 dash-help-demo ARGS --help demo OUT "^Usage: attn demo")

run(2 no-command ERR "no command given" "attn help")
run(2 unknown-command ARGS frobnicate ERR "unknown command 'frobnicate'" "Run 'attn help'")
run(2 typo-command ARGS dmeo ERR "did you mean 'attn demo'")
run(2 unknown-option ARGS --frobnicate ERR "unknown option '--frobnicate'")
run(2 help-unknown ARGS help frobnicate ERR "no command 'frobnicate'")
run(2 version-arg ARGS version extra ERR "takes no arguments")
run(2 demo-bad-flag ARGS demo --bogus ERR "attn demo: unknown option '--bogus'"
    "Run 'attn help demo'")
run(2 demo-typo-flag ARGS demo --casual ERR "did you mean '--causal'")
run(2 demo-bad-color ARGS demo --color=sometimes ERR "--color must be auto, always or never")
run(2 demo-missing-value ARGS demo --threads ERR "--threads needs a value")
run(2 demo-bad-threads ARGS demo --threads=0 ERR "--threads must be a whole number")
run(2 demo-bad-kernel ARGS demo --kernel fast ERR "--kernel must be auto, fused or reference")
run(2 demo-argument ARGS demo extra ERR "got 'extra'")

# The demo: both variants, readable weights, plain output when stdout is not a terminal.
run(0 demo ARGS demo ENV NO_COLOR=
    OUT "== Full attention" "== Causal attention"
        "it     -> cat    0\\.8" "purred -> it     0\\.70"
        "rows of P sum to 1" "hidden weights are 0" "LSE"
        "\n  the      1\\.000       ·"
    NOT_OUT "${ESC}")
run(0 demo-full ARGS demo --full --no-color OUT "== Full attention" NOT_OUT "== Causal")
run(0 demo-causal ARGS demo --causal --kernel=reference --threads 1
    OUT "== Causal attention" "kernel reference, 1 thread\n" NOT_OUT "== Full")
run(0 demo-color ARGS demo --full --color=always OUT "${ESC}\\[48;5;[0-9]+m")
run(0 demo-fused ARGS demo --kernel=fused --threads=2 OUT "kernel fused, 2 threads")
# Library errors reach the user through attn_last_error().
run(1 demo-library-error ARGS demo ENV ATTN_KERNEL=bogus
    ERR "attn demo: attn_forward failed: bad argument: .*ATTN_KERNEL")

# attn bench: its help and command-line errors, then a tiny run through every code path (the
# machine measurement, each implementation in a child process, the fused-vs-naive check, the
# tables and --json). Timings are never checked: they depend on the machine and its load.
run(0 help-bench ARGS help bench OUT "^Usage: attn bench" "--quick" "--sweep" "--json" "--cases")
run(0 bench-dash-help ARGS bench --help OUT "^Usage: attn bench")
run(0 bench-list ARGS bench --list
    OUT "\nfwd-n2048-d64-causal-f32\n" "\nbwd-n8192-d128-full-f16\n" "\ndec-nk65536-hq8-hkv2-d128-f16\n"
    NOT_OUT "tiny")
run(0 bench-list-quick ARGS bench --quick --list --cases=fwd OUT "^fwd-n2048-d64-full-f32\nfwd-n2048-d64-causal-f32\n$")
run(2 bench-bad-flag ARGS bench --bogus ERR "attn bench: unknown option '--bogus'" "Run 'attn help bench'")
run(2 bench-typo-flag ARGS bench --quik ERR "did you mean '--quick'")
run(2 bench-bad-threads ARGS bench --threads=0 ERR "--threads must be a whole number")
run(2 bench-bad-time ARGS bench --time=soon ERR "--time must be seconds")
run(2 bench-missing-value ARGS bench --json ERR "--json needs a value")
run(2 bench-no-match ARGS bench --cases=no-such-case ERR "no case matches --cases=no-such-case")
run(2 bench-quick-sweep ARGS bench --quick --sweep ERR "pick one")
run(2 bench-argument ARGS bench extra ERR "got 'extra'")
set(bench_json "${CMAKE_CURRENT_BINARY_DIR}/test_cli_bench.json")
file(REMOVE "${bench_json}")
run(0 bench-tiny ARGS bench --cases=tiny --no-torch --time=0.01 --threads=2 "--json=${bench_json}"
    OUT "fp32 FMA peak +[0-9.]+ GFLOP/s" "memory bandwidth +read [0-9.]+ GB/s"
        "== tiny-fwd-n64-d32-full-f32: forward" "== tiny-bwd-n64-d32-causal-f32: backward"
        "== tiny-dec-nk512-hq4-hkv2-d32-f16: decoding"
        "check: max \\|fused - naive\\| over dQ, dK, dV = [0-9.e+-]+\n"
        "\n   attn fused +[0-9.]+ +[0-9.]+ +[0-9.]+%" "\n   attn reference +[0-9.]+"
        "\n   naive BLAS +[0-9.]+" "naive BLAS =f32" "torch +--no-torch" "== Summary"
    NOT_OUT "FAILED")
if(EXISTS "${bench_json}")
  file(READ "${bench_json}" text)
  if(NOT text MATCHES "\"peak_gflops\": [0-9]" OR NOT text MATCHES "\"name\": \"tiny-dec-nk512-hq4-hkv2-d32-f16\""
     OR NOT text MATCHES "\"naive_blas\": {\"status\": \"ran\"" OR NOT text MATCHES "\n}\n$")
    message("FAIL bench-json: ${bench_json} lacks the expected fields:\n${text}")
    math(EXPR failures "${failures} + 1")
  else()
    message("ok   bench-json")
  endif()
  file(REMOVE "${bench_json}")
else()
  message("FAIL bench-json: attn bench --json did not write ${bench_json}")
  math(EXPR failures "${failures} + 1")
endif()

if(failures GREATER 0)
  message(FATAL_ERROR "${failures} attn command-line check(s) failed")
endif()
