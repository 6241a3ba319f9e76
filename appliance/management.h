// The management listener's routes: /metrics (rendered off the listener's worker), /healthz
// (liveness), /readyz (readiness) and /reload, every one behind the Host check, the cross-origin
// check of a POST and a bearer token when one is configured.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "appliance/coalesced_runs.h"
#include "appliance/reload.h"
#include "host/forward/forwarder.h"
#include "host/metrics/metrics.h"
#include "host/net/http_server.h"
#include "host/pipeline/worker_pipeline.h"

namespace beacon::app {

// What liveness and readiness are judged from; every pointer outlives the routes.
struct HealthSources {
  const std::vector<std::unique_ptr<host::WorkerPipeline>>* pipelines = nullptr;
  const host::Forwarder* forwarder = nullptr;
  const std::atomic<bool>* draining = nullptr;  // set once SIGTERM's drain has begun
  int stall_ms = 5000;  // a worker that has not ticked for this long is stalled
};

// Liveness: 200 when every worker pipeline ticked within stall_ms (its ingress loop goes
// round) or the drain has begun, 503 naming the stalled workers otherwise. `now_ms` is
// CLOCK_MONOTONIC.
host::HttpResponse Liveness(const HealthSources& sources, int64_t now_ms);
// Readiness: live, not draining, the forwarder has room for epochs (unless every worker is
// behind: taking beacons into the archive, as after a start with ClickHouse down) and no worker
// is shedding (answering 503); 503 with the reasons otherwise.
host::HttpResponse Readiness(const HealthSources& sources, int64_t now_ms);

// Who may use the management listener. A web browser on the node reaches a loopback listener
// too: a page of another site may have its name resolve to 127.0.0.1 and read the answers (DNS
// rebinding: the request's Host is then that name), or send a simple POST (CSRF).
struct ManagementAccess {
  std::string token;  // the bearer token; "": none
  // Host names a request may carry besides IP literals and localhost (no port; compared
  // ignoring case): [management] allowed_hosts and the listen address.
  std::vector<std::string> allowed_hosts;
};

// Why the management listener refused a request before its route ran.
enum class ManagementReject : uint8_t { kHostNotAllowed, kCrossOrigin, kBadToken, kCount };

// Puts routes behind ManagementAccess and counts what it refuses. Outlives the routes.
class ManagementGuard {
 public:
  explicit ManagementGuard(ManagementAccess access) : access_(std::move(access)) {}
  ManagementGuard(const ManagementGuard&) = delete;
  ManagementGuard& operator=(const ManagementGuard&) = delete;

  // `handler` behind, in this order: the Host check (403 unless HostAllowed), for a method
  // other than GET and HEAD the origin check (403 when Sec-Fetch-Site is not same-origin or
  // none, or Origin is not http(s):// and the request's Host) and, with a token, 401 unless
  // the request carries "Authorization: Bearer <token>".
  host::HttpHandler Guard(host::HttpHandler handler) const;
  // The same for a route that answers later (/metrics, /reload): a refusal is answered at once
  // and `handler` is not called.
  host::DeferredHttpHandler Guard(host::DeferredHttpHandler handler) const;
  // The refusal Guard answers for `request` (counted), or nothing when it may pass.
  std::optional<host::HttpResponse> Refuse(const kernels::HttpRequest& request) const;

  uint64_t rejects(ManagementReject reason) const {
    return rejects_[static_cast<size_t>(reason)].load(std::memory_order_relaxed);
  }
  // beacond_management_rejects_total{reason}.
  void RegisterMetrics(host::MetricsRegistry* registry) const;

 private:
  std::optional<ManagementReject> Refusal(const kernels::HttpRequest& request) const;

  const ManagementAccess access_;
  mutable std::array<std::atomic<uint64_t>, static_cast<size_t>(ManagementReject::kCount)>
      rejects_{};
};

// True when `host` (a Host header's value) is an IPv4 literal or a bracketed IPv6 literal,
// "localhost" or one of `allowed` (ignoring case and a trailing dot), with an optional port; or
// empty (a request without Host: HTTP/1.0, never a browser).
bool HostAllowed(std::string_view host, const std::vector<std::string>& allowed);

// Renders /metrics answers on a thread of its own, off the management worker: a render of a
// large registry takes 0.1 s to a second, which /healthz and /readyz must not wait for. Scrapes
// asked for while one renders wait for the next render, which answers all of them
// (CoalescedRuns): at most one render in progress and one due, whatever the number of scrapers.
class MetricsRenderer {
 public:
  // `metrics` (and what its collectors read) outlives the renderer.
  explicit MetricsRenderer(const host::MetricsRegistry* metrics);
  // Waits for the render in progress, if any; the scrapes still waiting get 503 "beacond is
  // stopping". Stop the listener that asks first: no Request may come once this runs.
  ~MetricsRenderer() = default;

  // Asks for a render begun after this call; `respond` gets the answer on the renderer's thread.
  void Request(host::HttpRespond respond);

 private:
  CoalescedRuns<host::HttpResponse> runs_;
};

// Adds /metrics (rendered by `renderer`), /healthz and /readyz to `management`, behind `guard`.
// A scrape is answered later, without holding the management worker; /healthz and /readyz are
// answered on it at once. Stop `management` before `renderer` goes, and `renderer` before the
// listener's own counters do (a render reads them).
void ServeManagement(host::HttpServer* management, MetricsRenderer* renderer,
                     const HealthSources& sources, const ManagementGuard& guard);

// Asks for a reload and returns at once; `done` gets the outcome later, on any thread (beacond:
// Reloader::Request, whose reload runs on the reloader's thread).
using ReloadRequest = std::function<void(std::function<void(const ReloadOutcome&)> done)>;

// Adds POST /reload (behind `guard`) to `management`: asks `request` for a reload (the
// management worker goes on answering /healthz, /readyz and /metrics meanwhile) and answers
// 200 with its message when it applied, 422 with the reason when it refused; a POST made while
// a reload runs waits for the next one (Reloader::Request). 405 for another method.
void ServeReload(host::HttpServer* management, const ManagementGuard& guard, ReloadRequest request);

}  // namespace beacon::app
