// The batcher's queue: jobs in Add order, each open -> running -> done | failed, delivered
// from the front only, so completions that arrive out of order wait for their elders.
#include "host/backend/fpga_batcher.h"

#include <algorithm>
#include <utility>

namespace beacon::host {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxBufferBytes = 4 << 20;
// A full RawBatch's card input: its payloads (< the arena) plus a header word and padding each.
constexpr size_t kMinBufferBytes =
    kernels::kBatchArenaBytes + 2 * kernels::kCardWordBytes * kernels::kMaxBatchBeacons;

FpgaBatcherConfig Clamped(FpgaBatcherConfig config) {
  config.buffer_bytes = std::clamp(config.buffer_bytes, kMinBufferBytes, kMaxBufferBytes);
  config.max_in_flight = std::max<size_t>(config.max_in_flight, 1);
  return config;
}

}  // namespace

std::string_view FpgaFallbackName(FpgaFallback reason) {
  switch (reason) {
    case FpgaFallback::kDeviceError:
      return "device_error";
    case FpgaFallback::kTimeout:
      return "timeout";
    case FpgaFallback::kBadRecords:
      return "bad_records";
    case FpgaFallback::kStaleOutput:
      return "stale_output";
    case FpgaFallback::kCount:
      break;
  }
  return "?";
}

FpgaBatcher::FpgaBatcher(FpgaDevice* device, const FpgaBatcherConfig& config,
                         const kernels::ByteKernels* host_bytes, Deliver deliver)
    : device_(device),
      config_(Clamped(config)),
      host_bytes_(host_bytes),
      deliver_(std::move(deliver)) {}

FpgaBatcher::~FpgaBatcher() = default;

size_t FpgaBatcher::InFlight() const {
  return static_cast<size_t>(std::count_if(
      jobs_.begin(), jobs_.end(), [](const Job& job) { return job.state != State::kOpen; }));
}

FpgaBatcher::Job& FpgaBatcher::OpenJob() {
  if (!jobs_.empty() && jobs_.back().state == State::kOpen) return jobs_.back();
  while (InFlight() >= config_.max_in_flight) WaitForFront();
  Job job;
  job.id = next_id_++;
  job.opened = Clock::now();
  if (spare_buffers_.empty()) {
    job.buffers = std::make_unique<CardBuffers>(config_.buffer_bytes);
  } else {
    job.buffers = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
    job.buffers->Clear();
  }
  jobs_.push_back(std::move(job));
  return jobs_.back();
}

void FpgaBatcher::Add(kernels::RawBatch& raw, const kernels::DecodeContext& ctx) {
  Job* job = &OpenJob();
  if (!job->buffers->Append(raw)) {
    Start(*job);
    job = &OpenJob();
    // An empty buffer holds any RawBatch (kMinBufferBytes): this append always succeeds.
    job->buffers->Append(raw);
  }
  std::unique_ptr<kernels::RawBatch> taken;
  if (spare_raws_.empty()) {
    taken = std::make_unique<kernels::RawBatch>();
  } else {
    taken = std::move(spare_raws_.back());
    spare_raws_.pop_back();
  }
  std::swap(*taken, raw);
  job->batches.push_back({std::move(taken), ctx});
  Poll();
}

void FpgaBatcher::Start(Job& job) {
  job.started = Clock::now();
  if (job.buffers->in_words == 0) {  // only formats the card does not decode: no run
    job.state = State::kDone;
    job.device_released = true;
    return;
  }
  // Late reports of runs that timed out give their buffers back first.
  while (abandoned_.size() >= config_.max_in_flight) {
    const auto finished = device_->Wait(std::chrono::microseconds(0));
    if (!finished) break;
    Finished(*finished);
  }
  if (abandoned_.size() >= config_.max_in_flight) {
    // The device still holds max_in_flight runs that timed out (a wedged card): a new run
    // would only hold another buffer until it reports. Decoded on the host, as a timeout.
    job.state = State::kFailed;
    job.reason = FpgaFallback::kTimeout;
    job.device_released = true;
    return;
  }
  runs_.fetch_add(1, std::memory_order_relaxed);
  card_bytes_.fetch_add(job.buffers->in_words * kernels::kCardWordBytes, std::memory_order_relaxed);
  job.buffers->run_id = job.id;  // never 0, never the same twice: the kernel echoes it
  if (device_->Start(job.id, job.buffers.get())) {
    job.state = State::kRunning;
  } else {
    job.state = State::kFailed;
    job.reason = FpgaFallback::kDeviceError;
    job.device_released = true;
  }
}

void FpgaBatcher::Finished(const FpgaDevice::Finished& finished) {
  for (Job& job : jobs_) {
    if (job.id != finished.run) continue;
    job.device_released = true;
    if (job.state == State::kRunning) {
      job.state = finished.ok ? State::kDone : State::kFailed;
      job.reason = FpgaFallback::kDeviceError;
    }
    return;
  }
  // A run that timed out and was decoded on the host: its buffers are free again.
  const auto late = abandoned_.find(finished.run);
  if (late != abandoned_.end()) {
    spare_buffers_.push_back(std::move(late->second));
    abandoned_.erase(late);
  }
}

void FpgaBatcher::TimeOut(Clock::time_point now) {
  for (Job& job : jobs_) {
    if (job.state != State::kRunning || now - job.started < config_.run_timeout) continue;
    job.state = State::kFailed;
    job.reason = FpgaFallback::kTimeout;
  }
}

void FpgaBatcher::Poll() {
  if (!jobs_.empty() && jobs_.back().state == State::kOpen &&
      Clock::now() - jobs_.back().opened >= config_.deadline) {
    Start(jobs_.back());
  }
  while (const auto finished = device_->Wait(std::chrono::microseconds(0))) Finished(*finished);
  TimeOut(Clock::now());
  DeliverReady();
}

void FpgaBatcher::WaitForFront() {
  if (jobs_.empty()) return;
  Job& front = jobs_.front();
  if (front.state == State::kOpen) Start(front);
  while (front.state == State::kRunning) {
    const auto left = front.started + config_.run_timeout - Clock::now();
    if (left <= Clock::duration::zero()) break;
    const auto wait = std::chrono::ceil<std::chrono::microseconds>(left);
    if (const auto finished = device_->Wait(wait)) Finished(*finished);
  }
  TimeOut(Clock::now());
  DeliverReady();
}

void FpgaBatcher::Flush() {
  while (!jobs_.empty()) WaitForFront();
}

void FpgaBatcher::DeliverReady() {
  while (!jobs_.empty() &&
         (jobs_.front().state == State::kDone || jobs_.front().state == State::kFailed)) {
    DeliverJob(jobs_.front());
    Job& job = jobs_.front();
    if (job.state == State::kFailed && !job.device_released &&
        job.reason == FpgaFallback::kTimeout) {
      abandoned_.emplace(job.id, std::move(job.buffers));
    } else {
      spare_buffers_.push_back(std::move(job.buffers));
    }
    for (Pending& p : job.batches) {
      p.raw->Clear();
      spare_raws_.push_back(std::move(p.raw));
    }
    jobs_.pop_front();
  }
}

void FpgaBatcher::DeliverJob(Job& job) {
  std::unique_ptr<CardResults> results;
  if (job.state == State::kDone) results = std::make_unique<CardResults>(*job.buffers);
  if (results != nullptr && !results->fresh()) {
    // Finished, but what the buffers hold is (partly) an earlier run's output.
    results.reset();
    job.state = State::kFailed;
    job.reason = FpgaFallback::kStaleOutput;
  }
  for (Pending& p : job.batches) {
    kernels::DecodeContext ctx = p.ctx;
    ctx.bytes = host_bytes_;
    events_.Clear();
    if (results != nullptr && !results->Decode(*p.raw, ctx, &events_)) {
      // The rest of this run's records cannot be trusted either.
      results.reset();
      job.state = State::kFailed;
      job.reason = FpgaFallback::kBadRecords;
    }
    if (results == nullptr) {
      fallbacks_[static_cast<size_t>(job.reason)].fetch_add(1, std::memory_order_relaxed);
      kernels::DecodeBatch(*p.raw, ctx, &events_);
    }
    deliver_(*p.raw, events_);
  }
}

void WriteFpgaMetrics(const std::vector<const FpgaBatcher*>& batchers, MetricsWriter& writer) {
  for (size_t r = 0; r < static_cast<size_t>(FpgaFallback::kCount); ++r) {
    const auto reason = static_cast<FpgaFallback>(r);
    uint64_t total = 0;
    for (const FpgaBatcher* b : batchers) total += b->fallbacks(reason);
    writer.Counter("beacond_fpga_fallback_total",
                   "Raw batches decoded on the host instead of the card, by reason.",
                   {{"reason", FpgaFallbackName(reason)}}, total);
  }
  uint64_t runs = 0;
  for (const FpgaBatcher* b : batchers) runs += b->runs();
  writer.Counter("beacond_fpga_runs_total", "Card runs started (each a buffer of raw batches).", {},
                 runs);
}

}  // namespace beacon::host
