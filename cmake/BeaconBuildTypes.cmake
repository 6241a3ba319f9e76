# Build types: Release (default), Debug, RelWithDebInfo, Sanitize (ASan + UBSan).
# Warnings are errors everywhere; ccache is used when present.
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Release, Debug, RelWithDebInfo or Sanitize" FORCE)
endif()

set(_beacon_sanitize_flags "-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined")
set(CMAKE_CXX_FLAGS_SANITIZE "${_beacon_sanitize_flags}" CACHE STRING "" FORCE)
set(CMAKE_C_FLAGS_SANITIZE "${_beacon_sanitize_flags}" CACHE STRING "" FORCE)
set(CMAKE_EXE_LINKER_FLAGS_SANITIZE "-fsanitize=address,undefined" CACHE STRING "" FORCE)
set(CMAKE_SHARED_LINKER_FLAGS_SANITIZE "-fsanitize=address,undefined" CACHE STRING "" FORCE)

option(BEACON_WERROR "Treat warnings as errors" ON)
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wimplicit-fallthrough)
if(BEACON_WERROR)
  add_compile_options(-Werror)
endif()
# GCC 12 reports impossible overlapping memcpy sizes for std::string concatenation at -O2/-O3
# (GCC bug 105329, fixed in 13): a false positive that -Werror turns into a build failure.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  add_compile_options(-Wno-restrict)
endif()

# The fuzz build (scripts/fuzz): coverage for libFuzzer plus ASan and UBSan on every target, so
# the kernel libraries the *_fuzz targets link are instrumented too.
option(BEACON_FUZZ "Instrument the whole build for libFuzzer and build the *_fuzz targets (clang)" OFF)
if(BEACON_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "BEACON_FUZZ=ON needs clang (CC=clang CXX=clang++)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=address,undefined)
endif()

find_program(BEACON_CCACHE ccache)
if(BEACON_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_C_COMPILER_LAUNCHER ${BEACON_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${BEACON_CCACHE})
endif()
