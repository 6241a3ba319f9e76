// The exception path with a real kernel: a net_ring port stands in for the NIC, a net_tap port
// faces the kernel inside a network namespace this test creates (198.18.0.1/24 on the TAP).
// An ARP request and a TCP SYN injected on the ring reach the kernel, whose ARP reply and TCP
// RST leave through the ring's TX; beacons stay on the fast path. Skips without CAP_NET_ADMIN.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "bench/gen/pcap_writer.h"
#include "dpdk/data_plane.h"

namespace beacon::dpdk {
namespace {

Eal* g_eal = nullptr;
std::string g_skip;

class EalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    // A private network namespace: the TAP and its address exist only for this process.
    if (unshare(CLONE_NEWNET) != 0) {
      g_skip = "cannot create a network namespace (needs CAP_SYS_ADMIN)";
      return;
    }
    eal_ = Eal::Start({"--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--file-prefix",
                       "beacon-exception-test-" + std::to_string(getpid()), "--lcores",
                       "(0-6)@(0,1)", "--log-level", "lib.eal:warning"});
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

class CountingSink : public kernels::BeaconSink {
 public:
  bool Admitting() override { return true; }
  void OnBatch(kernels::RawBatch& batch) override { beacons.fetch_add(batch.size()); }
  void OnTick(int64_t) override {}
  std::atomic<uint64_t> beacons{0};
};

constexpr uint8_t kPeerMac[6] = {0x02, 0, 0, 0, 0, 0x02};
constexpr uint8_t kPeerIp[4] = {198, 18, 0, 2};
constexpr uint8_t kNodeIp[4] = {198, 18, 0, 1};

std::string ArpRequest() {
  std::string f(6, '\xff');
  f.append(reinterpret_cast<const char*>(kPeerMac), 6);
  f += std::string{'\x08', '\x06', 0, 1, '\x08', 0, 6, 4, 0, 1};
  f.append(reinterpret_cast<const char*>(kPeerMac), 6);
  f.append(reinterpret_cast<const char*>(kPeerIp), 4);
  f += std::string(6, '\0');
  f.append(reinterpret_cast<const char*>(kNodeIp), 4);
  return f;
}

uint16_t Checksum(const std::string& bytes) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    sum += static_cast<uint32_t>(static_cast<uint8_t>(bytes[i]) << 8 |
                                 static_cast<uint8_t>(bytes[i + 1]));
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// A TCP SYN from the peer to the node's port 80 (nothing listens: the kernel answers RST).
std::string TcpSyn(const rte_ether_addr& node_mac) {
  std::string tcp(20, '\0');
  tcp[0] = static_cast<char>(0xa0);  // source port 41000
  tcp[1] = 0x28;
  tcp[3] = 80;
  tcp[7] = 1;  // sequence number 1
  tcp[12] = 0x50;
  tcp[13] = 0x02;  // SYN
  tcp[14] = static_cast<char>(0xff);
  std::string pseudo(reinterpret_cast<const char*>(kPeerIp), 4);
  pseudo.append(reinterpret_cast<const char*>(kNodeIp), 4);
  pseudo += std::string{0, 6, 0, 20};
  const uint16_t tcp_sum = Checksum(pseudo + tcp);
  tcp[16] = static_cast<char>(tcp_sum >> 8);
  tcp[17] = static_cast<char>(tcp_sum);
  std::string ip = {0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0};
  ip.append(reinterpret_cast<const char*>(kPeerIp), 4);
  ip.append(reinterpret_cast<const char*>(kNodeIp), 4);
  const uint16_t ip_sum = Checksum(ip);
  ip[10] = static_cast<char>(ip_sum >> 8);
  ip[11] = static_cast<char>(ip_sum);
  std::string f(reinterpret_cast<const char*>(node_mac.addr_bytes), 6);
  f.append(reinterpret_cast<const char*>(kPeerMac), 6);
  f += std::string{'\x08', 0};
  return f + ip + tcp;
}

rte_mbuf* Mbuf(rte_mempool* pool, const std::string& frame) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool);
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(),
              frame.size());
  return m;
}

// What left the "NIC" through its TX rings. A ring has no MAC to lend the TAP, so the kernel
// answers with its own: the peer learns it from the ARP reply, as a real one would (the relay
// port is promiscuous).
struct KernelAnswers {
  bool arp_reply = false;
  bool tcp_reset = false;
};

// Sends an ARP request into `arp_rx` and, once the kernel's reply told the node's MAC, a TCP SYN
// into `syn_rx`; collects from every TX ring until the ARP reply and the TCP RST came back.
KernelAnswers ExchangeWithKernel(rte_mempool* pool, rte_ring* arp_rx, rte_ring* syn_rx,
                                 const std::vector<rte_ring*>& tx) {
  KernelAnswers answers;
  if (rte_ring_enqueue(arp_rx, Mbuf(pool, ArpRequest())) != 0) return answers;
  rte_ether_addr node_mac{};
  bool syn_sent = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!(answers.arp_reply && answers.tcp_reset) && std::chrono::steady_clock::now() < deadline) {
    for (rte_ring* ring : tx) {
      void* out[32];
      const unsigned n = rte_ring_dequeue_burst(ring, out, 32, nullptr);
      for (unsigned i = 0; i < n; ++i) {
        auto* m = static_cast<rte_mbuf*>(out[i]);
        const auto* f = rte_pktmbuf_mtod(m, const uint8_t*);
        const size_t size = rte_pktmbuf_data_len(m);
        if (size >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2 &&
            std::memcmp(f + 28, kNodeIp, 4) == 0 && std::memcmp(f + 32, kPeerMac, 6) == 0) {
          std::memcpy(node_mac.addr_bytes, f + 22, 6);
          answers.arp_reply = true;
        }
        if (size >= 54 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 6 &&
            std::memcmp(f + 26, kNodeIp, 4) == 0 && (f[47] & 0x04) != 0) {
          answers.tcp_reset = true;
        }
        rte_pktmbuf_free(m);
      }
    }
    if (answers.arp_reply && !syn_sent) {
      syn_sent = rte_ring_enqueue(syn_rx, Mbuf(pool, TcpSyn(node_mac))) == 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return answers;
}

// A beacon from the peer to the node's UDP port 5140.
std::string BeaconFrame() {
  bench::UdpDatagram beacon;
  beacon.source = {198, 18, 0, 2};
  beacon.destination = {198, 18, 0, 1};
  beacon.payload = "v=1&t=pageview";
  return bench::UdpFrame(beacon);
}

rte_mbuf* Beacon(rte_mempool* pool) { return Mbuf(pool, BeaconFrame()); }

DataPlaneConfig TwoPortConfig(const std::string& port, const std::string& exception_port,
                              uint16_t rx_descriptors, uint32_t reassembly_flows) {
  DataPlaneConfig config;
  config.ports = {port};
  config.beacon_ports = {{5140, kernels::Endpoint::kUdpHitBatch}};
  config.rx_descriptors = rx_descriptors;
  config.reassembly_flows = reassembly_flows;
  config.exception_port = exception_port;
  return config;
}

std::vector<kernels::BeaconSink*> Pointers(std::vector<CountingSink>& sinks) {
  std::vector<kernels::BeaconSink*> workers;
  for (CountingSink& sink : sinks) workers.push_back(&sink);
  return workers;
}

void ExpectKernelAndFastPath(const DataPlane& relay, const KernelAnswers& answers,
                             const CountingSink& sink) {
  EXPECT_TRUE(answers.arp_reply) << "no ARP reply from the kernel";
  EXPECT_TRUE(answers.tcp_reset) << "no TCP RST from the kernel";
  const DataPlaneCounters c = relay.Counters();
  EXPECT_EQ(c.beacons, 1u);  // the beacon stayed on the fast path
  EXPECT_EQ(sink.beacons.load(), 1u);
  EXPECT_EQ(c.Frames(FrameOutcome::kNotIp), 1u);
  EXPECT_EQ(c.Frames(FrameOutcome::kNotUdp), 1u);
  EXPECT_EQ(c.to_kernel, 2u);
  EXPECT_GE(c.from_kernel, 2u);
  EXPECT_EQ(c.exception_dropped, 0u);
}

TEST(ExceptionPathTest, KernelAnswersArpAndTcpThroughTheTap) {
  if (!g_skip.empty()) GTEST_SKIP() << g_skip;
  ASSERT_NE(g_eal, nullptr);
  rte_mempool* pool =
      rte_pktmbuf_pool_create("exception_test", 511, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  ASSERT_NE(pool, nullptr);
  rte_ring* rx = rte_ring_create("exception_rx", 256, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* tx = rte_ring_create("exception_tx", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  ASSERT_GE(rte_eth_from_rings("exc", &rx, 1, &tx, 1, 0), 0);  // port "net_ring_exc"

  const DataPlaneConfig config =
      TwoPortConfig("net_ring_exc", "net_tap_exc,iface=bcnexc0", 128, 1024);
  CountingSink sink;
  DataPlane relay(*g_eal, config, {&sink});
  ASSERT_EQ(std::system("ip addr add 198.18.0.1/24 dev bcnexc0 && ip link set bcnexc0 up"), 0);
  relay.Start();
  ASSERT_EQ(rte_ring_enqueue(rx, Beacon(pool)), 0);
  const KernelAnswers answers = ExchangeWithKernel(pool, rx, rx, {tx});
  relay.Stop();
  ExpectKernelAndFastPath(relay, answers, sink);
}

// A net_ring "NIC" named net_ring_<name> with `queues` RX and TX rings: RX queue q goes to
// worker q.
struct RingNic {
  std::vector<rte_ring*> rx;
  std::vector<rte_ring*> tx;
};

bool MakeRingNic(const std::string& name, unsigned queues, RingNic* nic) {
  for (unsigned q = 0; q < queues; ++q) {
    const std::string id = std::to_string(q);
    nic->rx.push_back(
        rte_ring_create((name + "_rx" + id).c_str(), 256, 0, RING_F_SP_ENQ | RING_F_SC_DEQ));
    nic->tx.push_back(
        rte_ring_create((name + "_tx" + id).c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ));
  }
  return rte_eth_from_rings(name.c_str(), nic->rx.data(), queues, nic->tx.data(), queues, 0) >= 0;
}

// A relay on the ring NIC net_ring_<name> with one counting sink per worker, and the TAP
// bcn<name>0 as its exception port, given 198.18.0.1/24 and up; `pool` for injected frames.
struct RingAndTap {
  explicit RingAndTap(unsigned workers) : sinks(workers) {}
  rte_mempool* pool = nullptr;
  RingNic nic;
  DataPlaneConfig config;
  std::vector<CountingSink> sinks;
  std::unique_ptr<DataPlane> relay;
};

void MakeRingAndTap(const std::string& name, uint16_t rx_descriptors, RingAndTap* r) {
  r->pool = rte_pktmbuf_pool_create(("exception_" + name).c_str(), 511, 0, 0,
                                    RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  ASSERT_NE(r->pool, nullptr);
  ASSERT_TRUE(MakeRingNic(name, static_cast<unsigned>(r->sinks.size()), &r->nic));
  const std::string iface = "bcn" + name + "0";
  r->config =
      TwoPortConfig("net_ring_" + name, "net_tap_" + name + ",iface=" + iface, rx_descriptors, 16);
  r->relay = std::make_unique<DataPlane>(*g_eal, r->config, Pointers(r->sinks));
  const std::string up =
      "ip addr add 198.18.0.1/24 dev " + iface + " && ip link set " + iface + " up";
  ASSERT_EQ(std::system(up.c_str()), 0);
}

// DPDK 22.11's net_tap passes every queue's fd to secondary processes in one message of at most
// RTE_MP_MAX_FD_NUM (8) fds when it starts, and overflows that array on its stack with more than
// 4 queue pairs (the process aborts: "stack smashing detected"). The exception port then gets 4
// queue pairs, which 6 workers share: worker w sends to the kernel on queue w % 4, the kernel's
// frames are read by workers 0-3. Frames of workers 4 and 5 reach the kernel and its answers
// come back.
TEST(ExceptionPathTest, MoreWorkersThanTheTapTakesShareItsQueuePairs) {
  if (!g_skip.empty()) GTEST_SKIP() << g_skip;
  ASSERT_NE(g_eal, nullptr);
  constexpr unsigned kWorkers = 6;
  RingAndTap r(kWorkers);  // ring queue q goes to worker q
  MakeRingAndTap("many", 128, &r);
  if (HasFatalFailure()) return;
  r.relay->Start();
  ASSERT_EQ(rte_ring_enqueue(r.nic.rx[3], Beacon(r.pool)), 0);
  // Worker 5 shares TAP queue 1 with worker 1, worker 4 queue 0 with worker 0.
  const KernelAnswers answers = ExchangeWithKernel(r.pool, r.nic.rx[5], r.nic.rx[4], r.nic.tx);
  r.relay->Stop();
  ExpectKernelAndFastPath(*r.relay, answers, r.sinks[3]);
  for (unsigned w = 0; w < kWorkers; ++w) {
    if (w != 3) {
      EXPECT_EQ(r.sinks[w].beacons.load(), 0u) << "worker " << w;
    }
  }
}

// Sends `frame` out of the kernel's interface `iface`: a TAP port's RX.
bool SendFromKernel(const std::string& iface, const std::string& frame) {
  const int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) return false;
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = static_cast<int>(if_nametoindex(iface.c_str()));
  to.sll_halen = 6;
  const ssize_t sent =
      sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
  close(fd);
  return sent == static_cast<ssize_t>(frame.size());
}

// What the workers may hold at once beyond the ports' descriptors: two bursts in flight, a full
// reassembly table and its death row, a raw batch of in-place payloads, and the mbufs that the
// per-lcore caches of the pool (256, flushed above 1.5 times that) keep, main lcore included.
uint32_t HeldByWorkers(const DataPlaneConfig& config, uint32_t workers) {
  return workers * (2 * config.burst + config.reassembly_flows * RTE_LIBRTE_IP_FRAG_MAX_FRAG +
                    RTE_IP_FRAG_DEATH_ROW_MBUF_LEN + kernels::kMaxBatchBeacons) +
         (workers + 1) * 384;
}

// The exception port's default queues: frames for the kernel are few, so its RX queues (filled
// from the pool when they are set up) and TX queues get [dpdk] exception_rx_descriptors and
// exception_tx_descriptors (256 each), not the data plane port's 1024 RX and 512 TX. The pool
// then needs 2 x (1024 - 256) + 2 x (512 - 256) = 2048 mbufs less for two workers than with the
// data port's counts, the TAP's queues hold 256 each at setup, and ARP and TCP still reach the
// kernel and come back.
TEST(ExceptionPathTest, TheTapQueuesTakeTheExceptionDescriptorCounts) {
  if (!g_skip.empty()) GTEST_SKIP() << g_skip;
  ASSERT_NE(g_eal, nullptr);
  constexpr unsigned kWorkers = 2;
  constexpr uint32_t kExceptionDescriptors = 256;  // the default of both
  RingAndTap r(kWorkers);
  MakeRingAndTap("desc", 1024, &r);
  if (HasFatalFailure()) return;
  // The ring's queues: 1024 RX and 512 TX descriptors each; the TAP's: 256 and 256.
  const uint32_t ring = kWorkers * (1024 + 512);
  const uint32_t tap = kWorkers * 2 * kExceptionDescriptors;
  const uint32_t held = HeldByWorkers(r.config, kWorkers);
  const MbufPoolStats stats = r.relay->Pool();
  EXPECT_EQ(stats.needed, ring + tap + held)
      << "with the data port's 1024 RX and 512 TX per TAP queue it would be "
      << ring + kWorkers * (1024 + 512) + held;
  EXPECT_LE(stats.in_use, kWorkers * kExceptionDescriptors) << "the TAP's RX queues at setup";
  r.relay->Start();
  ASSERT_EQ(rte_ring_enqueue(r.nic.rx[0], Beacon(r.pool)), 0);
  const KernelAnswers answers = ExchangeWithKernel(r.pool, r.nic.rx[1], r.nic.rx[1], r.nic.tx);
  r.relay->Stop();
  ExpectKernelAndFastPath(*r.relay, answers, r.sinks[0]);
  EXPECT_EQ(r.sinks[1].beacons.load(), 0u);
}

// A relay port and an exception port that are both TAPs fill their 4 RX queues from the pool
// when they are set up (net_tap: min(descriptors, 1023) each). What is left must still hold all
// the workers may take at once (a fragment flood fills the reassembly tables); else RX runs dry
// (rx_no_mbuf) while the tables are full. A beacon then goes through without an mbuf shortage.
TEST(ExceptionPathTest, AutoSizedPoolHoldsBothTapsAndEveryWorker) {
  if (!g_skip.empty()) GTEST_SKIP() << g_skip;
  ASSERT_NE(g_eal, nullptr);
  constexpr unsigned kWorkers = 4;
  DataPlaneConfig config =
      TwoPortConfig("net_tap_nic,iface=bcnnic0", "net_tap_pool,iface=bcnpool0", 1023, 216);
  config.exception_rx_descriptors = 1023;
  std::vector<CountingSink> sinks(kWorkers);
  DataPlane relay(*g_eal, config, Pointers(sinks));
  const MbufPoolStats pool = relay.Pool();
  EXPECT_GE(pool.in_use, 8u * 1023) << "both TAPs' RX queues";
  EXPECT_GE(pool.size - pool.in_use, HeldByWorkers(config, kWorkers))
      << "pool of " << pool.size << " mbufs, " << pool.in_use << " in the ports' queues";
  EXPECT_GE(pool.size, pool.needed);
  ASSERT_EQ(std::system("ip link set bcnnic0 up"), 0);
  relay.Start();
  ASSERT_TRUE(SendFromKernel("bcnnic0", BeaconFrame()));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (relay.Counters().beacons == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  relay.Stop();
  EXPECT_EQ(relay.Counters().beacons, 1u);
  for (const PortStats& port : relay.Ports()) EXPECT_EQ(port.rx_no_mbuf, 0u) << port.name;
}

}  // namespace
}  // namespace beacon::dpdk
