// The DPDK data plane end to end without hugepages or a NIC: a beacon-gen capture replayed
// through net_pcap into two worker lcores whose sinks decode and aggregate, checked against the
// capture's ground truth (a relay capture, and a mirrored-TCP capture through the HTTP mirror);
// net_ring for hand-built mbufs (out-of-order fragments, chained mbufs); the /beacond/relay
// telemetry over DPDK's socket. One EAL for the whole binary.
#include "dpdk/data_plane.h"

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "bench/gen/pcap_writer.h"
#include "bench/gen/traffic_model.h"
#include "kernels/aggregate/minute_aggregator.h"
#include "kernels/decode.h"
#include "kernels/site_registry.h"

namespace beacon::dpdk {
namespace {

Eal* g_eal = nullptr;

class EalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    eal_ = Eal::Start({"--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--file-prefix",
                       "beacon-relay-test-" + std::to_string(getpid()), "--lcores", "(0-2)@(0,1)",
                       "--log-level", "lib.eal:warning"});
    g_eal = eal_.get();
  }
  void TearDown() override {
    g_eal = nullptr;
    eal_.reset();
  }

 private:
  std::unique_ptr<Eal> eal_;
};

const ::testing::Environment* const kEal =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment());

// A worker's real decode and aggregation (what host::WorkerPipeline does, without forwarding).
class AggregatingSink : public kernels::BeaconSink {
 public:
  explicit AggregatingSink(const kernels::SiteRegistry* sites,
                           kernels::IngressKind ingress = kernels::IngressKind::kUdpRelay)
      : ingress_(ingress), aggregator_(0, {}) {
    ctx_.sites = sites;
    ctx_.rejects = &rejects_;
    ctx_.visitor_key = 42;
  }
  bool Admitting() override { return true; }
  bool KeepsBatches() const override { return false; }  // payloads in place, from the mbufs
  void OnBatch(kernels::RawBatch& batch) override {
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch.ingress(i) != ingress_) ++wrong_ingress;
      payloads.push_back(std::string(batch.payload(i)));
      sources.push_back(batch.source(i));
    }
    events_.Clear();
    kernels::DecodeBatch(batch, ctx_, &events_);
    aggregator_.Add(events_);
    accepted += events_.size();
  }
  void OnTick(int64_t) override { ++ticks; }

  kernels::EpochRows Close() { return aggregator_.CloseEpoch(); }
  const kernels::RejectCounters& rejects() const { return rejects_; }

  uint64_t accepted = 0;
  uint64_t ticks = 0;
  uint64_t wrong_ingress = 0;
  std::vector<std::string> payloads;
  std::vector<kernels::IpAddress> sources;

 private:
  kernels::IngressKind ingress_;
  kernels::DecodeContext ctx_;
  kernels::RejectCounters rejects_;
  kernels::EventBatch events_;
  kernels::MinuteAggregator aggregator_;
};

uint64_t FramesSeen(const DataPlaneCounters& c) {
  uint64_t total = 0;
  for (const uint64_t n : c.frames) total += n;
  return total - c.reassembled;
}

// Polls until `done` holds for the relay's counters; false after 30 s.
template <typename Done>
bool WaitFor(const DataPlane& relay, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done(relay.Counters())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// A connection to DPDK's telemetry socket (AF_UNIX, SOCK_SEQPACKET): one thread of the
// telemetry server answers its requests, one after another.
class TelemetryClient {
 public:
  TelemetryClient() {
    const std::string path = std::string(rte_eal_get_runtime_dir()) + "/dpdk_telemetry.v2";
    fd_ = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    char hello[1024];
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        read(fd_, hello, sizeof(hello)) <= 0) {
      error_ = "connect failed: " + path;
    }
  }
  ~TelemetryClient() { close(fd_); }
  TelemetryClient(const TelemetryClient&) = delete;
  TelemetryClient& operator=(const TelemetryClient&) = delete;

  std::string Ask(const std::string& command) {
    if (!error_.empty()) return error_;
    std::string reply;
    char buffer[16384];
    if (write(fd_, command.data(), command.size()) > 0) {
      const ssize_t n = read(fd_, buffer, sizeof(buffer));
      if (n > 0) reply.assign(buffer, static_cast<size_t>(n));
    }
    return reply;
  }

 private:
  int fd_ = -1;
  std::string error_;
};

// One request on a connection of its own.
std::string Telemetry(const std::string& command) { return TelemetryClient().Ask(command); }

// Both workers polled every frame of the capture, so each decoded all of it: accepted hits,
// every reject reason and per-site pageviews and events (summed over minutes: hit batches take
// the replay minute) are twice the truth. Closes both epochs; returns the per-site visitor
// sketches merged over the workers.
std::map<uint32_t, kernels::UniqHll12> ExpectBothWorkersDecodedTheTruth(
    const bench::TruthSummary& truth, AggregatingSink* sink0, AggregatingSink* sink1) {
  EXPECT_EQ(sink0->accepted + sink1->accepted, 2 * truth.accepted);
  for (size_t r = 0; r < kernels::kRejectReasonCount; ++r) {
    const auto reason = static_cast<kernels::RejectReason>(r);
    const std::string name(kernels::RejectReasonName(reason));
    const auto it = truth.rejects.find(name);
    EXPECT_EQ(sink0->rejects().Get(reason) + sink1->rejects().Get(reason),
              2 * (it == truth.rejects.end() ? 0 : it->second))
        << name;
  }
  std::map<uint32_t, std::pair<uint64_t, uint64_t>> want, got;
  for (const auto& [key, cell] : truth.site_minutes) {
    want[key.first].first += 2 * cell.pageviews;
    want[key.first].second += 2 * cell.events;
  }
  std::map<uint32_t, kernels::UniqHll12> visitors;
  for (AggregatingSink* sink : {sink0, sink1}) {
    for (const kernels::SiteMinuteRow& row : sink->Close().site_minutes) {
      got[row.site_id].first += row.pageviews;
      got[row.site_id].second += row.events;
      visitors[row.site_id].Merge(row.visitors);
    }
  }
  EXPECT_EQ(got, want);
  return visitors;
}

TEST(DataPlaneTest, PcapReplayThroughTwoWorkersMatchesTheGroundTruth) {
  ASSERT_NE(g_eal, nullptr);
  const auto dir =
      std::filesystem::temp_directory_path() / ("beacon-relay-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string pcap_path = (dir / "relay.pcap").string();
  const kernels::SiteRegistry sites =
      kernels::SiteRegistry::Parse(bench::SiteRegistryText(40, 3), "generated");
  bench::RelayCaptureOptions options;
  options.hits = 6000;
  options.seed = 11;
  options.malformed_frames_per_class = 2;
  options.incomplete_datagrams = 3;
  bench::PcapWriter writer(pcap_path);
  const bench::RelayCaptureTruth truth = bench::WriteRelayCapture(sites, options, &writer);
  writer.Close();
  ASSERT_GT(truth.reassembled, 0u);
  ASSERT_GT(truth.frames.at("fragment"), 0u);

  // Two RX queues, each replaying the whole file once: every count is twice the truth.
  DataPlaneConfig config;
  config.ports = {"net_pcap_relay,rx_pcap=" + pcap_path + ",rx_pcap=" + pcap_path};
  config.beacon_ports = {{options.hit_batch_port, kernels::Endpoint::kUdpHitBatch},
                         {options.syslog_port, kernels::Endpoint::kUdpSyslog}};
  config.reassembly_timeout_ms = 300;
  config.rx_descriptors = 512;
  AggregatingSink sink0(&sites), sink1(&sites);
  DataPlane relay(*g_eal, config, {&sink0, &sink1});
  relay.RegisterTelemetry();
  relay.Start();
  const uint64_t frames = writer.frames();
  const bool done = WaitFor(relay, [&](const DataPlaneCounters& c) {
    return FramesSeen(c) == 2 * frames && c.fragments_dropped == 2 * truth.fragments_dropped;
  });
  const std::string telemetry = Telemetry("/beacond/relay/frames");
  const std::string port_telemetry = Telemetry("/beacond/relay/port,0");
  const std::string pool_telemetry = Telemetry("/beacond/relay/pool");
  relay.Stop();
  ASSERT_TRUE(done) << "frames seen " << FramesSeen(relay.Counters()) << " of " << 2 * frames;

  const DataPlaneCounters c = relay.Counters();
  for (size_t i = 0; i < kFrameOutcomeCount; ++i) {
    const std::string label(FrameOutcomeName(static_cast<FrameOutcome>(i)));
    const auto it = truth.frames.find(label);
    EXPECT_EQ(c.frames[i], 2 * (it == truth.frames.end() ? 0 : it->second)) << label;
  }
  EXPECT_EQ(c.reassembled, 2 * truth.reassembled);
  EXPECT_EQ(c.fragments_dropped, 2 * truth.fragments_dropped);
  EXPECT_EQ(c.beacons, 2 * truth.datagrams);
  EXPECT_EQ(c.payload_bytes, 2 * truth.payload_bytes);

  // Each worker polled its own queue and saw the whole file.
  EXPECT_EQ(sink0.payloads.size(), truth.datagrams);
  EXPECT_EQ(sink1.payloads.size(), truth.datagrams);
  EXPECT_EQ(sink0.wrong_ingress + sink1.wrong_ingress, 0u);
  EXPECT_GT(sink0.ticks, 0u);

  // Decode and aggregation: every hit, reject and per-site count as the truth says, twice.
  std::map<uint32_t, kernels::UniqHll12> visitors =
      ExpectBothWorkersDecodedTheTruth(truth.hits, &sink0, &sink1);
  // Distinct visitors per site (uniqHLL12 sketches): exact up to 16, then within the
  // estimate's error (a register collision or two among few values, about 1 % in linear
  // counting's range).
  for (const auto& [site, n] : truth.hits.site_visitors) {
    EXPECT_NEAR(static_cast<double>(visitors[site].Estimate()), static_cast<double>(n),
                n <= kernels::UniqHll12::kSmallCapacity
                    ? 0.0
                    : std::max(2.0, 0.05 * static_cast<double>(n)))
        << "site " << site;
  }

  // Port statistics: both queues received the file.
  const std::vector<PortStats> ports = relay.Ports();
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0].name, "net_pcap_relay");
  EXPECT_EQ(ports[0].rx_packets, 2 * frames);
  ASSERT_EQ(ports[0].queues.size(), 2u);
  EXPECT_EQ(ports[0].queues[0].packets, frames);
  EXPECT_EQ(ports[0].rx_missed + ports[0].rx_no_mbuf, 0u);

  // Telemetry answers with the same counters.
  EXPECT_NE(telemetry.find("\"bad_ihl\":" + std::to_string(2 * truth.frames.at("bad_ihl"))),
            std::string::npos)
      << telemetry;
  EXPECT_NE(telemetry.find("\"reassembled\":" + std::to_string(2 * truth.reassembled)),
            std::string::npos)
      << telemetry;
  EXPECT_NE(port_telemetry.find("\"rx_packets\":" + std::to_string(2 * frames)), std::string::npos)
      << port_telemetry;
  // The pool holds what it counted; its gauges are in the telemetry.
  const MbufPoolStats pool = relay.Pool();
  EXPECT_GE(pool.size, pool.needed);
  EXPECT_GT(pool.needed, 0u);
  EXPECT_NE(pool_telemetry.find("\"size\":" + std::to_string(pool.size)), std::string::npos)
      << pool_telemetry;
  EXPECT_NE(pool_telemetry.find("\"needed\":" + std::to_string(pool.needed)), std::string::npos)
      << pool_telemetry;
  std::filesystem::remove_all(dir);
}

TEST(DataPlaneTest, MirrorCaptureThroughTwoWorkersMatchesTheGroundTruth) {
  ASSERT_NE(g_eal, nullptr);
  const auto dir =
      std::filesystem::temp_directory_path() / ("beacon-mirror-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string pcap_path = (dir / "mirror.pcap").string();
  const kernels::SiteRegistry sites =
      kernels::SiteRegistry::Parse(bench::SiteRegistryText(30, 4), "generated");
  bench::MirrorCaptureOptions options;
  options.hits = 4000;
  options.seed = 21;
  options.loss_share = 0.2;
  options.server_port = 8080;
  bench::PcapWriter writer(pcap_path);
  const bench::MirrorCaptureTruth truth = bench::WriteMirrorCapture(sites, options, &writer);
  writer.Close();
  ASSERT_GT(truth.gaps, 0u);
  ASSERT_GT(truth.lost_requests, 0u);

  // Two RX queues, each replaying the whole file into its own lcore's mirror: counts double.
  DataPlaneConfig config;
  config.ports = {"net_pcap_mirror,rx_pcap=" + pcap_path + ",rx_pcap=" + pcap_path};
  config.mirror.server_ports = {80, 8080};
  config.mirror.gap_ms = 200;
  config.rx_descriptors = 512;
  AggregatingSink sink0(&sites, kernels::IngressKind::kMirror);
  AggregatingSink sink1(&sites, kernels::IngressKind::kMirror);
  DataPlane relay(*g_eal, config, {&sink0, &sink1});
  relay.Start();
  const bool done = WaitFor(relay, [&](const DataPlaneCounters& c) {
    return FramesSeen(c) == 2 * truth.segments && c.mirror_flows == 0;
  });
  relay.Stop();
  const DataPlaneCounters c = relay.Counters();
  ASSERT_TRUE(done) << "frames seen " << FramesSeen(c) << " of " << 2 * truth.segments
                    << ", open flows " << c.mirror_flows;

  EXPECT_EQ(c.Frames(FrameOutcome::kMirrorSegment), 2 * truth.segments);
  const MirrorCounters& m = c.mirror;
  EXPECT_EQ(m.Get(MirrorCounter::kBeacons), 2 * truth.beacons);
  EXPECT_EQ(m.Get(MirrorCounter::kNotBeaconPath), 2 * truth.not_beacon_path);
  EXPECT_EQ(m.Get(MirrorCounter::kGaps), 2 * truth.gaps);
  EXPECT_EQ(m.Rejects(kernels::HttpReject::kBareLf), 2 * truth.http_rejects.at("bare_lf"));
  EXPECT_EQ(m.Get(MirrorCounter::kRequests), 2 * (truth.beacons + truth.not_beacon_path));
  EXPECT_EQ(m.Get(MirrorCounter::kFlowsOpened), 2 * truth.flows);
  EXPECT_EQ(m.Get(MirrorCounter::kFlowsClosedFin) + m.Get(MirrorCounter::kFlowsClosedRst),
            2 * truth.flows);
  EXPECT_GT(m.Get(MirrorCounter::kOutOfOrder), 0u);
  EXPECT_GT(m.Get(MirrorCounter::kRetransmitted), 0u);
  EXPECT_GT(m.Get(MirrorCounter::kTrimmed), 0u);
  EXPECT_GT(m.Get(MirrorCounter::kPickups), 0u);
  EXPECT_EQ(m.Get(MirrorCounter::kFlowsEvictedLru) + m.Get(MirrorCounter::kOverFlowBytes) +
                m.Get(MirrorCounter::kOverTotalBytes) + m.Get(MirrorCounter::kFlowsEvicted) +
                m.Get(MirrorCounter::kFlowsSynExpired) + m.Get(MirrorCounter::kBeaconsDropped),
            0u);
  EXPECT_EQ(c.mirror_buffered_bytes, 0u);
  EXPECT_EQ(sink0.wrong_ingress + sink1.wrong_ingress, 0u);
  EXPECT_EQ(sink0.payloads.size(), truth.beacons);
  EXPECT_EQ(sink1.payloads.size(), truth.beacons);

  // Decode and aggregation: every hit, reject and per-site count as the truth says, twice.
  ExpectBothWorkersDecodedTheTruth(truth.hits, &sink0, &sink1);
  std::filesystem::remove_all(dir);
}

// Builds an mbuf chain holding `frame`, split into segments of `segment` bytes.
rte_mbuf* Mbuf(rte_mempool* pool, const std::string& frame, size_t segment) {
  rte_mbuf* head = nullptr;
  for (size_t at = 0; at < frame.size(); at += segment) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    const size_t n = std::min(segment, frame.size() - at);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(n)), frame.data() + at, n);
    if (head == nullptr) {
      head = m;
    } else {
      rte_pktmbuf_chain(head, m);
    }
  }
  return head;
}

TEST(DataPlaneTest, RingPortsReassembleOutOfOrderFragmentsAndChainedMbufs) {
  ASSERT_NE(g_eal, nullptr);
  rte_mempool* pool =
      rte_pktmbuf_pool_create("relay_test_pool", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  ASSERT_NE(pool, nullptr);
  rte_ring* rx[2];
  rte_ring* tx[2];
  for (int q = 0; q < 2; ++q) {
    rx[q] = rte_ring_create(("relay_test_rx" + std::to_string(q)).c_str(), 256, 0,
                            RING_F_SP_ENQ | RING_F_SC_DEQ);
    tx[q] = rte_ring_create(("relay_test_tx" + std::to_string(q)).c_str(), 256, 0,
                            RING_F_SP_ENQ | RING_F_SC_DEQ);
    ASSERT_NE(rx[q], nullptr);
  }
  // rte_eth_from_rings names the port "net_ring_" + name.
  ASSERT_GE(rte_eth_from_rings("relay", rx, 2, tx, 2, 0), 0);

  DataPlaneConfig config;
  config.ports = {"net_ring_relay"};
  config.beacon_ports = {{5140, kernels::Endpoint::kUdpHitBatch}};
  config.rx_descriptors = 128;
  const kernels::SiteRegistry sites =
      kernels::SiteRegistry::Parse(bench::SiteRegistryText(5, 1), "generated");
  AggregatingSink sink0(&sites), sink1(&sites);
  DataPlane relay(*g_eal, config, {&sink0, &sink1});
  relay.Start();

  bench::UdpDatagram v6;
  v6.ipv6 = true;
  v6.source = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
  v6.destination = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  v6.vlans = {12};
  v6.payload = std::string(1000, 'q') + "-six";
  std::vector<std::string> fragments = bench::FragmentFrames(v6, 344, 5);
  ASSERT_EQ(fragments.size(), 3u);
  bench::UdpDatagram v4;
  v4.source = {198, 18, 0, 9};
  v4.destination = {198, 19, 0, 1};
  v4.payload = std::string(1800, 'w') + "-four";

  // Queue 1: the IPv6 fragments last to first. Queue 0: an IPv4 datagram in a 3-mbuf chain
  // (a scattered jumbo frame) and an IPv4 datagram split into fragments, middle one first.
  for (auto f = fragments.rbegin(); f != fragments.rend(); ++f) {
    rte_mbuf* m = Mbuf(pool, *f, 4096);
    ASSERT_EQ(rte_ring_enqueue(rx[1], m), 0);
  }
  ASSERT_EQ(rte_ring_enqueue(rx[0], Mbuf(pool, bench::UdpFrame(v4), 700)), 0);
  bench::UdpDatagram v4b = v4;
  v4b.payload = std::string(500, 'z');
  const std::vector<std::string> v4_fragments = bench::FragmentFrames(v4b, 256, 6);
  ASSERT_EQ(v4_fragments.size(), 2u);
  ASSERT_EQ(rte_ring_enqueue(rx[0], Mbuf(pool, v4_fragments[1], 4096)), 0);
  ASSERT_EQ(rte_ring_enqueue(rx[0], Mbuf(pool, v4_fragments[0], 4096)), 0);

  const bool done = WaitFor(relay, [](const DataPlaneCounters& c) { return c.beacons == 3; });
  relay.Stop();
  const DataPlaneCounters c = relay.Counters();
  std::string seen;
  for (size_t i = 0; i < kFrameOutcomeCount; ++i) {
    if (c.frames[i] != 0) {
      seen += " " + std::string(FrameOutcomeName(static_cast<FrameOutcome>(i))) + "=" +
              std::to_string(c.frames[i]);
    }
  }
  ASSERT_TRUE(done) << "frames:" << seen;
  EXPECT_EQ(c.Frames(FrameOutcome::kFragment), 5u);
  EXPECT_EQ(c.reassembled, 2u);
  EXPECT_EQ(c.Frames(FrameOutcome::kBeaconDatagram), 3u);
  EXPECT_EQ(c.fragments_dropped, 0u);
  ASSERT_EQ(sink1.payloads.size(), 1u);
  EXPECT_EQ(sink1.payloads[0], v6.payload);
  EXPECT_EQ(sink1.sources[0].bytes[15], 9);
  EXPECT_FALSE(sink1.sources[0].is_v4());
  ASSERT_EQ(sink0.payloads.size(), 2u);
  EXPECT_EQ(sink0.payloads[0], v4.payload);
  EXPECT_EQ(sink0.payloads[1], v4b.payload);
  EXPECT_TRUE(sink0.sources[0].is_v4());
  // Every mbuf went back to its pool (reassembly keeps none once a datagram completes).
  EXPECT_EQ(rte_mempool_avail_count(pool), 1023u);
}

// A one-queue port "net_ring_<name>" whose RX ring the test fills, with a pool of 255 mbufs
// for the frames and a data plane config on that port; pool and ring null when either cannot
// be made.
struct RingPort {
  rte_mempool* pool = nullptr;
  rte_ring* rx = nullptr;
  DataPlaneConfig config;
};

RingPort MakeRingPort(const std::string& name) {
  RingPort port;
  port.pool = rte_pktmbuf_pool_create((name + "_test_pool").c_str(), 255, 0, 0,
                                      RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  port.rx = rte_ring_create((name + "_test_rx").c_str(), 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* tx = rte_ring_create((name + "_test_tx").c_str(), 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (port.pool == nullptr || port.rx == nullptr || tx == nullptr ||
      rte_eth_from_rings(name.c_str(), &port.rx, 1, &tx, 1, 0) < 0) {
    return {};
  }
  port.config.ports = {"net_ring_" + name};
  port.config.rx_descriptors = 128;
  return port;
}

// Puts `frames` on the port's RX ring, waits until the data plane saw every one, stops it.
::testing::AssertionResult SendAndStop(DataPlane* relay, const RingPort& port,
                                       const std::vector<std::string>& frames) {
  for (const std::string& f : frames) {
    if (rte_ring_enqueue(port.rx, Mbuf(port.pool, f, 4096)) != 0) {
      return ::testing::AssertionFailure() << "RX ring full";
    }
  }
  const bool done =
      WaitFor(*relay, [&](const DataPlaneCounters& c) { return FramesSeen(c) == frames.size(); });
  relay->Stop();
  if (done) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << FramesSeen(relay->Counters()) << " of " << frames.size();
}

TEST(DataPlaneTest, SendersOutsideAllowedSourcesAreDroppedAndCounted) {
  ASSERT_NE(g_eal, nullptr);
  const RingPort port = MakeRingPort("sources");
  ASSERT_NE(port.pool, nullptr);
  DataPlaneConfig config = port.config;
  config.beacon_ports = {{5140, kernels::Endpoint::kUdpHitBatch}};
  config.allowed_sources = {*kernels::ParseIpPrefix("198.18.0.0/15"),
                            *kernels::ParseIpPrefix("2001:db8::/32")};
  const kernels::SiteRegistry sites =
      kernels::SiteRegistry::Parse(bench::SiteRegistryText(5, 1), "generated");
  AggregatingSink sink(&sites);
  DataPlane relay(*g_eal, config, {&sink});
  relay.Start();

  using Address = std::array<uint8_t, 16>;
  const auto datagram = [](bool ipv6, const Address& source, const std::string& payload) {
    bench::UdpDatagram d;
    d.ipv6 = ipv6;
    d.source = source;
    d.destination = ipv6 ? Address{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
                         : Address{198, 19, 0, 1};
    d.payload = payload;
    return d;
  };
  const Address v6_in = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
  Address v6_out = v6_in;
  v6_out[3] = 0xb9;  // 2001:db9::9
  std::vector<std::string> frames = {
      bench::UdpFrame(datagram(false, {198, 18, 0, 9}, "in-four")),
      bench::UdpFrame(datagram(false, {203, 0, 113, 5}, "out-four")),
      bench::UdpFrame(datagram(true, v6_in, "in-six")),
      bench::UdpFrame(datagram(true, v6_out, "out-six")),
  };
  for (const std::string& f :
       bench::FragmentFrames(datagram(false, {203, 0, 113, 5}, std::string(600, 'f')), 256, 7)) {
    frames.push_back(f);
  }
  ASSERT_TRUE(SendAndStop(&relay, port, frames));
  const DataPlaneCounters c = relay.Counters();
  EXPECT_EQ(c.Frames(FrameOutcome::kBeaconDatagram), 2u);
  EXPECT_EQ(c.Frames(FrameOutcome::kSourceNotAllowed), frames.size() - 2);
  EXPECT_EQ(c.Frames(FrameOutcome::kFragment) + c.reassembled, 0u);
  EXPECT_EQ(sink.payloads, (std::vector<std::string>{"in-four", "in-six"}));
  EXPECT_EQ(rte_mempool_avail_count(port.pool), 255u);
}

// At Stop the mirror's complete requests held past a hole (bytes the mirror missed but the
// server got) reach the sink, as gap_ms would have had them; nothing else is lost either.
TEST(DataPlaneTest, StopTakesTheMirrorsCompleteRequestsHeldPastAHole) {
  ASSERT_NE(g_eal, nullptr);
  const RingPort port = MakeRingPort("stop");
  ASSERT_NE(port.pool, nullptr);
  DataPlaneConfig config = port.config;
  config.mirror.server_ports = {80};
  config.mirror.gap_ms = 600'000;  // only the stop may declare the hole lost
  const kernels::SiteRegistry sites =
      kernels::SiteRegistry::Parse(bench::SiteRegistryText(5, 1), "generated");
  AggregatingSink sink(&sites, kernels::IngressKind::kMirror);
  DataPlane relay(*g_eal, config, {&sink});
  relay.Start();

  const std::string a = "GET /collect?v=1&a=1 HTTP/1.1\r\nHost: c\r\n\r\n";
  const std::string b = "GET /collect?v=1&b=2 HTTP/1.1\r\nHost: c\r\n\r\n";
  bench::TcpSegmentSpec segment;
  segment.source = {198, 18, 0, 9};
  segment.destination = {198, 19, 0, 1};
  segment.flags = 0x02;  // SYN
  std::vector<std::string> frames = {bench::TcpFrame(segment)};
  segment.flags = 0x18;
  segment.seq = 1 + static_cast<uint32_t>(a.size());  // a never reaches the mirror
  segment.payload = b;
  frames.push_back(bench::TcpFrame(segment));
  ASSERT_TRUE(SendAndStop(&relay, port, frames));
  const DataPlaneCounters c = relay.Counters();
  EXPECT_EQ(c.mirror.Get(MirrorCounter::kOutOfOrder), 1u);
  EXPECT_EQ(sink.payloads, (std::vector<std::string>{"v=1&b=2"}));
  EXPECT_EQ(c.mirror.Get(MirrorCounter::kGaps), 1u);
  EXPECT_EQ(c.mirror.Get(MirrorCounter::kBeacons), 1u);
  EXPECT_EQ(c.mirror_buffered_bytes, 0u);
  EXPECT_EQ(rte_mempool_avail_count(port.pool), 255u);
}

// DPDK 22.11 cannot unregister a telemetry command: a request a telemetry thread answers while
// the data plane is destroyed must not read it half torn down (DPDK logs an ethdev call on a
// port the destructor closed; freed memory next), and once it is gone a request is answered
// null ("not running"). Data planes of 8 net_null ports are made and destroyed for 5 s while
// four telemetry connections ask without pause.
TEST(DataPlaneTest, TelemetryRacingTheDestructorAnswersOrSaysNotRunning) {
  ASSERT_NE(g_eal, nullptr);
  const kernels::SiteRegistry sites =
      kernels::SiteRegistry::Parse(bench::SiteRegistryText(1, 1), "generated");
  AggregatingSink sink(&sites);
  DataPlaneConfig config;
  config.beacon_ports = {{5140, kernels::Endpoint::kUdpHitBatch}};
  config.rx_descriptors = 64;
  config.reassembly_flows = 16;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> answered{0}, not_running{0}, other{0};
  // Four connections, each answered by a telemetry thread of its own, ask as fast as they can.
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      TelemetryClient telemetry;
      for (uint64_t i = 0; !done.load(); ++i) {
        const std::string reply =
            telemetry.Ask(i % 2 == 0 ? "/beacond/relay/ports" : "/beacond/mirror");
        if (reply.find(":null}") != std::string::npos) {
          ++not_running;
        } else if (reply.find("[") != std::string::npos ||
                   reply.find("flows") != std::string::npos) {
          ++answered;
        } else {
          ++other;
        }
      }
    });
  }
  // DPDK's log, where an ethdev call on a closed port says so.
  FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  ASSERT_EQ(rte_openlog_stream(log), 0);
  constexpr int kPorts = 8;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    config.ports.clear();
    for (int p = 0; p < kPorts; ++p) {
      config.ports.push_back("net_null_tel" + std::to_string(kPorts * i + p));
    }
    auto relay =
        std::make_unique<DataPlane>(*g_eal, config, std::vector<kernels::BeaconSink*>{&sink});
    relay->RegisterTelemetry();
    relay.reset();
  }
  done.store(true);
  for (std::thread& t : clients) t.join();
  rte_openlog_stream(nullptr);
  std::rewind(log);
  std::string logged(1 << 16, '\0');
  logged.resize(std::fread(logged.data(), 1, logged.size(), log));
  std::fclose(log);
  // rte_eth_stats_get on a port the destructor had closed already.
  EXPECT_EQ(logged.find("Invalid port_id"), std::string::npos) << logged;
  EXPECT_GT(answered.load(), 0u);
  EXPECT_GT(not_running.load(), 0u);
  EXPECT_EQ(other.load(), 0u);
  EXPECT_EQ(Telemetry("/beacond/relay/frames"), "{\"/beacond/relay/frames\":null}");
}

TEST(DataPlaneTest, SetupFailsWithAMessageNamingTheBadValue) {
  ASSERT_NE(g_eal, nullptr);
  const kernels::SiteRegistry sites =
      kernels::SiteRegistry::Parse(bench::SiteRegistryText(1, 1), "generated");
  AggregatingSink a(&sites), b(&sites), c(&sites);
  DataPlaneConfig config;
  config.ports = {"net_nosuchdriver0"};
  config.beacon_ports = {{5140, kernels::Endpoint::kUdpHitBatch}};
  try {
    DataPlane relay(*g_eal, config, {&a});
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("net_nosuchdriver0"), std::string::npos) << e.what();
  }
  try {
    DataPlane relay(*g_eal, config, {&a, &b, &c});
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("3 workers"), std::string::npos) << e.what();
  }
  // The failed setups gave back their pool (names are unique per process) and ports.
  config.ports = {"net_null_relay0"};
  DataPlane relay(*g_eal, config, {&a});
  EXPECT_EQ(relay.worker_count(), 1u);
  EXPECT_EQ(relay.Ports().size(), 1u);
}

// `mbufs` smaller than what the ports' descriptors, the lcores' caches and the workers may hold
// at once: refused at start, naming both numbers, instead of a pool that runs dry later.
TEST(DataPlaneTest, MbufsBelowWhatThePortsAndWorkersHoldAreRefused) {
  ASSERT_NE(g_eal, nullptr);
  const kernels::SiteRegistry sites =
      kernels::SiteRegistry::Parse(bench::SiteRegistryText(1, 1), "generated");
  AggregatingSink a(&sites), b(&sites);
  DataPlaneConfig config;
  config.ports = {"net_null_pool0"};
  config.beacon_ports = {{5140, kernels::Endpoint::kUdpHitBatch}};
  config.rx_descriptors = 2048;
  config.mbufs = 4095;  // two RX queues alone take 4096
  try {
    DataPlane relay(*g_eal, config, {&a, &b});
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("mbufs = 4095"), std::string::npos) << what;
    EXPECT_NE(what.find("4096 in RX descriptors"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace beacon::dpdk
