// fpga-csim: beacon_decode compiled for the host, run synchronously.
#include <time.h>

#include <thread>

#include "host/backend/fpga_device.h"

namespace beacon::host {
namespace {

// CPU time of the calling thread: the kernel's own cost, whatever else the machine runs.
std::chrono::nanoseconds ThreadCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace

bool CsimDevice::Start(uint64_t run, CardBuffers* buffers) {
  const auto begin = ThreadCpuTime();
  beacon_decode(buffers->in.data(), buffers->decoded.data(), buffers->records.data(),
                buffers->in_words);
  kernel_time_ += ThreadCpuTime() - begin;
  finished_.push_back({run, true});
  return true;
}

std::optional<FpgaDevice::Finished> CsimDevice::Wait(std::chrono::microseconds timeout) {
  if (finished_.empty()) {
    // Nothing can finish later (runs complete in Start): the wait just passes.
    std::this_thread::sleep_for(timeout);
    return std::nullopt;
  }
  const Finished f = finished_.front();
  finished_.pop_front();
  return f;
}

}  // namespace beacon::host
