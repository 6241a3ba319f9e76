// Management routes: scrape, liveness, readiness; the Host, cross-origin and bearer-token checks.
#include "appliance/management.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "kernels/clock.h"
#include "kernels/http/http_parser.h"

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

constexpr std::array<std::string_view, static_cast<size_t>(ManagementReject::kCount)> kRejectNames =
    {"host_not_allowed", "cross_origin", "bad_token"};
// The body of each refusal's 403.
constexpr std::array<std::string_view, kRejectNames.size()> kRejectAnswers = {
    "Host not allowed: the management listener answers a Host header that is an IP address, "
    "localhost or a name in [management] allowed_hosts (a page whose name was rebound to this "
    "node's address must not read it)\n",
    "cross-origin request refused: a web page of another origin (its Origin or Sec-Fetch-Site "
    "header says so) may not change this node; send it without Origin, as beaconctl and curl "
    "do\n",
    "bearer token required\n"};

// Empty, or ':' and a port of 1 to 5 digits.
bool PortOrNothing(std::string_view rest) {
  if (rest.empty()) return true;
  if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6) return false;
  return std::all_of(rest.begin() + 1, rest.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

// True when `text` is an address of `family` (AF_INET: dotted quad, AF_INET6: RFC 4291 text).
bool IpLiteral(int family, std::string_view text) {
  std::array<char, INET6_ADDRSTRLEN> copy{};  // zeroed: the copy ends with a NUL
  if (text.empty() || text.size() >= copy.size()) return false;
  std::memcpy(copy.data(), text.data(), text.size());
  in6_addr address{};
  return inet_pton(family, copy.data(), &address) == 1;
}

// True when a browser says the request comes from a page of another origin: Sec-Fetch-Site
// other than same-origin or none (the user's own navigation), or an Origin other than
// http(s)://<the request's Host> ("null" included: a sandboxed frame, a local file). Clients
// that are no browser (curl, beaconctl) send neither.
bool CrossOrigin(const kernels::HttpRequest& request) {
  const std::string_view site = request.Header("sec-fetch-site");
  if (!site.empty() && !kernels::EqualsIgnoreCase(site, "same-origin") &&
      !kernels::EqualsIgnoreCase(site, "none")) {
    return true;
  }
  const std::string_view origin = request.Header("origin");
  if (origin.empty()) return false;
  for (const std::string_view scheme :
       {std::string_view("http://"), std::string_view("https://")}) {
    if (origin.size() > scheme.size() &&
        kernels::EqualsIgnoreCase(origin.substr(0, scheme.size()), scheme)) {
      return !kernels::EqualsIgnoreCase(origin.substr(scheme.size()), request.Header("host"));
    }
  }
  return true;
}

}  // namespace

bool HostAllowed(std::string_view host, const std::vector<std::string>& allowed) {
  if (host.empty()) return true;  // HTTP/1.0 without Host: no browser sends that
  if (host.front() == '[') {
    const size_t close = host.find(']');
    return close != std::string_view::npos && IpLiteral(AF_INET6, host.substr(1, close - 1)) &&
           PortOrNothing(host.substr(close + 1));
  }
  const size_t colon = host.find(':');
  std::string_view name = host.substr(0, colon);
  if (colon != std::string_view::npos && !PortOrNothing(host.substr(colon))) return false;
  if (IpLiteral(AF_INET, name)) return true;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);  // the root's dot
  return kernels::EqualsIgnoreCase(name, "localhost") ||
         std::any_of(allowed.begin(), allowed.end(),
                     [name](const std::string& a) { return kernels::EqualsIgnoreCase(name, a); });
}

std::optional<host::HttpResponse> ManagementGuard::Refuse(
    const kernels::HttpRequest& request) const {
  const std::optional<ManagementReject> refusal = Refusal(request);
  if (!refusal) return std::nullopt;
  const auto reason = static_cast<size_t>(*refusal);
  rejects_[reason].fetch_add(1, std::memory_order_relaxed);
  host::HttpResponse response;
  response.status = 403;
  response.body = kRejectAnswers[reason];
  if (*refusal == ManagementReject::kBadToken) {
    response.status = 401;
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"beacond\"");
  }
  return response;
}

host::HttpHandler ManagementGuard::Guard(host::HttpHandler handler) const {
  return [this, handler = std::move(handler)](const kernels::HttpRequest& request) {
    std::optional<host::HttpResponse> refused = Refuse(request);
    return refused ? std::move(*refused) : handler(request);
  };
}

host::DeferredHttpHandler ManagementGuard::Guard(host::DeferredHttpHandler handler) const {
  return [this, handler = std::move(handler)](const kernels::HttpRequest& request,
                                              host::HttpRespond respond) {
    std::optional<host::HttpResponse> refused = Refuse(request);
    if (refused) {
      respond(std::move(*refused));
      return;
    }
    handler(request, std::move(respond));
  };
}

std::optional<ManagementReject> ManagementGuard::Refusal(
    const kernels::HttpRequest& request) const {
  // A rebound page cannot learn a token: with one, a node scraped by any name is answered
  // (beacond refuses a listener off loopback without one, so only loopback needs the check).
  if (access_.token.empty() && !HostAllowed(request.Header("host"), access_.allowed_hosts)) {
    return ManagementReject::kHostNotAllowed;
  }
  // A browser sends a simple cross-origin POST without asking first (no CORS preflight): only
  // its answer is kept from the page, and the change is made. Reads change nothing, and their
  // answers carry no CORS header, so a page of another origin cannot see them.
  if (request.method != "GET" && request.method != "HEAD" && CrossOrigin(request)) {
    return ManagementReject::kCrossOrigin;
  }
  if (!access_.token.empty()) {
    constexpr std::string_view kScheme = "Bearer ";
    const std::string_view given = request.Header("authorization");
    if (given.size() <= kScheme.size() || given.substr(0, kScheme.size()) != kScheme ||
        !SameSecret(given.substr(kScheme.size()), access_.token)) {
      return ManagementReject::kBadToken;
    }
  }
  return std::nullopt;
}

void ManagementGuard::RegisterMetrics(host::MetricsRegistry* registry) const {
  registry->Add([this](host::MetricsWriter& out) {
    for (size_t r = 0; r < kRejectNames.size(); ++r) {
      out.Counter("beacond_management_rejects_total",
                  "Management requests refused before their route ran, by reason",
                  {{"reason", kRejectNames[r]}}, rejects_[r].load(std::memory_order_relaxed));
    }
  });
}

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

MetricsRenderer::MetricsRenderer(const host::MetricsRegistry* metrics)
    : runs_(
          [metrics] {
            host::HttpResponse response;
            response.content_type = "text/plain; version=0.0.4; charset=utf-8";
            response.body = metrics->Scrape();
            return response;
          },
          host::HttpResponse{503, "text/plain; charset=utf-8", "beacond is stopping\n", {}}) {}

void MetricsRenderer::Request(host::HttpRespond respond) {
  runs_.Request(
      [respond = std::move(respond)](const host::HttpResponse& response) { respond(response); });
}

void ServeManagement(host::HttpServer* management, MetricsRenderer* renderer,
                     const HealthSources& sources, const ManagementGuard& guard) {
  management->AddDeferredHandler(
      "/metrics", guard.Guard([renderer](const kernels::HttpRequest&, host::HttpRespond respond) {
        renderer->Request(std::move(respond));
      }));
  management->AddHandler("/healthz", guard.Guard([sources](const kernels::HttpRequest&) {
    return Liveness(sources, kernels::MonotonicMillis());
  }));
  management->AddHandler("/readyz", guard.Guard([sources](const kernels::HttpRequest&) {
    return Readiness(sources, kernels::MonotonicMillis());
  }));
}

void ServeReload(host::HttpServer* management, const ManagementGuard& guard,
                 ReloadRequest request) {
  management->AddDeferredHandler(
      "/reload", guard.Guard([request = std::move(request)](const kernels::HttpRequest& r,
                                                            host::HttpRespond respond) {
        if (r.method != "POST") {
          host::HttpResponse response;
          response.status = 405;
          response.body = "POST /reload re-reads the config and the site registry\n";
          response.headers.emplace_back("Allow", "POST");
          respond(std::move(response));
          return;
        }
        request([respond = std::move(respond)](const ReloadOutcome& outcome) {
          host::HttpResponse response;
          response.status = outcome.ok ? 200 : 422;
          response.body = outcome.message + "\n";
          respond(std::move(response));
        });
      }));
}

}  // namespace beacon::app
