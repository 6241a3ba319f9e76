// XRT native API use: one shared hw_context, buffers sized once for the largest block, the
// compressor's run started before the data mover's (it waits on its input stream). The card's
// frames are checked and decompressed and compared before they are used: the archive's content
// never rests on the card.
#include "host/archive/xrt_zstd_compressor.h"

#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>
#include <xrt/xrt_hw_context.h>
#include <xrt/xrt_kernel.h>
#include <zstd.h>

#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>

#include "kernels/archive/block_codec.h"
#include "kernels/archive/format.h"

namespace beacon::host {
namespace {

constexpr char kCompressName[] = "xilZstdCompress";
constexpr char kMoverName[] = "xilZstdDataMover";
// xilZstdDataMover(in, out, input_size, outputSize, origStream, destStream).
enum MoverArg : int { kArgIn = 0, kArgOut = 1, kArgInputSize = 2, kArgOutputSize = 3 };

}  // namespace

struct XrtZstdCompressor::Impl {
  std::mutex card_mutex;  // the buffers, the runs and dctx: one block on the card at a time
  std::mutex cpu_mutex;   // cctx
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

bool XrtZstdCompressor::XclbinHasKernels(const std::string& xclbin_path) {
  try {
    bool compress = false;
    bool mover = false;
    for (const xrt::xclbin::kernel& kernel : xrt::xclbin(xclbin_path).get_kernels()) {
      compress = compress || kernel.get_name() == kCompressName;
      mover = mover || kernel.get_name() == kMoverName;
    }
    return compress && mover;
  } catch (const std::exception& e) {
    throw std::runtime_error("xclbin " + xclbin_path + ": " + e.what());
  }
}

void XrtZstdCompressor::Compress(std::string_view raw, std::string* frames) {
  {
    std::lock_guard lock(impl_->card_mutex);
    if (CompressOnCard(raw, frames)) {
      card_blocks_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  std::lock_guard lock(impl_->cpu_mutex);
  frames->resize(ZSTD_compressBound(raw.size()));
  const size_t n =
      ZSTD_compress2(impl_->cctx, frames->data(), frames->size(), raw.data(), raw.size());
  // With a bound-sized buffer and a valid level, zstd fails only when out of memory.
  if (ZSTD_isError(n)) std::abort();
  frames->resize(n);
}

bool XrtZstdCompressor::CompressOnCard(std::string_view raw, std::string* frames) {
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
    frames->resize(frame_bytes);
    d.out.sync(XCL_BO_SYNC_BO_FROM_DEVICE, frame_bytes, 0);
    d.out.read(frames->data(), frame_bytes, 0);
  } catch (const std::exception&) {
    fallbacks_.device_error.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // The archive's contract (kernels/archive/README.md, Versions): frames that give the block.
  bool same = false;
  if (kernels::CheckBlockFrames(*frames, static_cast<uint32_t>(raw.size()),
                                kernels::kArchiveFormatVersion) == kernels::ArchiveError::kOk) {
    d.check.resize(raw.size());
    const size_t n =
        ZSTD_decompressDCtx(d.dctx, d.check.data(), d.check.size(), frames->data(), frames->size());
    same = !ZSTD_isError(n) && n == raw.size() && std::string_view(d.check) == raw;
  }
  if (!same) fallbacks_.nonconforming.fetch_add(1, std::memory_order_relaxed);
  return same;
}

}  // namespace beacon::host
