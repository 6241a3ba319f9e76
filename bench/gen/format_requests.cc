// Rewrites the model's GA v1 hits (their encoded parameters) into the other trackers' requests.
#include "bench/gen/format_requests.h"

#include <cstdio>
#include <span>
#include <string_view>
#include <utility>

#include "kernels/bytes/url_encoding.h"

namespace beacon::bench {
namespace {

// Form-encoded (key, value) pairs in the order sent.
using Pairs = std::vector<std::pair<std::string, std::string>>;

// The value of `key` in a hit's parameters, still encoded; empty when absent.
std::string_view Param(std::string_view params, std::string_view key) {
  while (!params.empty()) {
    const size_t amp = std::min(params.find('&'), params.size());
    const std::string_view pair = params.substr(0, amp);
    params.remove_prefix(std::min(amp + 1, params.size()));
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == std::string_view::npos ? "" : pair.substr(eq + 1);
  }
  return {};
}

std::string Decoded(std::string_view encoded) {
  std::string out(encoded.size(), '\0');
  size_t size = 0;
  kernels::FormDecode(encoded, out.data(), &size);
  out.resize(size);
  return out;
}

std::string Form(const Pairs& pairs) {
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (!out.empty()) out += '&';
    out += key + "=" + value;
  }
  return out;
}

std::string JsonQuoted(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\u%04x", c);
      out += escape;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// The pairs as a JSON object of their decoded values (all strings).
std::string JsonObject(const Pairs& pairs) {
  std::string out = "{";
  for (const auto& [key, value] : pairs) {
    if (out.size() > 1) out += ',';
    out += JsonQuoted(key) + ":" + JsonQuoted(Decoded(value));
  }
  return out + "}";
}

// What every format needs of a hit, encoded as the GA v1 request sent it.
struct PageHit {
  std::string url;            // dl, else https://dh/dp
  std::string_view referrer;  // dr
  std::string_view title;     // dt
  std::string_view category;  // ec
  std::string name;           // GA4 event name: page_view, the ea of events, t of other hits
};

PageHit ReadHit(const Hit& hit) {
  PageHit h;
  const std::string_view dl = Param(hit.params, "dl");
  h.url = !dl.empty() ? std::string(dl)
                      : "https%3A%2F%2F" + std::string(Param(hit.params, "dh")) +
                            std::string(Param(hit.params, "dp"));
  h.referrer = Param(hit.params, "dr");
  h.title = Param(hit.params, "dt");
  h.category = Param(hit.params, "ec");
  h.name = hit.kind == kernels::EventKind::kPageview ? "page_view" : hit.event_name;
  return h;
}

// Runs of consecutive hits of one site and visitor: what one batched request may carry.
std::vector<std::span<const Hit>> Runs(const Request& request) {
  std::vector<std::span<const Hit>> runs;
  const std::vector<Hit>& hits = request.hits;
  for (size_t first = 0, i = 1; i <= hits.size(); ++i) {
    if (i == hits.size() || hits[i].site_id != hits[first].site_id ||
        hits[i].visitor != hits[first].visitor) {
      runs.emplace_back(hits.data() + first, i - first);
      first = i;
    }
  }
  return runs;
}

std::string VisitorKey(const Hit& hit) { return hit.visitor.starts_with("user-") ? "uid" : "cid"; }

std::string MeasurementId(uint32_t site_id) { return "G-" + std::to_string(100000 + site_id); }

Pairs GtagLine(const PageHit& h, uint64_t engagement_ms) {
  Pairs line = {{"en", h.name}, {"dl", h.url}};
  if (!h.referrer.empty()) line.emplace_back("dr", h.referrer);
  if (!h.title.empty()) line.emplace_back("dt", h.title);
  if (!h.category.empty()) line.emplace_back("ep.category", h.category);
  line.emplace_back("_et", std::to_string(engagement_ms));
  return line;
}

TrackerRequest Gtag(std::span<const Hit> hits, const Request& request) {
  const Hit& first = hits.front();
  Pairs query = {{"v", "2"},
                 {"tid", MeasurementId(first.site_id)},
                 {"gtm", "45je3b70"},
                 {"_p", std::to_string(request.id)},
                 {VisitorKey(first), std::string(Param(first.params, VisitorKey(first)))},
                 {"ul", "en-us"},
                 {"sr", "1920x1080"}};
  TrackerRequest out;
  out.endpoint = kernels::Endpoint::kGa4Gtag;
  out.user_agent = request.user_agent;
  if (hits.size() == 1) {
    for (auto& pair : GtagLine(ReadHit(first), 0)) query.push_back(std::move(pair));
  } else {
    for (size_t i = 0; i < hits.size(); ++i) {
      if (i > 0) out.payload += "\r\n";
      out.payload += Form(GtagLine(ReadHit(hits[i]), 1000 + 37 * i));
    }
  }
  out.query = Form(query);
  return out;
}

TrackerRequest Mp(std::span<const Hit> hits, const Request& request) {
  const Hit& first = hits.front();
  std::string body = "{\"client_id\":" + JsonQuoted(first.visitor) +
                     ",\"user_agent\":" + JsonQuoted(request.user_agent) + ",\"events\":[";
  for (size_t i = 0; i < hits.size(); ++i) {
    const PageHit h = ReadHit(hits[i]);
    Pairs params = {{"page_location", h.url}};
    if (!h.referrer.empty()) params.emplace_back("page_referrer", h.referrer);
    if (!h.title.empty()) params.emplace_back("page_title", h.title);
    params.emplace_back("session_id", std::to_string(request.id));
    if (i > 0) body += ',';
    body += "{\"name\":" + JsonQuoted(h.name) + ",\"params\":" + JsonObject(params) + "}";
  }
  return {.endpoint = kernels::Endpoint::kGa4Mp,
          .payload = body + "]}",
          .query = "measurement_id=" + MeasurementId(first.site_id) + "&api_secret=secret-" +
                   std::to_string(first.site_id),
          .user_agent = "python-requests/2.31.0"};
}

TrackerRequest Plausible(const Hit& hit, const kernels::Site& site, const Request& request) {
  const PageHit h = ReadHit(hit);
  Pairs body = {{"n", hit.kind == kernels::EventKind::kPageview ? "pageview" : h.name},
                {"u", h.url},
                {"d", site.name + ".example"}};
  if (!h.referrer.empty()) body.emplace_back("r", h.referrer);
  if (!h.category.empty())
    body.emplace_back("p", "%7B%22category%22%3A%22" + std::string(h.category) + "%22%7D");
  return {.endpoint = kernels::Endpoint::kPlausibleEvent,
          .payload = JsonObject(body),
          .query = {},
          .user_agent = request.user_agent};
}

Pairs SnowplowEvent(const Hit& hit, const Request& request, size_t index) {
  const PageHit h = ReadHit(hit);
  Pairs event;
  if (hit.kind == kernels::EventKind::kPageview) {
    event.emplace_back("e", "pv");
  } else {
    event.emplace_back("e", "se");
    event.emplace_back("se_ca", h.category.empty() ? h.name : std::string(h.category));
    event.emplace_back("se_ac", h.name);
  }
  event.emplace_back("url", h.url);
  if (!h.title.empty()) event.emplace_back("page", h.title);
  if (!h.referrer.empty()) event.emplace_back("refr", h.referrer);
  const bool user = hit.visitor.starts_with("user-");
  event.emplace_back("tv", "js-3.5.0");
  event.emplace_back("tna", "sp");
  event.emplace_back("aid", "app-" + std::to_string(hit.site_id));
  event.emplace_back("p", "web");
  event.emplace_back(user ? "uid" : "duid", std::string(Param(hit.params, VisitorKey(hit))));
  event.emplace_back("eid", std::to_string(request.id) + "-" + std::to_string(index));
  event.emplace_back("dtm", "1764000000000");
  event.emplace_back("res", "1920x1080");
  event.emplace_back("lang", "en-US");
  return event;
}

TrackerRequest Snowplow(std::span<const Hit> hits, const Request& request) {
  if (hits.size() == 1) {
    return {.endpoint = kernels::Endpoint::kSnowplowGet,
            .payload = Form(SnowplowEvent(hits.front(), request, 0)),
            .query = {},
            .user_agent = request.user_agent};
  }
  std::string body =
      R"({"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4","data":[)";
  for (size_t i = 0; i < hits.size(); ++i) {
    if (i > 0) body += ',';
    body += JsonObject(SnowplowEvent(hits[i], request, i));
  }
  return {.endpoint = kernels::Endpoint::kSnowplowPost,
          .payload = body + "]}",
          .query = {},
          .user_agent = request.user_agent};
}

}  // namespace

std::string TrackerSiteRegistryText(uint32_t count, uint64_t seed) {
  const std::string base = SiteRegistryText(count, seed);
  std::string text;
  for (size_t start = 0; start < base.size();) {
    const size_t end = base.find('\n', start);
    std::string line = base.substr(start, end - start);
    start = end + 1;
    if (!line.starts_with('#')) {
      // "<id> <name> <tracking ids> <hosts>": more ids after the GA one, and the api secret.
      const size_t name_at = line.find(' ') + 1;
      const size_t ids_at = line.find(' ', name_at) + 1;
      const size_t hosts_at = line.find(' ', ids_at);
      const std::string id = line.substr(0, name_at - 1);
      const std::string name = line.substr(name_at, ids_at - 1 - name_at);
      line.insert(hosts_at,
                  "," + MeasurementId(std::stoul(id)) + "," + name + ".example,app-" + id);
      line += " api_secrets=secret-" + id;
    }
    text += line + "\n";
  }
  return text;
}

TrackerRenderer::TrackerRenderer(const kernels::SiteRegistry& sites) {
  for (const kernels::Site& site : sites.sites()) sites_.emplace(site.site_id, &site);
}

std::vector<TrackerRequest> TrackerRenderer::Render(TrackerFormat format,
                                                    const Request& request) const {
  std::vector<TrackerRequest> out;
  for (const std::span<const Hit> run : Runs(request)) {
    switch (format) {
      case TrackerFormat::kGa4Gtag:
        out.push_back(Gtag(run, request));
        break;
      case TrackerFormat::kGa4Mp:
        out.push_back(Mp(run, request));
        break;
      case TrackerFormat::kPlausible:
        for (const Hit& hit : run) {
          out.push_back(Plausible(hit, *sites_.at(hit.site_id), request));
        }
        break;
      case TrackerFormat::kSnowplow:
        out.push_back(Snowplow(run, request));
        break;
    }
  }
  return out;
}

}  // namespace beacon::bench
