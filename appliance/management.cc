// Management routes: scrape, liveness, readiness and the bearer-token check.
#include "appliance/management.h"

#include <algorithm>
#include <string>
#include <utility>

#include "kernels/clock.h"

namespace beacon::app {
namespace {

// 200 with `fine` when there are no problems, else 503 listing them.
host::HttpResponse Answer(std::string problems, std::string_view fine) {
  host::HttpResponse response;
  response.status = problems.empty() ? 200 : 503;
  response.body = problems.empty() ? std::string(fine) : std::move(problems);
  return response;
}

bool Draining(const HealthSources& sources) {
  return sources.draining != nullptr && sources.draining->load(std::memory_order_relaxed);
}

// The problems of liveness, one line each; empty when live.
std::string Stalled(const HealthSources& sources, int64_t now_ms) {
  std::string problems;
  for (const auto& p : *sources.pipelines) {
    const int64_t last = p->last_tick_ms();
    if (last != 0 && now_ms - last >= sources.stall_ms) {
      problems += "worker " + std::to_string(p->worker()) + " stalled for " +
                  std::to_string(now_ms - last) + " ms\n";
    }
  }
  return problems;
}

// Compares without an early exit, so the time taken does not tell how much of a guess matched.
bool SameSecret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace

host::HttpResponse Liveness(const HealthSources& sources, int64_t now_ms) {
  // Draining, the ingress has stopped on purpose: the workers no longer go round.
  if (Draining(sources)) return Answer({}, "ok\n");
  return Answer(Stalled(sources, now_ms), "ok\n");
}

host::HttpResponse Readiness(const HealthSources& sources, int64_t now_ms) {
  std::string problems = Stalled(sources, now_ms);
  if (Draining(sources)) problems += "draining\n";
  // A worker behind keeps taking beacons into the archive whatever room the forwarder has, and
  // so does one that falls behind when it is full; only one that would shed needs the room.
  const bool needs_room = std::any_of(sources.pipelines->begin(), sources.pipelines->end(),
                                      [](const auto& p) { return p->sheds_when_forwarder_full(); });
  if (needs_room && !sources.forwarder->HasRoom()) {
    problems += "forwarder full: ClickHouse is not keeping up\n";
  }
  for (const auto& p : *sources.pipelines) {
    if (p->shedding()) problems += "worker " + std::to_string(p->worker()) + " shedding\n";
  }
  return Answer(std::move(problems), "ready\n");
}

host::HttpHandler RequireBearer(std::string token, host::HttpHandler handler) {
  if (token.empty()) return handler;
  return [token = std::move(token), handler = std::move(handler)](const kernels::HttpRequest& r) {
    constexpr std::string_view kScheme = "Bearer ";
    const std::string_view given = r.Header("authorization");
    if (given.size() > kScheme.size() && given.substr(0, kScheme.size()) == kScheme &&
        SameSecret(given.substr(kScheme.size()), token)) {
      return handler(r);
    }
    host::HttpResponse response;
    response.status = 401;
    response.body = "bearer token required\n";
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"beacond\"");
    return response;
  };
}

void ServeManagement(host::HttpServer* management, const host::MetricsRegistry* metrics,
                     const HealthSources& sources, const std::string& token) {
  management->AddHandler("/metrics", RequireBearer(token, [metrics](const kernels::HttpRequest&) {
                           host::HttpResponse response;
                           response.content_type = "text/plain; version=0.0.4; charset=utf-8";
                           response.body = metrics->Scrape();
                           return response;
                         }));
  management->AddHandler("/healthz", RequireBearer(token, [sources](const kernels::HttpRequest&) {
                           return Liveness(sources, kernels::MonotonicMillis());
                         }));
  management->AddHandler("/readyz", RequireBearer(token, [sources](const kernels::HttpRequest&) {
                           return Readiness(sources, kernels::MonotonicMillis());
                         }));
}

void ServeReload(host::HttpServer* management, const std::string& token,
                 std::function<ReloadOutcome()> reload) {
  management->AddHandler(
      "/reload", RequireBearer(token, [reload = std::move(reload)](const kernels::HttpRequest& r) {
        host::HttpResponse response;
        if (r.method != "POST") {
          response.status = 405;
          response.body = "POST /reload re-reads the config and the site registry\n";
          response.headers.emplace_back("Allow", "POST");
          return response;
        }
        const ReloadOutcome outcome = reload();
        response.status = outcome.ok ? 200 : 422;
        response.body = outcome.message + "\n";
        return response;
      }));
}

}  // namespace beacon::app
