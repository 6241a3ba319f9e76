// fpga-csim: beacon_decode compiled for the host, run synchronously.
#include <time.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "host/backend/fpga_device.h"

namespace beacon::host {
namespace {

// CPU time of the calling thread: the kernel's own cost, whatever else the machine runs.
std::chrono::nanoseconds ThreadCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// Words [keep, words.size()) of `words` as they are now (a test's fault injection only).
std::vector<kernels::CardWord> Tail(const CardWords& words, size_t keep) {
  return std::vector<kernels::CardWord>(words.data() + keep, words.data() + words.size());
}

void PutBack(const std::vector<kernels::CardWord>& tail, CardWords* words) {
  std::copy(tail.begin(), tail.end(), words->data() + (words->size() - tail.size()));
}

}  // namespace

void CsimDevice::Run(CardBuffers* buffers) {
  const auto begin = ThreadCpuTime();
  beacon_decode(buffers->in.data(), buffers->decoded.data(), buffers->records.data(),
                buffers->in_words, buffers->run_id);
  kernel_time_ += ThreadCpuTime() - begin;
}

bool CsimDevice::Start(uint64_t run, CardBuffers* buffers) {
  const CsimFault fault = next_fault_;
  next_fault_ = CsimFault::kNone;
  if (fault == CsimFault::kRecordsCut) {
    const auto tail = Tail(buffers->records, buffers->record_words / 2);
    Run(buffers);
    PutBack(tail, &buffers->records);
  } else if (fault == CsimFault::kDecodedCut) {
    const auto tail = Tail(buffers->decoded, buffers->in_words / 2);
    Run(buffers);
    PutBack(tail, &buffers->decoded);
  } else if (fault != CsimFault::kNoWrite) {
    Run(buffers);
  }
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
