// beacon-relay-bench: the UDP beacon relay's throughput through decode and aggregation, per
// worker, on the same capture two ways: the DPDK lcore loop replaying it from net_pcap
// (infinite_rx=1, one port per worker), and the kernel-socket relay fed over loopback. Decodes
// on the backend beacond would choose ($BEACON_BACKEND, else the best), the card's through its
// batcher. With --truth and --frames-truth (dpdk path), every whole pass each worker made over
// the capture is checked against beacon-gen's truth of one pass.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dpdk/data_plane.h"
#include "dpdk/eal.h"
#include "dpdk/frame_parser.h"
#include "host/backend/backend_registry.h"
#include "host/backend/fpga_batcher.h"
#include "host/net/udp_relay.h"
#include "kernels/aggregate/minute_aggregator.h"
#include "kernels/decode.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"

namespace beacon::bench {
namespace {

using Clock = std::chrono::steady_clock;

// One pass over a beacon-gen capture as its truth files tell it.
struct PassTruth {
  uint64_t datagrams = 0;  // beacon datagrams the relay hands on
  uint64_t accepted = 0;   // hits
  std::array<uint64_t, kernels::kRejectReasonCount> rejects{};  // hits, per reason
};

// Calls `row(kind, rest)` for every row of a truth file (`#` comments skipped).
template <typename Row>
void ForEachRow(const std::string& path, const Row& row) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read '" + path + "'");
  std::string line, kind;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    fields >> kind;
    row(kind, fields);
  }
}

PassTruth LoadPassTruth(const std::string& hits_path, const std::string& frames_path) {
  PassTruth truth;
  ForEachRow(frames_path, [&truth](const std::string& kind, std::istringstream& fields) {
    if (kind == "datagrams") fields >> truth.datagrams;
  });
  if (truth.datagrams == 0) throw std::runtime_error(frames_path + ": no beacon datagrams");
  ForEachRow(hits_path, [&](const std::string& kind, std::istringstream& fields) {
    if (kind == "accepted") fields >> truth.accepted;
    if (kind != "reject") return;
    std::string label;
    uint64_t n = 0;
    kernels::RejectReason reason;
    fields >> label >> n;
    if (!kernels::ParseRejectReason(label, &reason)) {
      throw std::runtime_error(hits_path + ": unknown reject reason '" + label + "'");
    }
    truth.rejects[static_cast<size_t>(reason)] += n;
  });
  return truth;
}

// One worker's check: its port replays the capture in order and loses nothing, so pass k ends
// at its (k * datagrams)-th beacon; there the counts since the last boundary must be the truth's.
class PassCheck {
 public:
  explicit PassCheck(const PassTruth* truth) : truth_(truth) {}
  // Beacons the pass under way still needs.
  uint64_t room() const { return truth_->datagrams - in_pass_; }
  // `n` (<= room()) more beacons were decoded; `accepted` and `rejects` are running totals.
  void Count(size_t n, uint64_t accepted, const kernels::RejectCounters& rejects) {
    in_pass_ += n;
    if (in_pass_ == truth_->datagrams) ClosePass(accepted, rejects);
  }
  uint64_t passes() const { return passes_; }
  uint64_t in_pass() const { return in_pass_; }
  // The first pass that differs from the truth; empty while all match.
  const std::string& mismatch() const { return mismatch_; }

 private:
  void ClosePass(uint64_t accepted, const kernels::RejectCounters& rejects) {
    ++passes_;
    in_pass_ = 0;
    Compare("accepted hits", truth_->accepted, accepted - start_accepted_);
    start_accepted_ = accepted;
    for (size_t r = 0; r < kernels::kRejectReasonCount; ++r) {
      const auto reason = static_cast<kernels::RejectReason>(r);
      const uint64_t now = rejects.Get(reason);
      if (mismatch_.empty() && now - start_rejects_[r] != truth_->rejects[r]) {
        Compare("reject " + std::string(kernels::RejectReasonName(reason)), truth_->rejects[r],
                now - start_rejects_[r]);
      }
      start_rejects_[r] = now;
    }
  }
  void Compare(const std::string& what, uint64_t truth, uint64_t counted) {
    if (truth == counted || !mismatch_.empty()) return;
    mismatch_ = "pass " + std::to_string(passes_) + ", " + what + ": truth " +
                std::to_string(truth) + ", counted " + std::to_string(counted);
  }

  const PassTruth* truth_;
  uint64_t in_pass_ = 0;
  uint64_t passes_ = 0;
  uint64_t start_accepted_ = 0;
  std::array<uint64_t, kernels::kRejectReasonCount> start_rejects_{};
  std::string mismatch_;
};

// Copies beacon `i` of `from` into `to`; false when `to` is full, as RawBatch::Add.
bool CopyBeacon(const kernels::RawBatch& from, size_t i, kernels::RawBatch* to) {
  if (from.archived(i)) {
    return to->AddArchived(from.endpoint(i), from.ingress(i), from.payload(i), from.user_agent(i),
                           from.address_hash(i), from.receive_time_ms(i), from.query(i),
                           from.country(i));
  }
  return to->Add(from.endpoint(i), from.ingress(i), from.payload(i), from.user_agent(i),
                 from.source(i), from.receive_time_ms(i), from.query(i), from.country(i));
}

// A worker's decode and aggregation (host::WorkerPipeline without forwarding): epochs close
// every second and their rows are dropped.
class AggregatingWorker final : public kernels::BeaconSink {
 public:
  // `backend` (outliving the worker) decodes: its byte kernels, or its card through a batcher.
  // `truth` (outliving the worker; byte-kernel backends only): check every whole pass.
  AggregatingWorker(const kernels::SiteRegistry* sites, const host::Backend& backend, bool decode,
                    const PassTruth* truth = nullptr)
      : decode_(decode), aggregator_(0, {}) {
    if (truth != nullptr) check_ = std::make_unique<PassCheck>(truth);
    ctx_.sites = sites;
    ctx_.rejects = &rejects_;
    ctx_.visitor_key = 1;
    ctx_.bytes = &backend.byte_kernels;
    events_.Reserve(kernels::kMaxBatchBeacons * 2, kernels::kBatchArenaBytes / 4);
    if (backend.make_device) {
      device_ = backend.make_device();
      batcher_ = std::make_unique<host::FpgaBatcher>(
          device_.get(), host::FpgaBatcherConfig{}, &backend.byte_kernels,
          [this](const kernels::RawBatch&, const kernels::EventBatch& events) {
            Aggregate(events);
          });
    }
  }
  bool Admitting() override { return true; }
  bool KeepsBatches() const override { return batcher_ != nullptr; }
  void OnBatch(kernels::RawBatch& batch) override {
    beacons_.store(beacons_.load(std::memory_order_relaxed) + batch.size(),
                   std::memory_order_relaxed);
    SampleCpu();
    if (!decode_) return;
    if (batcher_ != nullptr) {
      batcher_->Add(batch, ctx_);  // aggregated now or at a later Add or Poll
      return;
    }
    if (check_ == nullptr) return Decode(batch);
    if (batch.size() < check_->room()) {
      Decode(batch);
      return check_->Count(batch.size(), accepted_, rejects_);
    }
    DecodeAtBoundaries(batch);
  }
  void OnTick(int64_t now_ms) override {
    SampleCpu();
    if (batcher_ != nullptr) batcher_->Poll();
    if (now_ms - epoch_ms_ >= 1000) {
      epoch_ms_ = now_ms;
      rows_ += aggregator_.CloseEpoch().site_minutes.size();
    }
  }
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t beacons() const { return beacons_.load(std::memory_order_relaxed); }
  // CPU time of the worker's thread, as of its last batch or tick.
  uint64_t cpu_ns() const { return cpu_ns_.load(std::memory_order_relaxed); }
  // The pass check; null without a truth. Read it once the worker stopped.
  const PassCheck* check() const { return check_.get(); }

 private:
  void Decode(const kernels::RawBatch& batch) {
    events_.Clear();
    kernels::DecodeBatch(batch, ctx_, &events_);
    Aggregate(events_);
  }
  // A batch reaching a pass boundary: its beacons on either side are decoded apart (decoding
  // is per beacon, so the counts are those of one decode), each pass's counts exact.
  void DecodeAtBoundaries(const kernels::RawBatch& batch) {
    for (size_t begin = 0; begin < batch.size();) {
      const size_t end = std::min<size_t>(batch.size(), begin + check_->room());
      if (begin == 0 && end == batch.size()) {
        Decode(batch);
      } else {
        part_.Clear();
        for (size_t i = begin; i < end; ++i) {
          if (CopyBeacon(batch, i, &part_)) continue;
          Decode(part_);  // full: the beacons so far, then on with an empty part
          part_.Clear();
          CopyBeacon(batch, i, &part_);
        }
        Decode(part_);
      }
      check_->Count(end - begin, accepted_, rejects_);
      begin = end;
    }
  }
  void Aggregate(const kernels::EventBatch& events) {
    aggregator_.Add(events);
    uint64_t rejected = 0;
    for (size_t r = 0; r < kernels::kRejectReasonCount; ++r) {
      rejected += rejects_.Get(static_cast<kernels::RejectReason>(r));
    }
    accepted_ += events.size();
    hits_.store(accepted_ + rejected, std::memory_order_relaxed);
  }

  bool decode_;
  std::unique_ptr<host::FpgaDevice> device_;
  std::unique_ptr<host::FpgaBatcher> batcher_;  // card backends only
  kernels::DecodeContext ctx_;
  kernels::RejectCounters rejects_;
  kernels::EventBatch events_;
  kernels::MinuteAggregator aggregator_;
  std::unique_ptr<PassCheck> check_;
  kernels::RawBatch part_;  // a batch's beacons on one side of a pass boundary
  uint64_t accepted_ = 0;
  int64_t epoch_ms_ = 0;
  uint64_t rows_ = 0;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> beacons_{0};
  std::atomic<uint64_t> cpu_ns_{0};

  void SampleCpu() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    cpu_ns_.store(static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec,
                  std::memory_order_relaxed);
  }
};

struct Figures {
  double beacons_per_cpu_s = 0;  // per second of the workers' own CPU time
  double cpu_share = 0;          // the workers' CPU seconds per wall-clock second, summed
  double beacons_per_s = 0;
  double hits_per_s = 0;
  double gbit_per_s = 0;  // frame bytes (DPDK) or UDP payload bytes (kernel)
};

void Print(const char* path, int workers, const Figures& f) {
  std::printf(
      "%-6s %d worker(s): %9.0f beacons/s (%8.0f per worker; %8.0f per worker CPU-second), "
      "%9.0f hits/s, %5.2f Gbit/s (%4.2f per worker); the workers ran %3.0f%% of the time\n",
      path, workers, f.beacons_per_s, f.beacons_per_s / workers, f.beacons_per_cpu_s, f.hits_per_s,
      f.gbit_per_s, f.gbit_per_s / workers, 100 * f.cpu_share / workers);
}

struct Totals {
  uint64_t beacons = 0;
  uint64_t hits = 0;
  uint64_t cpu_ns = 0;
};

template <typename Worker>
Totals Sum(const std::vector<std::unique_ptr<Worker>>& workers) {
  Totals t;
  for (const auto& w : workers) {
    t.beacons += w->beacons();
    t.hits += w->hits();
    t.cpu_ns += w->cpu_ns();
  }
  return t;
}

// Rates between two snapshots `dt` seconds apart; `bytes` are the bytes in between.
Figures Rates(const Totals& a, const Totals& b, uint64_t bytes, double dt) {
  Figures f;
  f.beacons_per_s = static_cast<double>(b.beacons - a.beacons) / dt;
  f.hits_per_s = static_cast<double>(b.hits - a.hits) / dt;
  f.gbit_per_s = static_cast<double>(bytes) * 8 / dt / 1e9;
  if (b.cpu_ns > a.cpu_ns) {
    const double cpu_s = static_cast<double>(b.cpu_ns - a.cpu_ns) / 1e9;
    f.beacons_per_cpu_s = static_cast<double>(b.beacons - a.beacons) / cpu_s;
    f.cpu_share = cpu_s / dt;
  }
  return f;
}

uint64_t CountFrames(const std::string& pcap) {
  std::ifstream in(pcap, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read '" + pcap + "'");
  in.ignore(24);
  uint64_t frames = 0;
  uint32_t record[4];
  while (in.read(reinterpret_cast<char*>(record), sizeof(record))) {
    in.ignore(record[2]);
    ++frames;
  }
  return frames;
}

// The pass check's verdict over every worker: its line, and false on a mismatch or a worker
// without a whole pass.
bool JudgePasses(const std::vector<std::unique_ptr<AggregatingWorker>>& workers,
                 const PassTruth& truth, std::string* line) {
  uint64_t passes = 0;
  for (size_t w = 0; w < workers.size(); ++w) {
    const PassCheck& check = *workers[w]->check();
    if (!check.mismatch().empty()) {
      *line = "truth: MISMATCH on worker " + std::to_string(w) + ", " + check.mismatch();
      return false;
    }
    if (check.passes() == 0) {
      *line = "truth: FAILED, worker " + std::to_string(w) + " made no whole pass (" +
              std::to_string(check.in_pass()) + " of " + std::to_string(truth.datagrams) +
              " datagrams)";
      return false;
    }
    passes += check.passes();
  }
  *line = "truth: " + std::to_string(workers.size()) + " worker(s), " + std::to_string(passes) +
          " whole passes checked, all match";
  return true;
}

// The verdict of the pass check of a dpdk run.
struct TruthVerdict {
  bool ok = true;
  std::string line;  // empty without a truth
};

Figures RunDpdk(const std::string& pcap, const kernels::SiteRegistry& sites,
                const host::Backend& backend, int workers, bool decode, double seconds,
                const std::vector<kernels::BeaconPort>& beacon_ports, uint16_t mirror_port,
                uint16_t burst, const PassTruth* truth, TruthVerdict* verdict) {
  // Worker k on CPU k % 2 of this 2-CPU machine's pair; the main lcore sleeps on CPU 0.
  std::string lcores = "0@0";
  for (int k = 1; k <= workers; ++k)
    lcores += "," + std::to_string(k) + "@" + std::to_string(k % 2);
  auto eal = dpdk::Eal::Start({"--no-huge", "-m", "1024", "--no-pci", "--no-shconf",
                               "--file-prefix", "beacon-relay-bench-" + std::to_string(getpid()),
                               "--lcores", lcores, "--log-level", "lib.eal:warning"});
  std::vector<std::unique_ptr<AggregatingWorker>> sinks;
  std::vector<kernels::BeaconSink*> relay_sinks;
  dpdk::DataPlaneConfig config;
  config.beacon_ports = beacon_ports;
  config.burst = burst;
  config.internet_sum = backend.byte_kernels.internet_sum;
  if (mirror_port != 0) config.mirror.server_ports = {mirror_port};
  for (int w = 0; w < workers; ++w) {
    sinks.push_back(std::make_unique<AggregatingWorker>(&sites, backend, decode, truth));
    relay_sinks.push_back(sinks.back().get());
    config.ports.push_back("net_pcap_bench" + std::to_string(w) + ",rx_pcap=" + pcap +
                           ",infinite_rx=1");
  }
  // net_pcap's infinite_rx copies the whole capture into mbufs of the queue's pool at setup.
  // Beside what the data plane counts itself (descriptors, caches, reassembly, batches).
  config.mbufs = static_cast<uint32_t>(workers * (CountFrames(pcap) + 16384) + 16384);
  Figures f;
  {
    dpdk::DataPlane relay(*eal, config, relay_sinks);
    relay.Start();
    std::this_thread::sleep_for(std::chrono::seconds(1));  // warm up
    const auto bytes = [&relay] {
      uint64_t n = 0;
      for (const auto& p : relay.Ports()) n += p.rx_bytes;
      return n;
    };
    const Totals t0 = Sum(sinks);
    const uint64_t bytes0 = bytes();
    const auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    const Totals t1 = Sum(sinks);
    const uint64_t bytes1 = bytes();
    const double dt = std::chrono::duration<double>(Clock::now() - start).count();
    relay.Stop();
    f = Rates(t0, t1, bytes1 - bytes0, dt);
  }
  if (truth != nullptr) verdict->ok = JudgePasses(sinks, *truth, &verdict->line);
  return f;
}

struct Datagram {
  uint16_t port;
  std::string payload;
};

// The whole (unfragmented) beacon datagrams of a capture.
std::vector<Datagram> ReadDatagrams(const std::string& pcap,
                                    const std::vector<kernels::BeaconPort>& ports) {
  std::ifstream in(pcap, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read '" + pcap + "'");
  in.ignore(24);
  std::vector<Datagram> out;
  uint32_t record[4];
  std::string frame;
  while (in.read(reinterpret_cast<char*>(record), sizeof(record))) {
    frame.resize(record[2]);
    if (!in.read(frame.data(), record[2])) break;
    const dpdk::ParsedFrame parsed =
        dpdk::ParseFrame(reinterpret_cast<const uint8_t*>(frame.data()), frame.size(), {}, ports);
    if (parsed.outcome != dpdk::FrameOutcome::kBeaconDatagram) continue;
    const uint16_t port = parsed.endpoint == kernels::Endpoint::kUdpSyslog ? 1 : 0;
    out.push_back({port, frame.substr(parsed.payload_offset, parsed.payload_size)});
  }
  return out;
}

Figures RunKernel(const std::vector<Datagram>& datagrams, const kernels::SiteRegistry& sites,
                  const host::Backend& backend, int workers, bool decode, double seconds) {
  host::UdpRelayConfig config;
  config.ports = {{0, kernels::Endpoint::kUdpHitBatch}, {0, kernels::Endpoint::kUdpSyslog}};
  config.receive_buffer_bytes = 32 << 20;
  std::vector<std::unique_ptr<AggregatingWorker>> sinks;
  std::vector<kernels::BeaconSink*> relay_sinks;
  for (int w = 0; w < workers; ++w) {
    sinks.push_back(std::make_unique<AggregatingWorker>(&sites, backend, decode));
    relay_sinks.push_back(sinks.back().get());
  }
  host::UdpRelay relay(config, relay_sinks);
  relay.Start();
  // One sender thread, sendmmsg bursts over 8 source sockets (8 flows for SO_REUSEPORT).
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    constexpr int kFlows = 8;
    constexpr unsigned kBurst = 32;
    int fds[kFlows];
    for (int& fd : fds) fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to[2] = {};
    for (int p = 0; p < 2; ++p) {
      to[p].sin_family = AF_INET;
      to[p].sin_port = htons(relay.bound_ports()[static_cast<size_t>(p)]);
      to[p].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    mmsghdr messages[kBurst] = {};
    iovec iov[kBurst];
    size_t next = 0;
    for (int flow = 0; !stop.load(std::memory_order_relaxed); flow = (flow + 1) % kFlows) {
      for (unsigned i = 0; i < kBurst; ++i) {
        const Datagram& d = datagrams[next];
        next = (next + 1) % datagrams.size();
        iov[i] = {const_cast<char*>(d.payload.data()), d.payload.size()};
        messages[i].msg_hdr = {};
        messages[i].msg_hdr.msg_iov = &iov[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = &to[d.port];
        messages[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      }
      sendmmsg(fds[flow], messages, kBurst, 0);
    }
    for (const int fd : fds) close(fd);
  });
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const Totals t0 = Sum(sinks);
  const uint64_t bytes0 = relay.bytes();
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const Totals t1 = Sum(sinks);
  const uint64_t bytes1 = relay.bytes();
  const double dt = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  sender.join();
  relay.Stop();
  return Rates(t0, t1, bytes1 - bytes0, dt);
}

int Run(int argc, char** argv) {
  CLI::App app{"beacon-relay-bench: UDP relay throughput, DPDK lcore loop vs kernel sockets"};
  std::string pcap, sites_path, path = "both", truth_path, frames_truth_path;
  int workers = 1;
  double seconds = 5;
  bool decode = true;
  uint16_t hit_batch_port = 5140, syslog_port = 5514, mirror_port = 0;
  uint16_t burst = dpdk::DataPlaneConfig{}.burst;
  app.add_option("--pcap", pcap, "Capture from `beacon-gen pcap`")->required();
  app.add_option("--sites-file", sites_path, "Site registry of the capture")->required();
  app.add_option("--workers", workers, "Workers (lcores / threads)")->check(CLI::Range(1, 8));
  app.add_option("--seconds", seconds, "Measured seconds per path")->capture_default_str();
  app.add_option("--path", path, "dpdk, kernel or both")
      ->check(CLI::IsMember({"dpdk", "kernel", "both"}));
  app.add_option("--decode", decode,
                 "Decode and aggregate (true), or only relay into raw batches (false)")
      ->capture_default_str();
  app.add_option("--hit-batch-port", hit_batch_port)->capture_default_str();
  app.add_option("--syslog-port", syslog_port)->capture_default_str();
  app.add_option("--mirror-port", mirror_port,
                 "TCP port of a `beacon-gen mirror-pcap` capture: the passive HTTP mirror (dpdk "
                 "path only); 0: none")
      ->capture_default_str();
  app.add_option("--burst", burst, "RX burst of the dpdk path's lcore loop")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  auto* truth_option = app.add_option(
      "--truth", truth_path,
      "Hit truth of the capture (beacon-gen pcap --truth): check every whole pass per worker");
  app.add_option("--frames-truth", frames_truth_path,
                 "Frame truth of the capture (beacon-gen pcap --frames-truth)")
      ->needs(truth_option);
  truth_option->needs("--frames-truth");
  CLI11_PARSE(app, argc, argv);
  if (mirror_port != 0 && path != "dpdk") {
    throw std::runtime_error("--mirror-port needs --path dpdk (the kernel path has no mirror)");
  }
  if (!truth_path.empty() && (path != "dpdk" || mirror_port != 0 || !decode)) {
    throw std::runtime_error("--truth needs --path dpdk, --decode true and no --mirror-port");
  }

  const kernels::SiteRegistry sites = kernels::SiteRegistry::Load(sites_path);
  const host::Backend backend = host::ChooseBackend();
  std::printf("decode backend %s\n", host::Describe(backend).c_str());
  if (!truth_path.empty() && backend.make_device) {
    throw std::runtime_error(
        "--truth needs a byte-kernel backend (the card's batcher decodes later)");
  }
  PassTruth truth;
  if (!truth_path.empty()) truth = LoadPassTruth(truth_path, frames_truth_path);
  const std::vector<kernels::BeaconPort> ports = {{hit_batch_port, kernels::Endpoint::kUdpHitBatch},
                                                  {syslog_port, kernels::Endpoint::kUdpSyslog}};
  Figures dpdk_figures, kernel_figures;
  TruthVerdict verdict;
  if (path != "kernel") {
    dpdk_figures = RunDpdk(pcap, sites, backend, workers, decode, seconds, ports, mirror_port,
                           burst, truth_path.empty() ? nullptr : &truth, &verdict);
    Print("dpdk", workers, dpdk_figures);
    if (!verdict.line.empty()) std::printf("%s\n", verdict.line.c_str());
  }
  if (path != "dpdk") {
    const std::vector<Datagram> datagrams = ReadDatagrams(pcap, ports);
    if (datagrams.empty()) throw std::runtime_error("no whole beacon datagrams in " + pcap);
    kernel_figures = RunKernel(datagrams, sites, backend, workers, decode, seconds);
    Print("kernel", workers, kernel_figures);
  }
  if (path == "both" && kernel_figures.beacons_per_s > 0 && kernel_figures.beacons_per_cpu_s > 0) {
    std::printf("dpdk / kernel: %.2fx beacons/s, %.2fx beacons per worker CPU-second\n",
                dpdk_figures.beacons_per_s / kernel_figures.beacons_per_s,
                dpdk_figures.beacons_per_cpu_s / kernel_figures.beacons_per_cpu_s);
  }
  return verdict.ok ? 0 : 1;
}

}  // namespace
}  // namespace beacon::bench

int main(int argc, char** argv) {
  try {
    return beacon::bench::Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beacon-relay-bench: %s\n", e.what());
    return 1;
  }
}
