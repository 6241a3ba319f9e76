// Sends the model's requests to a collector over keep-alive, pipelined HTTP/1.1 connections
// and builds the ground truth from the requests the collector answered 2xx.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "bench/gen/ground_truth.h"
#include "bench/gen/request_log.h"
#include "bench/gen/traffic_model.h"

namespace beacon::bench {

struct HttpTarget {
  std::string host = "127.0.0.1";
  uint16_t port = 80;
};

// Parses "http://HOST:PORT[/]" (an IPv4 literal or "localhost"); throws std::invalid_argument
// naming the value otherwise.
HttpTarget ParseHttpTarget(std::string_view url);

struct SendOptions {
  HttpTarget target;
  int connections = 4;
  int pipeline = 8;  // requests written before their responses are read
  double rate = 0;   // hits per second over all connections; 0: unlimited
  // No hit's event time (send time - qt) may fall this close before a minute boundary, so
  // the collector's receive time lands in the minute the truth records.
  int64_t minute_guard_ms = 1500;
  // Set: every request is tagged (RequestTag) and its fate logged; a request whose answer a
  // lost connection took is logged in doubt and not resent (beacond's archive tells).
  RequestLog* log = nullptr;
  // > 0: a refused or lost connection is retried every 100 ms until no request was answered
  // for this long (beacond restarting); 0: give up after 5 losses without progress.
  double reconnect_timeout_s = 0;
};

struct SendReport {
  uint64_t hits = 0;  // hits answered 2xx
  uint64_t requests = 0;
  uint64_t bytes = 0;  // request bytes written, resends included
  double seconds = 0;
  uint64_t resends_503 = 0;
  uint64_t reconnects = 0;                    // connections lost with requests unanswered
  uint64_t in_doubt = 0;                      // requests logged in doubt (SendOptions::log)
  std::map<int, uint64_t> unexpected_status;  // non-2xx, non-503 status -> requests
  std::string failure;                        // a connection gave up: why
  // Per answered request: microseconds from its pipelined window's write to its answer.
  std::vector<uint32_t> latency_us;
  GroundTruth truth;

  bool ok() const { return unexpected_status.empty() && failure.empty(); }
};

// Sends every chunk of `model`; blocks until all are answered or a connection gives up.
SendReport SendTraffic(const TrafficModel& model, const SendOptions& options);

// The wire form of one request, with qt set for the current time `now_ms` (see SendOptions::
// minute_guard_ms); `minutes` receives each hit's predicted event minute. A non-empty `tag`
// goes on the first hit as z=TAG.
std::string RequestWire(const Request& request, std::string_view host_header, int64_t now_ms,
                        int64_t minute_guard_ms, std::vector<uint32_t>* minutes,
                        std::string_view tag = {});

}  // namespace beacon::bench
