// The management listener's routes: /metrics, /healthz (liveness), /readyz (readiness) and
// /reload, every one behind a bearer token when one is configured.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

// `handler`, answering 401 unless the request carries "Authorization: Bearer <token>"; an empty
// token lets every request through.
host::HttpHandler RequireBearer(std::string token, host::HttpHandler handler);

// Adds /metrics (over `metrics`), /healthz and /readyz to `management`, behind `token`.
void ServeManagement(host::HttpServer* management, const host::MetricsRegistry* metrics,
                     const HealthSources& sources, const std::string& token);

// Adds POST /reload (behind `token`) to `management`: runs `reload` and answers 200 with its
// message when it applied, 422 with the reason when it refused; 405 for another method.
void ServeReload(host::HttpServer* management, const std::string& token,
                 std::function<ReloadOutcome()> reload);

}  // namespace beacon::app
