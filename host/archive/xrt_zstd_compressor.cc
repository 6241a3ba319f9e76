// XRT native API use: one shared hw_context, buffers sized once for the largest block, the
// compressor's run started before the data mover's (it waits on its input stream). Every card
// frame is decompressed and compared before it is used: the archive's content never rests on the
// card.
#include "host/archive/xrt_zstd_compressor.h"

#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>
#include <xrt/xrt_hw_context.h>
#include <xrt/xrt_kernel.h>
#include <zstd.h>

#include <cstdlib>
#include <exception>
#include <stdexcept>

#include "kernels/archive/format.h"

namespace beacon::host {
namespace {

constexpr char kCompressName[] = "xilZstdCompress";
constexpr char kMoverName[] = "xilZstdDataMover";
// xilZstdDataMover(in, out, input_size, outputSize, origStream, destStream).
enum MoverArg : int { kArgIn = 0, kArgOut = 1, kArgInputSize = 2, kArgOutputSize = 3 };

}  // namespace

struct XrtZstdCompressor::Impl {
  xrt::device device;
  xrt::hw_context context;
  xrt::kernel compress;
  xrt::kernel mover;
  xrt::bo in;
  xrt::bo out;
  xrt::bo out_size;
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  std::string check;  // a card frame decompressed, compared with the block

  ~Impl() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }
};

XrtZstdCompressor::XrtZstdCompressor(unsigned index, const std::string& xclbin_path,
                                     int fallback_level, std::chrono::milliseconds timeout)
    : impl_(new Impl), timeout_(timeout) {
  ZSTD_CCtx_setParameter(impl_->cctx, ZSTD_c_compressionLevel, fallback_level);
  try {
    impl_->device = xrt::device(index);
    const xrt::uuid uuid = impl_->device.register_xclbin(xrt::xclbin(xclbin_path));
    impl_->context = xrt::hw_context(impl_->device, uuid);
    impl_->compress = xrt::kernel(impl_->context, kCompressName);
    impl_->mover = xrt::kernel(impl_->context, kMoverName);
    const size_t bound = ZSTD_compressBound(kernels::kMaxBlockRawBytes);
    impl_->in = xrt::bo(impl_->context, kernels::kMaxBlockRawBytes, impl_->mover.group_id(kArgIn));
    impl_->out = xrt::bo(impl_->context, bound, impl_->mover.group_id(kArgOut));
    impl_->out_size =
        xrt::bo(impl_->context, sizeof(uint32_t), impl_->mover.group_id(kArgOutputSize));
  } catch (const std::exception& e) {
    throw std::runtime_error("XRT zstd compressor on device " + std::to_string(index) + " with " +
                             xclbin_path + ": " + e.what());
  }
}

XrtZstdCompressor::~XrtZstdCompressor() = default;

void XrtZstdCompressor::Compress(std::string_view raw, std::string* frame) {
  if (CompressOnCard(raw, frame)) {
    card_blocks_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  frame->resize(ZSTD_compressBound(raw.size()));
  const size_t n =
      ZSTD_compress2(impl_->cctx, frame->data(), frame->size(), raw.data(), raw.size());
  // With a bound-sized buffer and a valid level, zstd fails only when out of memory.
  if (ZSTD_isError(n)) std::abort();
  frame->resize(n);
}

bool XrtZstdCompressor::CompressOnCard(std::string_view raw, std::string* frame) {
  Impl& d = *impl_;
  uint32_t frame_bytes = 0;
  try {
    d.in.write(raw.data(), raw.size(), 0);
    d.in.sync(XCL_BO_SYNC_BO_TO_DEVICE, raw.size(), 0);
    xrt::run compress(d.compress);
    compress.start();
    xrt::run mover = d.mover(d.in, d.out, static_cast<uint32_t>(raw.size()), d.out_size);
    const ert_cmd_state moved = mover.wait(timeout_);
    const ert_cmd_state compressed = compress.wait(timeout_);
    if (moved == ERT_CMD_STATE_TIMEOUT || compressed == ERT_CMD_STATE_TIMEOUT) {
      if (moved == ERT_CMD_STATE_TIMEOUT) mover.abort();
      if (compressed == ERT_CMD_STATE_TIMEOUT) compress.abort();
      fallbacks_.timeout.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (moved != ERT_CMD_STATE_COMPLETED || compressed != ERT_CMD_STATE_COMPLETED) {
      fallbacks_.device_error.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    d.out_size.sync(XCL_BO_SYNC_BO_FROM_DEVICE, sizeof(frame_bytes), 0);
    d.out_size.read(&frame_bytes, sizeof(frame_bytes), 0);
    if (frame_bytes == 0 || frame_bytes > d.out.size()) {
      fallbacks_.nonconforming.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    frame->resize(frame_bytes);
    d.out.sync(XCL_BO_SYNC_BO_FROM_DEVICE, frame_bytes, 0);
    d.out.read(frame->data(), frame_bytes, 0);
  } catch (const std::exception&) {
    fallbacks_.device_error.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // The archive's contract (kernels/archive/README.md): one frame, its content size, the block.
  const bool one_frame =
      ZSTD_findFrameCompressedSize(frame->data(), frame->size()) == frame->size();
  const bool sized = ZSTD_getFrameContentSize(frame->data(), frame->size()) == raw.size();
  bool same = false;
  if (one_frame && sized) {
    d.check.resize(raw.size());
    const size_t n =
        ZSTD_decompressDCtx(d.dctx, d.check.data(), d.check.size(), frame->data(), frame->size());
    same = !ZSTD_isError(n) && n == raw.size() && std::string_view(d.check) == raw;
  }
  if (!same) fallbacks_.nonconforming.fetch_add(1, std::memory_order_relaxed);
  return same;
}

}  // namespace beacon::host
