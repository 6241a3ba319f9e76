// User-agent classification: bot flag, device class, browser and OS family. uap-core's regexes
// (and beacond's own bot markers) are compiled once into Hyperscan databases; patterns
// Hyperscan cannot compile exactly are prefiltered by it or left to PCRE2, which also supplies
// the capture groups. Results are cached per worker by a 64-bit hash of the user agent.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace beacon::kernels {

inline constexpr std::string_view kDefaultUapRegexesPath = "/usr/share/uap-core/regexes.yaml";

// User agents are classified on their first kMaxClassifiedUserAgentBytes bytes: this bounds the
// cost of a cache miss (real user agents are shorter).
inline constexpr size_t kMaxClassifiedUserAgentBytes = 512;

enum class DeviceClass : uint8_t { kOther = 0, kDesktop, kMobile, kTablet, kBot };

// The browser families given their own id; every other uap family is id 0, "Other". Ids are
// positions in this table and are stored: the table is append-only.
inline constexpr std::array<std::string_view, 40> kBrowserFamilies = {
    "Other",
    "Chrome",
    "Chrome Mobile",
    "Chrome Mobile iOS",
    "Chrome Mobile WebView",
    "Safari",
    "Mobile Safari",
    "Mobile Safari UI/WKWebView",
    "Firefox",
    "Firefox Mobile",
    "Firefox iOS",
    "Edge",
    "Edge Mobile",
    "Opera",
    "Opera Mobile",
    "Opera Mini",
    "Samsung Internet",
    "UC Browser",
    "Yandex Browser",
    "IE",
    "IE Mobile",
    "Android",
    "Facebook",
    "Instagram",
    "Vivaldi",
    "Amazon Silk",
    "DuckDuckGo Mobile",
    "MiuiBrowser",
    "QQ Browser",
    "QQ Browser Mobile",
    "Whale",
    "Electron",
    "Chromium",
    "Pinterest",
    "Puffin",
    "Google",
    "Snapchat",
    "Twitter",
    "LinkedIn",
    "Coc Coc",
};

// The OS families given their own id, as kBrowserFamilies (append-only; 0 is "Other").
inline constexpr std::array<std::string_view, 22> kOsFamilies = {
    "Other",          "Windows",       "Mac OS X",      "iOS",    "Android",
    "Linux",          "Ubuntu",        "Chrome OS",     "Fedora", "Debian",
    "FreeBSD",        "Windows Phone", "BlackBerry OS", "KaiOS",  "Tizen",
    "Windows Mobile", "Firefox OS",    "Symbian OS",    "webOS",  "tvOS",
    "WatchOS",        "OpenBSD",
};

// Bit of UaClass::flags.
inline constexpr uint8_t kUaFlagBot = 1 << 0;

// The class of one user agent: four bytes, the fixed-width EventBatch columns.
struct UaClass {
  uint8_t device = 0;   // a DeviceClass
  uint8_t browser = 0;  // index into kBrowserFamilies
  uint8_t os = 0;       // index into kOsFamilies
  uint8_t flags = 0;    // kUaFlagBot

  bool is_bot() const { return (flags & kUaFlagBot) != 0; }
  DeviceClass device_class() const { return static_cast<DeviceClass>(device); }
  bool operator==(const UaClass&) const = default;
};

std::string_view DeviceClassName(DeviceClass device);  // "other", "desktop", ...
uint8_t BrowserFamilyId(std::string_view family);      // 0 when not in kBrowserFamilies
uint8_t OsFamilyId(std::string_view family);           // 0 when not in kOsFamilies

// The full uap result of one user agent (uap-core semantics: per section, the first regex in
// file order that matches wins; "Other" when none does).
struct UaParse {
  std::string browser_family;
  std::string os_family;
  std::string device_family;
  bool bot_marker = false;  // one of kBotMarkers occurs (ASCII case-insensitive)
};

// beacond's own bot markers, besides uap's "Spider" device family: lower-case substrings of
// scripts, headless browsers and monitors, matched ASCII case-insensitively. A bare "bot" is
// left to uap's device parsers, which tell crawlers from phones such as the CUBOT.
inline constexpr std::array<std::string_view, 25> kBotMarkers = {
    "crawl",
    "spider",
    "slurp",
    "headless",
    "lighthouse",
    "python-requests",
    "python-urllib",
    "curl/",
    "wget",
    "go-http-client",
    "java/",
    "libwww-perl",
    "scrapy",
    "phantomjs",
    "facebookexternalhit",
    "mediapartners-google",
    "bingpreview",
    "pingdom",
    "apache-httpclient",
    "node-fetch",
    "axios/",
    "postmanruntime",
    "gtmetrix",
    "applebot",
    "uptimerobot",
};

// The bot check when no classifier is loaded (`[enrich] user_agents = ""`, decoder tests): one
// of kBotMarkers or a bare "bot" occurs, ASCII case-insensitive. Without uap's device parsers a
// bare "bot" is the better guess (it also flags the CUBOT phone). An empty user agent is not
// a bot. One Hyperscan pass over the user agent, its answer memoised per thread (2048 recent
// user agents by a 64-bit hash, as UserAgentCache); the first call of a thread allocates its
// scratch space and memo (the first call of the process compiles the markers).
bool IsBotByMarkers(std::string_view user_agent);

// How the patterns of one section were compiled.
struct UaPatternCounts {
  size_t native = 0;       // exact in Hyperscan; PCRE2 runs only on the winner, for captures
  size_t prefiltered = 0;  // HS_FLAG_PREFILTER: Hyperscan candidates confirmed by PCRE2
  size_t pcre_only = 0;    // Hyperscan refuses even as a prefilter: tried by PCRE2 every time
  size_t unsupported = 0;  // PCRE2 refuses too: dropped (a uap-core update to look at)

  size_t total() const { return native + prefiltered + pcre_only + unsupported; }
};

enum class UaSection : uint8_t { kBrowser = 0, kOs, kDevice, kBots };

class UserAgentCache;

// The compiled patterns. Built once at start; immutable and shared by every worker, each of
// which classifies through its own UserAgentCache.
class UserAgentClassifier {
 public:
  // Reads uap-core's regexes.yaml at `regexes_path`. Throws std::runtime_error naming the file
  // and what was wrong when it cannot be read, is not the expected YAML, or no pattern of a
  // section compiles.
  static std::unique_ptr<const UserAgentClassifier> Load(
      const std::string& regexes_path = std::string(kDefaultUapRegexesPath));
  // As Load, from the text of a regexes.yaml; `source` names it in errors.
  static std::unique_ptr<const UserAgentClassifier> FromYaml(std::string_view yaml,
                                                             std::string_view source);

  ~UserAgentClassifier();
  UserAgentClassifier(const UserAgentClassifier&) = delete;
  UserAgentClassifier& operator=(const UserAgentClassifier&) = delete;

  const UaPatternCounts& counts(UaSection section) const;

  struct Impl;

 private:
  friend class UserAgentCache;
  explicit UserAgentClassifier(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One worker's view of a classifier: its Hyperscan scratch, PCRE2 match data and a
// direct-mapped cache of 2^capacity_log2 entries (16 bytes each; 64k entries = 1 MiB), keyed
// by a fast 64-bit hash of the (truncated) user agent, kept whole as the tag. A new user
// agent overwrites its slot. Not thread-safe: one per worker.
class UserAgentCache {
 public:
  explicit UserAgentCache(const UserAgentClassifier& classifier, unsigned capacity_log2 = 16);
  ~UserAgentCache();
  UserAgentCache(const UserAgentCache&) = delete;
  UserAgentCache& operator=(const UserAgentCache&) = delete;

  // Classifies `n` user agents into out[0..n). Never throws; a hit allocates nothing (a miss
  // may let PCRE2 grow its match frames).
  void ClassifyBatch(const std::string_view* user_agents, size_t n, UaClass* out);
  UaClass Classify(std::string_view user_agent);

  // The uncached uap parse (tests, diagnostics); allocates the family strings.
  UaParse Parse(std::string_view user_agent);

  size_t capacity() const { return slots_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  struct Slot {
    uint64_t tag = 0;  // hash of the user agent, 0 = empty (a hash of 0 is stored as 1)
    UaClass value;
  };
  struct Scratch;

  UaClass ClassifyUncached(std::string_view user_agent);

  const UserAgentClassifier::Impl& classifier_;
  std::unique_ptr<Scratch> scratch_;
  std::vector<Slot> slots_;
  unsigned shift_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

// The device class of a user agent that is not a bot, from its uap device and OS families (rules
// in kernels/enrich/README.md); `user_agent` is consulted for Android's "Mobile" token.
DeviceClass DeviceClassOf(std::string_view device_family, std::string_view os_family,
                          std::string_view user_agent);

}  // namespace beacon::kernels
