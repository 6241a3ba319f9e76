// WorkerPipeline: raw beacons are decoded, counted and aggregated into epochs that reach the
// forwarder; when the forwarder refuses, the worker stops admitting and a real HTTP server
// answers 503 with Retry-After instead of queueing.
#include "host/pipeline/worker_pipeline.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "kernels/simd/byte_kernels.h"

#include "host/net/http_server.h"
#include "host/net/udp_relay.h"
#include "host/salt_store.h"
#include "tests/unit/host/pipeline/pipeline_test_util.h"

namespace beacon::host {
namespace {

constexpr char kSites[] = "1 shop UA-1-1 shop.example\n";
constexpr char kUa[] = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0";

// A ClickHouse URL where nothing listens: port 1 on loopback refuses at once.
ForwarderConfig UnreachableForwarder(size_t max_pending_bytes) {
  ForwarderConfig config;
  config.clickhouse.url = "http://127.0.0.1:1";
  config.clickhouse.timeout_ms = 200;
  config.max_pending_bytes = max_pending_bytes;
  return config;
}

void AddHit(kernels::RawBatch* raw, const std::string& payload, int64_t now_ms) {
  ASSERT_TRUE(raw->Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp, payload, kUa,
                       kernels::IpAddress::FromV4(0x7f000001), now_ms));
}

TEST(WorkerPipelineTest, DecodesCountsAndClosesEpochsOnTime) {
  const auto sites = kernels::SiteRegistry::Parse(kSites);
  Forwarder forwarder(UnreachableForwarder(1 << 20));
  PipelineConfig config;
  config.epoch_ms = 1000;
  std::vector<std::unique_ptr<WorkerPipeline>> workers;
  workers.push_back(std::make_unique<WorkerPipeline>(0, config, &sites, &forwarder));
  MetricsRegistry registry;
  RegisterPipelineMetrics(&registry, &workers);
  forwarder.RegisterMetrics(&registry, "fw");
  WorkerPipeline& pipeline = *workers[0];

  const int64_t t0 = 1'700'000'000'000;
  kernels::RawBatch raw;
  AddHit(&raw, "v=1&tid=UA-1-1&cid=1.1&t=pageview&dl=https%3A%2F%2Fshop.example%2Fa", t0);
  AddHit(&raw, "v=1&tid=UA-1-1&cid=1.2&t=event&ec=c&ea=a&dl=https%3A%2F%2Fshop.example%2F", t0);
  AddHit(&raw, "v=1&tid=UA-9-9&cid=1.2&t=pageview&dl=https%3A%2F%2Fshop.example%2F", t0);
  pipeline.OnTick(t0);
  pipeline.OnBatch(raw);
  EXPECT_EQ(Sample(registry, "beacond_beacons_received_total"), 3u);
  EXPECT_EQ(Sample(registry, "beacond_events_accepted_total"), 2u);
  EXPECT_EQ(Sample(registry, "beacond_rejects_total{reason=\"unknown_site\"}"), 1u);

  pipeline.OnTick(t0 + 999);  // not yet
  EXPECT_EQ(Sample(registry, "fw_epochs_offered_total"), 0u);
  EXPECT_EQ(registry.Scrape().find("beacond_site_events_accepted_total"), std::string::npos);
  pipeline.OnTick(t0 + 1000);
  EXPECT_EQ(Sample(registry, "beacond_epochs_closed_total"), 1u);
  EXPECT_EQ(Sample(registry, "beacond_site_events_accepted_total{site=\"1\",name=\"shop\"}"), 2u);
  EXPECT_EQ(Sample(registry, "fw_epochs_offered_total"), 1u);
  pipeline.OnTick(t0 + 2000);  // an empty epoch is not sent
  EXPECT_EQ(Sample(registry, "fw_epochs_offered_total"), 1u);
  EXPECT_TRUE(pipeline.Admitting());
  EXPECT_EQ(Sample(registry, "beacond_worker_ticks_total{worker=\"0\"}"), 4u);
  EXPECT_EQ(Sample(registry, "beacond_worker_beacons_total{worker=\"0\"}"), 3u);
  EXPECT_NE(registry.Scrape().find("\nbeacond_worker_cpu_seconds_total{worker=\"0\"} "),
            std::string::npos);
}

// A worker that takes no beacon for days lets go of its salts all the same: at its next tick
// it holds the store's, which rotated (so no salt older than 48 h stays in its memory).
TEST(WorkerPipelineTest, AnIdleWorkerLetsGoOfOldSalts) {
  const auto sites = kernels::SiteRegistry::Parse(kSites);
  Forwarder forwarder(UnreachableForwarder(1 << 20));
  char pattern[] = "/tmp/worker_salts_test.XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  constexpr int64_t kDay = 86'400'000;
  std::atomic<int64_t> now{20'000 * kDay + 12 * 3'600'000};  // noon, day 20000
  SaltStore salts(pattern, [&now] { return now.load(); });
  PipelineConfig config;
  config.salts = &salts;
  WorkerPipeline pipeline(0, config, &sites, &forwarder);
  kernels::RawBatch raw;
  AddHit(&raw, "v=1&tid=UA-1-1&cid=1.1&t=pageview&dl=https%3A%2F%2Fshop.example%2Fa", now);
  pipeline.OnBatch(raw);
  const kernels::VisitorSalts first = pipeline.held_salts();
  EXPECT_EQ(first.day, 20'000);
  now += 3 * kDay;
  salts.Current();  // beacond's main thread, once a minute
  pipeline.OnTick(1);
  EXPECT_EQ(pipeline.held_salts().day, 20'003);
  EXPECT_NE(pipeline.held_salts().today, first.today);
  EXPECT_NE(pipeline.held_salts().yesterday, first.today);
  std::filesystem::remove_all(pattern);
}

// A reload publishes a registry with site 2 added and site 1 removed: the worker takes it up
// at its next batch, each site counts from then on, and the per-site counter of the removed
// site keeps what it counted (for the rows of its open epoch too).
TEST(WorkerPipelineTest, TakesUpAReloadedRegistryBetweenBatches) {
  Forwarder forwarder(UnreachableForwarder(1 << 20));
  const auto first = std::make_shared<const kernels::SiteRegistry>(
      kernels::SiteRegistry::Parse("1 shop UA-1-1 shop.example\n"));
  LiveSettingsSource live({first, nullptr, nullptr});
  PipelineConfig config;
  std::vector<std::unique_ptr<WorkerPipeline>> workers;
  workers.push_back(std::make_unique<WorkerPipeline>(0, config, &live, &forwarder));
  MetricsRegistry registry;
  RegisterPipelineMetrics(&registry, &workers);
  WorkerPipeline& pipeline = *workers[0];
  const int64_t t0 = 1'700'000'000'000;
  const auto send = [&](const char* tid, const char* host) {
    kernels::RawBatch raw;
    AddHit(&raw,
           std::string("v=1&tid=") + tid + "&cid=1.1&t=pageview&dl=https%3A%2F%2F" + host + "%2F",
           t0);
    pipeline.OnBatch(raw);
  };
  pipeline.OnTick(t0);
  send("UA-1-1", "shop.example");
  send("UA-2-1", "blog.example");  // not registered yet
  EXPECT_EQ(Sample(registry, "beacond_rejects_total{reason=\"unknown_site\"}"), 1u);

  live.Publish({std::make_shared<const kernels::SiteRegistry>(
                    kernels::SiteRegistry::Parse("2 blog UA-2-1 blog.example\n")),
                nullptr, nullptr});
  EXPECT_EQ(first.use_count(), 2);  // the test's, and the settings the worker still holds
  send("UA-2-1", "blog.example");
  send("UA-1-1", "shop.example");   // removed
  EXPECT_EQ(first.use_count(), 1);  // the worker let go of the old settings
  EXPECT_EQ(Sample(registry, "beacond_rejects_total{reason=\"unknown_site\"}"), 2u);
  EXPECT_EQ(Sample(registry, "beacond_events_accepted_total"), 2u);
  pipeline.OnTick(t0 + 1000);
  EXPECT_EQ(Sample(registry, "beacond_site_events_accepted_total{site=\"1\",name=\"shop\"}"), 1u);
  EXPECT_EQ(Sample(registry, "beacond_site_events_accepted_total{site=\"2\",name=\"blog\"}"), 1u);
}

// Two workers decode while another thread publishes a registry with and one without site 3,
// over and over: every beacon is counted once, accepted or rejected as unknown_site, and site
// 1 (in both registries) loses nothing.
TEST(WorkerPipelineTest, PublishingWhileWorkersRunCountsEveryBeaconOnce) {
  Forwarder forwarder(UnreachableForwarder(64 << 20));
  const auto with = std::make_shared<const kernels::SiteRegistry>(
      kernels::SiteRegistry::Parse("1 shop UA-1-1 shop.example\n3 news UA-3-1 news.example\n"));
  const auto without = std::make_shared<const kernels::SiteRegistry>(
      kernels::SiteRegistry::Parse("1 shop UA-1-1 shop.example\n"));
  LiveSettingsSource live({with, nullptr, nullptr});
  PipelineConfig config;
  config.epoch_ms = 5;
  std::vector<std::unique_ptr<WorkerPipeline>> workers;
  for (uint32_t w = 0; w < 2; ++w) {
    workers.push_back(std::make_unique<WorkerPipeline>(w, config, &live, &forwarder));
  }
  MetricsRegistry registry;
  RegisterPipelineMetrics(&registry, &workers);
  constexpr int kBatches = 400;
  std::atomic<int> running{2};
  std::vector<std::thread> threads;
  for (auto& worker : workers) {
    threads.emplace_back([&running, pipeline = worker.get()] {
      const int64_t t0 = 1'700'000'000'000;
      for (int b = 0; b < kBatches; ++b) {
        kernels::RawBatch raw;
        AddHit(&raw, "v=1&tid=UA-1-1&cid=1.1&t=pageview&dl=https%3A%2F%2Fshop.example%2F", t0);
        AddHit(&raw, "v=1&tid=UA-3-1&cid=1.1&t=pageview&dl=https%3A%2F%2Fnews.example%2F", t0);
        pipeline->OnBatch(raw);
        pipeline->OnTick(t0 + b);
      }
      pipeline->Flush();
      --running;
    });
  }
  for (int n = 0; running > 0; ++n) live.Publish({n % 2 ? with : without, nullptr, nullptr});
  for (auto& t : threads) t.join();
  const uint64_t accepted = Sample(registry, "beacond_events_accepted_total");
  const uint64_t unknown = Sample(registry, "beacond_rejects_total{reason=\"unknown_site\"}");
  EXPECT_EQ(accepted + unknown, 2u * 2 * kBatches);
  EXPECT_EQ(Sample(registry, "beacond_site_events_accepted_total{site=\"1\",name=\"shop\"}"),
            2u * kBatches);
  const uint64_t news =
      Sample(registry, "beacond_site_events_accepted_total{site=\"3\",name=\"news\"}");
  EXPECT_EQ(news == ~0ULL ? 0 : news, accepted - 2u * kBatches);
}

// Each family's samples come together under one TYPE line, however many workers there are.
TEST(WorkerPipelineTest, PerWorkerFamiliesAreContiguous) {
  const auto sites = kernels::SiteRegistry::Parse(kSites);
  Forwarder forwarder(UnreachableForwarder(1 << 20));
  std::vector<std::unique_ptr<WorkerPipeline>> workers;
  for (uint32_t w = 0; w < 3; ++w) {
    workers.push_back(std::make_unique<WorkerPipeline>(w, PipelineConfig{}, &sites, &forwarder));
  }
  MetricsRegistry registry;
  RegisterPipelineMetrics(&registry, &workers);
  const std::string text = registry.Scrape();
  for (const char* family : {"beacond_aggregator_bytes", "beacond_worker_ticks_total",
                             "beacond_worker_cpu_seconds_total"}) {
    const std::string type = std::string("# TYPE ") + family + " ";
    const size_t first = text.find(type);
    ASSERT_NE(first, std::string::npos) << family;
    EXPECT_EQ(text.find(type, first + 1), std::string::npos) << family;
  }
}

TEST(WorkerPipelineTest, DecodesOnACardBackendThroughItsBatcher) {
  const auto sites = kernels::SiteRegistry::Parse(kSites);
  Forwarder forwarder(UnreachableForwarder(1 << 20));
  const kernels::ByteKernels simd = kernels::SimdByteKernels();
  PipelineConfig config;
  config.bytes = &simd;
  config.make_device = [] { return std::unique_ptr<FpgaDevice>(new CsimDevice); };
  config.fpga.deadline = std::chrono::milliseconds(1);
  std::vector<std::unique_ptr<WorkerPipeline>> workers;
  workers.push_back(std::make_unique<WorkerPipeline>(0, config, &sites, &forwarder));
  MetricsRegistry registry;
  RegisterPipelineMetrics(&registry, &workers);
  WorkerPipeline& pipeline = *workers[0];

  const int64_t t0 = 1'700'000'000'000;
  kernels::RawBatch raw;
  AddHit(&raw, "v=1&tid=UA-1-1&cid=1.1&t=pageview&dl=https%3A%2F%2Fshop.example%2Fa", t0);
  AddHit(&raw, "v=1&tid=UA-9-9&cid=1.2&t=pageview&dl=https%3A%2F%2Fshop.example%2F", t0);
  pipeline.OnTick(t0);
  pipeline.OnBatch(raw);
  EXPECT_TRUE(raw.empty());  // taken by the batcher
  EXPECT_EQ(Sample(registry, "beacond_beacons_received_total"), 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  pipeline.OnTick(t0 + 10);  // past the batcher's deadline: run and delivered
  EXPECT_EQ(Sample(registry, "beacond_events_accepted_total"), 1u);
  EXPECT_EQ(Sample(registry, "beacond_rejects_total{reason=\"unknown_site\"}"), 1u);
  EXPECT_EQ(Sample(registry, "beacond_fpga_runs_total"), 1u);
  EXPECT_EQ(Sample(registry, "beacond_fpga_fallback_total{reason=\"device_error\"}"), 0u);

  AddHit(&raw, "v=1&tid=UA-1-1&cid=1.3&t=pageview&dl=https%3A%2F%2Fshop.example%2Fb", t0 + 20);
  pipeline.OnBatch(raw);
  pipeline.Flush();  // delivers what the batcher still holds before the epoch closes
  EXPECT_EQ(Sample(registry, "beacond_events_accepted_total"), 2u);
  EXPECT_EQ(Sample(registry, "beacond_epochs_closed_total"), 1u);
}

// The card decodes after the beacons were archived and answered: its rows are admitted beacon
// by beacon as they arrive, those over budget dropped and counted, nothing refused.
TEST(WorkerPipelineTest, OnACardBackendBeaconsOverBudgetAreDroppedFromTheAggregates) {
  const auto sites = kernels::SiteRegistry::Parse(kSites);
  Forwarder forwarder(UnreachableForwarder(1 << 20));
  SiteBudgets budgets(sites, {{0.001, 1}, {}});
  const kernels::ByteKernels simd = kernels::SimdByteKernels();
  PipelineConfig config;
  config.bytes = &simd;
  config.budgets = &budgets;
  config.make_device = [] { return std::unique_ptr<FpgaDevice>(new CsimDevice); };
  WorkerPipeline pipeline(0, config, &sites, &forwarder);
  EXPECT_FALSE(pipeline.RefusesBeacons());
  const int64_t t0 = 1'700'000'000'000;
  kernels::RawBatch raw;
  AddHit(&raw, "v=1&tid=UA-1-1&cid=1.1&t=pageview&dl=https%3A%2F%2Fshop.example%2Fa", t0);
  AddHit(&raw, "v=1&tid=UA-1-1&cid=1.2&t=pageview&dl=https%3A%2F%2Fshop.example%2Fb", t0);
  pipeline.OnBatch(raw);
  pipeline.Flush();
  EXPECT_EQ(pipeline.accepted_events(), 1u);
  EXPECT_EQ(budgets.dropped(1), 1u);
}

TEST(WorkerPipelineTest, BeaconsOverTheirSiteBudgetRefusedBeforeAggregation) {
  const auto sites =
      kernels::SiteRegistry::Parse("1 shop UA-1-1 shop.example\n2 blog UA-2-1 blog.example\n");
  Forwarder forwarder(UnreachableForwarder(1 << 20));
  SiteBudgets budgets(sites, {{0.001, 3}, {}});  // a burst of 3, then nothing within the test
  PipelineConfig config;
  config.budgets = &budgets;
  std::vector<std::unique_ptr<WorkerPipeline>> workers;
  workers.push_back(std::make_unique<WorkerPipeline>(0, config, &sites, &forwarder));
  MetricsRegistry registry;
  RegisterPipelineMetrics(&registry, &workers);
  budgets.RegisterMetrics(&registry);
  EXPECT_TRUE(workers[0]->RefusesBeacons());
  const int64_t t0 = 1'700'000'000'000;
  kernels::RawBatch raw;
  for (int i = 0; i < 5; ++i) {
    AddHit(&raw,
           "v=1&tid=UA-1-1&cid=1." + std::to_string(i) +
               "&t=pageview&dl=https%3A%2F%2Fshop.example%2F",
           t0);
    AddHit(&raw,
           "v=1&tid=UA-2-1&cid=2." + std::to_string(i) +
               "&t=pageview&dl=https%3A%2F%2Fblog.example%2F",
           t0);
  }
  workers[0]->OnTick(t0);
  workers[0]->OnBatch(raw);
  EXPECT_EQ(Sample(registry, "beacond_events_accepted_total"), 6u);
  EXPECT_EQ(Sample(registry, "beacond_site_budget_dropped_total{site=\"1\",reason=\"site_rate\"}"),
            2u);
  EXPECT_EQ(budgets.dropped(2), 2u);
  // Each site's first three beacons were taken, its last two refused.
  using kernels::BeaconStatus;
  const auto status = workers[0]->batch_status();
  ASSERT_EQ(status.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(status[i], i < 6 ? BeaconStatus::kTaken : BeaconStatus::kOverBudget) << i;
  }
}

TEST(WorkerPipelineTest, BeaconsOverBudgetAnswered429) {
  const auto sites = kernels::SiteRegistry::Parse(kSites);
  Forwarder forwarder(UnreachableForwarder(1 << 20));
  SiteBudgets budgets(sites, {{0.001, 2}, {}});
  PipelineConfig config;
  config.budgets = &budgets;
  std::vector<std::unique_ptr<WorkerPipeline>> workers;
  workers.push_back(std::make_unique<WorkerPipeline>(0, config, &sites, &forwarder));
  MetricsRegistry registry;
  HttpServerConfig server_config;
  server_config.port = 0;
  HttpServer server(server_config, {workers[0].get()});
  server.RegisterMetrics(&registry, "http");
  server.Start();
  // Four pipelined beacons in one batch: two within the burst, two over it.
  std::string requests;
  for (int i = 0; i < 4; ++i) {
    requests += "GET /collect?v=1&tid=UA-1-1&cid=" + std::to_string(i) +
                ".1&t=pageview&dl=https%3A%2F%2Fshop.example%2F HTTP/1.1\r\nHost: x\r\n" +
                (i == 3 ? "Connection: close\r\n" : "") + "\r\n";
  }
  const std::string response = Exchange(server.port(), requests);
  server.Stop();
  const auto count = [&response](const std::string& status) {
    size_t n = 0;
    for (size_t at = response.find(status); at != std::string::npos;
         at = response.find(status, at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count("HTTP/1.1 200"), 2u) << response;
  EXPECT_EQ(count("HTTP/1.1 429"), 2u) << response;
  const size_t first_429 = response.find("HTTP/1.1 429");
  EXPECT_LT(response.rfind("HTTP/1.1 200"), first_429) << response;
  EXPECT_NE(response.find("Retry-After: 1\r\n", first_429), std::string::npos) << response;
  EXPECT_EQ(Sample(registry, "http_requests_over_budget_total"), 2u);
  EXPECT_EQ(budgets.dropped(1), 2u);
}

// Relay datagrams over their site's budget cannot be answered: they are dropped and counted
// per site, the ones within it taken.
TEST(WorkerPipelineTest, RelayDatagramsOverBudgetAreDroppedAndCounted) {
  const auto sites = kernels::SiteRegistry::Parse(kSites);
  Forwarder forwarder(UnreachableForwarder(1 << 20));
  SiteBudgets budgets(sites, {{0.001, 5}, {}});
  PipelineConfig config;
  config.budgets = &budgets;
  WorkerPipeline pipeline(0, config, &sites, &forwarder);
  UdpRelayConfig relay_config;
  relay_config.ports = {{0, kernels::Endpoint::kUdpHitBatch}};
  UdpRelay relay(relay_config, {&pipeline});
  relay.Start();
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(relay.bound_ports()[0]);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < 20; ++i) {
    const std::string hit = "v=1&tid=UA-1-1&cid=" + std::to_string(i) +
                            ".1&t=pageview&dl=https%3A%2F%2Fshop.example%2F&ua=" + kUa;
    ASSERT_EQ(sendto(fd, hit.data(), hit.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
              static_cast<ssize_t>(hit.size()));
  }
  close(fd);
  for (int i = 0; i < 1000 && pipeline.beacons() < 20; ++i) usleep(5'000);
  relay.Stop();
  EXPECT_EQ(pipeline.beacons(), 20u);
  EXPECT_EQ(pipeline.accepted_events(), 5u);
  EXPECT_EQ(budgets.dropped(1), 15u);
}

TEST(WorkerPipelineTest, ShedsWith503WhileTheForwarderRefuses) {
  const auto sites = kernels::SiteRegistry::Parse(kSites);
  // The first epoch fills the bound (it is taken alone); nothing drains it (no thread).
  Forwarder forwarder(UnreachableForwarder(1));
  PipelineConfig config;
  config.epoch_ms = 10;
  std::vector<std::unique_ptr<WorkerPipeline>> workers;
  workers.push_back(std::make_unique<WorkerPipeline>(0, config, &sites, &forwarder));
  MetricsRegistry registry;
  RegisterPipelineMetrics(&registry, &workers);

  HttpServerConfig server_config;
  server_config.port = 0;
  server_config.tick_ms = 5;
  server_config.retry_after_s = 7;
  HttpServer server(server_config, {workers[0].get()});
  server.RegisterMetrics(&registry, "http");
  server.Start();

  // Epoch 1 is taken; a later epoch is refused and held: from then on the worker sheds.
  // Ticks may lag on a loaded machine, so keep sending until the first 503.
  uint64_t admitted = 0;
  std::string head;
  for (int i = 0; i < 500; ++i) {
    head = Get(server.port());
    if (head.find("HTTP/1.1 503") != std::string::npos) break;
    ASSERT_NE(head.find("HTTP/1.1 200"), std::string::npos) << head;
    ++admitted;
    usleep(20'000);
  }
  ASSERT_NE(head.find("HTTP/1.1 503"), std::string::npos) << head;
  EXPECT_NE(head.find("Retry-After: 7"), std::string::npos) << head;
  EXPECT_GE(admitted, 2u);
  EXPECT_GE(Sample(registry, "http_requests_shed_total"), 1u);
  EXPECT_GE(Sample(registry, "beacond_shed_rounds_total"), 1u);
  // Shed beacons were never taken in: only the admitted ones were counted.
  EXPECT_EQ(Sample(registry, "beacond_beacons_received_total"), admitted);
  server.Stop();
  EXPECT_FALSE(workers[0]->Flush());  // still refused: the drain would report it
}

}  // namespace
}  // namespace beacon::host
