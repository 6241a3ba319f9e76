// The kernel-socket HTTP/1.1 server: epoll, one worker thread per core, each with its own
// SO_REUSEPORT listening socket. Beacon endpoints (GA /collect and /batch, GA4 /g/collect and
// /mp/collect, Plausible /api/event, Snowplow /i and tp2) are answered at once as the real
// collector answers them (collector_answers.h) and their payloads are appended to the worker's
// RawBatch, handed to that worker's kernels::BeaconSink a batch at a time. Other paths may be
// served by handlers (the management listener's /metrics).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "host/metrics/metrics.h"
#include "kernels/beacon_sink.h"
#include "kernels/enrich/attribution.h"
#include "kernels/http/http_parser.h"

namespace beacon::host {

struct HttpServerConfig {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;  // 0: an ephemeral port; HttpServer::port() tells which
  int workers = 1;       // ignored when sinks are given: one worker per sink
  kernels::HttpLimits limits;
  int idle_timeout_ms = 30'000;
  // From a request's first byte: its head must be complete within header_timeout_ms and the
  // whole request within request_timeout_ms, however the bytes trickle in (408 otherwise).
  int header_timeout_ms = 10'000;
  int request_timeout_ms = 30'000;
  // Wire bytes of one request, framing, chunk sizes and extensions included; more: 413.
  // 0: the head limits plus twice max_body_bytes. Bounds a connection's input buffer too.
  size_t max_request_bytes = 0;
  int tick_ms = 100;                         // kernels::BeaconSink::OnTick period
  size_t max_connections_per_worker = 4096;  // more: answered 503 and closed
  size_t max_connections_per_peer = 1024;    // per worker and client address; more: 429; 0: none
  // At max_connections_per_worker, close the connection idle longest (no byte read or sent) to
  // take the new one, instead of refusing it: clients that connect and say nothing, or stop
  // reading their answers, cannot lock the others out (the management listener's probes).
  bool evict_idle_when_full = false;
  // Beacon requests per second from one source (the client address cut to source_prefix_v4 or
  // source_prefix_v6 bits), per worker, and the burst above that rate; more: 429 with
  // Retry-After. 0: no limit.
  double source_rate_per_s = 0;
  double source_burst = 1;
  int source_prefix_v4 = 32;
  int source_prefix_v6 = 64;
  // accept() out of descriptors (EMFILE, ENFILE) or memory: the listener pauses this long.
  int accept_backoff_ms = 100;
  int retry_after_s = 1;
  // Request headers a CDN puts the visitor's country in, tried in order; the first present one
  // is read with kernels::CountryFromHeader. Empty: countries are unknown.
  std::vector<std::string> country_headers{kernels::kDefaultCountryHeaders.begin(),
                                           kernels::kDefaultCountryHeaders.end()};
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using HttpHandler = std::function<HttpResponse(const kernels::HttpRequest& request)>;
// Gives a deferred handler's answer: call it once, from any thread, also after the server
// stopped or the client left (the answer is dropped then).
using HttpRespond = std::function<void(HttpResponse response)>;
// A handler whose answer comes later, from another thread (long work such as a reload): the
// worker goes on serving the other connections meanwhile.
using DeferredHttpHandler =
    std::function<void(const kernels::HttpRequest& request, HttpRespond respond)>;

class HttpServer {
 public:
  // `sinks`: one per worker, owned by the caller, outliving the server; empty for a server
  // with handler routes only.
  HttpServer(HttpServerConfig config, std::vector<kernels::BeaconSink*> sinks);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves `path` (exact match, any method the handler accepts) on the worker threads.
  // Call before Start.
  void AddHandler(std::string path, HttpHandler handler);
  // Serves `path` with a handler that answers through `respond`, on any thread; until then the
  // connection's later requests wait, neither parsed nor read (one such answer awaited per
  // connection at a time), and it is neither closed as idle nor evicted. An answer given on the
  // worker before the handler returned leaves at once. A connection still waiting when the
  // server stops is closed unanswered. Call before Start.
  void AddDeferredHandler(std::string path, DeferredHttpHandler handler);
  // Binds and starts the workers. Throws std::runtime_error naming the address on failure.
  void Start();
  // The bound port (after Start).
  uint16_t port() const { return port_; }
  // Stops accepting, closes every connection, hands pending beacons to the sinks, calls
  // OnTick a last time and joins the workers. Idempotent.
  void Stop();

  // Registers this server's counters (requests, responses per status, rejects per reason,
  // limits hit, accept errors, connections, bytes, shed) under `prefix` (e.g. "beacond_http").
  void RegisterMetrics(MetricsRegistry* registry, std::string prefix) const;

 private:
  struct Worker;
  HttpServerConfig config_;
  std::vector<kernels::BeaconSink*> sinks_;
  std::vector<std::pair<std::string, HttpHandler>> handlers_;
  std::vector<std::pair<std::string, DeferredHttpHandler>> deferred_handlers_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  uint16_t port_ = 0;
  size_t request_cap_ = 0;  // config_.max_request_bytes, resolved
};

}  // namespace beacon::host
