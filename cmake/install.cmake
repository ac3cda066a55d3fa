# Install rules: the header, both libraries, the attn program, a pkg-config file and a CMake
# package (attnConfig.cmake, attnConfigVersion.cmake, attnTargets*.cmake).
#
#   cmake --install build --prefix P
#     P/include/attn.h
#     P/<libdir>/libattn.so{,.0,.0.1.0}, libattn.a
#     P/<libdir>/pkgconfig/attn.pc
#     P/<libdir>/cmake/attn/attnConfig.cmake (+ Version, Targets)
#     P/bin/attn
include(CMakePackageConfigHelpers)

set(ATTN_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/attn" CACHE STRING
    "Where to install the CMake package files of attn, relative to the prefix")

install(FILES "${PROJECT_SOURCE_DIR}/include/attn.h" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

install(TARGETS attn attn_static EXPORT attnTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(TARGETS attn_cli RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")

# ---- CMake package -------------------------------------------------------------------------
install(EXPORT attnTargets NAMESPACE attn:: DESTINATION "${ATTN_INSTALL_CMAKEDIR}")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/attnConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/attnConfig.cmake"
  INSTALL_DESTINATION "${ATTN_INSTALL_CMAKEDIR}")
# 0.x: minor versions may change the API, so only the same major.minor is compatible.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/attnConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/attnConfig.cmake" "${PROJECT_BINARY_DIR}/attnConfigVersion.cmake"
  DESTINATION "${ATTN_INSTALL_CMAKEDIR}")

# ---- pkg-config ----------------------------------------------------------------------------
# What a static link of libattn.a needs besides it: OpenBLAS, threads, libm.
set(_attn_private "")
if(CMAKE_THREAD_LIBS_INIT)
  list(APPEND _attn_private ${CMAKE_THREAD_LIBS_INIT})
endif()
list(APPEND _attn_private "-lopenblas" "-lm")
list(REMOVE_DUPLICATES _attn_private)
string(REPLACE ";" " " ATTN_PC_LIBS_PRIVATE "${_attn_private}")

# The prefix is only known at install time (--prefix may override CMAKE_INSTALL_PREFIX), so the
# file is configured twice: now for everything else, then by the install step for the prefix.
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(ATTN_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(ATTN_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
set(ATTN_PC_PREFIX "@ATTN_PC_PREFIX@") # kept for the install step
configure_file("${PROJECT_SOURCE_DIR}/cmake/attn.pc.in" "${PROJECT_BINARY_DIR}/attn.pc.in" @ONLY)
install(CODE "
  set(ATTN_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/attn.pc.in\" \"${PROJECT_BINARY_DIR}/attn.pc\" @ONLY)
")
install(FILES "${PROJECT_BINARY_DIR}/attn.pc" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
unset(_attn_private)
unset(_lib)
unset(_dir)
