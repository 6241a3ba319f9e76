// The FPGA batcher on a fault-injecting device around the kernel's C-simulation: completions
// out of order, refused starts, failed runs, runs that never finish (and report late), corrupt
// records. Every batch is delivered once, in order, with the rows and reject counts of the
// scalar reference; the fallbacks are counted by reason; the deadline starts a partly filled
// buffer.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "host/backend/fpga_batcher.h"
#include "host/backend/fpga_device.h"
#include "kernels/decode.h"
#include "kernels/simd/byte_kernels.h"
#include "tests/unit/kernels/decode_inputs.h"

namespace beacon::host {
namespace {

namespace inputs = kernels::decode_inputs;

enum class Fault : uint8_t { kNone, kRefuse, kError, kHang, kCorrupt };

// The kernel's C-simulation behind faults chosen per started run. Completions are held back
// and handed out in random order: a non-blocking wait gets one only when `hold` are ready.
class FaultyDevice final : public FpgaDevice {
 public:
  FaultyDevice(std::vector<Fault> plan, size_t hold, uint64_t seed)
      : plan_(std::move(plan)), hold_(hold), rng_(seed) {}

  std::string Describe() const override { return "faulty fpga-csim"; }

  bool Start(uint64_t run, CardBuffers* buffers) override {
    const Fault fault = plan_.empty() ? Fault::kNone : plan_[started_ % plan_.size()];
    ++started_;
    buffers_.insert(buffers);
    if (fault == Fault::kRefuse) return false;
    csim_.Start(run, buffers);
    csim_.Wait(std::chrono::microseconds(0));
    if (fault == Fault::kCorrupt) {
      buffers->records.data()[kernels::kCardFirstRecord].range(7, 0) = 0x7F;
    }
    if (fault == Fault::kHang) {
      hung_.push_back(run);
    } else {
      ready_.push_back({run, fault != Fault::kError});
    }
    max_outstanding_ = std::max(max_outstanding_, ready_.size());
    return true;
  }

  std::optional<Finished> Wait(std::chrono::microseconds timeout) override {
    if (ready_.empty() || (timeout.count() == 0 && ready_.size() < hold_)) {
      std::this_thread::sleep_for(std::min(timeout, std::chrono::microseconds(200)));
      return std::nullopt;
    }
    const size_t pick = std::uniform_int_distribution<size_t>(0, ready_.size() - 1)(rng_);
    const Finished f = ready_[pick];
    ready_.erase(ready_.begin() + static_cast<ptrdiff_t>(pick));
    return f;
  }

  // The card works again: the runs started from now on finish.
  void Heal() { plan_.clear(); }

  // The runs that never finished report now, long after they timed out.
  void ReportHungRuns() {
    for (const uint64_t run : hung_) ready_.push_back({run, true});
    hung_.clear();
  }

  size_t max_outstanding() const { return max_outstanding_; }
  uint64_t started() const { return started_; }
  // The distinct buffers the batcher ever gave the device: what it has allocated for runs.
  size_t distinct_buffers() const { return buffers_.size(); }

 private:
  std::vector<Fault> plan_;
  size_t hold_;
  std::mt19937_64 rng_;
  CsimDevice csim_;
  std::vector<Finished> ready_;
  std::vector<uint64_t> hung_;
  size_t max_outstanding_ = 0;
  uint64_t started_ = 0;
  std::set<const CardBuffers*> buffers_;
};

constexpr uint64_t kVisitorKey = 0x5eed'1234'abcd'0042;
const kernels::VisitorSalts kSalts{inputs::kNowMs / 86'400'000, 0x1111'2222'3333'4444,
                                   0x5555'6666'7777'8888};

// The batch number is in the upper bytes of every beacon's IPv4 address.
uint32_t SequenceOf(const kernels::RawBatch& raw) {
  const auto& b = raw.source(0).bytes;
  return (uint32_t{b[12]} << 16) | (uint32_t{b[13]} << 8) | b[14];
}

class FpgaBatcherTest : public testing::Test {
 protected:
  void SetUp() override {
    std::vector<inputs::Input> all = inputs::RealisticInputs(sites_, 5);
    const std::vector<inputs::Input> adversarial = inputs::AdversarialInputs();
    for (size_t i = 0; i < adversarial.size(); i += 7) all.push_back(adversarial[i]);
    std::mt19937_64 rng(99);
    std::shuffle(all.begin(), all.end(), rng);
    size_t next = 0;
    while (next < all.size()) {
      kernels::RawBatch raw;
      const uint32_t seq = static_cast<uint32_t>(batches_.size());
      for (uint32_t i = 0; i < 40 && next < all.size(); ++i, ++next) {
        const inputs::Input& in = all[next];
        if (!raw.Add(in.endpoint, kernels::IngressKind::kHttp, in.payload, in.user_agent,
                     kernels::IpAddress::FromV4((seq << 8) | i), inputs::kNowMs, in.query)) {
          break;
        }
      }
      batches_.push_back(raw);
      expected_.emplace_back();
      kernels::DecodeBatch(raw, Context(nullptr, &expected_rejects_), &expected_.back());
    }
  }

  kernels::DecodeContext Context(const kernels::ByteKernels* bytes,
                                 kernels::RejectCounters* rejects) const {
    return {&sites_, rejects, kVisitorKey, kSalts, bytes};
  }

  // Feeds every batch through a batcher on `device`, checking order and rows as they arrive.
  void RunAll(FpgaDevice* device, const FpgaBatcherConfig& config) {
    size_t delivered = 0;
    FpgaBatcher batcher(device, config, &simd_,
                        [&](const kernels::RawBatch& raw, const kernels::EventBatch& events) {
                          ASSERT_EQ(SequenceOf(raw), delivered) << "delivered out of order";
                          EXPECT_TRUE(events == expected_[delivered]) << "batch " << delivered;
                          ++delivered;
                        });
    for (const kernels::RawBatch& original : batches_) {
      kernels::RawBatch raw = original;
      batcher.Add(raw, Context(nullptr, &rejects_));
      EXPECT_TRUE(raw.empty());
    }
    if (auto* faulty = dynamic_cast<FaultyDevice*>(device)) faulty->ReportHungRuns();
    batcher.Flush();
    EXPECT_EQ(delivered, batches_.size());
    for (size_t r = 0; r < kernels::kRejectReasonCount; ++r) {
      const auto reason = static_cast<kernels::RejectReason>(r);
      EXPECT_EQ(rejects_.Get(reason), expected_rejects_.Get(reason))
          << kernels::RejectReasonName(reason);
    }
    for (size_t r = 0; r < fallbacks_.size(); ++r) {
      fallbacks_[r] = batcher.fallbacks(static_cast<FpgaFallback>(r));
    }
    runs_ = batcher.runs();
  }

  kernels::SiteRegistry sites_ = kernels::SiteRegistry::Parse(inputs::RegistryText());
  const kernels::ByteKernels simd_ = kernels::SimdByteKernels();
  std::vector<kernels::RawBatch> batches_;
  std::vector<kernels::EventBatch> expected_;
  kernels::RejectCounters expected_rejects_;
  kernels::RejectCounters rejects_;
  std::array<uint64_t, static_cast<size_t>(FpgaFallback::kCount)> fallbacks_{};
  uint64_t runs_ = 0;
};

TEST_F(FpgaBatcherTest, OutOfOrderCompletionsAreDeliveredInOrder) {
  ASSERT_GT(batches_.size(), 200u);
  FaultyDevice device({}, 3, 1);
  // 0: the smallest buffer; completions held by the device must not time out on a busy machine.
  RunAll(&device, {.buffer_bytes = 0, .max_in_flight = 4, .run_timeout = std::chrono::seconds(30)});
  EXPECT_GT(runs_, 4u);
  EXPECT_EQ(fallbacks_, decltype(fallbacks_){});  // none, for any reason
  EXPECT_GE(device.max_outstanding(), 2u);        // completions really were held and reordered
  EXPECT_LE(device.max_outstanding(), 4u);
}

TEST_F(FpgaBatcherTest, FaultsFallBackWithNothingLostOrDoubled) {
  FaultyDevice device({Fault::kNone, Fault::kError, Fault::kNone, Fault::kRefuse, Fault::kHang,
                       Fault::kNone, Fault::kCorrupt, Fault::kNone},
                      1, 7);
  // Completions are handed out as soon as they are polled: only the hung runs reach the timeout.
  RunAll(&device,
         {.buffer_bytes = 0, .max_in_flight = 3, .run_timeout = std::chrono::milliseconds(200)});
  EXPECT_GE(runs_, 8u);
  EXPECT_GT(fallbacks_[static_cast<size_t>(FpgaFallback::kDeviceError)], 0u);
  EXPECT_GT(fallbacks_[static_cast<size_t>(FpgaFallback::kTimeout)], 0u);
  EXPECT_GT(fallbacks_[static_cast<size_t>(FpgaFallback::kBadRecords)], 0u);
}

// A card that stops finishing runs (a wedged kernel) must not make the batcher allocate new
// buffers for every run it gives it: the buffers of runs that timed out stay with the device
// until it reports them, so once it holds max_in_flight of them, batches decode on the host
// (counted as timeouts) without a run; once it reports them, the card takes runs again.
TEST_F(FpgaBatcherTest, AHungCardDoesNotGrowTheBuffers) {
  constexpr size_t kMaxInFlight = 2;
  FaultyDevice device({Fault::kHang}, 1, 5);
  size_t delivered = 0;
  FpgaBatcher batcher(&device,
                      {.buffer_bytes = 0,
                       .deadline = std::chrono::microseconds(0),
                       .max_in_flight = kMaxInFlight,
                       .run_timeout = std::chrono::milliseconds(2)},
                      &simd_, [&](const kernels::RawBatch& raw, const kernels::EventBatch& events) {
                        ASSERT_EQ(SequenceOf(raw), delivered) << "delivered out of order";
                        EXPECT_TRUE(events == expected_[delivered]) << "batch " << delivered;
                        ++delivered;
                      });
  constexpr size_t kWhileHung = 60;
  ASSERT_GT(batches_.size(), kWhileHung + 20);
  size_t added = 0;
  for (; added < kWhileHung; ++added) {
    kernels::RawBatch raw = batches_[added];
    batcher.Add(raw, Context(nullptr, &rejects_));
  }
  batcher.Flush();
  EXPECT_EQ(delivered, kWhileHung);
  // The device holds the buffers of the runs it never reported, fewer than 2 x max_in_flight
  // of them (some may have started just before the others timed out); the batcher reuses the
  // rest, at most max_in_flight + 1 more.
  EXPECT_LE(device.distinct_buffers(), 3 * kMaxInFlight);
  EXPECT_EQ(batcher.fallbacks(FpgaFallback::kTimeout), kWhileHung);
  const uint64_t started_while_hung = device.started();
  EXPECT_LE(started_while_hung, 2 * kMaxInFlight);

  // The card reports its runs at last: the next batches run on it again.
  device.Heal();
  device.ReportHungRuns();
  for (; added < kWhileHung + 20; ++added) {
    kernels::RawBatch raw = batches_[added];
    batcher.Add(raw, Context(nullptr, &rejects_));
  }
  batcher.Flush();
  EXPECT_EQ(delivered, added);
  EXPECT_GT(device.started(), started_while_hung);
  EXPECT_EQ(batcher.fallbacks(FpgaFallback::kTimeout), kWhileHung);
}

TEST_F(FpgaBatcherTest, TheDeadlineStartsAPartlyFilledBuffer) {
  CsimDevice device;
  size_t delivered = 0;
  constexpr auto kDeadline = std::chrono::milliseconds(200);
  FpgaBatcher batcher(&device, {.deadline = kDeadline}, &simd_,
                      [&](const kernels::RawBatch&, const kernels::EventBatch& events) {
                        EXPECT_TRUE(events == expected_[0]);
                        ++delivered;
                      });
  kernels::RawBatch raw = batches_[0];
  const auto added = std::chrono::steady_clock::now();
  batcher.Add(raw, Context(nullptr, &rejects_));
  batcher.Poll();
  // Inside the deadline: still gathering (unchecked when a loaded machine took longer).
  if (std::chrono::steady_clock::now() - added < kDeadline) {
    EXPECT_EQ(batcher.runs(), 0u);
  }
  std::this_thread::sleep_for(kDeadline + std::chrono::milliseconds(10));
  batcher.Poll();
  EXPECT_EQ(batcher.runs(), 1u);
  EXPECT_EQ(delivered, 1u);
  batcher.Flush();
  EXPECT_EQ(delivered, 1u);
}

TEST_F(FpgaBatcherTest, BatchesWithoutCardBeaconsNeedNoRun) {
  FaultyDevice device({Fault::kError}, 1, 3);  // any run would fall back
  kernels::RawBatch raw;
  ASSERT_TRUE(raw.Add(kernels::Endpoint::kPlausibleEvent, kernels::IngressKind::kHttp,
                      R"({"name":"pageview","url":"https://any.example/","domain":"any.example"})",
                      inputs::kBrowserUa, kernels::IpAddress::FromV4(1), inputs::kNowMs));
  kernels::EventBatch expected;
  kernels::RejectCounters expected_rejects;
  kernels::DecodeBatch(raw, Context(nullptr, &expected_rejects), &expected);
  size_t delivered = 0;
  FpgaBatcher batcher(&device, {}, &simd_,
                      [&](const kernels::RawBatch&, const kernels::EventBatch& events) {
                        EXPECT_TRUE(events == expected);
                        EXPECT_EQ(events.size(), 1u);
                        ++delivered;
                      });
  batcher.Add(raw, Context(nullptr, &rejects_));
  batcher.Flush();
  EXPECT_EQ(delivered, 1u);
  EXPECT_EQ(device.started(), 0u);
  EXPECT_EQ(batcher.runs(), 0u);
  EXPECT_EQ(batcher.fallbacks(FpgaFallback::kDeviceError), 0u);
}

// 40 /collect hits of one shape; `variant` changes every value but not the shape (the hit
// type, page, visitor, queue time and with them every row differ).
kernels::RawBatch SameShapeBatch(int variant) {
  kernels::RawBatch raw;
  for (int i = 0; i < 40; ++i) {
    const std::string n = std::to_string(100 + i);
    const std::string hit = variant == 0 ? "v=1&tid=G-ANY1&cid=1." + n +
                                               "&t=pageview&dl=https%3A%2F%2Fany.example%2Fa" + n +
                                               "&qt=100000"
                                         : "v=1&tid=G-ANY1&cid=2." + n + "&t=event&ec=cat&ea=act" +
                                               n + "&dl=https%3A%2F%2Fany.example%2Fb&qt=200000";
    EXPECT_TRUE(raw.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp, hit,
                        inputs::kBrowserUa, kernels::IpAddress::FromV4(0x0A000001 + i),
                        inputs::kNowMs));
  }
  return raw;
}

// A card that reports a run finished without having written all of its output — the kernel
// never ran, or the records or the decoded bytes came back cut short — leaves in the buffers,
// which the batcher reuses, what the previous run wrote: for a batch of the same shape,
// well-formed records of another batch's hits. The run id the kernel echoes after everything
// else tells them apart: the batch decodes on the host with the reference's rows, counted as
// stale_output, and the next run is the card's again.
TEST_F(FpgaBatcherTest, StaleCardOutputDecodesOnTheHost) {
  const std::array<kernels::RawBatch, 3> batches = {SameShapeBatch(0), SameShapeBatch(1),
                                                    SameShapeBatch(0)};
  std::array<kernels::EventBatch, 3> expected;
  kernels::RejectCounters expected_rejects;
  for (size_t i = 0; i < batches.size(); ++i) {
    kernels::DecodeBatch(batches[i], Context(nullptr, &expected_rejects), &expected[i]);
    ASSERT_EQ(expected[i].size(), 40u);
  }
  ASSERT_FALSE(expected[0] == expected[1]);
  for (const CsimFault fault :
       {CsimFault::kNoWrite, CsimFault::kRecordsCut, CsimFault::kDecodedCut}) {
    const int f = static_cast<int>(fault);
    CsimDevice device;
    size_t delivered = 0;
    FpgaBatcher batcher(
        &device, {}, &simd_, [&](const kernels::RawBatch&, const kernels::EventBatch& events) {
          EXPECT_TRUE(events == expected[delivered])
              << "fault " << f << ": batch " << delivered << " has other rows"
              << (delivered == 1 && events == expected[0] ? ": batch 0's, delivered again" : "");
          ++delivered;
        });
    for (size_t i = 0; i < batches.size(); ++i) {
      if (i == 1) device.FailNextRun(fault);
      kernels::RawBatch raw = batches[i];
      batcher.Add(raw, Context(nullptr, &rejects_));
      batcher.Flush();  // one run per batch, all on the same buffers
    }
    EXPECT_EQ(delivered, batches.size());
    EXPECT_EQ(batcher.runs(), 3u);
    MetricsWriter writer;
    WriteFpgaMetrics({&batcher}, writer);
    EXPECT_NE(writer.text().find("beacond_fpga_fallback_total{reason=\"stale_output\"} 1\n"),
              std::string::npos)
        << "fault " << f << ":\n"
        << writer.text();
    EXPECT_NE(writer.text().find("beacond_fpga_fallback_total{reason=\"bad_records\"} 0\n"),
              std::string::npos)
        << "fault " << f;
  }
}

TEST_F(FpgaBatcherTest, CountsFallbacksAsMetrics) {
  FaultyDevice device({Fault::kError}, 1, 3);
  // A long deadline: the three batches share one run however slow the machine is.
  FpgaBatcher batcher(&device, {.deadline = std::chrono::seconds(10)}, &simd_,
                      [](const kernels::RawBatch&, const kernels::EventBatch&) {});
  for (size_t i = 0; i < 3; ++i) {
    kernels::RawBatch raw = batches_[i];
    batcher.Add(raw, Context(nullptr, &rejects_));
  }
  batcher.Flush();
  MetricsWriter writer;
  WriteFpgaMetrics({&batcher}, writer);
  EXPECT_NE(writer.text().find("beacond_fpga_fallback_total{reason=\"device_error\"} 3\n"),
            std::string::npos)
      << writer.text();
  EXPECT_NE(writer.text().find("beacond_fpga_fallback_total{reason=\"timeout\"} 0\n"),
            std::string::npos);
  EXPECT_NE(writer.text().find("beacond_fpga_runs_total 1\n"), std::string::npos);
}

}  // namespace
}  // namespace beacon::host
