// beacon-gen verify / wait-metrics: compares what landed in ClickHouse and beacond's counters
// with the ground truth, using the analyst queries documented in bench/gen/README.md.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <string_view>

#include "bench/gen/ground_truth.h"

namespace beacon::bench {

struct HttpGetResult {
  long status = 0;
  std::string body;
  std::string error;  // transport error; empty when a response came
};

// One GET with libcurl: http:// (loopback metrics endpoints) or file:// (a saved scrape,
// reported as status 200 when read).
HttpGetResult HttpGet(const std::string& url, int timeout_ms);

// The counters of a Prometheus text scrape that the truth is checked against.
struct BeaconCounters {
  uint64_t accepted = 0;                    // beacond_events_accepted_total, all label sets
  std::map<std::string, uint64_t> rejects;  // beacond_rejects_total by reason label
  uint64_t rejected() const;
};

BeaconCounters ParseBeaconCounters(std::string_view prometheus_text);

struct VerifyOptions {
  std::string clickhouse_url = "http://127.0.0.1:8123";
  std::string database = "beacon";
  std::string metrics_url;  // empty: counters are not checked
  // uniqHLL12: exact up to 16 distinct values; 3 sigma of the error measured on 18.16 is
  // about 9 % (docs/analyst-queries.md), so 10 % bounds it.
  double visitor_error = 0.10;
  size_t top_sites = 5;
};

// Runs every check, writing the summary table and a final "VERIFY OK" or
// "VERIFY FAILED: ..." line to `out`. Returns whether every check passed.
bool Verify(const TruthSummary& truth, const VerifyOptions& options, std::ostream& out);

// Polls `metrics_url` until accepted + rejected hits reach truth.sent_hits (true) or
// `timeout_s` passes (false). Writes progress to `out`.
bool WaitForMetrics(const TruthSummary& truth, const std::string& metrics_url, double timeout_s,
                    std::ostream& out);

}  // namespace beacon::bench
