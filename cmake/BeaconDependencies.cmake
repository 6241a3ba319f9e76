# Third-party dependencies, all from Debian packages (scripts/install-deps installs them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)
find_package(CURL REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)
find_package(hwy REQUIRED)
# oneTBB: the archive replay's parallel_pipeline (beacon_host_replay, beaconctl).
find_package(TBB REQUIRED)
find_package(simdjson REQUIRED)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
if(BUILD_TESTING)
  find_package(GTest REQUIRED)
endif()
# Google Benchmark: only for the benchmark binaries of bench/ (BEACON_BUILD_BENCH).
option(BEACON_BUILD_BENCH "Build the benchmarks of bench/ (needs Google Benchmark)" ON)
if(BEACON_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# Optional accelerators / data planes: AUTO builds them when found and says why when not.
set(BEACON_WITH_DPDK AUTO CACHE STRING "Build the DPDK data plane: ON, OFF or AUTO")
set(BEACON_WITH_XRT AUTO CACHE STRING "Build the XRT (FPGA) backend: ON, OFF or AUTO")
set_property(CACHE BEACON_WITH_DPDK PROPERTY STRINGS ON OFF AUTO)
set_property(CACHE BEACON_WITH_XRT PROPERTY STRINGS ON OFF AUTO)

set(BEACON_HAVE_DPDK OFF)
if(NOT BEACON_WITH_DPDK STREQUAL "OFF")
  pkg_check_modules(DPDK IMPORTED_TARGET libdpdk)
  if(DPDK_FOUND)
    set(BEACON_HAVE_DPDK ON)
    message(STATUS "beacond: DPDK ${DPDK_VERSION} found: building the DPDK data plane")
  elseif(BEACON_WITH_DPDK STREQUAL "ON")
    message(FATAL_ERROR "BEACON_WITH_DPDK=ON but pkg-config finds no libdpdk (apt-get install libdpdk-dev)")
  else()
    message(STATUS "beacond: DPDK data plane skipped: pkg-config finds no libdpdk (apt-get install libdpdk-dev)")
  endif()
endif()

set(BEACON_HAVE_XRT OFF)
if(NOT BEACON_WITH_XRT STREQUAL "OFF")
  find_path(XRT_INCLUDE_DIR xrt/xrt_device.h HINTS $ENV{XILINX_XRT}/include /opt/xilinx/xrt/include)
  find_library(XRT_COREUTIL_LIBRARY xrt_coreutil HINTS $ENV{XILINX_XRT}/lib /opt/xilinx/xrt/lib)
  if(XRT_INCLUDE_DIR AND XRT_COREUTIL_LIBRARY)
    set(BEACON_HAVE_XRT ON)
    message(STATUS "beacond: XRT found at ${XRT_INCLUDE_DIR}: building the FPGA backend")
  elseif(BEACON_WITH_XRT STREQUAL "ON")
    message(FATAL_ERROR "BEACON_WITH_XRT=ON but xrt/xrt_device.h or libxrt_coreutil was not found (set XILINX_XRT)")
  else()
    message(STATUS "beacond: FPGA (XRT) backend skipped: Xilinx XRT is not installed (no xrt/xrt_device.h; set XILINX_XRT)")
  endif()
endif()

# User-agent classification (kernels/enrich): Hyperscan for the pattern scan, PCRE2 for
# capture groups and the patterns Hyperscan cannot compile (Debian libhyperscan-dev,
# libpcre2-dev); uap-core's regexes.yaml is read at start (Debian uap-core).
pkg_check_modules(HYPERSCAN REQUIRED IMPORTED_TARGET libhs)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
# The user-agent cache's tag hash: XXH3 (Debian libxxhash-dev).
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)

# CRC32C of the raw archive (kernels/archive): ISA-L's crc32_iscsi (Debian libisal-dev).
pkg_check_modules(ISAL REQUIRED IMPORTED_TARGET libisal)
