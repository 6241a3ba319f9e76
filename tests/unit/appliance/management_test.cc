// The management routes on real servers: an ingress HttpServer ticks real worker pipelines over
// an unreachable ClickHouse; /healthz and /readyz follow their progress, behind a bearer token.
#include "appliance/management.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "host/archive/file_system.h"
#include "kernels/clock.h"

namespace beacon::app {
namespace {

constexpr char kSites[] = "1 shop UA-1-1 shop.example\n";

// One request with Connection: close; the whole answer.
std::string Fetch(uint16_t port, const std::string& target, const std::string& headers = {},
                  const std::string& method = "GET", const std::string& host = "127.0.0.1") {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return {};
  }
  const std::string request = method + " " + target + " HTTP/1.1\r\nHost: " + host +
                              "\r\nConnection: close\r\n" + headers +
                              (method == "POST" ? "Content-Length: 0\r\n" : "") + "\r\n";
  [[maybe_unused]] const ssize_t sent = send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  close(fd);
  return answer;
}

const std::string kAuth = "Authorization: Bearer s3cret\r\n";

// A registry of `count` sites, one line each.
std::string ManySites(int count) {
  std::string sites;
  for (int i = 1; i <= count; ++i) {
    const std::string n = std::to_string(i);
    sites += n + " site-" + n + " UA-" + n + "-1 site-" + n + ".example\n";
  }
  return sites;
}

struct Probes {
  int64_t slowest_ms = 0;  // the slowest answer's time
  int count = 0;
};

// A watchdog: /healthz (with the token) every 20 ms while `go_on` says so, each to be 200.
Probes ProbeHealthzWhile(uint16_t port, const std::function<bool()>& go_on) {
  Probes probes;
  while (go_on()) {
    const auto sent = std::chrono::steady_clock::now();
    const std::string health = Fetch(port, "/healthz", kAuth);
    probes.slowest_ms =
        std::max<int64_t>(probes.slowest_ms, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::steady_clock::now() - sent)
                                                 .count());
    EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
    ++probes.count;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return probes;
}

class ManagementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host::ForwarderConfig fc;
    fc.clickhouse.url = "http://127.0.0.1:1";
    fc.max_pending_bytes = 1;  // the first epoch fills it; nothing drains it (not started)
    forwarder_ = std::make_unique<host::Forwarder>(fc);
    host::PipelineConfig pc;
    pc.epoch_ms = 10;
    pipelines_.push_back(std::make_unique<host::WorkerPipeline>(0, pc, &sites_, forwarder_.get()));
    host::HttpServerConfig ingress;
    ingress.port = 0;
    ingress.tick_ms = 5;
    ingress_ = std::make_unique<host::HttpServer>(
        ingress, std::vector<kernels::BeaconSink*>{pipelines_[0].get()});
    ingress_->Start();
    host::HttpServerConfig mc;
    mc.port = 0;
    management_ = std::make_unique<host::HttpServer>(mc, std::vector<kernels::BeaconSink*>{});
    guard_.RegisterMetrics(&metrics_);
    ServeManagement(management_.get(), &renderer_, {&pipelines_, forwarder_.get(), &draining_, 300},
                    guard_);
    management_->Start();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the first ticks
  }
  void TearDown() override {
    management_->Stop();
    ingress_->Stop();
  }
  uint16_t port() const { return management_->port(); }

  const kernels::SiteRegistry sites_ = kernels::SiteRegistry::Parse(kSites);
  std::unique_ptr<host::Forwarder> forwarder_;
  std::vector<std::unique_ptr<host::WorkerPipeline>> pipelines_;
  std::unique_ptr<host::HttpServer> ingress_;
  std::unique_ptr<host::HttpServer> management_;
  host::MetricsRegistry metrics_;
  std::atomic<bool> draining_{false};
  const ManagementGuard guard_{ManagementAccess{"s3cret", {}}};
  MetricsRenderer renderer_{&metrics_};  // last: stopped first, once the listener is
};

TEST_F(ManagementTest, EveryRouteNeedsTheBearerToken) {
  for (const std::string path : {"/metrics", "/healthz", "/readyz"}) {
    SCOPED_TRACE(path);
    const std::string none = Fetch(port(), path);
    EXPECT_EQ(none.rfind("HTTP/1.1 401", 0), 0u) << none;
    EXPECT_NE(none.find("WWW-Authenticate: Bearer"), std::string::npos);
    const std::string wrong = Fetch(port(), path, "Authorization: Bearer s3cre7\r\n");
    EXPECT_EQ(wrong.rfind("HTTP/1.1 401", 0), 0u) << wrong;
    const std::string right = Fetch(port(), path, kAuth);
    EXPECT_EQ(right.rfind("HTTP/1.1 200", 0), 0u) << right;
  }
  // Each refusal counted: a token guessed or forgotten shows on the scrape.
  EXPECT_NE(Fetch(port(), "/metrics", kAuth)
                .find("beacond_management_rejects_total{reason=\"bad_token\"} 6\n"),
            std::string::npos);
}

// With a bearer token the Host is not checked: a rebound page cannot learn the token, and a
// node off loopback (which needs one) is scraped by whatever name Prometheus knows it by.
// Without the token, any Host is refused as before.
TEST_F(ManagementTest, ATokenRequestIsAnsweredWhateverItsHost) {
  const std::string named = Fetch(port(), "/metrics", kAuth, "GET", "beacon-1.pop1.example");
  EXPECT_EQ(named.rfind("HTTP/1.1 200", 0), 0u) << named;
  const std::string none = Fetch(port(), "/metrics", "", "GET", "beacon-1.pop1.example");
  EXPECT_EQ(none.rfind("HTTP/1.1 401", 0), 0u) << none;
}

TEST_F(ManagementTest, ReadinessFollowsSheddingAndDrainLivenessFollowsTicks) {
  EXPECT_NE(Fetch(port(), "/readyz", kAuth).find("\r\n\r\nready\n"), std::string::npos);
  // Beacons until the forwarder's bound refuses an epoch and the worker sheds.
  bool shedding = false;
  for (int i = 0; i < 500 && !shedding; ++i) {
    const std::string a =
        Fetch(ingress_->port(),
              "/collect?v=1&tid=UA-1-1&cid=1.2&t=pageview&dl=https%3A%2F%2Fshop.example%2F",
              "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\n");
    shedding = a.rfind("HTTP/1.1 503", 0) == 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(shedding);
  const std::string not_ready = Fetch(port(), "/readyz", kAuth);
  EXPECT_EQ(not_ready.rfind("HTTP/1.1 503", 0), 0u) << not_ready;
  EXPECT_NE(not_ready.find("worker 0 shedding"), std::string::npos) << not_ready;
  EXPECT_NE(not_ready.find("forwarder full"), std::string::npos) << not_ready;
  EXPECT_EQ(Fetch(port(), "/healthz", kAuth).rfind("HTTP/1.1 200", 0), 0u);

  draining_ = true;
  EXPECT_NE(Fetch(port(), "/readyz", kAuth).find("draining"), std::string::npos);
  ingress_->Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(Fetch(port(), "/healthz", kAuth).rfind("HTTP/1.1 200", 0), 0u);  // drained on purpose
  // Not draining and no more rounds: past stall_ms the worker is reported stalled.
  draining_ = false;
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const std::string dead = Fetch(port(), "/healthz", kAuth);
  EXPECT_EQ(dead.rfind("HTTP/1.1 503", 0), 0u) << dead;
  EXPECT_NE(dead.find("worker 0 stalled for "), std::string::npos) << dead;
}

// A worker archiving into a scratch directory, and the readiness of a node of such workers.
class ManagementReadinessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/management_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    pc.epoch_ms = 10;
    pc.archive.enabled = true;
    pc.archive.writer.directory = dir_ + "/archive";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static host::HttpResponse Ready(const std::vector<std::unique_ptr<host::WorkerPipeline>>& p,
                                  const host::Forwarder& forwarder) {
    const std::atomic<bool> draining{false};
    return Readiness({&p, &forwarder, &draining, 300}, kernels::MonotonicMillis());
  }

  std::string dir_;
  const kernels::SiteRegistry sites = kernels::SiteRegistry::Parse(kSites);
  host::PosixFileSystem fs;
  host::PipelineConfig pc;
};

// A worker behind (its start replay refused by a full forwarder: ClickHouse down) keeps taking
// beacons into its archive and answering them; the forwarder being full does not make the node
// unready then, or a load balancer would take away the traffic the node keeps durably. A
// worker not behind sheds with the forwarder full, so the node is unready (the test above).
TEST_F(ManagementReadinessTest, AWorkerBehindTakingBeaconsKeepsTheNodeReady) {
  pc.archive.behind_when_forwarder_full = false;  // behind only for its start replay
  const auto hits = [](int first) {
    kernels::RawBatch batch;
    for (int i = first; i < first + 20; ++i) {
      const std::string hit = "v=1&t=pageview&tid=UA-1-1&cid=" + std::to_string(i) +
                              ".1&dl=https%3A%2F%2Fshop.example%2Fp" + std::to_string(i);
      EXPECT_TRUE(batch.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp, hit,
                            "Mozilla/5.0", kernels::IpAddress{}, 1'740'000'000'000 + i));
    }
    return batch;
  };
  {  // three epochs in the archive, never acknowledged (the forwarder is not started)
    host::ForwarderConfig fc;
    fc.clickhouse.url = "http://127.0.0.1:1";
    host::Forwarder forwarder(fc);
    host::WorkerPipeline live(0, pc, &sites, &forwarder);
    ASSERT_EQ(live.OpenArchive(fs), 0);
    live.OnTick(1);
    for (int epoch = 0; epoch < 3; ++epoch) {
      kernels::RawBatch batch = hits(epoch * 20);
      live.OnBatch(batch);
      live.OnTick(1 + (epoch + 1) * pc.epoch_ms);
    }
    ASSERT_TRUE(live.Flush());
  }
  host::ForwarderConfig fc;
  fc.clickhouse.url = "http://127.0.0.1:1";
  fc.max_pending_bytes = 1;  // takes the first replayed epoch, refuses the next
  host::Forwarder forwarder(fc);
  std::vector<std::unique_ptr<host::WorkerPipeline>> pipelines;
  pipelines.push_back(std::make_unique<host::WorkerPipeline>(0, pc, &sites, &forwarder));
  host::WorkerPipeline& restarted = *pipelines[0];
  ASSERT_EQ(restarted.OpenArchive(fs), 0);
  ASSERT_TRUE(restarted.Replay(1).behind);
  restarted.OnTick(1);
  kernels::RawBatch more = hits(100);
  restarted.OnBatch(more);
  ASSERT_TRUE(restarted.Admitting());  // the ingress answers 200 (in the archive)
  ASSERT_FALSE(forwarder.HasRoom());
  const host::HttpResponse ready = Ready(pipelines, forwarder);
  EXPECT_EQ(ready.status, 200) << ready.body;
  pipelines.clear();
}

// A worker that falls behind when the forwarder is full ([archive] when_forwarder_full =
// "archive") never sheds for it: a full forwarder leaves the node ready, before the worker
// fell behind as after.
TEST_F(ManagementReadinessTest, AWorkerThatFallsBehindWhenFullKeepsTheNodeReady) {
  pc.archive.behind_when_forwarder_full = true;
  host::ForwarderConfig fc;
  fc.clickhouse.url = "http://127.0.0.1:1";
  fc.max_pending_bytes = 1;  // takes the first epoch, refuses the next
  host::Forwarder forwarder(fc);
  std::vector<std::unique_ptr<host::WorkerPipeline>> pipelines;
  pipelines.push_back(std::make_unique<host::WorkerPipeline>(0, pc, &sites, &forwarder));
  host::WorkerPipeline& live = *pipelines[0];
  ASSERT_EQ(live.OpenArchive(fs), 0);
  kernels::RawBatch batch;
  ASSERT_TRUE(batch.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp,
                        "v=1&t=pageview&tid=UA-1-1&cid=1.1&dl=https%3A%2F%2Fshop.example%2F",
                        "Mozilla/5.0", kernels::IpAddress{}, 1'740'000'000'000));
  live.OnBatch(batch);
  ASSERT_TRUE(live.Flush());  // the epoch offered and taken: the forwarder is full
  ASSERT_FALSE(forwarder.HasRoom());
  ASSERT_FALSE(live.behind());
  const host::HttpResponse ready = Ready(pipelines, forwarder);
  EXPECT_EQ(ready.status, 200) << ready.body;
  pipelines.clear();
}

// Two worker pipelines over a 200,000-site registry: each /metrics render gathers every site's
// count from both (about 0.1 s on an idle machine, several times that under load).
class ManagementScrapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host::ForwarderConfig fc;
    fc.clickhouse.url = "http://127.0.0.1:1";
    forwarder_ = std::make_unique<host::Forwarder>(fc);
    host::PipelineConfig pc;
    pc.epoch_ms = 10;
    for (int worker = 0; worker < 2; ++worker) {
      pipelines_.push_back(
          std::make_unique<host::WorkerPipeline>(worker, pc, &sites_, forwarder_.get()));
    }
    host::RegisterPipelineMetrics(&metrics_, &pipelines_);
    host::HttpServerConfig mc;
    mc.port = 0;
    management_ = std::make_unique<host::HttpServer>(mc, std::vector<kernels::BeaconSink*>{});
    ServeManagement(management_.get(), &renderer_, {&pipelines_, forwarder_.get(), &draining_, 300},
                    guard_);
    management_->Start();
  }
  void TearDown() override { management_->Stop(); }
  uint16_t port() const { return management_->port(); }
  const kernels::SiteRegistry sites_ = kernels::SiteRegistry::Parse(ManySites(200'000));
  std::unique_ptr<host::Forwarder> forwarder_;
  std::vector<std::unique_ptr<host::WorkerPipeline>> pipelines_;
  host::MetricsRegistry metrics_;
  std::atomic<bool> draining_{false};
  const ManagementGuard guard_{ManagementAccess{"s3cret", {}}};
  std::unique_ptr<host::HttpServer> management_;
  MetricsRenderer renderer_{&metrics_};  // last: stopped first, once the listener is
};

// Scrapes of a large registry, back to back from four scrapers, do not hold /healthz up: a
// watchdog probing with a short timeout keeps seeing a live node.
TEST_F(ManagementScrapeTest, HealthzIsAnsweredWhileScrapesRender) {
  std::atomic<bool> done{false};
  std::atomic<int> scrapes{0};
  std::vector<std::thread> scrapers;
  for (int i = 0; i < 4; ++i) {
    scrapers.emplace_back([&] {
      while (!done) {
        const std::string scrape = Fetch(port(), "/metrics", kAuth);
        EXPECT_EQ(scrape.rfind("HTTP/1.1 200", 0), 0u) << scrape.substr(0, 200);
        EXPECT_NE(scrape.find("beacond_aggregator_bytes"), std::string::npos);
        ++scrapes;
      }
    });
  }
  const auto start = std::chrono::steady_clock::now();
  const Probes probes = ProbeHealthzWhile(port(), [&] {
    return std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2000);
  });
  done = true;
  for (std::thread& t : scrapers) t.join();
  EXPECT_GT(scrapes, 6) << "the scrapes were too few to show anything";
  EXPECT_LT(probes.slowest_ms, 100) << probes.count << " probes during " << scrapes << " scrapes";
}

// A Reloader over real files in a temporary directory: its config names sites.conf.
class ManagementReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/management_reload_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    WriteSites(kSites);
    std::ofstream(dir_ + "/beacond.toml")
        << "[sites]\nregistry = \"" << dir_ << "/sites.conf\"\n[enrich]\nuser_agents = \"\"\n";
    reloader_ = std::make_unique<Reloader>(LoadConfig(config_path()), config_path(), "");
    host::HttpServerConfig config;
    config.port = 0;
    management_ = std::make_unique<host::HttpServer>(config, std::vector<kernels::BeaconSink*>{});
    ServeReload(management_.get(), guard_,
                [this](auto done) { reloader_->Request(std::move(done)); });
    management_->AddHandler("/healthz", guard_.Guard([](const kernels::HttpRequest&) {
      return host::HttpResponse{200, "text/plain", "ok\n", {}};
    }));
    management_->Start();
  }
  void TearDown() override {
    management_->Stop();
    reloader_.reset();
    std::filesystem::remove_all(dir_);
  }
  void WriteSites(const std::string& text) const {
    std::ofstream(dir_ + "/sites.conf", std::ios::trunc) << text;
  }
  std::string config_path() const { return dir_ + "/beacond.toml"; }
  uint16_t port() const { return management_->port(); }

  std::string dir_;
  const ManagementGuard guard_{ManagementAccess{"s3cret", {}}};
  std::unique_ptr<Reloader> reloader_;
  std::unique_ptr<host::HttpServer> management_;
};

// POST /reload runs the reload and answers its message: 200 applied, 422 refused; another
// method is 405 and no token 401, neither reloading.
TEST_F(ManagementReloadTest, ReloadIsAPostBehindTheToken) {
  EXPECT_EQ(Fetch(port(), "/reload", {}, "POST").rfind("HTTP/1.1 401", 0), 0u);
  EXPECT_EQ(Fetch(port(), "/reload", kAuth).rfind("HTTP/1.1 405", 0), 0u);
  WriteSites(std::string(kSites) + "2 blog UA-2-1 blog.example\n");
  const std::string applied = Fetch(port(), "/reload", kAuth, "POST");
  EXPECT_EQ(applied.rfind("HTTP/1.1 200", 0), 0u) << applied;
  EXPECT_NE(applied.find("\r\n\r\nok: 2 sites (+1 -0)\n"), std::string::npos) << applied;
  WriteSites("1 shop UA-1-1\n");
  const std::string refused = Fetch(port(), "/reload", kAuth, "POST");
  EXPECT_EQ(refused.rfind("HTTP/1.1 422", 0), 0u) << refused;
  EXPECT_NE(refused.find("refused: "), std::string::npos) << refused;
  EXPECT_EQ(reloader_->live()->Current()->sites->size(), 2u);
}

// A reload of a large registry (about a second) runs off the management worker: /healthz is
// answered at once meanwhile, and the POST still answers the reload's outcome. A second POST
// made while it runs waits for a reload of its own.
TEST_F(ManagementReloadTest, HealthzIsAnsweredWhileAReloadRuns) {
  WriteSites(ManySites(200'000));
  const auto start = std::chrono::steady_clock::now();
  std::string first, second;
  std::thread post([&] { first = Fetch(port(), "/reload", kAuth, "POST"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::thread again([&] { second = Fetch(port(), "/reload", kAuth, "POST"); });
  const Probes probes = ProbeHealthzWhile(port(), [&] { return first.empty(); });
  post.join();
  const auto reload_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  again.join();
  EXPECT_GT(reload_ms, 300) << "the reload was too quick to show anything";
  EXPECT_GT(probes.count, 3);
  EXPECT_LT(probes.slowest_ms, 250)
      << probes.count << " probes during a reload of " << reload_ms << " ms";
  EXPECT_NE(first.find("\r\n\r\nok: 200000 sites (+199999 -0)\n"), std::string::npos) << first;
  EXPECT_NE(second.find("\r\n\r\nok: 200000 sites (+0 -0)\n"), std::string::npos) << second;
}

// The default set-up: a loopback listener without a token, which a web browser on the same
// machine reaches too. Pages of other sites must neither read its answers (DNS rebinding: their
// name now resolves to 127.0.0.1, so the request's Host is theirs) nor change the node (CSRF: a
// simple cross-origin POST, which a browser sends without a preflight).
class ManagementBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host::ForwarderConfig fc;
    fc.clickhouse.url = "http://127.0.0.1:1";
    forwarder_ = std::make_unique<host::Forwarder>(fc);
    host::HttpServerConfig mc;
    mc.port = 0;
    management_ = std::make_unique<host::HttpServer>(mc, std::vector<kernels::BeaconSink*>{});
    Serve();
    management_->Start();
  }
  void TearDown() override { management_->Stop(); }
  void Serve() {
    guard_.RegisterMetrics(&metrics_);
    ServeManagement(management_.get(), &renderer_, {&pipelines_, forwarder_.get(), &draining_, 300},
                    guard_);
    ServeReload(management_.get(), guard_, [this](auto done) {
      ++reloads_;
      done(ReloadOutcome{true, "ok: 1 sites (+0 -0)"});
    });
  }
  uint16_t port() const { return management_->port(); }
  // beacond_management_rejects_total{reason} from /metrics; -1 when it is not there.
  long Rejects(const std::string& reason) const {
    const std::string scrape = Fetch(port(), "/metrics");
    const std::string key = "beacond_management_rejects_total{reason=\"" + reason + "\"} ";
    const size_t at = scrape.find(key);
    return at == std::string::npos ? -1 : std::stol(scrape.substr(at + key.size()));
  }

  std::unique_ptr<host::Forwarder> forwarder_;
  std::vector<std::unique_ptr<host::WorkerPipeline>> pipelines_;
  std::unique_ptr<host::HttpServer> management_;
  host::MetricsRegistry metrics_;
  std::atomic<bool> draining_{false};
  std::atomic<int> reloads_{0};
  // No token (loopback), and a name the operator gave the node.
  const ManagementGuard guard_{ManagementAccess{"", {"beacon-node.internal"}}};
  MetricsRenderer renderer_{&metrics_};  // last: stopped first, once the listener is
};

TEST_F(ManagementBrowserTest, AHostNotAnIpLocalhostOrAConfiguredNameIsRefusedAndCounted) {
  const std::string p = std::to_string(port());
  const std::vector<std::string> refused = {"evil.example",           "evil.example:" + p,
                                            "localhost.evil.example", "127.0.0.1.nip.io",
                                            "localhost:" + p + "x",   "[::1"};
  for (const std::string& host : refused) {
    for (const std::string path : {"/metrics", "/healthz", "/readyz"}) {
      SCOPED_TRACE(host + path);
      const std::string a = Fetch(port(), path, {}, "GET", host);
      EXPECT_EQ(a.rfind("HTTP/1.1 403", 0), 0u) << a;
      EXPECT_NE(a.find("Host"), std::string::npos) << a;
    }
  }
  EXPECT_EQ(Fetch(port(), "/reload", {}, "POST", "evil.example:" + p).rfind("HTTP/1.1 403", 0), 0u);
  EXPECT_EQ(reloads_.load(), 0);
  const long counted = static_cast<long>(refused.size() * 3 + 1);
  EXPECT_EQ(Rejects("host_not_allowed"), counted);
  for (const std::string& host :
       {"127.0.0.1:" + p, std::string("127.0.0.1"), "[::1]:" + p, std::string("[::1]"),
        std::string("localhost"), "LocalHost:" + p, "beacon-node.internal:" + p,
        std::string("Beacon-Node.Internal"), std::string("10.1.2.3:9464")}) {
    SCOPED_TRACE(host);
    const std::string a = Fetch(port(), "/healthz", {}, "GET", host);
    EXPECT_EQ(a.rfind("HTTP/1.1 200", 0), 0u) << a;
  }
  EXPECT_EQ(Fetch(port(), "/reload", {}, "POST", "localhost:" + p).rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(reloads_.load(), 1);
  EXPECT_EQ(Rejects("host_not_allowed"), counted);
}

TEST_F(ManagementBrowserTest, APostFromAPageOfAnotherOriginIsRefusedAndCounted) {
  const std::string host = "127.0.0.1:" + std::to_string(port());
  const std::vector<std::string> refused = {
      "Origin: http://evil.example\r\n",
      "Origin: null\r\n",
      "Origin: http://127.0.0.1:1\r\n",  // another service on this machine
      "Origin: http://127.0.0.1:" + std::to_string(port()) + "\r\nSec-Fetch-Site: cross-site\r\n",
      "Sec-Fetch-Site: cross-site\r\n",
      "Sec-Fetch-Site: same-site\r\n"};
  for (const std::string& headers : refused) {
    SCOPED_TRACE(headers);
    const std::string a = Fetch(port(), "/reload", headers, "POST", host);
    EXPECT_EQ(a.rfind("HTTP/1.1 403", 0), 0u) << a;
    EXPECT_NE(a.find("cross-origin"), std::string::npos) << a;
  }
  EXPECT_EQ(reloads_.load(), 0);
  EXPECT_EQ(Rejects("cross_origin"), static_cast<long>(refused.size()));
  // No Origin (curl, beaconctl) or the listener's own origin: reloaded.
  EXPECT_EQ(Fetch(port(), "/reload", {}, "POST", host).rfind("HTTP/1.1 200", 0), 0u);
  const std::string own = "Origin: http://" + host + "\r\nSec-Fetch-Site: same-origin\r\n";
  EXPECT_EQ(Fetch(port(), "/reload", own, "POST", host).rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(reloads_.load(), 2);
  // A read changes nothing, and a page cannot see the answer (no CORS headers): not refused.
  const std::string read = Fetch(port(), "/healthz", "Origin: http://evil.example\r\n");
  EXPECT_EQ(read.rfind("HTTP/1.1 200", 0), 0u) << read;
  EXPECT_EQ(Rejects("cross_origin"), static_cast<long>(refused.size()));
}

}  // namespace
}  // namespace beacon::app
