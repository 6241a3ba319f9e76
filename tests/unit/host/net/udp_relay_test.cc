// The kernel-socket UDP relay on 127.0.0.1 and ::1: real datagrams from real sockets reach the
// workers' sinks with their payload, endpoint, source address and receive time.
#include "host/net/udp_relay.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace beacon::host {
namespace {

struct Received {
  kernels::Endpoint endpoint;
  std::string payload;
  kernels::IpAddress source;
  int64_t receive_time_ms;
};

class RecordingSink : public kernels::BeaconSink {
 public:
  bool Admitting() override { return admitting.load(); }
  void OnBatch(kernels::RawBatch& batch) override {
    std::lock_guard lock(mu);
    ++batches;
    max_batch = std::max(max_batch, batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      EXPECT_EQ(batch.ingress(i), kernels::IngressKind::kUdpRelay);
      received.push_back({batch.endpoint(i), std::string(batch.payload(i)), batch.source(i),
                          batch.receive_time_ms(i)});
    }
  }
  void OnTick(int64_t) override { ticks.fetch_add(1); }

  size_t count() {
    std::lock_guard lock(mu);
    return received.size();
  }

  std::atomic<bool> admitting{true};
  std::atomic<uint64_t> ticks{0};
  std::mutex mu;
  std::vector<Received> received;
  size_t batches = 0;
  size_t max_batch = 0;
};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Sends `payload` to 127.0.0.1:`port` from `source` (any address of 127/8 is local;
// INADDR_ANY: the kernel picks), from a fresh socket (a fresh source port: a new flow for
// SO_REUSEPORT).
void SendFrom(uint32_t source, uint16_t port, const std::string& payload) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(source);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)), 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(
      sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
      static_cast<ssize_t>(payload.size()));
  close(fd);
}

// Sends `payload` to the loopback address of `family`, as SendFrom.
void Send(int family, uint16_t port, const std::string& payload) {
  if (family == AF_INET) {
    SendFrom(INADDR_ANY, port, payload);
    return;
  }
  const int fd = socket(family, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  to.sin6_port = htons(port);
  to.sin6_addr = in6addr_loopback;
  ASSERT_EQ(
      sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
      static_cast<ssize_t>(payload.size()));
  close(fd);
}

template <typename Done>
bool WaitFor(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

TEST(UdpRelayTest, DatagramsReachTheWorkersWithEndpointSourceAndTime) {
  RecordingSink a, b;
  UdpRelayConfig config;
  config.ports = {{0, kernels::Endpoint::kUdpHitBatch}, {0, kernels::Endpoint::kUdpSyslog}};
  UdpRelay relay(config, {&a, &b});
  ASSERT_EQ(relay.bound_ports().size(), 2u);
  ASSERT_NE(relay.bound_ports()[0], 0);
  ASSERT_NE(relay.bound_ports()[0], relay.bound_ports()[1]);
  relay.Start();
  const int64_t before = NowMs();
  std::set<std::string> sent_batches, sent_syslog;
  for (int i = 0; i < 200; ++i) {
    const std::string hit = "v=1&t=pageview&tid=UA-1-1&cid=" + std::to_string(i);
    Send(AF_INET, relay.bound_ports()[0], hit);
    sent_batches.insert(hit);
    const std::string line = "<134>1 - h nginx - - - beacon1\t" + std::to_string(i);
    Send(AF_INET, relay.bound_ports()[1], line);
    sent_syslog.insert(line);
  }
  ASSERT_TRUE(WaitFor([&] { return a.count() + b.count() == 400; }))
      << a.count() + b.count() << " of 400";
  relay.Stop();
  const int64_t after = NowMs();

  std::set<std::string> got_batches, got_syslog;
  for (RecordingSink* sink : {&a, &b}) {
    for (const Received& r : sink->received) {
      (r.endpoint == kernels::Endpoint::kUdpHitBatch ? got_batches : got_syslog).insert(r.payload);
      EXPECT_TRUE(r.source.is_v4());
      EXPECT_EQ(r.source.bytes[12], 127);
      EXPECT_EQ(r.source.bytes[15], 1);
      EXPECT_GE(r.receive_time_ms, before);
      EXPECT_LE(r.receive_time_ms, after);
    }
  }
  EXPECT_EQ(got_batches, sent_batches);
  EXPECT_EQ(got_syslog, sent_syslog);
  // SO_REUSEPORT spread 400 flows over both workers, and each ticked (at least at Stop).
  EXPECT_GT(a.count(), 0u);
  EXPECT_GT(b.count(), 0u);
  EXPECT_GT(a.ticks.load(), 0u);
  EXPECT_GT(b.ticks.load(), 0u);
  EXPECT_EQ(relay.datagrams(), 400u);
  EXPECT_EQ(relay.truncated() + relay.receive_errors(), 0u);

  MetricsRegistry metrics;
  relay.RegisterMetrics(&metrics, "beacond_udp");
  EXPECT_NE(metrics.Scrape().find("beacond_udp_datagrams_total 400"), std::string::npos)
      << metrics.Scrape();
}

TEST(UdpRelayTest, LargeDatagramsOverIpv6AreDeliveredWhole) {
  RecordingSink sink;
  UdpRelayConfig config;
  config.address = "::1";
  config.ports = {{0, kernels::Endpoint::kUdpHitBatch}};
  UdpRelay relay(config, {&sink});
  relay.Start();
  const std::string big(60'000, 'x');
  Send(AF_INET6, relay.bound_ports()[0], big);
  ASSERT_TRUE(WaitFor([&] { return sink.count() == 1; }));
  relay.Stop();
  EXPECT_EQ(sink.received[0].payload, big);
  EXPECT_FALSE(sink.received[0].source.is_v4());
  EXPECT_EQ(sink.received[0].source.bytes[15], 1);
  EXPECT_EQ(relay.bytes(), big.size());
}

TEST(UdpRelayTest, WhileNotAdmittingDatagramsWaitInTheSocket) {
  RecordingSink sink;
  sink.admitting = false;
  UdpRelayConfig config;
  config.ports = {{0, kernels::Endpoint::kUdpHitBatch}};
  UdpRelay relay(config, {&sink});
  relay.Start();
  for (int i = 0; i < 300; ++i) Send(AF_INET, relay.bound_ports()[0], "hit " + std::to_string(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(sink.count(), 0u);
  sink.admitting = true;
  ASSERT_TRUE(WaitFor([&] { return sink.count() == 300; })) << sink.count();
  relay.Stop();
  EXPECT_LE(sink.max_batch, kernels::kMaxBatchBeacons);
}

// The value of the sample `name` (a counter without labels) in a scrape; -1 when absent.
int64_t ScrapedValue(const std::string& scrape, const std::string& name) {
  const size_t at = scrape.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(scrape.substr(at + name.size() + 2));
}

TEST(UdpRelayTest, DatagramsTheKernelDropsAtAFullSocketBufferAreCounted) {
  RecordingSink sink;
  sink.admitting = false;  // the datagrams wait in the socket buffer until it overflows
  UdpRelayConfig config;
  config.ports = {{0, kernels::Endpoint::kUdpHitBatch}};
  config.receive_buffer_bytes = 64 << 10;
  UdpRelay relay(config, {&sink});
  relay.Start();
  constexpr int kSent = 3000;
  for (int i = 0; i < kSent; ++i) Send(AF_INET, relay.bound_ports()[0], std::string(200, 'h'));
  sink.admitting = true;
  MetricsRegistry metrics;
  relay.RegisterMetrics(&metrics, "beacond_udp");
  int64_t dropped = -1;
  ASSERT_TRUE(WaitFor([&] {
    dropped = ScrapedValue(metrics.Scrape(), "beacond_udp_socket_drops_total");
    return dropped >= 0 && sink.count() + static_cast<size_t>(dropped) == kSent;
  })) << sink.count()
      << " delivered, " << dropped << " counted as dropped of " << kSent << "\n"
      << metrics.Scrape();
  relay.Stop();
  EXPECT_GT(dropped, 0);
  EXPECT_EQ(relay.datagrams(), sink.count());
}

TEST(UdpRelayTest, TheReceiveBufferIsTheOneConfiguredOrTheCapIsReported) {
  // Asked for more than net.core.rmem_max, where SO_RCVBUF silently stops.
  std::ifstream rmem_max_file("/proc/sys/net/core/rmem_max");
  int64_t rmem_max = 0;
  ASSERT_TRUE(rmem_max_file >> rmem_max);
  RecordingSink sink;
  UdpRelayConfig config;
  config.ports = {{0, kernels::Endpoint::kUdpHitBatch}};
  config.receive_buffer_bytes = static_cast<int>(std::min<int64_t>(2 * rmem_max, 1 << 30));
  UdpRelay relay(config, {&sink});
  MetricsRegistry metrics;
  relay.RegisterMetrics(&metrics, "beacond_udp");
  const int64_t got = ScrapedValue(metrics.Scrape(), "beacond_udp_receive_buffer_bytes");
  // Privileged (CAP_NET_ADMIN, as the tests run): SO_RCVBUFFORCE gets the size asked.
  // Otherwise the gauge tells the size the kernel allowed.
  if (geteuid() == 0) {
    EXPECT_EQ(got, config.receive_buffer_bytes) << metrics.Scrape();
  } else {
    EXPECT_EQ(got, rmem_max) << metrics.Scrape();
  }
}

// A sink whose first OnBatch blocks until released.
class BlockingSink : public RecordingSink {
 public:
  void OnBatch(kernels::RawBatch& batch) override {
    RecordingSink::OnBatch(batch);
    std::unique_lock lock(gate_mu);
    entered = true;
    gate.notify_all();
    gate.wait(lock, [this] { return released; });
  }
  void Release() {
    std::lock_guard lock(gate_mu);
    released = true;
    gate.notify_all();
  }
  bool WaitEntered() {
    std::unique_lock lock(gate_mu);
    return gate.wait_for(lock, std::chrono::seconds(10), [this] { return entered; });
  }

 private:
  std::mutex gate_mu;
  std::condition_variable gate;
  bool entered = false;
  bool released = false;
};

TEST(UdpRelayTest, AStopDeliversTheDatagramsTheSocketsHold) {
  BlockingSink sink;
  UdpRelayConfig config;
  config.ports = {{0, kernels::Endpoint::kUdpHitBatch}};
  UdpRelay relay(config, {&sink});
  relay.Start();
  Send(AF_INET, relay.bound_ports()[0], "first");
  ASSERT_TRUE(sink.WaitEntered());
  // While the worker is held in OnBatch, 300 datagrams reach its socket; then the stop.
  for (int i = 0; i < 300; ++i) Send(AF_INET, relay.bound_ports()[0], "hit " + std::to_string(i));
  std::thread stop([&] { relay.Stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the stop's wake-up is sent
  sink.Release();
  stop.join();
  EXPECT_EQ(sink.count(), 301u);
  EXPECT_EQ(relay.datagrams(), 301u);
}

TEST(UdpRelayTest, SendersOutsideAllowedSourcesAreDroppedAndCounted) {
  RecordingSink sink;
  UdpRelayConfig config;
  config.ports = {{0, kernels::Endpoint::kUdpHitBatch}};
  config.allowed_sources = {*kernels::ParseIpPrefix("127.0.0.1"),
                            *kernels::ParseIpPrefix("2001:db8::/32")};
  UdpRelay relay(config, {&sink});
  relay.Start();
  for (int i = 0; i < 20; ++i) {
    SendFrom(0x7f000001, relay.bound_ports()[0], "allowed " + std::to_string(i));
    SendFrom(0x7f000002, relay.bound_ports()[0], "refused " + std::to_string(i));
  }
  ASSERT_TRUE(WaitFor([&] { return sink.count() == 20 && relay.source_not_allowed() == 20; }))
      << sink.count() << " taken, " << relay.source_not_allowed() << " refused";
  relay.Stop();
  for (const Received& r : sink.received) EXPECT_EQ(r.payload.rfind("allowed ", 0), 0u);
  EXPECT_EQ(relay.datagrams(), 20u);
  MetricsRegistry metrics;
  relay.RegisterMetrics(&metrics, "beacond_udp");
  EXPECT_NE(metrics.Scrape().find("beacond_udp_source_not_allowed_total 20"), std::string::npos)
      << metrics.Scrape();

  // Over IPv6: ::1 is outside 2001:db8::/32.
  RecordingSink v6_sink;
  config.address = "::1";
  UdpRelay v6(config, {&v6_sink});
  v6.Start();
  Send(AF_INET6, v6.bound_ports()[0], "refused");
  ASSERT_TRUE(WaitFor([&] { return v6.source_not_allowed() == 1; }));
  v6.Stop();
  EXPECT_EQ(v6_sink.count(), 0u);
}

TEST(UdpRelayTest, BindFailureNamesTheAddress) {
  RecordingSink sink;
  UdpRelayConfig config;
  config.address = "not-an-address";
  config.ports = {{0, kernels::Endpoint::kUdpHitBatch}};
  try {
    UdpRelay relay(config, {&sink});
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not-an-address"), std::string::npos);
  }
}

}  // namespace
}  // namespace beacon::host
