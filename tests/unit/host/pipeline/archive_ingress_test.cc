// The raw archive on the live path: every beacon of a batch within its sites' budgets is
// archived (without its IP address) before its events are aggregated, and an HTTP beacon request is
// answered 2xx only once its record is durable; a record lost to a failed sync answers 503 with
// Retry-After, and the worker stops admitting until the archive resumes.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "host/archive/archive_scanner.h"
#include "host/archive/fault_injection_file_system.h"
#include "host/archive/file_system.h"
#include "host/net/http_server.h"
#include "host/pipeline/archive_record.h"
#include "host/pipeline/worker_pipeline.h"
#include "kernels/visitor.h"
#include "tests/unit/host/pipeline/pipeline_test_util.h"

namespace beacon::host {
namespace {

constexpr char kSites[] = "1 shop UA-1-1 shop.example\n";
constexpr char kUa[] = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0";
constexpr int64_t kNowMs = 1'700'000'000'123;
const kernels::VisitorSalts kSalts{.day = kNowMs / 86'400'000, .today = 0x5a17, .yesterday = 0};

class ArchiveIngressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/archive_ingress_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config_.archive.enabled = true;
    config_.archive.writer.directory = dir_ + "/archive";
    config_.archive.writer.retry_interval_ms = 50;
    forwarder_config_.clickhouse.url = "http://127.0.0.1:1";
    forwarder_config_.max_pending_bytes = 64 << 20;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::pair<uint64_t, std::string>> Scan() {
    std::vector<std::pair<uint64_t, std::string>> records;
    ArchiveScanner scanner(posix_, config_.archive.writer.directory);
    EXPECT_EQ(scanner.Seek(0, 1), 0);
    uint64_t sequence = 0;
    kernels::ArchiveRecord record;
    while (scanner.Next(&sequence, &record)) {
      records.emplace_back(sequence, std::string(record.payload));
      address_hashes_.push_back(record.address_hash);
    }
    return records;
  }

  static HttpServerConfig AnyPort() {
    HttpServerConfig config;
    config.port = 0;
    return config;
  }

  // Worker 0 with its archive in `fs`, behind a started HTTP server on a free port.
  struct Served {
    Served(const ArchiveIngressTest& test, FileSystem& fs)
        : forwarder(test.forwarder_config_),
          pipeline(0, test.config_, &test.sites_, &forwarder),
          server(AnyPort(), {&pipeline}) {
      EXPECT_EQ(pipeline.OpenArchive(fs), 0);
      server.Start();
    }
    Forwarder forwarder;
    WorkerPipeline pipeline;
    HttpServer server;
  };

  std::string dir_;
  PipelineConfig config_;
  ForwarderConfig forwarder_config_;
  PosixFileSystem posix_;
  std::vector<uint64_t> address_hashes_;
  const kernels::SiteRegistry sites_ = kernels::SiteRegistry::Parse(kSites);
};

TEST_F(ArchiveIngressTest, ArchivesEveryBeaconBeforeDecodingAndNoAddress) {
  Forwarder forwarder(forwarder_config_);
  WorkerPipeline pipeline(0, config_, &sites_, &forwarder);
  ASSERT_EQ(pipeline.OpenArchive(posix_), 0);
  EXPECT_TRUE(pipeline.DefersAnswers());
  const kernels::IpAddress client = kernels::IpAddress::FromV4(0xC0A80001);
  const std::string hit = "v=1&tid=UA-1-1&t=pageview&dl=https%3A%2F%2Fshop.example%2Fa";
  const std::string syslog =
      "<190>Nov 14 22:15:23 proxy1 beacon: beacon1\t1700000000.123\t10.1.2.3\tGET\t/collect?" +
      hit + "\t" + kUa + "\t-\tDE\t";
  kernels::RawBatch raw;
  ASSERT_TRUE(raw.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp, hit, kUa, client,
                      kNowMs));
  ASSERT_TRUE(raw.Add(kernels::Endpoint::kUdpSyslog, kernels::IngressKind::kUdpRelay, syslog, {},
                      client, kNowMs));
  pipeline.OnBatch(raw);
  EXPECT_EQ(
      std::vector<uint64_t>(pipeline.batch_sequences().begin(), pipeline.batch_sequences().end()),
      (std::vector<uint64_t>{1, 2}));
  pipeline.Flush();  // syncs the archive (the forwarder, unreachable, still refuses)
  EXPECT_GE(pipeline.PollDurability().durable, 2u);

  const auto records = Scan();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].second, hit);
  EXPECT_EQ(records[1].second.find("10.1.2.3"), std::string::npos) << records[1].second;
  EXPECT_NE(records[1].second.find("1700000000.123\t\tGET"), std::string::npos);
  // Without salts the address hash is 0; the decoder took both beacons all the same.
  EXPECT_EQ(address_hashes_[0], 0u);
  EXPECT_EQ(pipeline.beacons(), 2u);
}

TEST_F(ArchiveIngressTest, BeaconsOverBudgetAreNeitherArchivedNorAggregated) {
  SiteBudgets budgets(sites_, {{0.001, 2}, {}});
  config_.budgets = &budgets;
  Forwarder forwarder(forwarder_config_);
  WorkerPipeline pipeline(0, config_, &sites_, &forwarder);
  ASSERT_EQ(pipeline.OpenArchive(posix_), 0);
  kernels::RawBatch raw;
  for (int i = 0; i < 4; ++i) {
    const std::string hit = "v=1&tid=UA-1-1&cid=" + std::to_string(i) +
                            ".1&t=pageview&dl=https%3A%2F%2Fshop.example%2F";
    ASSERT_TRUE(raw.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp, hit, kUa,
                        kernels::IpAddress::FromV4(0xC0A80001), kNowMs));
  }
  // A beacon no site's budget covers (it decodes to nothing) is archived as before.
  ASSERT_TRUE(raw.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp, "v=1", kUa,
                      kernels::IpAddress::FromV4(0xC0A80001), kNowMs));
  pipeline.OnBatch(raw);
  EXPECT_EQ(
      std::vector<uint64_t>(pipeline.batch_sequences().begin(), pipeline.batch_sequences().end()),
      (std::vector<uint64_t>{1, 2, 0, 0, 3}));
  EXPECT_EQ(pipeline.batch_status()[2], kernels::BeaconStatus::kOverBudget);
  pipeline.Flush();
  EXPECT_EQ(pipeline.accepted_events(), 2u);  // counted once durable
  const auto records = Scan();
  ASSERT_EQ(records.size(), 4u);  // and the epoch's marker, over records 1..3
  EXPECT_EQ(records[3].first, 4u);
  EXPECT_EQ(records[3].second.substr(0, 4), "EPCH");
  EXPECT_NE(records[1].second.find("cid=1.1"), std::string::npos);
  EXPECT_EQ(records[2].second, "v=1");
}

TEST_F(ArchiveIngressTest, SampledBeaconsAreArchivedAndAggregatedWithTheirWeight) {
  SiteBudgetConfig budget_config{{0.001, 1}, {}};
  budget_config.over_budget = OverBudget::kSample;
  budget_config.sample_one_in = 4;
  SiteBudgets budgets(sites_, budget_config);
  config_.budgets = &budgets;
  Forwarder forwarder(forwarder_config_);
  WorkerPipeline pipeline(0, config_, &sites_, &forwarder);
  ASSERT_EQ(pipeline.OpenArchive(posix_), 0);
  kernels::RawBatch raw;
  for (int i = 0; i < 200; ++i) {
    const std::string hit = "v=1&tid=UA-1-1&cid=" + std::to_string(i) +
                            ".1&t=pageview&dl=https%3A%2F%2Fshop.example%2F";
    ASSERT_TRUE(raw.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp, hit, kUa,
                        kernels::IpAddress::FromV4(0xC0A80001), kNowMs));
  }
  pipeline.OnBatch(raw);
  pipeline.Flush();
  // The one beacon within the burst weighs 1, each sampled one 4; the rest were refused.
  ArchiveScanner scanner(posix_, config_.archive.writer.directory);
  ASSERT_EQ(scanner.Seek(0, 1), 0);
  uint64_t sequence = 0;
  kernels::ArchiveRecord record;
  uint64_t records = 0;
  uint64_t weight = 0;
  while (scanner.Next(&sequence, &record)) {
    if (kernels::IsControlRecord(record)) continue;  // the epoch's marker
    ++records;
    weight += record.weight;
    EXPECT_TRUE(record.weight == 1 || record.weight == 4) << record.weight;
  }
  EXPECT_EQ(pipeline.accepted_events(), records);
  EXPECT_EQ(weight, 1 + 4 * (records - 1));
  EXPECT_NEAR(static_cast<double>(records - 1), 199 / 4.0, 15);
  EXPECT_EQ(budgets.dropped(1, BudgetDrop::kSampledOut), 200 - records);
}

TEST_F(ArchiveIngressTest, RecordsCarryTheSaltedAddressHash) {
  kernels::RawBatch raw;
  const kernels::IpAddress client = kernels::IpAddress::FromV4(0xC0A80001);
  ASSERT_TRUE(raw.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp, "v=1", kUa,
                      client, kNowMs));
  std::string scratch;
  const kernels::ArchiveRecord record = ArchiveRecordOf(raw, 0, kSalts, &scratch);
  uint64_t expected = 0;
  ASSERT_TRUE(kernels::AddressHash(kSalts, kNowMs, client, &expected));
  EXPECT_EQ(record.address_hash, expected);
  EXPECT_NE(expected, 0u);
}

TEST_F(ArchiveIngressTest, AnswersOnlyDurableBeaconsAnd503sWhatASyncLost) {
  FaultInjectionFileSystem fs(posix_);
  Forwarder forwarder(forwarder_config_);
  std::vector<std::unique_ptr<WorkerPipeline>> workers;
  workers.push_back(std::make_unique<WorkerPipeline>(0, config_, &sites_, &forwarder));
  ASSERT_EQ(workers[0]->OpenArchive(fs), 0);
  MetricsRegistry registry;
  RegisterPipelineMetrics(&registry, &workers);
  HttpServerConfig server_config;
  server_config.port = 0;
  server_config.tick_ms = 5;
  server_config.retry_after_s = 4;
  HttpServer server(server_config, {workers[0].get()});
  server.RegisterMetrics(&registry, "http");
  server.Start();

  for (uint64_t i = 1; i <= 3; ++i) {
    ASSERT_NE(Get(server.port()).find("HTTP/1.1 200"), std::string::npos);
    EXPECT_GE(workers[0]->archive()->durable_sequence(), i);  // durable before the answer
  }
  fs.FailSyncs(ENOSPC);
  const std::string lost = Get(server.port());
  EXPECT_NE(lost.find("HTTP/1.1 503"), std::string::npos) << lost;
  EXPECT_NE(lost.find("Retry-After: 4"), std::string::npos) << lost;
  EXPECT_EQ(Sample(registry, "http_requests_unarchived_total"), 1u);
  EXPECT_GE(Sample(registry, "beacond_archive_write_errors_total"), 1u);
  EXPECT_EQ(Sample(registry, "beacond_archive_dropped_records_total"), 1u);
  // Until the archive resumes, the worker does not admit: 503 without taking the beacon.
  std::string head = Get(server.port());
  EXPECT_NE(head.find("HTTP/1.1 503"), std::string::npos) << head;
  fs.FailSyncs(0);
  for (int i = 0; i < 200 && head.find("HTTP/1.1 200") == std::string::npos; ++i) {
    usleep(10'000);
    head = Get(server.port());
  }
  EXPECT_NE(head.find("HTTP/1.1 200"), std::string::npos) << head;
  server.Stop();
  EXPECT_EQ(Sample(registry, "beacond_archive_durable_lag_records{worker=\"0\"}"), 0u);
  // Accepted: the hits of the beacons answered 200, not the one answered 503 (its client sends
  // it again).
  EXPECT_EQ(Sample(registry, "beacond_events_accepted_total"), 4u);
  workers.clear();
  // Exactly the beacons answered 200 are in the archive.
  EXPECT_EQ(Scan().size(), 4u);
}

// Pipelined requests on one keep-alive connection: a 404 behind a held beacon answer leaves
// after it, so the answers keep request order.
TEST_F(ArchiveIngressTest, HeldAnswersKeepPipelinedOrder) {
  Served served(*this, posix_);
  WorkerPipeline& pipeline = served.pipeline;
  HttpServer& server = served.server;
  const std::string beacon =
      "GET /collect?v=1&tid=UA-1-1&cid=1.1&t=pageview&dl=https%3A%2F%2Fshop.example%2F "
      "HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string requests = beacon + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + beacon +
                               "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string response = Exchange(server.port(), requests);
  std::vector<std::string> statuses;
  for (size_t at = response.find("HTTP/1.1 "); at != std::string::npos;
       at = response.find("HTTP/1.1 ", at + 1)) {
    statuses.push_back(response.substr(at + 9, 3));
  }
  EXPECT_EQ(statuses, (std::vector<std::string>{"200", "404", "200", "404"})) << response;
  server.Stop();
  EXPECT_GE(pipeline.archive()->durable_sequence(), 2u);
}

// A stop while pipelined beacons wait for their sync: nothing more is read, and every beacon
// taken in is answered before the connection closes, so that no archived beacon goes
// unanswered (its client would send it again).
TEST_F(ArchiveIngressTest, AStopAnswersEveryArchivedBeacon) {
  Served served(*this, posix_);
  WorkerPipeline& pipeline = served.pipeline;
  HttpServer& server = served.server;
  std::string requests;
  for (int i = 0; i < 2000; ++i) {
    requests +=
        "GET /collect?v=1&tid=UA-1-1&cid=1.1&t=pageview&dl=https%3A%2F%2Fshop.example%2F "
        "HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(send(fd, requests.data(), requests.size(), 0), static_cast<ssize_t>(requests.size()));
  while (pipeline.beacons() == 0) usleep(100);
  std::thread stop([&server] { server.Stop(); });  // which waits for this client to close
  std::string response;
  char buf[4096];
  ssize_t n = 0;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  stop.join();
  ASSERT_TRUE(pipeline.Flush());
  size_t answered = 0;
  for (size_t at = response.find("HTTP/1.1 200"); at != std::string::npos;
       at = response.find("HTTP/1.1 200", at + 1)) {
    ++answered;
  }
  EXPECT_GT(answered, 0u);
  EXPECT_EQ(answered, pipeline.archive()->durable_sequence() - pipeline.epochs_closed());
}

}  // namespace
}  // namespace beacon::host
