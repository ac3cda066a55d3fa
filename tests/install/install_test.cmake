# The install test (registered by CMakeLists.txt beside this file; all paths are passed in):
#   1. cmake --install BUILD_DIR --prefix PREFIX
#   2. PREFIX/bin/attn runs (version, demo)
#   3. consumer.c built with `pkg-config --cflags --libs attn` runs; with ATTN_SANITIZE off, also
#      a fully static build with `pkg-config --static`
#   4. consumer/ configured with find_package(attn) (CMAKE_PREFIX_PATH=PREFIX) builds a program
#      against attn::attn and one against attn::attn_static; both run
foreach(v BUILD_DIR PREFIX WORK CONSUMER LIBDIR BINDIR VERSION CC GENERATOR)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "install_test.cmake: -D${v}=... is missing")
  endif()
endforeach()
if(NOT PKG_CONFIG OR PKG_CONFIG MATCHES "NOTFOUND$")
  message(FATAL_ERROR "pkg-config was not found when attn was configured; install it "
                      "(apt-get install pkg-config) and configure again")
endif()

set(sanitize_flags "")
if(SANITIZE)
  # The installed libraries are instrumented; their users must load the sanitizer runtimes.
  set(sanitize_flags -fsanitize=address,undefined)
endif()

# Nothing from the environment may help the programs find the library.
unset(ENV{LD_LIBRARY_PATH})
unset(ENV{PKG_CONFIG_LIBDIR})
unset(ENV{CMAKE_PREFIX_PATH})
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${LIBDIR}/pkgconfig")

# run(<what> COMMAND ... [OUTPUT var]): runs a command, fails the test with its output if it
# exits non-zero, and otherwise prints the command.
function(run what)
  cmake_parse_arguments(R "" "OUTPUT" "COMMAND" ${ARGN})
  execute_process(COMMAND ${R_COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(REPLACE ";" " " shown "${R_COMMAND}")
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "${what} failed (exit ${rc}):\n  ${shown}\n--- stdout\n${out}--- stderr\n${err}")
  endif()
  message("ok   ${what}: ${shown}")
  if(R_OUTPUT)
    string(STRIP "${out}" out)
    set(${R_OUTPUT} "${out}" PARENT_SCOPE)
  endif()
endfunction()

function(expect_match what text regex)
  if(NOT text MATCHES "${regex}")
    message(FATAL_ERROR "${what}: output does not match '${regex}':\n${text}")
  endif()
endfunction()

file(REMOVE_RECURSE "${PREFIX}" "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

# 1. install
set(config_args "")
if(CONFIG)
  set(config_args --config ${CONFIG})
endif()
run("install" COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} ${config_args})
foreach(f include/attn.h ${LIBDIR}/libattn.so ${LIBDIR}/libattn.a ${LIBDIR}/pkgconfig/attn.pc
          ${LIBDIR}/cmake/attn/attnConfig.cmake ${LIBDIR}/cmake/attn/attnConfigVersion.cmake
          ${BINDIR}/attn)
  if(NOT EXISTS "${PREFIX}/${f}")
    message(FATAL_ERROR "the install did not create ${PREFIX}/${f}")
  endif()
endforeach()
file(GLOB sonames "${PREFIX}/${LIBDIR}/libattn.so.*")
if(NOT sonames)
  message(FATAL_ERROR "the install did not create the versioned libattn.so.* links")
endif()

# 2. the installed program finds the installed library through its RPATH
run("installed attn version" COMMAND ${PREFIX}/${BINDIR}/attn version OUTPUT out)
expect_match("installed attn version" "${out}" "^attn ${VERSION}$")
run("installed attn demo" COMMAND ${PREFIX}/${BINDIR}/attn demo --no-color OUTPUT out)
expect_match("installed attn demo" "${out}" "it +-> cat")

# 3. pkg-config
run("pkg-config version" COMMAND ${PKG_CONFIG} --modversion attn OUTPUT pc_version)
expect_match("pkg-config --modversion attn" "${pc_version}" "^${VERSION}$")
run("pkg-config flags" COMMAND ${PKG_CONFIG} --cflags --libs attn OUTPUT pc_flags)
run("pkg-config libdir" COMMAND ${PKG_CONFIG} --variable=libdir attn OUTPUT pc_libdir)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
run("build with pkg-config" COMMAND ${CC} ${sanitize_flags} ${CONSUMER}/consumer.c
    -o ${WORK}/consumer_pkgconfig ${pc_flags} -Wl,-rpath,${pc_libdir})
run("run the pkg-config build" COMMAND ${WORK}/consumer_pkgconfig OUTPUT out)
expect_match("consumer (pkg-config)" "${out}" "consumer: ok")

if(NOT SANITIZE) # the sanitizer runtimes do not link statically
  run("pkg-config static flags" COMMAND ${PKG_CONFIG} --static --cflags --libs attn
      OUTPUT pc_static)
  separate_arguments(pc_static UNIX_COMMAND "${pc_static}")
  run("static build with pkg-config" COMMAND ${CC} ${CONSUMER}/consumer.c
      -o ${WORK}/consumer_pkgconfig_static -static ${pc_static})
  run("run the static pkg-config build" COMMAND ${WORK}/consumer_pkgconfig_static OUTPUT out)
  expect_match("consumer (pkg-config --static)" "${out}" "consumer: ok")
endif()

# 4. find_package(attn)
string(REPLACE ";" " " flags "${sanitize_flags}")
run("configure the find_package consumer" COMMAND ${CMAKE_COMMAND}
    -S ${CONSUMER} -B ${WORK}/cmake -G ${GENERATOR}
    -DCMAKE_C_COMPILER=${CC} -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_PREFIX_PATH=${PREFIX} -DATTN_WANTED_VERSION=${VERSION}
    "-DCMAKE_C_FLAGS=${flags}" "-DCMAKE_EXE_LINKER_FLAGS=${flags}")
run("build the find_package consumer" COMMAND ${CMAKE_COMMAND} --build ${WORK}/cmake)
foreach(kind shared static)
  file(GLOB_RECURSE exe "${WORK}/cmake/consumer_${kind}" "${WORK}/cmake/consumer_${kind}.exe")
  if(NOT exe)
    message(FATAL_ERROR "the find_package consumer did not produce consumer_${kind}")
  endif()
  list(GET exe 0 exe)
  run("run the find_package build (${kind})" COMMAND ${exe} OUTPUT out)
  expect_match("consumer (find_package, ${kind})" "${out}" "consumer: ok")
endforeach()

message("install test passed: ${PREFIX}")
