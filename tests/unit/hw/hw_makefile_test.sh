#!/usr/bin/env bash
# hw/Makefile without Vitis: `make -n` prints, for every card and target, one `v++ -c` per
# kernel and one `v++ -l` with the card's connectivity config, emconfigutil for the
# emulation targets only, and refuses an unknown target or platform. With VITIS_LIBRARIES set
# (here to a path that need not exist) it also compiles Vitis Libraries' zstd compression
# kernel and data mover and links them with the card's zstd connectivity config; without it,
# the xclbin holds the decode kernel only.
set -euo pipefail
hw="$1"
fail() { echo "FAIL: $*" >&2; exit 1; }

for card in u55c:xilinx_u55c_gen3x16_xdma_3_202210_1 u250:xilinx_u250_gen3x16_xdma_4_1_202210_1 \
            u50:xilinx_u50_gen3x16_xdma_5_202210_1; do
  name=${card%%:*}
  platform=${card#*:}
  [ -f "$hw/connectivity/$name.cfg" ] || fail "no connectivity/$name.cfg"
  for target in sw_emu hw_emu hw; do
    out=$(make -n -C "$hw" TARGET="$target" PLATFORM="/opt/xilinx/platforms/$platform/$platform.xpfm")
    compile=$(grep -c -- "^v++ -c -t $target --platform /opt/xilinx/platforms/$platform/$platform.xpfm .*-k beacon_decode --hls.clock 300000000:beacon_decode" <<<"$out" || true)
    [ "$compile" = 1 ] || fail "$name $target: expected one v++ -c for beacon_decode:\n$out"
    grep -q -- "kernels/hls/beacon_decode.cc" <<<"$out" || fail "$name $target: kernel source missing"
    grep -q -- "^v++ -l -t $target --platform .*--config connectivity/$name.cfg" <<<"$out" ||
      fail "$name $target: expected v++ -l with connectivity/$name.cfg:\n$out"
    grep -q -- "-o build/$target.$name/beacon.xclbin build/$target.$name/beacon_decode.xo" <<<"$out" ||
      fail "$name $target: xclbin not linked from the kernel's xo"
    ! grep -q -- "xilZstd\|zstd_$name.cfg" <<<"$out" || fail "$name $target: zstd without VITIS_LIBRARIES"
    lib=/nonexistent/Vitis_Libraries
    zout=$(make -n -C "$hw" TARGET="$target" PLATFORM="$platform" VITIS_LIBRARIES="$lib")
    for k in xilZstdCompress:L2/src/zstd_compress_stream.cpp xilZstdDataMover:L2/tests/src/zstd_datamover.cpp; do
      grep -q -- "^v++ -c -t $target .*-k ${k%%:*} .*-DZSTD_BLOCK_SIZE_KB=32 -I$lib/data_compression/L1/include/hw" <<<"$zout" ||
        fail "$name $target: no v++ -c for ${k%%:*}:\n$zout"
      grep -q -- "-o build/$target.$name/${k%%:*}.xo $lib/data_compression/${k#*:}$" <<<"$zout" ||
        fail "$name $target: ${k%%:*} not built from ${k#*:}"
    done
    grep -q -- "^v++ -l .*--config connectivity/$name.cfg --config connectivity/zstd_$name.cfg" <<<"$zout" ||
      fail "$name $target: v++ -l without connectivity/zstd_$name.cfg:\n$zout"
    grep -q -- "beacon_decode.xo build/$target.$name/xilZstdCompress.xo build/$target.$name/xilZstdDataMover.xo$" <<<"$zout" ||
      fail "$name $target: zstd kernels not linked into the xclbin"
    if [ "$target" = hw ]; then
      ! grep -q emconfigutil <<<"$out" || fail "$name hw: emconfigutil is for emulation only"
    else
      grep -q "^emconfigutil --platform /opt/xilinx/platforms/$platform/$platform.xpfm" <<<"$out" ||
        fail "$name $target: no emconfigutil"
    fi
  done
  # Every compute unit of the config has its three ports and an SLR.
  cus=$(sed -n 's/^nk=beacon_decode:\([0-9]*\):.*/\1/p' "$hw/connectivity/$name.cfg")
  [ "$(grep -c '^sp=ga[0-9]*\.\(in\|decoded\|records\):' "$hw/connectivity/$name.cfg")" = $((3 * cus)) ] ||
    fail "$name: not three memory ports per compute unit"
  [ "$(grep -c '^slr=ga[0-9]*:SLR[0-9]$' "$hw/connectivity/$name.cfg")" = "$cus" ] ||
    fail "$name: not one SLR per compute unit"
  # The zstd config wires the data mover's streams to the compressor and places its ports.
  zcfg="$hw/connectivity/zstd_$name.cfg"
  [ -f "$zcfg" ] || fail "no connectivity/zstd_$name.cfg"
  [ "$(grep -c '^stream_connect=\(zdm1.origStream:zc1.axiInStream\|zc1.axiOutStream:zdm1.destStream\)$' "$zcfg")" = 2 ] ||
    fail "$name: zstd streams not connected"
  [ "$(grep -c '^sp=zdm1\.\(in\|out\|outputSize\):' "$zcfg")" = 3 ] || fail "$name: zstd ports not placed"
done

if make -n -C "$hw" TARGET=hw_emu2 >/dev/null 2>&1; then fail "an unknown TARGET was accepted"; fi
if make -n -C "$hw" PLATFORM=xilinx_u280_xdma_201920_3 >/dev/null 2>&1; then
  fail "an unknown platform was accepted"
fi
echo "hw/Makefile: make -n OK for u55c, u250, u50 x sw_emu, hw_emu, hw, with and without VITIS_LIBRARIES"
