// The decode comparison inputs; see decode_inputs.h.
#include "tests/unit/kernels/decode_inputs.h"

#include <algorithm>
#include <cstdio>

#include "bench/gen/traffic_model.h"
#include "kernels/formats/ga4_gtag.h"
#include "kernels/formats/ga4_mp.h"
#include "kernels/formats/ga_v1.h"
#include "kernels/formats/plausible.h"
#include "kernels/formats/snowplow.h"

namespace beacon::kernels::decode_inputs {

const char* EndpointName(Endpoint e) {
  switch (e) {
    case Endpoint::kGaCollect:
      return "ga_collect";
    case Endpoint::kGaBatch:
      return "ga_batch";
    case Endpoint::kGa4Gtag:
      return "ga4_gtag";
    case Endpoint::kGa4Mp:
      return "ga4_mp";
    case Endpoint::kPlausibleEvent:
      return "plausible";
    case Endpoint::kSnowplowGet:
      return "snowplow_get";
    case Endpoint::kSnowplowPost:
      return "snowplow_post";
    case Endpoint::kUdpHitBatch:
      return "udp_hit_batch";
    case Endpoint::kUdpSyslog:
      return "udp_syslog";
  }
  return "?";
}

// beacon-gen's GA sites (UA-100001-1 ...) plus the sites of the other formats' generators.
std::string RegistryText() {
  return bench::SiteRegistryText(16, 1) +
         "101 shop G-SHOP1,shop.example,shopapp shop.example,*.shop.example "
         "api_secrets=s3cret\n"
         "102 any G-ANY1,any.example,anyapp *\n";
}

// application/x-www-form-urlencoded, as browsers send it ('+' for space half the time).
std::string FormEncode(std::string_view value, bool plus_space) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '_' || u == '.' || u == '~') {
      out += c;
    } else if (u == ' ' && plus_space) {
      out += '+';
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

// JSON string contents (quotes, backslashes and control bytes escaped).
std::string JsonEscape(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<Input> GaInputs(const SiteRegistry& sites, uint64_t seed) {
  bench::TrafficOptions options;
  options.seed = seed;
  options.hits = 8000;
  options.batch_share = 0.4;
  const bench::TrafficModel model(sites, options);
  std::vector<Input> inputs;
  for (uint64_t k = 0; k < model.chunk_count(); ++k) {
    for (const bench::Request& request : model.Chunk(k)) {
      std::string text;
      for (const bench::Hit& hit : request.hits) {
        if (!text.empty()) text += '\n';
        text += hit.params;
        if (hit.queue_time_ms >= 0) text += "&qt=" + std::to_string(hit.queue_time_ms);
      }
      const bool batch = request.transport == bench::Transport::kBatch;
      inputs.push_back(
          {batch ? Endpoint::kGaBatch : Endpoint::kGaCollect, text, {}, request.user_agent});
      if (batch) inputs.push_back({Endpoint::kUdpHitBatch, text, {}, request.user_agent});
    }
  }
  return inputs;
}

std::string GtagQuery(Gen& g) {
  return "v=2&tid=" + std::string(g.Chance(0.5) ? "G-SHOP1" : "G-ANY1") +
         "&gtm=45je3b70&_p=" + std::to_string(g.Below(1'000'000)) + "&cid=" + g.ClientId() +
         "&ul=en-us&sr=1920x1080&dl=" + FormEncode(g.Url(), false) +
         "&dt=" + FormEncode(g.Title(), g.Chance(0.5)) + "&en=page_view&_s=1";
}

Input GtagInput(Gen& g) {
  static constexpr std::array<std::string_view, 5> kNames = {"scroll", "click", "page_view",
                                                             "user_engagement", "view_item"};
  std::string body;
  const uint64_t lines = g.Below(5);
  for (uint64_t i = 0; i < lines; ++i) {
    if (i > 0) body += g.Chance(0.5) ? "\r\n" : "\n";
    body += "en=" + std::string(g.Pick(kNames)) + "&_et=" + std::to_string(g.Below(9000)) +
            "&ep.label=" + FormEncode(g.Title(), true) + "&epn.value=" + std::to_string(i);
    if (g.Chance(0.3)) body += "&dl=" + FormEncode(g.Url(), false);
  }
  return {Endpoint::kGa4Gtag, body, GtagQuery(g)};
}

Input MpInput(Gen& g) {
  static constexpr std::array<std::string_view, 4> kNames = {"page_view", "purchase", "login",
                                                             "sign_up"};
  std::string body = R"({"client_id":")" + g.ClientId() + R"(",)";
  if (g.Chance(0.3)) body += R"("user_id":"u)" + std::to_string(g.Below(100)) + R"(",)";
  if (g.Chance(0.3)) {
    body += R"("timestamp_micros":)" +
            std::to_string((kNowMs - int64_t(g.Below(3'600'000))) * 1000) + ",";
  }
  if (g.Chance(0.3)) body += R"("user_agent":")" + JsonEscape(kBrowserUa) + R"(",)";
  body += R"("events":[)";
  const uint64_t events = 1 + g.Below(4);
  for (uint64_t i = 0; i < events; ++i) {
    if (i > 0) body += ',';
    body += R"({"name":")" + std::string(g.Pick(kNames)) + R"(","params":{"page_location":")" +
            JsonEscape(g.Url()) + R"(","page_title":")" + JsonEscape(g.Title()) +
            R"(","engagement_time_msec":)" + std::to_string(g.Below(5000)) + "}}";
  }
  body += "]}";
  return {Endpoint::kGa4Mp, body, "measurement_id=G-SHOP1&api_secret=s3cret",
          "python-requests/2.31"};
}

std::string PlausibleBody(Gen& g) {
  if (g.Chance(0.3)) {
    return R"({"n":"Signup","u":")" + JsonEscape(g.Url()) + R"(","d":"any.example,shop.example"})";
  }
  return R"({"name":")" + std::string(g.Chance(0.8) ? "pageview" : "Download") + R"(","url":")" +
         JsonEscape(g.Url()) +
         R"(","domain":"shop.example","referrer":"https://search.example/",)"
         R"("props":{"title":")" +
         JsonEscape(g.Title()) + R"("}})";
}

std::string SnowplowGetQuery(Gen& g) {
  return "e=" + std::string(g.Chance(0.7) ? "pv" : "se") + "&url=" + FormEncode(g.Url(), false) +
         "&page=" + FormEncode(g.Title(), true) +
         "&tv=js-3.5.0&tna=sp&aid=" + std::string(g.Chance(0.5) ? "shopapp" : "anyapp") +
         "&p=web&duid=d-" + std::to_string(g.Below(100000)) + "&eid=e-" +
         std::to_string(g.Below(100000)) +
         "&dtm=1700000000000&se_ca=video&se_ac=play&res=1920x1080";
}

std::string SnowplowPostBody(Gen& g) {
  std::string body =
      R"({"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4","data":[)";
  const uint64_t events = 1 + g.Below(5);
  for (uint64_t i = 0; i < events; ++i) {
    if (i > 0) body += ',';
    body += R"({"e":")" + std::string(g.Chance(0.6) ? "pv" : "se") + R"(","url":")" +
            JsonEscape(g.Url()) + R"(","page":")" + JsonEscape(g.Title()) +
            R"(","tv":"js-3.5.0","p":"web","aid":"shopapp","se_ca":"c","se_ac":"a","duid":"d)" +
            std::to_string(g.Below(1000)) + R"("})";
  }
  return body + "]}";
}

// nginx escape=json, as the relay log format is written.
std::string LogEscape(std::string_view in) { return JsonEscape(in); }

std::string RelayLine(Gen& g, const std::string& method, const std::string& uri,
                      const std::string& body) {
  const int64_t ms = kNowMs - int64_t(g.Below(60'000));
  char msec[32];
  std::snprintf(msec, sizeof(msec), "%lld.%03lld", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  return "beacon1\t" + std::string(msec) + "\t" +
         (g.Chance(0.8) ? "192.168.0." + std::to_string(g.Below(255))
                        : std::string("2001:db8::7")) +
         "\t" + method + "\t" + LogEscape(uri) + "\t" + LogEscape(kBrowserUa) +
         "\thttps://shop.example/prev\t" + (g.Chance(0.5) ? "DE" : "-") + "\t" +
         (body.empty() ? std::string("-") : LogEscape(body));
}

Input SyslogInput(Gen& g, const std::vector<Input>& ga) {
  std::string line;
  switch (g.Below(5)) {
    case 0:
      line = RelayLine(g, "GET", "/collect?" + ga[g.Below(ga.size())].payload.substr(0, 4000), "");
      break;
    case 1:
      line = RelayLine(g, "POST", "/g/collect?" + GtagQuery(g), GtagInput(g).payload);
      break;
    case 2:
      line = RelayLine(g, "POST", "/api/event", PlausibleBody(g));
      break;
    case 3:
      line = RelayLine(g, "GET", "/i?" + SnowplowGetQuery(g), "");
      break;
    default:
      line = RelayLine(g, "POST", "/com.snowplowanalytics.snowplow/tp2", SnowplowPostBody(g));
      break;
  }
  if (g.Chance(0.5))
    return {Endpoint::kUdpSyslog, "<190>Nov 14 22:15:23 proxy1 beacon: " + line + "\n", {}, ""};
  return {Endpoint::kUdpSyslog,
          "<134>1 2023-11-14T22:15:23.400Z proxy1 haproxy 77 - [meta a=\"x\\]y\"] " + line,
          {},
          ""};
}

// Realistic beacons of every endpoint.
std::vector<Input> RealisticInputs(const SiteRegistry& sites, uint64_t seed) {
  std::vector<Input> inputs = GaInputs(sites, seed);
  const std::vector<Input> ga = inputs;
  Gen g(seed);
  for (int i = 0; i < 300; ++i) {
    inputs.push_back(GtagInput(g));
    inputs.push_back(MpInput(g));
    inputs.push_back({Endpoint::kPlausibleEvent, PlausibleBody(g), {}});
    inputs.push_back({Endpoint::kSnowplowGet, SnowplowGetQuery(g), {}});
    inputs.push_back({Endpoint::kSnowplowPost, SnowplowPostBody(g), {}});
    inputs.push_back(SyslogInput(g, ga));
  }
  return inputs;
}

// ---- Adversarial inputs -----------------------------------------------------------------

constexpr std::array<std::string_view, 12> kEscapes = {
    "%41", "%4",     "%",         "%zz",          "%e9",    "%C3%A9",
    "%C3", "%E2%82", "%ED%A0%80", "%F4%90%80%80", "%C0%AF", "+"};
constexpr std::array<std::string_view, 9> kRawBytes = {
    "\xC3\xA9",         "\xC3",     "\xE2\x82", "\xED\xA0\x80",
    "\xF4\x90\x80\x80", "\xC0\xAF", "\xFF",     std::string_view("\0", 1),
    "\xF0\x9F\x98\x80"};

// `piece` at every offset 0..kSpan of a value, so that it straddles every vector boundary.
constexpr size_t kSpan = 140;

std::string GaPrefix() { return "v=1&tid=UA-100001-1&cid=1.2&t=pageview&dl="; }

std::vector<Input> AdversarialInputs() {
  std::vector<Input> in;
  const std::string prefix = GaPrefix();
  const std::string host = "https://www.technology-1.example/";
  for (const std::string_view piece : kEscapes) {
    for (size_t at = 0; at <= kSpan; ++at) {
      const std::string value = host + std::string(at, 'p') + std::string(piece) + "/tail";
      in.push_back({Endpoint::kGaCollect, prefix + value + "&dt=x", {}});
      in.push_back({Endpoint::kGa4Gtag,
                    "en=click&ep.x=" + std::string(at, 'q') + std::string(piece),
                    "v=2&tid=G-ANY1&cid=1.2"});
      in.push_back({Endpoint::kSnowplowGet,
                    "e=pv&tv=js&p=web&aid=anyapp&url=" + FormEncode(host, false) +
                        std::string(at, 'r') + std::string(piece),
                    {}});
    }
  }
  for (const std::string_view raw : kRawBytes) {
    for (size_t at = 0; at <= kSpan; at += 3) {
      const std::string filler(at, 'u');
      in.push_back({Endpoint::kGaCollect, prefix + host + filler + std::string(raw), {}});
      in.push_back({Endpoint::kPlausibleEvent,
                    R"({"name":"pageview","url":"https://any.example/)" + filler +
                        std::string(raw) + R"(","domain":"any.example"})",
                    {}});
      in.push_back(
          {Endpoint::kGa4Mp,
           R"({"client_id":"1.)" + filler + std::string(raw) + R"(","events":[{"name":"login"}]})",
           "measurement_id=G-ANY1&api_secret=x"});
      in.push_back({Endpoint::kUdpSyslog,
                    "<190>Nov 14 22:15:23 proxy1 beacon: beacon1\t1700000123.000\t10.0.0.1\tGET\t"
                    "/collect?" +
                        prefix + host + filler + std::string(raw) + "\t-\t-\t-\t-",
                    {},
                    ""});
    }
  }
  // Relay log escapes at every offset.
  for (const std::string_view esc : {"\\u00e9", "\\\"", "\\\\", "\\x", "\\u00", "\\", "\\t"}) {
    for (size_t at = 0; at <= 80; ++at) {
      in.push_back(
          {Endpoint::kUdpSyslog,
           "<190>1 2023-11-14T22:15:23Z h app - - - beacon1\t1700000123.000\t10.0.0.1\t"
           "POST\t/api/event\tua" +
               std::string(at, 'a') + std::string(esc) +
               "\t-\t-\t{\\\"n\\\":\\\"pageview\\\",\\\"u\\\":\\\"https://any.example/\\\","
               "\\\"d\\\":\\\"any.example\\\"}",
           {},
           ""});
    }
  }
  // Around the separator block of SplitFormPairs (256 separators: 128 of these pairs) and half
  // of it, with the decisive keys late and repeated.
  for (size_t pairs : {1, 2, 62, 63, 64, 65, 66, 127, 128, 129, 200, 1000}) {
    std::string hit;
    for (size_t i = 0; i < pairs; ++i)
      hit += "k" + std::to_string(i) + "=v%20" + std::to_string(i) + "&";
    in.push_back({Endpoint::kGaCollect,
                  hit + "&&v=1&tid=UA-100002-1&cid=7&t=event&ec=c&ea=a&tid=UA-1-1&ea=" +
                      std::string(600, 'x'),
                  {}});
    in.push_back({Endpoint::kGaCollect,
                  hit + "v=1&tid=UA-100002-1&cid=7&t=pageview&dl=https%3A%2F%2Fa.example%2Fp",
                  {}});
    in.push_back({Endpoint::kGa4Gtag, "en=scroll&" + hit, "v=2&tid=G-ANY1&cid=1.2&" + hit});
    in.push_back({Endpoint::kSnowplowGet, hit + "e=se&tv=js&p=web&aid=anyapp&duid=x", {}});
    in.push_back({Endpoint::kGa4Mp, R"({"client_id":"1","events":[{"name":"login"}]})",
                  hit + "measurement_id=G-SHOP1&api_secret=s3cret"});
  }
  // Limits at the boundary.
  for (const size_t size : {kGaMaxHitBytes - 1, kGaMaxHitBytes, kGaMaxHitBytes + 1}) {
    std::string hit = "v=1&tid=UA-100003-1&cid=1&t=event&ec=c&ea=a&z=";
    hit += std::string(size - hit.size(), 'z');
    in.push_back({Endpoint::kGaCollect, hit, {}});
    in.push_back({Endpoint::kGaBatch, hit + "\n" + hit, {}});
  }
  for (const size_t size : {kGaMaxBatchBytes, kGaMaxBatchBytes + 1}) {
    std::string line = "v=1&tid=UA-100003-1&cid=1&t=event&ec=c&ea=a&z=" + std::string(4000, 'y');
    std::string body;
    while (body.size() + line.size() + 1 < size) body += line + "\n";
    body += std::string(size - body.size(), 'w');
    in.push_back({Endpoint::kGaBatch, body, {}});
    in.push_back({Endpoint::kUdpHitBatch, body, {}});
  }
  for (const size_t hits : {kGaMaxBatchHits, kGaMaxBatchHits + 1}) {
    std::string body;
    for (size_t i = 0; i < hits; ++i)
      body += "v=1&tid=UA-100004-1&cid=" + std::to_string(i) + "&t=event&ec=c&ea=a\r\n";
    in.push_back({Endpoint::kGaBatch, body, {}});
  }
  for (const size_t lines : {kGtagMaxEvents, kGtagMaxEvents + 1}) {
    std::string body;
    for (size_t i = 0; i < lines; ++i) body += "en=e" + std::to_string(i) + "\n";
    in.push_back({Endpoint::kGa4Gtag, body, "v=2&tid=G-ANY1&cid=1.2"});
  }
  for (const size_t size : {kGtagMaxLineBytes, kGtagMaxLineBytes + 1}) {
    std::string line = "en=click&z=";
    line += std::string(size - line.size(), 'z');
    in.push_back({Endpoint::kGa4Gtag, line, "v=2&tid=G-ANY1&cid=1.2"});
    in.push_back({Endpoint::kGa4Gtag, "", "v=2&tid=G-ANY1&cid=1.2&en=x&z=" + line});
  }
  for (const size_t bytes : {kMpMaxPageLocationBytes, kMpMaxPageLocationBytes + 1}) {
    const std::string url = "https://shop.example/";
    in.push_back({Endpoint::kGa4Mp,
                  R"({"client_id":"1","events":[{"name":"page_view","params":{"page_location":")" +
                      url + std::string(bytes - url.size(), 'p') + R"("}}]})",
                  "measurement_id=G-SHOP1&api_secret=s3cret"});
  }
  for (const size_t bytes : {kPlausibleMaxUrlBytes, kPlausibleMaxUrlBytes + 1}) {
    const std::string url = "https://any.example/";
    in.push_back({Endpoint::kPlausibleEvent,
                  R"({"n":"pageview","u":")" + url + std::string(bytes - url.size(), 'p') +
                      R"(","d":"any.example"})",
                  {}});
  }
  // Empty and huge.
  for (const Endpoint e : kEndpoints) {
    in.push_back({e, "", ""});
    in.push_back({e, "&&&&", "&&="});
    in.push_back({e, "\n\r\n\n", "="});
    in.push_back({e, std::string(70'000, 'a'), std::string(9'000, '%')});
    std::string huge;
    while (huge.size() < 200'000) huge += GaPrefix() + "https%3A%2F%2Fa.example%2F%C3%A9&x=%ZZ\n";
    in.push_back({e, huge, {}});
  }
  return in;
}

// ---- Mutations --------------------------------------------------------------------------

constexpr std::string_view kMutationBytes = "&=%+\n\r\t\\\"[]{}:,?#/ 0123456789abcdefABCDEF";

std::string Mutate(Gen& g, std::string s) {
  const uint64_t ops = 1 + g.Below(6);
  for (uint64_t op = 0; op < ops; ++op) {
    const auto pick_byte = [&]() -> char {
      const uint64_t kind = g.Below(3);
      if (kind == 0) return kMutationBytes[g.Below(kMutationBytes.size())];
      if (kind == 1) return static_cast<char>(0x80 + g.Below(0x80));
      return static_cast<char>(g.Below(256));
    };
    const size_t at = s.empty() ? 0 : g.Below(s.size() + 1);
    switch (g.Below(5)) {
      case 0:
        if (at < s.size()) s[at] = pick_byte();
        break;
      case 1:
        s.insert(s.begin() + static_cast<ptrdiff_t>(at), pick_byte());
        break;
      case 2:
        if (at < s.size()) s.erase(at, 1 + g.Below(std::min<size_t>(8, s.size() - at)));
        break;
      case 3:
        if (at < s.size()) {
          const size_t n = 1 + g.Below(std::min<size_t>(64, s.size() - at));
          s.insert(at, s.substr(at, n));
        }
        break;
      default:
        s.resize(at);
        break;
    }
  }
  return s;
}

std::string Printable(std::string_view s) {
  std::string out;
  for (const char c : s.substr(0, 400)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F && c != '\\') {
      out += c;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    }
  }
  return s.size() > 400 ? out + "..." : out;
}

}  // namespace beacon::kernels::decode_inputs
