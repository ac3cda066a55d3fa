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
run(0 help ARGS help OUT "Usage: attn COMMAND" "\n  demo " "\n  bench " "\n  g2p " "\n  version "
    "\n  help ")
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
set(demo_svg "${CMAKE_CURRENT_BINARY_DIR}/test_cli_demo.svg")
file(REMOVE "${demo_svg}")
run(0 demo-svg ARGS demo --no-color "--svg=${demo_svg}" OUT "the weights as a picture: .*demo.svg")
set(svg "")
if(EXISTS "${demo_svg}")
  file(READ "${demo_svg}" svg)
endif()
if(svg MATCHES ">no mask<.*>causal<.*<title>it &lt;- cat: 0\\.8[0-9]+</title>.*</svg>\n$")
  message("ok   demo-svg-file")
else()
  message("FAIL demo-svg-file: ${demo_svg} is missing or not the figure:\n${svg}")
  math(EXPR failures "${failures} + 1")
endif()
run(2 demo-svg-empty ARGS demo --svg= ERR "--svg needs a file name")
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
run(0 bench-list-alternatives ARGS bench --list "--cases=n8192,d64,full,f32|nk65536,hkv2,f16"
    OUT "^fwd-n8192-d64-full-f32\nbwd-n8192-d64-full-f32\ndec-nk65536-hq8-hkv2-d128-f16\n$")
run(2 bench-bad-flag ARGS bench --bogus ERR "attn bench: unknown option '--bogus'" "Run 'attn help bench'")
run(2 bench-typo-flag ARGS bench --quik ERR "did you mean '--quick'")
run(2 bench-bad-threads ARGS bench --threads=0 ERR "--threads must be a whole number")
run(2 bench-bad-time ARGS bench --time=soon ERR "--time must be seconds")

# attn bench-train: help and command-line errors only (a real run is a benchmark, not a test)
run(0 bench-train-help ARGS bench-train --help OUT "^Usage: attn bench-train" "--no-torch")
run(2 bench-train-bad-flag ARGS bench-train --bogus ERR "unknown option '--bogus'")
run(2 bench-train-bad-model ARGS bench-train --model=lstm ERR "use transformer, rnn-attention, rnn or all")
run(2 bench-train-bad-steps ARGS bench-train --steps=0 ERR "--steps=0: use a whole number")
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
        "read bandwidth [0-9.]+ GB/s before the cases, [0-9.]+ GB/s after them"
        "% of read bandwidth, +[0-9.]+% after"
    NOT_OUT "FAILED")
if(EXISTS "${bench_json}")
  file(READ "${bench_json}" text)
  if(NOT text MATCHES "\"peak_gflops\": [0-9]" OR NOT text MATCHES "\"name\": \"tiny-dec-nk512-hq4-hkv2-d32-f16\""
     OR NOT text MATCHES "\"naive_blas\": {\"status\": \"ran\"" OR NOT text MATCHES "\n}\n$"
     OR NOT text MATCHES "\"kernel_isa\": \"(generic|avx2|avx512)\""
     OR NOT text MATCHES "\"read_gbs_after\": [0-9]")
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

# attn g2p: its help, command-line errors, missing and malformed data, then a tiny run end to
# end: a 30-word dictionary written here, 30 steps of a tiny Transformer on one thread (well
# under a second of training), resuming, eval with a plot, pronouncing words and a word list.
# Only exit codes and the shape of the output are checked: a tiny model pronounces badly.
run(0 help-g2p ARGS help g2p
    OUT "^Usage: attn g2p" "attn g2p train" "attn g2p eval" "--show-attention" "--resume")
run(0 g2p-dash-help ARGS g2p --help OUT "^Usage: attn g2p")
run(0 g2p-train-dash-help ARGS g2p train --help OUT "^Usage: attn g2p")
run(2 g2p-bad-flag ARGS g2p --bogus cat
    ERR "attn g2p: unknown option '--bogus'" "Run 'attn help g2p'")
run(2 g2p-train-bad-flag ARGS g2p train --bogus
    ERR "attn g2p: unknown option '--bogus' for 'attn g2p train'" "Run 'attn help g2p'")
run(2 g2p-eval-bad-flag ARGS g2p eval --bogus ERR "unknown option '--bogus' for 'attn g2p eval'")
run(2 g2p-train-typo ARGS g2p train --step=10 ERR "did you mean '--steps'")
run(2 g2p-train-missing-value ARGS g2p train --steps ERR "--steps needs a value")
run(2 g2p-train-bad-lr ARGS g2p train --lr fast ERR "--lr must be a learning rate")
run(2 g2p-train-bad-steps ARGS g2p train --steps 0 ERR "--steps must be a number of steps from 1")
run(2 g2p-train-bad-type ARGS g2p train --model-type lstm
    ERR "--model-type must be one of transformer,rnn-attention,rnn, not 'lstm'")
run(2 g2p-train-bad-schedule ARGS g2p train --schedule=linear ERR "--schedule must be one of")
run(2 g2p-train-heads-rnn ARGS g2p train --model-type rnn --heads 2
    ERR "--heads applies to the transformer")
run(2 g2p-train-score-rnn ARGS g2p train --model-type rnn --score dot
    ERR "--score applies to --model-type rnn-attention")
run(2 g2p-train-config ARGS g2p train --d-model 30 --heads 4
    ERR "d_model 30 is not a multiple of heads 4")
run(2 g2p-train-two-sets ARGS g2p train --dict a.dict --train b.train ERR "pick one")
run(2 g2p-train-argument ARGS g2p train extra ERR "takes no arguments")
run(2 g2p-eval-bad-beam ARGS g2p eval --beam 0 ERR "--beam must be a whole number from 1 to 64")
run(2 g2p-eval-two-sets ARGS g2p eval --test a --dict b ERR "pick one")
run(2 g2p-no-words ARGS g2p ERR "no words to pronounce")
run(2 g2p-nbest-beam ARGS g2p --nbest 3 cat ERR "--nbest 3 needs a beam at least as wide")
run(2 g2p-input-and-words ARGS g2p --input words.txt cat ERR "not both")
run(2 g2p-layer-alone ARGS g2p --layer 1 cat ERR "add --show-attention")
# Missing data: a message naming the file, for the default dictionary the apt-get command.
run(1 g2p-missing-default-dict ARGS g2p train ENV ATTN_G2P_DICT=/nonexistent/cmudict-en-us.dict
    ERR "/nonexistent/cmudict-en-us.dict .*is missing" "apt-get install pocketsphinx-en-us")
run(1 g2p-missing-dict ARGS g2p train --dict /nonexistent/cmudict.dict
    ERR "cannot read the dictionary '/nonexistent/cmudict.dict' given by --dict")
run(1 g2p-eval-missing-test ARGS g2p eval --model /nonexistent/m.safetensors
    ERR "cannot read the model '/nonexistent/m.safetensors'")
run(1 g2p-missing-model ARGS g2p --model /nonexistent/m.safetensors cat
    ERR "cannot read the model '/nonexistent/m.safetensors'")

set(g2p_dir "${CMAKE_CURRENT_BINARY_DIR}/test_cli_g2p")
file(REMOVE_RECURSE "${g2p_dir}")
file(MAKE_DIRECTORY "${g2p_dir}")
# 30 words in the standard split's format (31 pronunciations: 'can' has two); with 50 permille
# for dev, KIT and GUN are the dev words.
file(WRITE "${g2p_dir}/train.tsv"
  "CAT\tK AE T\nDOG\tD AO G\nBAT\tB AE T\nHAT\tHH AE T\nSAT\tS AE T\nMAT\tM AE T\n"
  "TAN\tT AE N\nCAN\tK AE N\nCAN\tK AH N\nMAN\tM AE N\nPAN\tP AE N\nFAN\tF AE N\n"
  "BIT\tB IH T\nSIT\tS IH T\nHIT\tHH IH T\nKIT\tK IH T\nPIT\tP IH T\nTOP\tT AA P\n"
  "HOP\tHH AA P\nMOP\tM AA P\nPOP\tP AA P\nSUN\tS AH N\nRUN\tR AH N\nFUN\tF AH N\n"
  "GUN\tG AH N\nNUT\tN AH T\nCUT\tK AH T\nTEN\tT EH N\nPEN\tP EH N\nBED\tB EH D\n"
  "RED\tR EH D\n")
file(WRITE "${g2p_dir}/test.tsv"
  "HUT\tHH AH T\nDEN\tD EH N\nFIT\tF IH T\nCOP\tK AA P\nMEN\tM EH N\n")
# The same words in Debian's format (lower case, stress digits, 'can(2)'); split 90/5/5 by
# word, KIT and GUN are its test part and no word is in dev.
file(WRITE "${g2p_dir}/debian.dict"
  "cat K AE1 T\ndog D AO1 G\nbat B AE1 T\nhat HH AE1 T\nsat S AE1 T\nmat M AE1 T\n"
  "tan T AE1 N\ncan K AE1 N\nman M AE1 N\npan P AE1 N\nfan F AE1 N\nbit B IH1 T\n"
  "sit S IH1 T\nhit HH IH1 T\nkit K IH1 T\npit P IH1 T\ntop T AA1 P\nhop HH AA1 P\n"
  "mop M AA1 P\npop P AA1 P\nsun S AH1 N\nrun R AH1 N\nfun F AH1 N\ngun G AH1 N\n"
  "nut N AH1 T\ncut K AH1 T\nten T EH1 N\npen P EH1 N\nbed B EH1 D\nred R EH1 D\n"
  "can(2) K AH0 N\n")
file(WRITE "${g2p_dir}/bad.tsv" "CAT\tK AE T\nDOG\n")
file(WRITE "${g2p_dir}/words.txt" "cat\n\n  dog \nHAT\n")
file(WRITE "${g2p_dir}/bad-words.txt" "cat\ncafé\ndog\n")
set(model "${g2p_dir}/tiny.safetensors")
set(tiny --train "${g2p_dir}/train.tsv" --d-model 16 --heads 2 --ff 32 --layers 1
    --batch-tokens 128 --warmup 5 --lr 3e-3 --eval-every 10 --threads 1)

run(1 g2p-malformed-dict ARGS g2p train --train "${g2p_dir}/bad.tsv" --out "${g2p_dir}/bad"
    ERR "bad.tsv.*is not usable: .*bad.tsv:2: no tab after the word")
run(0 g2p-train ARGS g2p train ${tiny} --test "${g2p_dir}/test.tsv" --steps 30 --out "${model}"
    OUT "transformer model, 1\\+1 layers, d_model 16, 2 heads, ff 32"
        "29 training pairs, 2 dev words"
        "\nstep 10: dev WER [0-9.]+% PER [0-9.]+% loss [0-9.]+ \\(2 words"
        "\nstep 30: dev WER" "\ndone at step 30 of 30: 30 steps in this session"
        "\nbest dev WER [0-9.]+% PER [0-9.]+% \\(step [123]0\\) -> .*tiny.safetensors\n"
        "\nlatest state -> .*tiny.safetensors.last\n"
        "\ntest \\(.*test.tsv, 5 words, greedy\\): WER [0-9.]+% PER [0-9.]+%"
    ERR "train \\[#+\\] 100.0% 30/30 steps")
foreach(f "${model}" "${model}.last")
  if(NOT EXISTS "${f}")
    message("FAIL g2p-train-files: ${f} was not written")
    math(EXPR failures "${failures} + 1")
  endif()
endforeach()
run(1 g2p-train-no-clobber ARGS g2p train ${tiny} --steps 30 --out "${model}"
    ERR "tiny.safetensors.last exists: .*--resume")
run(0 g2p-train-done ARGS g2p train --resume --out "${model}" OUT "nothing to train")
run(2 g2p-resume-changed ARGS g2p train ${tiny} --lr 0.5 --resume --out "${model}"
    ERR "--lr 0.5 differs from the run being resumed")
run(1 g2p-resume-nothing ARGS g2p train --resume --out "${g2p_dir}/none.safetensors"
    ERR "nothing to resume")
# Resuming is exact: 17 steps then 13 more give the dev loss of 30 steps in one go.
execute_process(COMMAND ${ATTN} g2p train ${tiny} --steps 17 --out "${g2p_dir}/r.safetensors"
                RESULT_VARIABLE rc1 OUTPUT_VARIABLE out1 ERROR_VARIABLE err1)
execute_process(COMMAND ${ATTN} g2p train ${tiny} --steps 30 --resume
                        --out "${g2p_dir}/r.safetensors"
                RESULT_VARIABLE rc2 OUTPUT_VARIABLE out2 ERROR_VARIABLE err2)
execute_process(COMMAND ${ATTN} g2p train ${tiny} --steps 30 --out "${g2p_dir}/s.safetensors"
                RESULT_VARIABLE rc3 OUTPUT_VARIABLE out3 ERROR_VARIABLE err3)
string(REGEX MATCH "\nstep 30: dev [^\n]*loss [0-9.]+" resumed "${out2}")
string(REGEX MATCH "\nstep 30: dev [^\n]*loss [0-9.]+" straight "${out3}")
if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0 OR NOT rc3 EQUAL 0 OR NOT resumed
   OR NOT resumed STREQUAL straight OR NOT out2 MATCHES "resuming from .* at step 17")
  message("FAIL g2p-resume-exact: 17 + 13 steps gave '${resumed}', 30 steps '${straight}'\n"
          "--- resumed\n${out2}${err2}--- straight\n${out3}${err3}---")
  math(EXPR failures "${failures} + 1")
else()
  message("ok   g2p-resume-exact")
endif()
# The learning curve: a point per dev evaluation, carried across --resume in the checkpoint
# (17 steps, evaluated at 10 and 17, then 20 and 30), written as PATH.curve.tsv and .svg. The
# resumed run's point at step 30 has the straight run's lr and dev figures (columns 3 and 5-7).
set(curve_problems "")
foreach(run_name r s)
  foreach(ext tsv svg)
    if(NOT EXISTS "${g2p_dir}/${run_name}.safetensors.curve.${ext}")
      string(APPEND curve_problems "  ${run_name}.safetensors.curve.${ext} was not written\n")
    endif()
  endforeach()
endforeach()
if(NOT curve_problems)
  file(STRINGS "${g2p_dir}/r.safetensors.curve.tsv" r_curve)
  file(STRINGS "${g2p_dir}/s.safetensors.curve.tsv" s_curve)
  list(LENGTH r_curve r_n)
  list(LENGTH s_curve s_n)
  list(GET r_curve 0 header)
  if(NOT header STREQUAL "step\ttrain_seconds\tlr\ttrain_loss\tdev_loss\tdev_wer\tdev_per")
    string(APPEND curve_problems "  the header is '${header}'\n")
  endif()
  if(NOT r_n EQUAL 5 OR NOT s_n EQUAL 4)
    string(APPEND curve_problems "  ${r_n} and ${s_n} lines, expected 5 and 4\n")
  else()
    set(r_steps "")
    foreach(i 1 2 3 4)
      list(GET r_curve ${i} line)
      string(REGEX MATCH "^[0-9]+" st "${line}")
      string(APPEND r_steps " ${st}")
    endforeach()
    if(NOT r_steps STREQUAL " 10 17 20 30")
      string(APPEND curve_problems "  the resumed run's steps are${r_steps}, not 10 17 20 30\n")
    endif()
    list(GET r_curve 4 r_last)
    list(GET s_curve 3 s_last)
    string(REPLACE "\t" ";" r_fields "${r_last}")
    string(REPLACE "\t" ";" s_fields "${s_last}")
    foreach(k 0 2 4 5 6)
      list(GET r_fields ${k} a)
      list(GET s_fields ${k} b)
      if(NOT a STREQUAL b)
        string(APPEND curve_problems "  column ${k} at step 30: resumed ${a}, straight ${b}\n")
      endif()
    endforeach()
  endif()
  file(READ "${g2p_dir}/s.safetensors.curve.svg" svg)
  if(NOT svg MATCHES "^<\\?xml" OR NOT svg MATCHES "data-name=\"dev WER\""
     OR NOT svg MATCHES "data-name=\"dev PER\"" OR NOT svg MATCHES "</svg>\n$")
    string(APPEND curve_problems "  s.safetensors.curve.svg lacks the two series\n")
  endif()
endif()
if(curve_problems)
  message("FAIL g2p-train-curve:\n${curve_problems}")
  math(EXPR failures "${failures} + 1")
else()
  message("ok   g2p-train-curve")
endif()
# --matmul-precision medium: bf16 products where the CPU has AVX512-BF16 or AMX-BF16, fp32
# elsewhere (said).
run(0 g2p-train-matmul-medium ARGS g2p train ${tiny} --steps 12 --matmul-precision medium
    --out "${g2p_dir}/mm.safetensors" OUT "threads, products on (amx-bf16|avx512-bf16|sgemm)\n"
    "\ndone at step 12 of 12")
run(2 g2p-train-matmul-bad ARGS g2p train --matmul-precision low
    ERR "--matmul-precision must be one of highest,medium, not 'low'")
run(2 g2p-resume-matmul ARGS g2p train --resume --matmul-precision highest
    --out "${g2p_dir}/mm.safetensors" ERR "--matmul-precision highest differs from the run")
# Attention dropout: the Transformer trains with it and records it; the RNNs refuse it.
run(0 g2p-train-attention-dropout ARGS g2p train ${tiny} --steps 12 --attention-dropout 0.2
    --out "${g2p_dir}/ad.safetensors" OUT "dropout 0\\.1, attention dropout 0\\.2: "
    "\ndone at step 12 of 12")
set(ad "")
if(EXISTS "${g2p_dir}/ad.safetensors")
  file(STRINGS "${g2p_dir}/ad.safetensors" ad REGEX "attention_dropout" LIMIT_INPUT 8000)
endif()
if(ad MATCHES "attention_dropout[^0-9]+0\\.2")
  message("ok   g2p-attention-dropout-config")
else()
  message("FAIL g2p-attention-dropout-config: ad.safetensors does not record attention_dropout")
  math(EXPR failures "${failures} + 1")
endif()
run(2 g2p-attention-dropout-rnn ARGS g2p train --train "${g2p_dir}/train.tsv" --model-type rnn
    --attention-dropout 0.2 --out "${g2p_dir}/adr.safetensors"
    ERR "attention_dropout is for the Transformer")
run(0 g2p-train-debian ARGS g2p train --dict "${g2p_dir}/debian.dict" --steps 3 --d-model 8
    --heads 2 --ff 32 --layers 1 --threads 1 --warmup 1 --out "${g2p_dir}/d.safetensors"
    OUT "29 training pairs, 0 dev words" "no dev words")

run(0 g2p-eval ARGS g2p eval --model "${model}" --model "${g2p_dir}/r.safetensors"
    --test "${g2p_dir}/test.tsv" --plot "${g2p_dir}/wer.svg" --threads 1
    OUT "^attn g2p eval: 5 words, every word of .*test.tsv; greedy decoding\n"
        "\nmodel 1: .*tiny.safetensors +\\(transformer, 1\\+1 layers"
        "\n +tiny +r *\n"
        "\nletters +words +WER +PER +WER +PER\n"
        "\n1-3 +5 +[0-9.]+% +[0-9.]+% +[0-9.]+% +[0-9.]+%\n"
        "\nall +5 +[0-9.]+% +[0-9.]+% +[0-9.]+% +[0-9.]+%\n" "\nplot: .*wer.svg\n"
    ERR "tiny \\[#+\\] 100.0% 5/5 words")
if(EXISTS "${g2p_dir}/wer.svg")
  file(READ "${g2p_dir}/wer.svg" svg)
  if(NOT svg MATCHES "^<\\?xml" OR NOT svg MATCHES "<svg " OR NOT svg MATCHES "</svg>\n$"
     OR NOT svg MATCHES ">tiny</text>" OR NOT svg MATCHES ">r</text>"
     OR NOT svg MATCHES ">13\\+</text>")
    message("FAIL g2p-eval-plot: wer.svg lacks the expected parts:\n${svg}")
    math(EXPR failures "${failures} + 1")
  else()
    message("ok   g2p-eval-plot")
  endif()
else()
  message("FAIL g2p-eval-plot: attn g2p eval --plot did not write ${g2p_dir}/wer.svg")
  math(EXPR failures "${failures} + 1")
endif()
# Checkpoint averaging: the mean of two snapshots of one run; a different model is refused.
run(0 g2p-average ARGS g2p average --model "${g2p_dir}/r.safetensors.last"
    --model "${g2p_dir}/s.safetensors.last" --out "${g2p_dir}/avg.safetensors"
    OUT "^averaged 2 checkpoints \\(steps 30 30\\) -> .*avg.safetensors, F32 weights\n$")
run(0 g2p-average-pronounces ARGS g2p --model "${g2p_dir}/avg.safetensors" --threads 1 cat
    OUT "^cat\t[A-Z ]*\n$")
run(1 g2p-average-other-model ARGS g2p average --model "${model}"
    --model "${g2p_dir}/d.safetensors" --out "${g2p_dir}/avg2.safetensors"
    ERR "are not the same model \\(their configuration differs\\)")
run(2 g2p-average-one ARGS g2p average --model "${model}" --out "${g2p_dir}/avg3.safetensors"
    ERR "needs at least two --model files")
# 16-bit model files: a conversion keeps the file's record, halves it, and still pronounces.
run(0 g2p-convert-f16 ARGS g2p average --model "${g2p_dir}/avg.safetensors" --dtype f16
    --out "${g2p_dir}/avg16.safetensors"
    OUT "^converted .*avg.safetensors -> .*avg16.safetensors, F16 weights\n$")
run(0 g2p-average-bf16 ARGS g2p average --model "${g2p_dir}/r.safetensors.last"
    --model "${g2p_dir}/s.safetensors.last" --dtype bf16 --out "${g2p_dir}/avgb.safetensors"
    OUT "^averaged 2 checkpoints \\(steps 30 30\\) -> .*avgb.safetensors, BF16 weights\n$")
run(0 g2p-f16-pronounces ARGS g2p --model "${g2p_dir}/avg16.safetensors" --threads 1 cat
    OUT "^cat\t[A-Z ]*\n$")
file(SIZE "${g2p_dir}/avg.safetensors" size32)
file(SIZE "${g2p_dir}/avg16.safetensors" size16)
math(EXPR size_limit "${size32} * 6 / 10")
if(size16 LESS size_limit)
  message("ok   g2p-convert-f16-size (${size16} bytes, ${size32} in f32)")
else()
  message("FAIL g2p-convert-f16-size: ${size16} bytes against ${size32} in f32")
  math(EXPR failures "${failures} + 1")
endif()
run(2 g2p-average-dtype ARGS g2p average --model "${model}" --dtype f8
    --out "${g2p_dir}/avg4.safetensors" ERR "--dtype f8: use f32 \\(default\\), f16 or bf16")
run(2 g2p-average-onto-input ARGS g2p average --model "${model}" --model "${model}"
    --out "${model}" ERR "is also one of the --model files")
# Ensembles: a model twice pronounces as the model; eval --ensemble scores models as one.
execute_process(COMMAND ${ATTN} g2p --model "${model}" --threads 1 cat dog
                OUTPUT_VARIABLE single)
run(0 g2p-ensemble-same ARGS g2p --model "${model}" --model "${model}" --threads 1 cat dog
    OUT "^${single}$")
run(0 g2p-eval-ensemble ARGS g2p eval --ensemble --model "${model}"
    --model "${g2p_dir}/r.safetensors" --test "${g2p_dir}/test.tsv" --threads 1
    OUT "\nensemble of the 2 models \\(their mean probability\\):\n  WER [0-9.]+%"
        "\n +ensemble of 2 *\n")
run(2 g2p-eval-ensemble-one ARGS g2p eval --ensemble --model "${model}"
    --test "${g2p_dir}/test.tsv" ERR "--ensemble decodes two or more --model files together")
# eval --errors FILE: the wrong words, one line each after the header, as many as reported.
run(0 g2p-eval-errors ARGS g2p eval --model "${model}" --test "${g2p_dir}/test.tsv" --threads 1
    --errors "${g2p_dir}/errors.tsv"
    OUT "\nerrors: [0-9] of 5 words wrong -> .*errors.tsv\n"
        "\nphoneme errors against the closest reference: [0-9]+\n  [0-9]+ substitutions")
set(errors_ok 0)
if(EXISTS "${g2p_dir}/errors.tsv")
  execute_process(COMMAND ${ATTN} g2p eval --model "${model}" --test "${g2p_dir}/test.tsv"
                          --threads 1 --errors "${g2p_dir}/errors.tsv"
                  OUTPUT_VARIABLE eout ERROR_QUIET)
  string(REGEX MATCH "errors: ([0-9]) of 5" m "${eout}")
  file(STRINGS "${g2p_dir}/errors.tsv" elines)
  list(LENGTH elines en)
  list(GET elines 0 eheader)
  math(EXPR ewrong "${en} - 1")
  if(m AND ewrong EQUAL CMAKE_MATCH_1
     AND eheader STREQUAL "word\toutput\tclosest_reference\tedits")
    set(errors_ok 1)
  endif()
endif()
if(errors_ok)
  message("ok   g2p-eval-errors-file")
else()
  message("FAIL g2p-eval-errors-file: errors.tsv does not list the reported wrong words")
  math(EXPR failures "${failures} + 1")
endif()
run(2 g2p-eval-errors-two ARGS g2p eval --model "${model}" --model "${model}" --errors x.tsv
    ERR "--errors analyses one system: give one --model, or --ensemble")
run(2 g2p-eval-errors-empty ARGS g2p eval --errors= ERR "--errors needs a file name")
# eval --dev FILE: the words the trainer held out of FILE (its 2 dev words here).
run(0 g2p-eval-dev ARGS g2p eval --model "${model}" --dev "${g2p_dir}/train.tsv" --threads 1
    OUT "^attn g2p eval: 2 words, the dev part of .*train.tsv \\(50 permille")
run(1 g2p-eval-dev-none ARGS g2p eval --model "${model}" --dev "${g2p_dir}/train.tsv"
    --dev-permille 0 --threads 1 ERR "no words to score: .*--dev-permille 0 holds out no words")
run(2 g2p-eval-two-sets ARGS g2p eval --model "${model}" --dev "${g2p_dir}/train.tsv"
    --test "${g2p_dir}/test.tsv" ERR "name different word sets; pick one")
# --dev-permille: 200 thousandths of the words held out for dev instead of 50 (the run says
# so), and a resumed run must keep its split.
run(0 g2p-dev-permille ARGS g2p train ${tiny} --steps 10 --dev-permille 200
    --out "${g2p_dir}/dp.safetensors" OUT "standard split, 20% of its words for dev\\): 2[0-9] training pairs")
run(2 g2p-dev-permille-resume ARGS g2p train --resume --dev-permille 100 --steps 20
    --out "${g2p_dir}/dp.safetensors" ERR "--dev-permille 100 differs from the run being resumed")
# --keep-last 2: a snapshot of the weights at each evaluation (steps 10, 20, 30), the two latest
# kept; they average like any checkpoints of one run.
run(0 g2p-keep-last ARGS g2p train ${tiny} --steps 30 --keep-last 2
    --out "${g2p_dir}/k.safetensors" OUT "done at step 30 of 30")
foreach(step 10 20 30)
  set(f "${g2p_dir}/k.safetensors.step${step}")
  if(step EQUAL 10 AND EXISTS "${f}")
    message("FAIL g2p-keep-last: ${f} should have been removed (--keep-last 2)")
    math(EXPR failures "${failures} + 1")
  elseif(NOT step EQUAL 10 AND NOT EXISTS "${f}")
    message("FAIL g2p-keep-last: ${f} was not written")
    math(EXPR failures "${failures} + 1")
  endif()
endforeach()
run(0 g2p-keep-last-average ARGS g2p average --model "${g2p_dir}/k.safetensors.step20"
    --model "${g2p_dir}/k.safetensors.step30" --out "${g2p_dir}/kavg.safetensors"
    OUT "^averaged 2 checkpoints \\(steps 20 30\\) -> .*kavg.safetensors, F32 weights\n$")
run(0 g2p-eval-dict ARGS g2p eval --model "${model}" --dict "${g2p_dir}/debian.dict" --beam 2
    --threads 1 OUT "^attn g2p eval: 2 words, the test part of .*debian.dict" "beam width 2")

run(0 g2p-words ARGS g2p --model "${model}" --threads 1 cat Dog
    OUT "^cat\t[A-Z ]*\nDog\t[A-Z ]*\n$")
run(0 g2p-show-attention ARGS g2p --model "${model}" --threads 1 --show-attention --no-color cat
    OUT "^cat\t[A-Z ]*\n" "attention of 'cat' -> [A-Z ]*: decoder layer 1 of 1, mean of 2 heads"
        "\n +c +a +t\n" "\n  </s> " "shades:")
run(0 g2p-show-attention-head ARGS g2p --model "${model}" --threads 1 --show-attention
    --head 2 --color=always dog OUT "layer 1 of 1, head 2 of 2" "${ESC}\\[48;5;[0-9]+m")
run(2 g2p-show-attention-bad-head ARGS g2p --model "${model}" --threads 1 --show-attention
    --head 3 dog ERR "--head 3: the model has 2 heads")
# --attention-svg: every layer and head as an SVG figure; one file per word when several.
run(0 g2p-attention-svg ARGS g2p --model "${model}" --threads 1 --attention-svg
    "${g2p_dir}/att.svg" cat OUT "^cat\t[A-Z ]*\n$" ERR "the attention of 'cat' -> .*att.svg\n")
run(0 g2p-attention-svg-words ARGS g2p --model "${model}" --threads 1 --attention-svg
    "${g2p_dir}/att.svg" cat dog ERR "-> .*att-cat.svg\n" "-> .*att-dog.svg\n")
set(svg_re "^<\\?xml.*<svg .*>layer 1, head 1<.*>layer 1, head 2<.*>layer 1, mean<.*")
string(APPEND svg_re "<rect [^>]*fill=\"#[0-9a-f]+\"><title>([A-Z]+|&lt;/s&gt;) &lt;- [a-z]: [01]\\.[0-9]+<")
foreach(f att att-cat att-dog)
  set(svg "")
  if(EXISTS "${g2p_dir}/${f}.svg")
    file(READ "${g2p_dir}/${f}.svg" svg)
  endif()
  if(svg MATCHES "${svg_re}" AND svg MATCHES "</svg>\n$")
    message("ok   g2p-attention-svg-file ${f}.svg")
  else()
    message("FAIL g2p-attention-svg-file: ${f}.svg is missing or not the figure:\n${svg}")
    math(EXPR failures "${failures} + 1")
  endif()
endforeach()
run(2 g2p-attention-svg-input ARGS g2p --model "${model}" --attention-svg "${g2p_dir}/x.svg"
    --input "${g2p_dir}/words.txt" ERR "--attention-svg shows words given on the command line")
run(1 g2p-attention-svg-unwritable ARGS g2p --model "${model}" --threads 1 --attention-svg
    "${g2p_dir}/no/such/dir/x.svg" cat ERR "--attention-svg: cannot create a file beside")
run(0 g2p-length-penalty ARGS g2p --model "${model}" --threads 1 --beam 3 --length-penalty 0.6
    cat OUT "^cat\t[A-Z ]*\n$")
run(2 g2p-length-penalty-greedy ARGS g2p --model "${model}" --length-penalty 1 cat
    ERR "--length-penalty ranks the hypotheses of a beam search; add --beam N")
run(2 g2p-length-penalty-bad ARGS g2p --model "${model}" --beam 2 --length-penalty=11 cat
    ERR "--length-penalty must be a number from 0 to 10, not '11'")
run(0 g2p-eval-length-penalty ARGS g2p eval --model "${model}" --test "${g2p_dir}/test.tsv"
    --beam 2 --length-penalty 1 --threads 1 OUT "beam width 2, length penalty 1\n")
run(0 g2p-nbest ARGS g2p --model "${model}" --threads 1 --beam 3 --nbest 2 cat
    OUT "^cat\t[A-Z ]*\t-[0-9]+\\.[0-9]+\n")
run(0 g2p-input ARGS g2p --model "${model}" --threads 1 --input "${g2p_dir}/words.txt"
    OUT "^cat\t[A-Z ]*\ndog\t[A-Z ]*\nHAT\t[A-Z ]*\n$")
run(1 g2p-input-skips ARGS g2p --model "${model}" --threads 1 --input "${g2p_dir}/bad-words.txt"
    OUT "^cat\t[A-Z ]*\ndog\t[A-Z ]*\n$"
    ERR "bad-words.txt:2: skipped: 'café' has the character" "skipped 1 word")
run(1 g2p-bad-word ARGS g2p --model "${model}" --threads 1 cat x-ray
    OUT "^cat\t[A-Z ]*\n$" ERR "cannot pronounce 'x-ray': 'x-ray' has the character 'x'")
run(1 g2p-not-a-model ARGS g2p --model "${g2p_dir}/train.tsv" cat
    ERR "cannot load the model .*train.tsv")

if(failures GREATER 0)
  message(FATAL_ERROR "${failures} attn command-line check(s) failed")
endif()
