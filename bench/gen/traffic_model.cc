// The traffic model: registry text, per-site page sets and visitor pools, hit construction.
#include "bench/gen/traffic_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <stdexcept>

#include "kernels/bytes/hash.h"
#include "kernels/enrich/attribution.h"

namespace beacon::bench {
namespace {

using kernels::EventKind;
using kernels::RejectReason;

constexpr std::array<std::string_view, 8> kCategories = {"shop",   "blog", "news",    "docs",
                                                         "travel", "app",  "recipes", "forum"};
constexpr std::array<std::string_view, 16> kAdjectives = {
    "blue",    "red",    "classic", "organic", "compact", "premium",  "vintage", "wireless",
    "leather", "bamboo", "smart",   "minimal", "outdoor", "portable", "ceramic", "linen"};
constexpr std::array<std::string_view, 16> kNouns = {
    "widget", "lamp",   "backpack", "kettle",  "chair", "sneaker", "jacket",  "headphones",
    "mug",    "wallet", "tent",     "blender", "scarf", "desk",    "charger", "notebook"};
constexpr std::array<std::string_view, 12> kVerbs = {"build",   "deploy", "cook",   "fix",
                                                     "learn",   "grow",   "choose", "clean",
                                                     "measure", "plan",   "store",  "repair"};
constexpr std::array<std::string_view, 12> kCities = {"lisbon",  "kyoto",  "oslo",    "lima",
                                                      "cairo",   "hanoi",  "quebec",  "porto",
                                                      "tbilisi", "bergen", "seville", "cusco"};
constexpr std::array<std::string_view, 8> kSections = {"world",   "business", "science", "sport",
                                                       "culture", "tech",     "climate", "health"};

// Browsers people use (none of them matches a bot pattern), with uap-core's verdict on each:
// device class, browser family, OS family (checked by tests/unit/bench/gen_test.cc against the
// real classifier).
constexpr std::array<HumanAgent, 20> kHumanAgents = {{
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.0.0 Safari/537.36",
     "desktop", "Chrome", "Windows"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/118.0.0.0 Safari/537.36",
     "desktop", "Chrome", "Windows"},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.0.0 Safari/537.36",
     "desktop", "Chrome", "Mac OS X"},
    {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
     "Safari/537.36",
     "desktop", "Chrome", "Linux"},
    {"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.6045.163 Mobile Safari/537.36",
     "mobile", "Chrome Mobile", "Android"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0", "desktop",
     "Firefox", "Windows"},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:120.0) Gecko/20100101 Firefox/120.0",
     "desktop", "Firefox", "Mac OS X"},
    {"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/119.0", "desktop",
     "Firefox", "Ubuntu"},
    {"Mozilla/5.0 (Android 14; Mobile; rv:120.0) Gecko/120.0 Firefox/120.0", "mobile",
     "Firefox Mobile", "Android"},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.1 Safari/605.1.15",
     "desktop", "Safari", "Mac OS X"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
     "mobile", "Mobile Safari", "iOS"},
    {"Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.1 Mobile/15E148 Safari/604.1",
     "tablet", "Mobile Safari", "iOS"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.72",
     "desktop", "Edge", "Windows"},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.58",
     "desktop", "Edge", "Mac OS X"},
    {"Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
     "mobile", "Samsung Internet", "Android"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0",
     "desktop", "Opera", "Windows"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) CriOS/119.0.6045.169 Mobile/15E148 Safari/604.1",
     "mobile", "Chrome Mobile iOS", "iOS"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) FxiOS/120.0 Mobile/15E148 Safari/605.1.15",
     "mobile", "Firefox iOS", "iOS"},
    {"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.0.0 Safari/537.36",
     "desktop", "Chrome", "Chrome OS"},
    {"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0.6045.163 Mobile Safari/537.36 EdgA/119.0.2151.78",
     "mobile", "Edge Mobile", "Android"},
}};

// Crawlers and scripts that beacond rejects as bot_user_agent.
constexpr std::array<std::string_view, 6> kBotAgents = {
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "python-requests/2.31.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/119.0.6045.105 Safari/537.36",
    "curl/8.4.0",
};

constexpr std::array<std::string_view, 6> kLanguages = {"en-us", "en-gb", "de-de",
                                                        "fr-fr", "es-es", "ja-jp"};
constexpr std::array<std::string_view, 6> kScreens = {"1920x1080", "1366x768", "1536x864",
                                                      "390x844",   "412x915",  "2560x1440"};
constexpr std::array<std::string_view, 5> kUtmSources = {"newsletter", "google", "facebook",
                                                         "twitter", "partner"};
constexpr std::array<std::string_view, 4> kUtmMediums = {"email", "cpc", "social", "referral"};
// External referrers and the host beacond keeps for each (lower case, one "www." stripped).
constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kReferrers = {{
    {"https://www.google.com/", "google.com"},
    {"https://duckduckgo.com/", "duckduckgo.com"},
    {"https://news.ycombinator.com/item?id=38000000", "news.ycombinator.com"},
    {"https://www.reddit.com/r/all/", "reddit.com"},
    {"https://t.co/x1y2z3", "t.co"},
    {"https://L.Facebook.com/l.php?u=x", "l.facebook.com"},
    {"https://www.bing.com:443/search?q=lamp", "bing.com"},
    {"//WWW.Example-Partner.org/links", "example-partner.org"},
}};
// Visitors' countries as a CDN sends them (CF-IPCountry); "XX" is Cloudflare's unknown.
constexpr std::array<std::string_view, 12> kCountries = {"US", "DE", "GB", "FR", "JP", "BR",
                                                         "IN", "CA", "NL", "se", "ES", "XX"};

// One `key=value&...` parameter list, editable by key (values stay URL-encoded).
class HitParams {
 public:
  void Set(std::string_view key, std::string_view encoded_value);
  void Remove(std::string_view key);
  std::string Join() const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

void HitParams::Set(std::string_view key, std::string_view encoded_value) {
  for (auto& [k, v] : params_) {
    if (k == key) {
      v = encoded_value;
      return;
    }
  }
  params_.emplace_back(key, encoded_value);
}

void HitParams::Remove(std::string_view key) {
  std::erase_if(params_, [&](const auto& kv) { return kv.first == key; });
}

std::string HitParams::Join() const {
  std::string out;
  for (const auto& [k, v] : params_) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

// application/x-www-form-urlencoded encoding of a value (unreserved bytes kept).
std::string UrlEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size() * 3 / 2);
  for (unsigned char c : value) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

template <typename T, size_t N>
std::string_view Pick(const std::array<T, N>& items, uint64_t r) {
  return items[r % N];
}

std::vector<double> ZipfCdf(size_t n, double s) {
  std::vector<double> cdf(n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
    cdf[i] = sum;
  }
  for (double& c : cdf) c /= sum;
  return cdf;
}

size_t SampleCdf(const std::vector<double>& cdf, double u) {
  const auto it = std::upper_bound(cdf.begin(), cdf.end(), u);
  return std::min(static_cast<size_t>(it - cdf.begin()), cdf.size() - 1);
}

std::string Category(std::string_view name) {
  const size_t dash = name.find('-');
  return std::string(name.substr(0, dash));
}

// One templated path of the site's category, drawn from `r`.
std::string TemplatedPath(std::string_view category, uint64_t r) {
  const auto a = Pick(kAdjectives, r >> 8);
  const auto n = Pick(kNouns, r >> 16);
  const auto v = Pick(kVerbs, r >> 24);
  const auto c1 = Pick(kCities, r >> 32);
  const auto c2 = Pick(kCities, r >> 40);
  const auto sec = Pick(kSections, r >> 48);
  const uint64_t year = 2019 + (r >> 52) % 8;
  const uint64_t month = 1 + (r >> 56) % 12;
  const std::string ym = std::to_string(year) + "/" + std::to_string(month);
  const uint64_t shape = r % 4;
  std::string p;
  if (category == "shop") {
    p = shape < 3 ? "/products/" + std::string(a) + "-" + std::string(n)
                  : "/category/" + std::string(n) + "s";
  } else if (category == "blog") {
    p = shape < 3 ? "/blog/" + ym + "/how-to-" + std::string(v) + "-a-" + std::string(n)
                  : "/tags/" + std::string(n);
  } else if (category == "news") {
    p = shape < 3 ? "/news/" + std::string(sec) + "/" + ym + "/" + std::string(c1) + "-" +
                        std::string(v) + "s-" + std::string(a) + "-" + std::string(n)
                  : "/section/" + std::string(sec);
  } else if (category == "docs") {
    p = shape < 2 ? "/docs/" + std::string(v) + "/" + std::string(n)
                  : "/api/reference/" + std::string(n) + "-" + std::string(v);
  } else if (category == "travel") {
    p = shape == 0   ? "/destinations/" + std::string(c1)
        : shape == 1 ? "/hotels/" + std::string(c1) + "/" + std::string(a) + "-hotel"
                     : "/flights/" + std::string(c1) + "-to-" + std::string(c2);
  } else if (category == "recipes") {
    p = "/recipes/" + std::string(a) + "-" + std::string(c1) + "-" + std::string(n) + "-stew";
  } else if (category == "forum") {
    p = "/t/" + std::string(v) + "-" + std::string(a) + "-" + std::string(n) + "/" +
        std::to_string((r >> 20) % 90000 + 10000);
  } else {
    p = shape < 2 ? "/features/" + std::string(n) : "/integrations/" + std::string(c1);
  }
  return p;
}

std::vector<std::string> FixedPaths(std::string_view category) {
  if (category == "shop") return {"/", "/cart", "/checkout", "/search", "/pricing", "/about"};
  if (category == "app") return {"/", "/pricing", "/signup", "/login", "/dashboard"};
  if (category == "docs") return {"/docs", "/", "/docs/getting-started", "/changelog"};
  return {"/", "/about", "/contact"};
}

}  // namespace

// A splitmix64 stream: deterministic on every platform, unlike std:: distributions.
class TrafficModel::Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() { return kernels::Mix64(state_ += 0x9e3779b97f4a7c15ULL); }
  uint64_t Below(uint64_t n) { return Next() % n; }
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Unit() < p; }

 private:
  uint64_t state_;
};

struct TrafficModel::SiteShape {
  uint32_t site_id = 0;
  std::string name;
  std::string tracking_id;
  std::string host;             // the host pages are served from
  std::string wildcard_suffix;  // "x" of a "*.x" allowlist entry, or empty
  bool any_host = false;        // allowlist "*": every host is allowed
  std::vector<std::string> paths;
  std::vector<double> path_cdf;
  uint64_t visitor_pool = 0;
  uint64_t visitor_seed = 0;

  // The id of visitor `i` of this site: a GA cookie cid, or for one in ten a uid.
  std::string Visitor(uint64_t i) const {
    const uint64_t h = kernels::Mix64(visitor_seed ^ kernels::Mix64(i + 1));
    if (h % 10 == 0) return "user-" + std::to_string(site_id) + "-" + std::to_string(i);
    return std::to_string(100'000'000 + (h >> 8) % 1'900'000'000) + "." +
           std::to_string(1'600'000'000 + (h >> 40) % 100'000'000);
  }
  const HumanAgent& Agent(uint64_t i) const {
    return kHumanAgents[kernels::Mix64(visitor_seed + i) % kHumanAgents.size()];
  }
  std::string_view Country(uint64_t i) const {
    return Pick(kCountries, kernels::Mix64(visitor_seed ^ (i * 0x9e3779b97f4a7c15ULL)));
  }
};

std::span<const HumanAgent> HumanAgents() { return kHumanAgents; }
std::span<const std::string_view> BotAgents() { return kBotAgents; }

std::string RequestPayload(const Request& request) {
  std::string text;
  for (const Hit& hit : request.hits) {
    if (!text.empty()) text += '\n';
    text += hit.params;
    if (hit.queue_time_ms >= 0) text += "&qt=" + std::to_string(hit.queue_time_ms);
  }
  return text;
}

std::string SiteRegistryText(uint32_t count, uint64_t seed) {
  if (count == 0) throw std::invalid_argument("--sites must be at least 1");
  std::string text = "# beacon-gen site registry (seed " + std::to_string(seed) +
                     "): <site_id> <name> <tracking_ids> <hostnames>\n";
  for (uint32_t id = 1; id <= count; ++id) {
    const auto category = Pick(kCategories, kernels::Mix64(seed * 0x100000001b3ULL + id));
    const std::string name = std::string(category) + "-" + std::to_string(id);
    text += std::to_string(id) + " " + name + " UA-" + std::to_string(100000 + id) + "-1 " + name +
            ".example,*." + name + ".example\n";
  }
  return text;
}

TrafficModel::TrafficModel(const kernels::SiteRegistry& sites, TrafficOptions options)
    : options_(options) {
  if (sites.size() == 0) throw std::invalid_argument("the site registry holds no site");
  if (options_.malformed_share < 0 || options_.bot_share < 0 ||
      options_.malformed_share + options_.bot_share > 1) {
    throw std::invalid_argument("--malformed-share and --bot-share must be >= 0, sum <= 1");
  }
  site_cdf_ = ZipfCdf(sites.size(), options_.zipf_sites);
  const uint64_t total_visitors = std::max<uint64_t>(200, options_.hits / 4);
  double previous = 0;
  for (size_t i = 0; i < sites.size(); ++i) {
    const kernels::Site& site = sites.sites()[i];
    if (site.tracking_ids.empty()) {
      throw std::invalid_argument("site " + std::to_string(site.site_id) +
                                  " has no tracking id; expected at least one UA-... id");
    }
    SiteShape shape;
    shape.site_id = site.site_id;
    shape.name = site.name;
    shape.tracking_id = site.tracking_ids.front();
    shape.any_host = site.hostnames.empty();
    for (const auto& h : site.hostnames) {
      if (h.starts_with("*.")) {
        if (shape.wildcard_suffix.empty()) shape.wildcard_suffix = h.substr(2);
      } else if (shape.host.empty() && h != "*") {
        shape.host = h;
      }
    }
    if (shape.host.empty()) {
      shape.host =
          shape.wildcard_suffix.empty() ? site.name + ".example" : "www." + shape.wildcard_suffix;
    }
    Rng rng(kernels::Mix64(options_.seed ^ (0xabcdef0000ULL + site.site_id)));
    const std::string category = Category(site.name);
    const size_t page_count = 20 + rng.Below(181);
    std::set<std::string> seen;
    for (auto& p : FixedPaths(category)) {
      if (seen.insert(p).second) shape.paths.push_back(p);
    }
    for (int attempt = 0; shape.paths.size() < page_count && attempt < 4000; ++attempt) {
      std::string p = TemplatedPath(category, rng.Next());
      if (seen.insert(p).second) shape.paths.push_back(std::move(p));
    }
    shape.path_cdf = ZipfCdf(shape.paths.size(), options_.zipf_pages);
    const double weight = site_cdf_[i] - previous;
    previous = site_cdf_[i];
    shape.visitor_pool =
        std::max<uint64_t>(5, static_cast<uint64_t>(static_cast<double>(total_visitors) * weight));
    shape.visitor_seed = rng.Next();
    site_index_.emplace(shape.site_id, sites_.size());
    sites_.push_back(std::move(shape));
  }
  Rng bots(kernels::Mix64(options_.seed ^ 0xb075ULL));
  for (int i = 0; i < 500; ++i) {
    bot_visitors_.push_back(std::to_string(100'000'000 + bots.Below(1'900'000'000)) + "." +
                            std::to_string(1'690'000'000 + bots.Below(10'000'000)));
  }
}

TrafficModel::~TrafficModel() = default;

const TrafficModel::SiteShape& TrafficModel::PickSite(Rng& rng) const {
  return sites_[SampleCdf(site_cdf_, rng.Unit())];
}

Hit TrafficModel::ValidHit(Rng& rng, const SiteShape& site, const std::string& visitor,
                           bool batched) const {
  Hit hit;
  hit.site_id = site.site_id;
  hit.visitor = visitor;
  HitParams p;
  p.Set("v", "1");
  p.Set("tid", UrlEncode(site.tracking_id));
  p.Set(visitor.starts_with("user-") ? "uid" : "cid", UrlEncode(visitor));
  const std::string path = options_.flood ? "/flood/" + std::to_string(rng.Below(1'000'000'000))
                                          : site.paths[SampleCdf(site.path_cdf, rng.Unit())];
  std::string location = "https://" + site.host + path;
  std::string url_source, url_medium, url_campaign;  // the utm_* tags of the page URL
  if (rng.Chance(0.3)) {
    url_source = Pick(kUtmSources, rng.Next());
    url_medium = Pick(kUtmMediums, rng.Next());
    url_campaign = options_.flood ? "c" + std::to_string(rng.Below(1'000'000'000))
                                  : std::string(Pick(kAdjectives, rng.Next())) + "-sale";
    location +=
        "?utm_source=" + url_source + "&utm_medium=" + url_medium + "&utm_campaign=" + url_campaign;
  }
  if (rng.Chance(0.03)) location += "#reviews";
  bool has_location = true;  // the hit carries dl, whose utm_* tags count
  const double kind = rng.Unit();
  if (kind < 0.75) {
    hit.kind = kernels::EventKind::kPageview;
    hit.path = path;
    p.Set("t", "pageview");
    if (rng.Chance(0.2)) {
      p.Set("dh", UrlEncode(site.host));
      p.Set("dp", UrlEncode(path));
      has_location = false;
    } else {
      p.Set("dl", UrlEncode(location));
    }
    std::string title = path == "/" ? site.name : path.substr(path.rfind('/') + 1);
    p.Set("dt", UrlEncode(title + " | " + site.name));
    if (options_.flood) {
      hit.referrer = "r" + std::to_string(rng.Below(1'000'000'000)) + ".flood.example";
      p.Set("dr", UrlEncode("https://" + hit.referrer + "/"));
    } else if (rng.Chance(0.25)) {
      const uint64_t r = rng.Next();
      if (r % 4 == 0) {
        // A self-referral (the page's own host, or one the site's allowlist names): dropped.
        const std::string host = r % 8 == 0 && !site.wildcard_suffix.empty()
                                     ? "blog." + site.wildcard_suffix
                                     : site.host;
        p.Set("dr", UrlEncode("https://" + host + site.paths[(r >> 8) % site.paths.size()]));
      } else {
        const auto& [url, host] = kReferrers[(r >> 8) % kReferrers.size()];
        p.Set("dr", UrlEncode(url));
        hit.referrer = host;
      }
    }
  } else if (kind < 0.95) {
    hit.kind = kernels::EventKind::kEvent;
    p.Set("t", "event");
    p.Set("dl", UrlEncode(location));
    static constexpr std::array<std::string_view, 5> kEventCategories = {
        "video", "cart", "outbound", "form", "scroll"};
    static constexpr std::array<std::string_view, 5> kEventActions = {"play", "add", "click",
                                                                      "submit", "depth"};
    const uint64_t e = rng.Next();
    p.Set("ec", Pick(kEventCategories, e));
    hit.event_name = options_.flood ? "e" + std::to_string(rng.Below(1'000'000'000))
                                    : std::string(Pick(kEventActions, e));
    p.Set("ea", hit.event_name);
    p.Set("el", UrlEncode(std::string(Pick(kAdjectives, e >> 8)) + " " +
                          std::string(Pick(kNouns, e >> 16))));
    if (e % 3 == 0) p.Set("ev", std::to_string((e >> 24) % 500));
    if (e % 7 == 0) p.Set("ni", "1");
  } else {
    hit.kind = kernels::EventKind::kOther;
    p.Set("dl", UrlEncode(location));
    const uint64_t o = rng.Next();
    switch (o % 5) {
      case 0:
        p.Set("t", "timing");
        p.Set("utc", "page");
        p.Set("utv", "load");
        p.Set("utt", std::to_string(100 + (o >> 8) % 4000));
        break;
      case 1:
        p.Set("t", "exception");
        p.Set("exd", UrlEncode("TypeError: undefined is not a function"));
        p.Set("exf", "0");
        break;
      case 2:
        p.Set("t", "social");
        p.Set("sn", "twitter");
        p.Set("sa", "share");
        p.Set("st", UrlEncode(location));
        break;
      case 3:
        p.Set("t", "transaction");
        p.Set("ti", "T" + std::to_string((o >> 8) % 1'000'000));
        p.Set("tr", std::to_string((o >> 32) % 500) + ".99");
        p.Set("cu", "EUR");
        break;
      default:
        p.Set("t", "item");
        p.Set("ti", "T" + std::to_string((o >> 8) % 1'000'000));
        p.Set("in", UrlEncode(std::string(Pick(kAdjectives, o >> 16)) + " " +
                              std::string(Pick(kNouns, o >> 24))));
        p.Set("ip", "19.99");
        p.Set("iq", "1");
        break;
    }
  }
  if (hit.kind == kernels::EventKind::kOther) {
    // beacond names a non-event, non-pageview hit by its type (t).
    const std::string params = p.Join();
    const size_t t = params.find("&t=") + 3;
    hit.event_name = params.substr(t, params.find('&', t) - t);
  }
  // GA's own campaign fields (cs, cm, cn) on some hits: when any is present, all three come
  // from them and the URL's utm_* tags are ignored.
  if (rng.Chance(0.08)) {
    const uint64_t c = rng.Next();
    hit.utm_source = Pick(kUtmSources, c);
    p.Set("cs", hit.utm_source);
    if (c % 3 != 0) {
      hit.utm_medium = Pick(kUtmMediums, c >> 8);
      p.Set("cm", hit.utm_medium);
    }
    hit.utm_campaign = "tagged-" + std::string(Pick(kNouns, c >> 16));
    p.Set("cn", hit.utm_campaign);
  } else if (has_location) {
    hit.utm_source = url_source;
    hit.utm_medium = url_medium;
    hit.utm_campaign = url_campaign;
  }
  p.Set("ul", Pick(kLanguages, rng.Next()));
  p.Set("sr", Pick(kScreens, rng.Next()));
  p.Set("de", "UTF-8");
  p.Set("z", std::to_string(rng.Below(1'000'000'000)));
  if (batched || rng.Chance(options_.queue_time_share)) {
    hit.queue_time_ms = static_cast<int64_t>(rng.Below(60'001));
  }
  hit.params = p.Join();
  return hit;
}

// Rewrites a valid hit so that it carries `fault` and nothing else wrong with it.
void TrafficModel::ApplyFault(Rng& rng, RejectReason fault, Hit* hit) const {
  const SiteShape* site = &sites_[site_index_.at(hit->site_id)];
  // The params are rebuilt from a fresh valid hit of the kind the fault needs.
  auto rebuild_as = [&](EventKind kind) {
    Hit fresh;
    do {
      fresh = ValidHit(rng, *site, hit->visitor, hit->queue_time_ms >= 0);
    } while (fresh.kind != kind);
    *hit = std::move(fresh);
  };
  auto params_of = [](const Hit& h) {
    HitParams p;
    size_t start = 0;
    while (start < h.params.size()) {
      const size_t amp = std::min(h.params.find('&', start), h.params.size());
      const std::string_view kv(h.params.data() + start, amp - start);
      const size_t eq = kv.find('=');
      p.Set(kv.substr(0, eq), eq == std::string_view::npos ? "" : kv.substr(eq + 1));
      start = amp + 1;
    }
    return p;
  };
  const std::string& path = site->paths[SampleCdf(site->path_cdf, rng.Unit())];
  HitParams p;
  switch (fault) {
    case RejectReason::kUnknownSite:
      p = params_of(*hit);
      p.Set("tid", "UA-" + std::to_string(900000 + rng.Below(100000)) + "-9");
      break;
    case RejectReason::kMissingClientId:
      p = params_of(*hit);
      p.Remove("cid");
      p.Remove("uid");
      break;
    case RejectReason::kMissingTrackingId:
      p = params_of(*hit);
      p.Remove("tid");
      break;
    case RejectReason::kBadVersion:
      p = params_of(*hit);
      p.Set("v", "2");
      break;
    case RejectReason::kUnknownHitType:
      p = params_of(*hit);
      p.Set("t", "foo");
      break;
    case RejectReason::kMissingPage:
      rebuild_as(EventKind::kPageview);
      p = params_of(*hit);
      p.Remove("dl");
      p.Remove("dh");
      p.Remove("dp");
      break;
    case RejectReason::kMissingEventFields:
      rebuild_as(EventKind::kEvent);
      p = params_of(*hit);
      p.Remove("ec");
      p.Remove("ea");
      break;
    case RejectReason::kBadPercentEncoding:
    case RejectReason::kInvalidUtf8:
    case RejectReason::kFieldTooLong: {
      rebuild_as(EventKind::kPageview);
      p = params_of(*hit);
      p.Remove("dl");
      std::string host = site->host;
      std::string page = UrlEncode(path);
      if (fault == RejectReason::kBadPercentEncoding) {
        page += rng.Chance(0.5) ? "%G1" : "%";
      } else if (fault == RejectReason::kInvalidUtf8) {
        page += "%2F%FF%FE";
      } else if (!site->wildcard_suffix.empty() || site->any_host) {
        // A subdomain the allowlist accepts, but longer than dh's 100-byte cap.
        host = "summer-campaign-landing-page-for-returning-customers-" +
               std::to_string(rng.Below(1000)) + "." +
               std::string(site->any_host ? site->host : site->wildcard_suffix);
        while (host.size() <= 100) host = "promo-" + host;
      } else {
        page = UrlEncode(path + "/" + std::string(2100, 'x'));  // dp's cap is 2048 bytes
      }
      p.Set("dh", UrlEncode(host));
      p.Set("dp", page);
      break;
    }
    case RejectReason::kBadQueueTime:
      p = params_of(*hit);
      p.Set("qt", "99999999");
      hit->queue_time_ms = -1;
      break;
    case RejectReason::kHostNotAllowed:
      rebuild_as(EventKind::kPageview);
      p = params_of(*hit);
      p.Remove("dh");
      p.Remove("dp");
      p.Set("dl", UrlEncode("https://copycat-" + std::to_string(rng.Below(100)) + ".test" + path));
      break;
    default:
      throw std::logic_error("not a malformed class of the model");
  }
  hit->params = p.Join();
  hit->reject = fault;
}

std::vector<Request> TrafficModel::Chunk(uint64_t k) const {
  const uint64_t first = k * kChunkHits;
  if (first >= options_.hits) return {};
  uint64_t remaining = std::min(kChunkHits, options_.hits - first);
  Rng rng(kernels::Mix64(options_.seed) ^ kernels::Mix64(0xc0ffee0000000000ULL + k));
  // P(batch request) such that batch_share of hits travel in batches of 11 on average.
  const double b = options_.batch_share;
  const double batch_request_chance = b / (11.0 - 10.0 * b);
  const double malformed_given_human =
      options_.bot_share >= 1 ? 0 : options_.malformed_share / (1 - options_.bot_share);
  std::vector<Request> requests;
  while (remaining > 0) {
    Request req;
    uint64_t count = 1;
    if (remaining >= 2 && rng.Chance(batch_request_chance)) {
      req.transport = Transport::kBatch;
      count = std::min<uint64_t>(remaining, 2 + rng.Below(19));
    } else {
      req.transport = rng.Chance(0.6) ? Transport::kGet : Transport::kPost;
    }
    const SiteShape& site = PickSite(rng);
    const bool bot = rng.Chance(options_.bot_share);
    std::string visitor;
    const HumanAgent* agent = nullptr;
    if (bot) {
      req.user_agent = Pick(kBotAgents, rng.Next());
      visitor = bot_visitors_[rng.Below(bot_visitors_.size())];
    } else {
      // Skewed towards low indices: a few loyal visitors come back often.
      const double u = rng.Unit();
      const auto index = static_cast<uint64_t>(static_cast<double>(site.visitor_pool) * u * u);
      visitor = site.Visitor(index);
      agent = &site.Agent(index);
      req.user_agent = agent->user_agent;
      req.country_header = site.Country(index);
    }
    size_t body_bytes = 0;
    uint64_t produced = 0;
    while (produced < count) {
      ++produced;
      Hit hit = ValidHit(rng, site, visitor, req.transport == Transport::kBatch);
      hit.agent = agent;
      const uint16_t country = kernels::CountryFromHeader(req.country_header);
      if (country != kernels::kUnknownCountry) {
        std::array<char, 2> letters;
        hit.country = kernels::CountryLetters(country, &letters);
      }
      if (bot) {
        hit.reject = RejectReason::kBotUserAgent;
      } else if (rng.Chance(malformed_given_human)) {
        auto fault = options_.flood ? RejectReason::kUnknownSite
                                    : kMalformedClasses[rng.Below(std::size(kMalformedClasses))];
        if (fault == RejectReason::kHostNotAllowed && site.any_host) {
          fault = RejectReason::kUnknownSite;
        }
        ApplyFault(rng, fault, &hit);
      }
      if (!hit.reject && options_.unregistered_sites.count(site.site_id) != 0) {
        hit.reject = RejectReason::kUnknownSite;
      }
      body_bytes += hit.params.size() + 16;  // newline and "&qt=NNNNN"
      if (req.transport == Transport::kBatch && body_bytes > kMaxBatchBodyBytes) {
        Request single{Transport::kPost, req.user_agent, req.country_header, {}};
        single.hits.push_back(std::move(hit));
        requests.push_back(std::move(single));
        break;
      }
      req.hits.push_back(std::move(hit));
    }
    remaining -= produced;
    if (!req.hits.empty()) requests.push_back(std::move(req));
  }
  for (size_t i = 0; i < requests.size(); ++i) requests[i].id = first + i;
  return requests;
}

}  // namespace beacon::bench
