// XRT native API use: one shared hw_context (2.26's replacement of device::load_xclbin), user-
// pointer buffer objects over the batcher's page-aligned buffers (created once per buffer and
// kept), one xrt::run per started buffer; outputs synced back only for runs that completed.
#include "host/backend/fpga_xrt_device.h"

#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>
#include <xrt/xrt_hw_context.h>
#include <xrt/xrt_kernel.h>

#include <algorithm>
#include <deque>
#include <exception>
#include <stdexcept>
#include <unordered_map>

namespace beacon::host {
namespace {

// The kernel reads and writes 512-bit words as 64 little-endian bytes: the host's CardWord
// (the shim's ap_uint<512>) must be exactly that.
static_assert(sizeof(kernels::CardWord) == kernels::kCardWordBytes);

constexpr char kKernelName[] = "beacon_decode";
// beacon_decode's arguments, in order.
enum KernelArg : int { kArgIn, kArgDecoded, kArgRecords, kArgInWords, kArgRunId };

}  // namespace

struct XrtDevice::Impl {
  struct Bos {
    xrt::bo in;
    xrt::bo decoded;
    xrt::bo records;
  };
  struct Running {
    uint64_t id;
    xrt::run run;
    Bos* bos;
    size_t decoded_bytes;  // what the run can have written: no more is synced back
    size_t record_bytes;
  };

  xrt::device device;
  xrt::uuid uuid;
  xrt::hw_context context;
  xrt::kernel kernel;
  std::string description;
  std::unordered_map<const CardBuffers*, Bos> bos;  // the batcher reuses its buffers
  std::deque<Running> running;

  Bos& BosOf(CardBuffers* b) {
    const auto found = bos.find(b);
    if (found != bos.end()) return found->second;
    const auto make = [this](CardWords& words, int arg) {
      return xrt::bo(context, words.data(), words.bytes(), kernel.group_id(arg));
    };
    return bos
        .emplace(b, Bos{make(b->in, kArgIn), make(b->decoded, kArgDecoded),
                        make(b->records, kArgRecords)})
        .first->second;
  }

  Finished Complete(const Running& r, ert_cmd_state state) {
    if (state != ERT_CMD_STATE_COMPLETED) return {r.id, false};
    r.bos->decoded.sync(XCL_BO_SYNC_BO_FROM_DEVICE, r.decoded_bytes, 0);
    r.bos->records.sync(XCL_BO_SYNC_BO_FROM_DEVICE, r.record_bytes, 0);
    return {r.id, true};
  }
};

XrtDevice::XrtDevice(unsigned index, const std::string& xclbin_path) : impl_(new Impl) {
  try {
    impl_->device = xrt::device(index);
    impl_->uuid = impl_->device.register_xclbin(xrt::xclbin(xclbin_path));
    impl_->context = xrt::hw_context(impl_->device, impl_->uuid);
    impl_->kernel = xrt::kernel(impl_->context, kKernelName);
    impl_->description =
        "fpga (" + impl_->device.get_info<xrt::info::device::name>() + ", " + xclbin_path + ")";
  } catch (const std::exception& e) {
    throw std::runtime_error("XRT device " + std::to_string(index) + " with " + xclbin_path + ": " +
                             e.what());
  }
}

XrtDevice::~XrtDevice() {
  for (Impl::Running& r : impl_->running) {
    try {
      r.run.abort();
    } catch (const std::exception&) {
      // The card is going away with the process; nothing else to do.
    }
  }
}

std::string XrtDevice::Describe() const { return impl_->description; }

bool XrtDevice::Start(uint64_t run, CardBuffers* buffers) {
  try {
    Impl::Bos& bos = impl_->BosOf(buffers);
    bos.in.sync(XCL_BO_SYNC_BO_TO_DEVICE, size_t{buffers->in_words} * kernels::kCardWordBytes, 0);
    xrt::run r(impl_->kernel);
    r.set_arg(kArgIn, bos.in);
    r.set_arg(kArgDecoded, bos.decoded);
    r.set_arg(kArgRecords, bos.records);
    r.set_arg(kArgInWords, buffers->in_words);
    r.set_arg(kArgRunId, buffers->run_id);
    r.start();
    // What the run can write: the decoded words and their run end record; the run record, the
    // records and the run end record.
    const size_t decoded_bytes = (size_t{buffers->in_words} + 1) * kernels::kCardWordBytes;
    const size_t record_bytes =
        (kernels::kCardRunRecords + buffers->record_words) * kernels::kCardWordBytes;
    impl_->running.push_back({run, std::move(r), &bos, decoded_bytes, record_bytes});
    return true;
  } catch (const std::exception&) {
    return false;  // counted by the batcher as a device error; the batch decodes on the host
  }
}

std::optional<FpgaDevice::Finished> XrtDevice::Wait(std::chrono::microseconds timeout) {
  auto& running = impl_->running;
  if (running.empty()) return std::nullopt;
  std::optional<Impl::Running> ended;
  ert_cmd_state state = ERT_CMD_STATE_ERROR;
  try {
    // Any run that already ended (compute units finish out of order), else the oldest.
    for (auto it = running.begin(); it != running.end(); ++it) {
      state = it->run.state();
      if (state == ERT_CMD_STATE_NEW || state == ERT_CMD_STATE_QUEUED ||
          state == ERT_CMD_STATE_RUNNING || state == ERT_CMD_STATE_SUBMITTED) {
        continue;
      }
      ended = *it;
      running.erase(it);
      break;
    }
    if (!ended) {
      if (timeout.count() == 0) return std::nullopt;
      const auto ms = std::max<std::chrono::milliseconds>(
          std::chrono::ceil<std::chrono::milliseconds>(timeout), std::chrono::milliseconds(1));
      state = running.front().run.wait(ms);
      if (state == ERT_CMD_STATE_TIMEOUT) return std::nullopt;
      ended = running.front();
      running.pop_front();
    }
  } catch (const std::exception&) {
    // XRT could not say how a run stands: the oldest is given up, its batch decoded on the host.
    if (!ended) {
      ended = running.front();
      running.pop_front();
    }
    return Finished{ended->id, false};
  }
  try {
    return impl_->Complete(*ended, state);
  } catch (const std::exception&) {
    // This run ended but its results could not be read back: it, not another, has failed.
    return Finished{ended->id, false};
  }
}

}  // namespace beacon::host
