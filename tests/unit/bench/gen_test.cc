// beacon-gen: the model is deterministic, carries every fault class, agrees with the real
// GA decoder hit by hit, and the sender resends a 503'd request over real sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <gtest/gtest.h>

#include "bench/gen/format_requests.h"
#include "bench/gen/ground_truth.h"
#include "bench/gen/hit_sender.h"
#include "bench/gen/request_log.h"
#include "bench/gen/traffic_model.h"
#include "bench/gen/verify.h"
#include "kernels/aggregate/top_values.h"
#include "kernels/decode.h"
#include "kernels/enrich/attribution.h"
#include "kernels/enrich/user_agent.h"
#include "kernels/raw_batch.h"
#include "kernels/site_registry.h"

namespace beacon::bench {
namespace {

using kernels::RejectReason;

kernels::SiteRegistry Registry(uint32_t sites = 40) {
  return kernels::SiteRegistry::Parse(SiteRegistryText(sites, 7), "generated");
}

// uap-core's patterns, compiled once per test binary (about 5 s).
const kernels::UserAgentClassifier& Classifier() {
  static const auto classifier = kernels::UserAgentClassifier::Load();
  return *classifier;
}

std::vector<Request> AllRequests(const TrafficModel& model) {
  std::vector<Request> all;
  for (uint64_t k = 0; k < model.chunk_count(); ++k) {
    for (auto& r : model.Chunk(k)) all.push_back(std::move(r));
  }
  return all;
}

TEST(SiteRegistryTextTest, ParsesWithTheKernelRegistry) {
  const auto registry = Registry(50);
  ASSERT_EQ(registry.size(), 50u);
  const kernels::Site* site = registry.FindByTrackingId("UA-100007-1");
  ASSERT_NE(site, nullptr);
  EXPECT_EQ(site->site_id, 7u);
  EXPECT_TRUE(kernels::SiteRegistry::HostAllowed(*site, site->name + ".example"));
  EXPECT_TRUE(kernels::SiteRegistry::HostAllowed(*site, "www." + site->name + ".example"));
  EXPECT_FALSE(kernels::SiteRegistry::HostAllowed(*site, "copycat-1.test"));
  EXPECT_EQ(SiteRegistryText(50, 7), SiteRegistryText(50, 7));
}

TEST(TrafficModelTest, SameSeedSameHits) {
  const auto registry = Registry();
  TrafficOptions options;
  options.hits = 3500;
  const TrafficModel a(registry, options);
  const TrafficModel b(registry, options);
  options.seed = 2;
  const TrafficModel c(registry, options);
  const auto ra = AllRequests(a), rb = AllRequests(b), rc = AllRequests(c);
  ASSERT_EQ(ra.size(), rb.size());
  size_t hits = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    ASSERT_EQ(ra[i].transport, rb[i].transport);
    ASSERT_EQ(ra[i].user_agent, rb[i].user_agent);
    ASSERT_EQ(ra[i].hits.size(), rb[i].hits.size());
    for (size_t h = 0; h < ra[i].hits.size(); ++h) {
      EXPECT_EQ(ra[i].hits[h].params, rb[i].hits[h].params);
      EXPECT_EQ(ra[i].hits[h].queue_time_ms, rb[i].hits[h].queue_time_ms);
    }
    hits += ra[i].hits.size();
  }
  EXPECT_EQ(hits, 3500u);
  EXPECT_NE(ra.front().hits.front().params, rc.front().hits.front().params);
}

TEST(TrafficModelTest, MixHasEveryClassAndStaysWithinProtocolLimits) {
  const auto registry = Registry();
  TrafficOptions options;
  options.hits = 20'000;
  options.malformed_share = 0.1;
  const TrafficModel model(registry, options);
  std::map<RejectReason, size_t> faults;
  std::map<kernels::EventKind, size_t> kinds;
  std::map<uint32_t, std::set<std::string>> paths;
  size_t batched = 0, hits = 0, with_qt = 0;
  for (const Request& req : AllRequests(model)) {
    size_t body = 0;
    for (const Hit& hit : req.hits) {
      ++hits;
      EXPECT_LT(hit.params.size() + 16, 8192u);
      body += hit.params.size() + 16;
      with_qt += hit.queue_time_ms >= 0;
      if (hit.reject) {
        ++faults[*hit.reject];
      } else {
        ++kinds[hit.kind];
        if (hit.kind == kernels::EventKind::kPageview) paths[hit.site_id].insert(hit.path);
      }
    }
    if (req.transport == Transport::kBatch) {
      batched += req.hits.size();
      EXPECT_LE(req.hits.size(), 20u);
      EXPECT_LT(body, 16384u);
    }
  }
  EXPECT_EQ(hits, 20'000u);
  for (RejectReason fault : kMalformedClasses) {
    EXPECT_GT(faults[fault], 50u) << kernels::RejectReasonName(fault);
  }
  EXPECT_NEAR(static_cast<double>(faults[RejectReason::kBotUserAgent]) / hits, 0.05, 0.02);
  EXPECT_NEAR(static_cast<double>(batched) / hits, 0.15, 0.04);
  const double accepted =
      static_cast<double>(kinds[kernels::EventKind::kPageview] + kinds[kernels::EventKind::kEvent] +
                          kinds[kernels::EventKind::kOther]);
  EXPECT_NEAR(kinds[kernels::EventKind::kPageview] / accepted, 0.75, 0.03);
  EXPECT_NEAR(kinds[kernels::EventKind::kEvent] / accepted, 0.20, 0.03);
  EXPECT_GT(with_qt, hits / 10);
  for (const auto& [site, set] : paths) EXPECT_LE(set.size(), 200u) << "site " << site;
  EXPECT_GT(paths[1].size(), 15u);  // the largest site shows a spread of pages
}

TEST(RequestWireTest, QueueTimeKeepsEventTimeOutOfTheGuard) {
  Request req{Transport::kBatch, "ua", "", {}};
  Hit hit;
  hit.params = "v=1";
  hit.queue_time_ms = 500;
  req.hits.push_back(hit);
  hit.queue_time_ms = 59'000;
  req.hits.push_back(hit);
  std::vector<uint32_t> minutes;
  // now = 10 min + 59.9 s: the first event time (59.4 s) is inside a 1500 ms guard.
  const int64_t now = 10 * 60'000 + 59'900;
  const std::string wire = RequestWire(req, "h:1", now, 1500, &minutes);
  ASSERT_EQ(minutes.size(), 2u);
  EXPECT_EQ(minutes[0], 10u);
  EXPECT_EQ(minutes[1], 10u);
  EXPECT_NE(wire.find("v=1&qt=1401\nv=1&qt=59000"), std::string::npos) << wire;
  EXPECT_NE(wire.find("Content-Length: 24\r\n"), std::string::npos) << wire;
}

// The labels the ground truth counts devices, browsers and OSes by are what uap-core says.
TEST(HumanAgentsTest, LabelsAgreeWithTheUapCoreClassifier) {
  kernels::UserAgentCache cache(Classifier());
  ASSERT_EQ(HumanAgents().size(), 20u);
  std::set<std::string_view> devices, browsers, oses;
  for (const HumanAgent& agent : HumanAgents()) {
    const kernels::UaClass c = cache.Classify(agent.user_agent);
    EXPECT_FALSE(c.is_bot()) << agent.user_agent;
    EXPECT_EQ(kernels::DeviceClassName(c.device_class()), agent.device) << agent.user_agent;
    EXPECT_EQ(kernels::kBrowserFamilies[c.browser], agent.browser) << agent.user_agent;
    EXPECT_EQ(kernels::kOsFamilies[c.os], agent.os) << agent.user_agent;
    devices.insert(agent.device);
    browsers.insert(agent.browser);
    oses.insert(agent.os);
  }
  EXPECT_EQ(devices.size(), 3u);  // desktop, mobile, tablet
  EXPECT_GE(browsers.size(), 12u);
  EXPECT_GE(oses.size(), 7u);
}

TEST(TruthFileTest, RoundTrips) {
  const auto registry = Registry();
  TrafficOptions options;
  options.hits = 2000;
  const TrafficModel model(registry, options);
  GroundTruth truth;
  uint32_t minute = 29'000'000;
  for (const Request& req : AllRequests(model)) {
    for (const Hit& hit : req.hits) truth.Record(hit, minute + hit.params.size() % 3);
  }
  const TruthSummary summary = truth.Summary();
  std::stringstream file;
  summary.Write(file);
  EXPECT_EQ(TruthSummary::Read(file, "memory"), summary);
  EXPECT_EQ(summary.sent_hits, 2000u);
  EXPECT_GT(summary.accepted, 1700u);
  // Every dimension has rows; values with spaces survive the file.
  std::set<std::string> dimensions;
  for (const auto& [key, cell] : summary.breakdowns) dimensions.insert(std::get<2>(key));
  EXPECT_EQ(dimensions.size(), kernels::kDimensionCount);
  EXPECT_TRUE(summary.breakdown_visitors.count({1, "browser", "Chrome Mobile"}) ||
              summary.breakdown_visitors.count({2, "browser", "Chrome Mobile"}));
}

// Phases of a registry change: the hits of a site beacond lacks are expected as unknown_site,
// the rest as before; the truths of two phases add up.
TEST(TruthFileTest, PhasesWithAnUnregisteredSiteAddUp) {
  const auto registry = Registry(5);
  TrafficOptions options;
  options.hits = 3000;
  options.malformed_share = 0;
  options.bot_share = 0;
  options.unregistered_sites = {2};
  const TrafficModel model(registry, options);
  GroundTruth truth;
  for (const Request& req : AllRequests(model)) {
    for (const Hit& hit : req.hits) {
      EXPECT_EQ(hit.reject.has_value(), hit.site_id == 2);
      truth.Record(hit, 29'000'000);
    }
  }
  const TruthSummary phase = truth.Summary();
  ASSERT_GT(phase.rejects.at("unknown_site"), 0u);
  EXPECT_EQ(phase.accepted + phase.rejects.at("unknown_site"), 3000u);
  TruthSummary both = phase;
  both.Add(phase);
  EXPECT_EQ(both.sent_hits, 6000u);
  EXPECT_EQ(both.accepted, 2 * phase.accepted);
  EXPECT_EQ(both.rejects.at("unknown_site"), 2 * phase.rejects.at("unknown_site"));
  const auto& [key, cell] = *phase.site_minutes.begin();
  EXPECT_EQ(both.site_minutes.at(key).pageviews, 2 * cell.pageviews);
  EXPECT_EQ(both.site_minutes.at(key).visitors, 2 * cell.visitors);
  EXPECT_EQ(both.site_visitors.at(key.first), 2 * phase.site_visitors.at(key.first));
}

// Every generated hit, decoded by the real GA decoder, is accepted or rejected exactly as the
// truth says, lands in the predicted minute and path, and visitors hash as the truth groups them.
TEST(TrafficModelTest, DecoderAgreesWithTheTruthHitByHit) {
  const auto registry = Registry();
  TrafficOptions options;
  options.hits = 6000;
  options.malformed_share = 0.1;
  const TrafficModel model(registry, options);
  kernels::UserAgentCache user_agents(Classifier());
  kernels::DecodeContext ctx;
  ctx.sites = &registry;
  ctx.visitor_key = 0x5eed;
  ctx.user_agents = &user_agents;
  const int64_t now = 1'764'000'000'000 + 12'345;
  std::map<std::string, uint64_t> visitor_hash;
  std::set<std::pair<uint32_t, uint64_t>> hashes_seen;
  kernels::RawBatch raw;  // reused: its arena is large
  size_t disagreements = 0;
  size_t batches = 0;
  for (const Request& req : AllRequests(model)) {
    std::vector<uint32_t> minutes;
    const std::string wire = RequestWire(req, "h:1", now, 1500, &minutes);
    const size_t body_at = wire.find("\r\n\r\n") + 4;
    const size_t query_at = wire.find('?') + 1;
    std::vector<std::string> payloads;
    if (req.transport == Transport::kGet) {
      payloads.push_back(wire.substr(query_at, wire.find(" HTTP/1.1") - query_at));
    } else {
      std::istringstream lines(wire.substr(body_at));
      for (std::string line; std::getline(lines, line);) payloads.push_back(line);
    }
    ASSERT_EQ(payloads.size(), req.hits.size());
    if (req.transport == Transport::kBatch) {
      // The whole body through the /batch path: same verdicts as hit by hit.
      raw.Clear();
      raw.Add(kernels::Endpoint::kGaBatch, kernels::IngressKind::kHttp, wire.substr(body_at),
              req.user_agent, kernels::IpAddress::FromV4(0x7f000001), now);
      kernels::RejectCounters rejects;
      ctx.rejects = &rejects;
      kernels::EventBatch events;
      kernels::DecodeBatch(raw, ctx, &events);
      size_t accepted = 0;
      std::map<RejectReason, uint64_t> want;
      for (const Hit& hit : req.hits) hit.reject ? ++want[*hit.reject] : ++accepted;
      EXPECT_EQ(events.size(), accepted) << wire;
      for (const auto& [reason, n] : want) EXPECT_EQ(rejects.Get(reason), n) << wire;
      ++batches;
    }
    for (size_t h = 0; h < req.hits.size(); ++h) {
      const Hit& hit = req.hits[h];
      raw.Clear();
      raw.Add(kernels::Endpoint::kGaCollect, kernels::IngressKind::kHttp, payloads[h],
              req.user_agent, kernels::IpAddress::FromV4(0x7f000001), now, {},
              kernels::CountryFromHeader(req.country_header));
      kernels::RejectCounters rejects;
      ctx.rejects = &rejects;
      kernels::EventBatch events;
      kernels::DecodeBatch(raw, ctx, &events);
      std::string got = events.size() == 1 ? "accepted" : "";
      for (size_t r = 0; r < kernels::kRejectReasonCount; ++r) {
        const auto reason = static_cast<RejectReason>(r);
        if (rejects.Get(reason) > 0) got += std::string(kernels::RejectReasonName(reason)) + " ";
      }
      const std::string want =
          hit.reject ? std::string(kernels::RejectReasonName(*hit.reject)) + " " : "accepted";
      if (got != want) {
        if (++disagreements <= 10) {
          ADD_FAILURE() << "truth says '" << want << "', decoder says '" << got << "' for UA '"
                        << req.user_agent << "' payload " << payloads[h];
        }
        continue;
      }
      if (hit.reject) continue;
      EXPECT_EQ(events.site_id[0], hit.site_id);
      EXPECT_EQ(events.minute[0], minutes[h]) << payloads[h];
      EXPECT_EQ(events.kind[0], hit.kind) << payloads[h];
      if (hit.kind == kernels::EventKind::kPageview) {
        EXPECT_EQ(events.str(events.path[0]), hit.path) << payloads[h];
      }
      // The breakdown values the truth counts (bench/gen/README.md, "Breakdowns").
      EXPECT_EQ(events.str(events.referrer[0]), hit.referrer) << payloads[h];
      EXPECT_EQ(events.str(events.utm_source[0]), hit.utm_source) << payloads[h];
      EXPECT_EQ(events.str(events.utm_medium[0]), hit.utm_medium) << payloads[h];
      EXPECT_EQ(events.str(events.utm_campaign[0]), hit.utm_campaign) << payloads[h];
      EXPECT_EQ(events.str(events.event_name[0]), hit.event_name) << payloads[h];
      std::array<char, 2> letters;
      EXPECT_EQ(kernels::CountryLetters(events.country[0], &letters), hit.country);
      ASSERT_NE(hit.agent, nullptr);
      EXPECT_EQ(kernels::DeviceClassName(static_cast<kernels::DeviceClass>(events.device[0])),
                hit.agent->device);
      EXPECT_EQ(kernels::kBrowserFamilies[events.browser[0]], hit.agent->browser);
      EXPECT_EQ(kernels::kOsFamilies[events.os[0]], hit.agent->os);
      const auto [it, fresh] = visitor_hash.emplace(hit.visitor, events.visitor[0]);
      EXPECT_EQ(it->second, events.visitor[0]) << "visitor " << hit.visitor;
      if (fresh) {
        EXPECT_TRUE(hashes_seen.emplace(hit.site_id, events.visitor[0]).second)
            << "two visitors share a hash: " << hit.visitor;
      }
    }
  }
  EXPECT_EQ(disagreements, 0u);
  EXPECT_GT(batches, 50u);
}

// A loopback HTTP/1.1 server that answers 200 and counts hits; its 4th answer is a 503 with
// Retry-After: 0, its 11th closes the connection.
class CountingCollector {
 public:
  CountingCollector() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~CountingCollector() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    acceptor_.join();
    for (auto& t : connections_) t.join();
  }
  uint16_t port() const { return port_; }
  uint64_t hits() const { return hits_; }
  uint64_t requests() const { return requests_; }
  uint64_t refused_hits() const { return refused_hits_; }

 private:
  void AcceptLoop() {
    for (;;) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      connections_.emplace_back([this, fd] { Serve(fd); });
    }
  }
  void Serve(int fd) {
    std::string in;
    char buf[65536];
    for (;;) {
      const size_t head_end = in.find("\r\n\r\n");
      if (head_end == std::string::npos) {
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        continue;
      }
      size_t length = 0;
      const size_t cl = in.find("Content-Length: ");
      if (cl != std::string::npos && cl < head_end) length = std::stoul(in.substr(cl + 16));
      if (in.size() < head_end + 4 + length) {
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        continue;
      }
      const std::string body = in.substr(head_end + 4, length);
      uint64_t hits = 1;
      if (in.starts_with("POST /batch ")) hits = 1 + std::count(body.begin(), body.end(), '\n');
      in.erase(0, head_end + 4 + length);
      const uint64_t index = requests_++;
      std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
      if (index == 3) {
        answer =
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 5\r\n\r\nbusy!";
        refused_hits_ += hits;
      }
      if (index == 10) {
        // Close after this answer: the client must resend the requests pipelined behind it.
        answer = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        hits_ += hits;
        ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        ::shutdown(fd, SHUT_WR);
        while (::recv(fd, buf, sizeof(buf), 0) > 0) {
        }
        break;
      }
      hits_ += hits;
      if (::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) < 0) break;
    }
    ::close(fd);
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> connections_;
  std::atomic<uint64_t> hits_{0}, requests_{0}, refused_hits_{0};
};

// Two connections, four requests in flight each, to `collector`.
SendOptions CollectorOptions(const CountingCollector& collector) {
  SendOptions options;
  options.target = ParseHttpTarget("http://127.0.0.1:" + std::to_string(collector.port()));
  options.connections = 2;
  options.pipeline = 4;
  options.minute_guard_ms = 0;  // keep the test fast: no sleeping at minute ends
  return options;
}

TEST(HitSenderTest, SendsEveryHitOnceAndResendsA503AndAfterAClose) {
  CountingCollector collector;
  const auto registry = Registry();
  TrafficOptions traffic;
  traffic.hits = 3000;
  const TrafficModel model(registry, traffic);
  const SendOptions options = CollectorOptions(collector);
  const SendReport report = SendTraffic(model, options);
  ASSERT_TRUE(report.ok()) << report.failure;
  EXPECT_EQ(report.hits, 3000u);
  EXPECT_EQ(report.resends_503, 1u);
  EXPECT_LE(report.reconnects, 1u);
  EXPECT_GE(collector.refused_hits(), 1u);
  EXPECT_EQ(collector.hits(), 3000u + collector.refused_hits());
  EXPECT_EQ(report.requests, collector.requests());
  const TruthSummary truth = report.truth.Summary();
  EXPECT_EQ(truth.sent_hits, 3000u);
  uint64_t pv = 0, rejected = 0;
  for (const auto& [key, cell] : truth.site_minutes) pv += cell.pageviews;
  for (const auto& [reason, n] : truth.rejects) rejected += n;
  uint64_t page_pv = 0;
  for (const auto& [key, n] : truth.pages) page_pv += n;
  EXPECT_EQ(pv, page_pv);
  EXPECT_EQ(truth.accepted + rejected, 3000u);
}

// With a request log: every request tagged, its fate logged; the requests pipelined behind
// the collector's close are in doubt, not resent; the log rebuilds the sender's own truth.
TEST(HitSenderTest, RequestLogRebuildsTheTruthOfAcknowledgedAndArchivedRequests) {
  CountingCollector collector;
  const auto registry = Registry();
  TrafficOptions traffic;
  traffic.hits = 3000;
  const TrafficModel model(registry, traffic);
  const std::string path = ::testing::TempDir() + "/request_log_test.log";
  std::remove(path.c_str());
  SendReport report;
  {
    RequestLog log(path);
    SendOptions options = CollectorOptions(collector);
    options.log = &log;
    options.reconnect_timeout_s = 5;
    report = SendTraffic(model, options);
  }
  ASSERT_TRUE(report.ok()) << report.failure;
  EXPECT_GE(report.in_doubt, 1u);
  EXPECT_LT(report.hits, 3000u);
  std::ifstream acked_only(path);
  const RebuiltTruth rebuilt = RebuildTruth(model, acked_only, nullptr);
  EXPECT_EQ(rebuilt.in_doubt, report.in_doubt);
  EXPECT_EQ(rebuilt.in_doubt_archived, 0u);
  EXPECT_EQ(rebuilt.truth.Summary(), report.truth.Summary());

  std::unordered_set<uint64_t> every_id;
  for (const Request& r : AllRequests(model)) every_id.insert(r.id);
  std::ifstream all(path);
  const RebuiltTruth with_doubt = RebuildTruth(model, all, &every_id);
  EXPECT_EQ(with_doubt.in_doubt_archived, report.in_doubt);
  EXPECT_EQ(with_doubt.acknowledged_not_archived, 0u);
  EXPECT_EQ(with_doubt.acknowledged, collector.requests() - 1);  // all but the 503
  EXPECT_EQ(report.hits, collector.hits() - collector.refused_hits());
  EXPECT_EQ(with_doubt.truth.Summary().sent_hits, 3000u);  // each request acked or in doubt
}

TEST(RequestWireTest, TagGoesOnTheFirstHitAndTagListsParse) {
  const auto registry = Registry();
  TrafficOptions traffic;
  traffic.hits = 1000;
  const TrafficModel model(registry, traffic);
  for (const Request& req : model.Chunk(0)) {
    if (req.transport != Transport::kBatch) continue;
    std::vector<uint32_t> minutes;
    const std::string wire = RequestWire(req, "h:1", 0, 0, &minutes, RequestTag(req.id));
    const std::string body = wire.substr(wire.find("\r\n\r\n") + 4);
    EXPECT_EQ(body.substr(0, body.find('\n')).find("&z=" + RequestTag(req.id)),
              req.hits[0].params.size());
    break;
  }
  std::istringstream tags("bg12\nbg7\n");
  EXPECT_EQ(ReadTagList(tags, "t"), (std::unordered_set<uint64_t>{12, 7}));
  std::istringstream bad("bg\n");
  EXPECT_THROW(ReadTagList(bad, "t"), std::runtime_error);
}

TEST(BeaconCountersTest, SumsLabelSetsAndSplitsRejectsByReason) {
  const BeaconCounters counters = ParseBeaconCounters(
      "# HELP beacond_events_accepted_total Hits accepted.\n"
      "# TYPE beacond_events_accepted_total counter\n"
      "beacond_events_accepted_total{worker=\"0\"} 120\n"
      "beacond_events_accepted_total{worker=\"1\"} 80\n"
      "beacond_rejects_total{worker=\"0\",reason=\"bot_user_agent\"} 7\n"
      "beacond_rejects_total{worker=\"1\",reason=\"bot_user_agent\"} 3\n"
      "beacond_rejects_total{reason=\"unknown_site\"} 2\n"
      "beacond_events_accepted_total_other 999\n"
      "beacond_http_requests_total{code=\"200\"} 5000\n");
  EXPECT_EQ(counters.accepted, 200u);
  EXPECT_EQ(counters.rejects.at("bot_user_agent"), 10u);
  EXPECT_EQ(counters.rejects.at("unknown_site"), 2u);
  EXPECT_EQ(counters.rejected(), 12u);
}

TEST(HttpTargetTest, RejectsWhatIsNotLoopbackHttp) {
  EXPECT_EQ(ParseHttpTarget("http://127.0.0.1:8080/").port, 8080);
  EXPECT_THROW(ParseHttpTarget("https://127.0.0.1:8080"), std::invalid_argument);
  EXPECT_THROW(ParseHttpTarget("http://127.0.0.1"), std::invalid_argument);
  EXPECT_THROW(ParseHttpTarget("http://example.com:80"), std::invalid_argument);
}

// The model's hits in every other tracker format decode to rows with the hit's site, kind,
// page path, referrer and event name (pageviews stay pageviews, other hits become events), and
// bot hits to bot_user_agent rejects.
TEST(TrackerRendererTest, EveryFormatDecodesToTheModelsHits) {
  const auto registry = kernels::SiteRegistry::Parse(TrackerSiteRegistryText(40, 7), "tracker");
  TrafficOptions options;
  options.hits = 3000;
  options.malformed_share = 0;
  const std::vector<Request> requests = AllRequests(TrafficModel(registry, options));
  const TrackerRenderer renderer(registry);
  kernels::UserAgentCache user_agents(Classifier());
  const int64_t now = 1'764'000'000'000;
  for (const TrackerFormat format : {TrackerFormat::kGa4Gtag, TrackerFormat::kGa4Mp,
                                     TrackerFormat::kPlausible, TrackerFormat::kSnowplow}) {
    kernels::RejectCounters rejects;
    kernels::DecodeContext ctx;
    ctx.sites = &registry;
    ctx.rejects = &rejects;
    ctx.visitor_key = 0x5eed;
    ctx.salts = {now / 86'400'000, 7, 8};
    ctx.user_agents = &user_agents;
    uint64_t bots = 0;
    for (const Request& request : requests) {
      kernels::RawBatch raw;
      for (const TrackerRequest& r : renderer.Render(format, request)) {
        ASSERT_TRUE(raw.Add(r.endpoint, kernels::IngressKind::kHttp, r.payload, r.user_agent,
                            kernels::IpAddress::FromV4(0x0A000001), now, r.query));
      }
      kernels::EventBatch events;
      kernels::DecodeBatch(raw, ctx, &events);
      size_t row = 0;
      for (const Hit& hit : request.hits) {
        if (hit.reject) {
          ASSERT_EQ(*hit.reject, RejectReason::kBotUserAgent);
          ++bots;
          continue;
        }
        ASSERT_LT(row, events.size()) << static_cast<int>(format) << " " << hit.params;
        const bool pageview = hit.kind == kernels::EventKind::kPageview;
        EXPECT_EQ(events.site_id[row], hit.site_id);
        EXPECT_EQ(events.kind[row], pageview ? hit.kind : kernels::EventKind::kEvent);
        EXPECT_EQ(events.str(events.path[row]), hit.path) << hit.params;
        EXPECT_EQ(events.str(events.referrer[row]), hit.referrer) << hit.params;
        EXPECT_EQ(events.str(events.event_name[row]), pageview ? "" : hit.event_name);
        ++row;
      }
      EXPECT_EQ(row, events.size());
    }
    EXPECT_GT(bots, 0u);
    EXPECT_EQ(rejects.Total(), bots) << static_cast<int>(format);
    EXPECT_EQ(rejects.Get(RejectReason::kBotUserAgent), bots);
  }
}

}  // namespace
}  // namespace beacon::bench
