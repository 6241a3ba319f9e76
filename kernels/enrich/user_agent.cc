// User-agent classification; see user_agent.h. Cold path (a cache miss): one Hyperscan scan per
// section collects the ids of the patterns that may match, and the lowest id confirmed (by
// Hyperscan alone, or by PCRE2) wins, as uap-core's first-match rule requires.
#include "kernels/enrich/user_agent.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs.h>
#include <pcre2.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "kernels/enrich/uap_yaml.h"
#include "kernels/read_file.h"

namespace beacon::kernels {
namespace {

// The markers of IsBotByMarkers: kBotMarkers and a bare "bot".
constexpr size_t kFallbackMarkerCount = kBotMarkers.size() + 1;
constexpr std::string_view FallbackMarker(size_t m) {
  return m < kBotMarkers.size() ? kBotMarkers[m] : std::string_view("bot");
}

// The fallback markers as one caseless Hyperscan literal database, compiled on first use: one
// vectorised pass over a user agent, where a scalar scan compares at nearly every letter.
const hs_database_t* FallbackMarkerDb() {
  static const hs_database_t* const db = [] {
    const char* literals[kFallbackMarkerCount];
    size_t sizes[kFallbackMarkerCount];
    unsigned flags[kFallbackMarkerCount];
    unsigned ids[kFallbackMarkerCount];
    for (size_t m = 0; m < kFallbackMarkerCount; ++m) {
      literals[m] = FallbackMarker(m).data();
      sizes[m] = FallbackMarker(m).size();
      flags[m] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;
      ids[m] = static_cast<unsigned>(m);
    }
    hs_database_t* compiled = nullptr;
    hs_compile_error_t* error = nullptr;
    if (hs_compile_lit_multi(literals, flags, ids, sizes, kFallbackMarkerCount, HS_MODE_BLOCK,
                             nullptr, &compiled, &error) != HS_SUCCESS) {
      std::abort();  // fixed literals: only an allocation failure gets here
    }
    return compiled;
  }();
  return db;
}

// A thread's Hyperscan scratch for FallbackMarkerDb, and its memo of recent answers: a
// direct-mapped table of 2^kMarkerMemoBits entries (16 bytes each) keyed by UserAgentTag, since
// a user agent comes back with every hit of its visitor. A new user agent overwrites its entry.
constexpr unsigned kMarkerMemoBits = 11;
struct MarkerScratch {
  struct Answer {
    uint64_t tag = 0;  // 0: none yet
    bool bot = false;
  };
  hs_scratch_t* hs = nullptr;
  std::vector<Answer> memo;
  ~MarkerScratch() { hs_free_scratch(hs); }
};

int StopAtFirstMarker(unsigned, unsigned long long, unsigned long long, unsigned, void*) {
  return 1;
}

// Prefetches the cache lines of the classified part of a user agent.
void PrefetchBytes(std::string_view user_agent) {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(user_agent.data()) & ~uintptr_t{63};
  const uintptr_t end = reinterpret_cast<uintptr_t>(user_agent.data()) +
                        std::min(user_agent.size(), kMaxClassifiedUserAgentBytes);
  for (uintptr_t line = begin; line < end; line += 64) {
    __builtin_prefetch(reinterpret_cast<const void*>(line));
  }
}

// The secret of UserAgentTag, random per process: a tag stands for its whole user agent in the
// caches, so a sender who knew the hash could craft a user agent with a browser's tag and have
// that browser's hits classified as its own (a bot's) until the slot is overwritten.
const unsigned char* TagSecret() {
  static const auto secret = [] {
    std::array<unsigned char, XXH3_SECRET_DEFAULT_SIZE> bytes{};
    std::random_device random;  // getrandom(2)
    for (size_t i = 0; i < bytes.size(); i += sizeof(uint32_t)) {
      const uint32_t word = random();
      std::memcpy(&bytes[i], &word, sizeof(word));
    }
    return bytes;
  }();
  return secret.data();
}

// The cache tag of a user agent, never 0 (an empty entry): only the caches of this file keep it,
// so it is free to differ from Hash64. XXH3 (libxxhash) with TagSecret, inlined so that a user
// agent pays no library call.
uint64_t UserAgentTag(std::string_view user_agent) {
  const uint64_t h = XXH3_64bits_withSecret(user_agent.data(), user_agent.size(), TagSecret(),
                                            XXH3_SECRET_DEFAULT_SIZE);
  return h == 0 ? 1 : h;
}

constexpr size_t kMaxFamilyBytes = 256;  // longer families are cut (uap tests have 160)
constexpr uint32_t kPcreMatchLimit = 200000;

enum class PatternMode : uint8_t { kNative, kPrefiltered, kPcreOnly, kUnsupported };

struct Pattern {
  std::string regex;
  bool caseless = false;
  std::string replacement;  // empty: capture group 1
  PatternMode mode = PatternMode::kNative;
  bool needs_captures = true;  // the family uses a capture group
  pcre2_code* code = nullptr;
};

unsigned HyperscanFlags(const Pattern& p, PatternMode mode) {
  unsigned flags = HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY;
  if (p.caseless) flags |= HS_FLAG_CASELESS;
  if (mode == PatternMode::kPrefiltered) flags |= HS_FLAG_PREFILTER;
  return flags;
}

bool HyperscanAccepts(const Pattern& p, PatternMode mode) {
  hs_expr_info_t* info = nullptr;
  hs_compile_error_t* error = nullptr;
  const hs_error_t rc = hs_expression_info(p.regex.c_str(), HyperscanFlags(p, mode), &info, &error);
  std::free(info);
  if (error != nullptr) hs_free_compile_error(error);
  return rc == HS_SUCCESS;
}

// Whether Hyperscan builds a database of `p` alone in `mode`.
bool CompilesAlone(const Pattern& p, PatternMode mode) {
  hs_database_t* db = nullptr;
  hs_compile_error_t* error = nullptr;
  const hs_error_t rc =
      hs_compile(p.regex.c_str(), HyperscanFlags(p, mode), HS_MODE_BLOCK, nullptr, &db, &error);
  hs_free_database(db);
  if (error != nullptr) hs_free_compile_error(error);
  return rc == HS_SUCCESS;
}

int CollectMatch(unsigned int id, unsigned long long /*from*/, unsigned long long /*to*/,
                 unsigned int /*flags*/, void* context) {
  static_cast<std::vector<uint32_t>*>(context)->push_back(id);
  return 0;
}

}  // namespace

// One section of regexes.yaml (or the bot markers), compiled.
struct UaSectionDb {
  std::vector<Pattern> patterns;    // file order; the index is the Hyperscan id
  std::vector<uint32_t> pcre_only;  // ascending
  hs_database_t* db = nullptr;      // native and prefiltered patterns; may be null
  UaPatternCounts counts;

  UaSectionDb() = default;
  UaSectionDb(const UaSectionDb&) = delete;
  UaSectionDb& operator=(const UaSectionDb&) = delete;
  ~UaSectionDb() {
    hs_free_database(db);
    for (Pattern& p : patterns) pcre2_code_free(p.code);
  }

  void Compile(std::string_view source, std::string_view name);
};

void UaSectionDb::Compile(std::string_view source, std::string_view name) {
  for (Pattern& p : patterns) {
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    p.code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.regex.data()), p.regex.size(),
                           p.caseless ? PCRE2_CASELESS : 0, &error_code, &error_offset, nullptr);
    if (p.code == nullptr) {
      p.mode = PatternMode::kUnsupported;
      continue;
    }
    pcre2_jit_compile(p.code, PCRE2_JIT_COMPLETE);  // without JIT, PCRE2 interprets
    if (HyperscanAccepts(p, PatternMode::kNative)) {
      p.mode = PatternMode::kNative;
    } else if (HyperscanAccepts(p, PatternMode::kPrefiltered)) {
      p.mode = PatternMode::kPrefiltered;
    } else {
      p.mode = PatternMode::kPcreOnly;
    }
  }
  // hs_expression_info does not catch every limit of a whole-database compile: a pattern the
  // compile names is moved one tier down and the rest compiled again.
  for (;;) {
    std::vector<const char*> expressions;
    std::vector<unsigned> flags;
    std::vector<unsigned> ids;
    for (size_t i = 0; i < patterns.size(); ++i) {
      const Pattern& p = patterns[i];
      if (p.mode != PatternMode::kNative && p.mode != PatternMode::kPrefiltered) continue;
      expressions.push_back(p.regex.c_str());
      flags.push_back(HyperscanFlags(p, p.mode));
      ids.push_back(static_cast<unsigned>(i));
    }
    if (expressions.empty()) break;
    hs_compile_error_t* error = nullptr;
    const hs_error_t rc = hs_compile_multi(expressions.data(), flags.data(), ids.data(),
                                           static_cast<unsigned>(expressions.size()), HS_MODE_BLOCK,
                                           nullptr, &db, &error);
    if (rc == HS_SUCCESS) break;
    const int failed = error != nullptr ? error->expression : -1;
    const std::string message = error != nullptr ? error->message : "unknown error";
    hs_free_compile_error(error);
    if (failed < 0) {
      throw std::runtime_error(std::string(source) + ": Hyperscan cannot build the " +
                               std::string(name) + " database: " + message);
    }
    // Decide the failed pattern's tier alone, so that one failure costs one more database
    // compile, not two.
    Pattern& p = patterns[ids[static_cast<size_t>(failed)]];
    p.mode = p.mode == PatternMode::kNative && CompilesAlone(p, PatternMode::kPrefiltered)
                 ? PatternMode::kPrefiltered
                 : PatternMode::kPcreOnly;
  }
  for (size_t i = 0; i < patterns.size(); ++i) {
    Pattern& p = patterns[i];
    switch (p.mode) {
      case PatternMode::kNative:
        ++counts.native;
        break;
      case PatternMode::kPrefiltered:
        ++counts.prefiltered;
        break;
      case PatternMode::kPcreOnly:
        ++counts.pcre_only;
        pcre_only.push_back(static_cast<uint32_t>(i));
        break;
      case PatternMode::kUnsupported:
        ++counts.unsupported;
        break;
    }
    p.needs_captures = p.replacement.empty() || p.replacement.find('$') != std::string::npos;
  }
  if (counts.total() == counts.unsupported) {
    throw std::runtime_error(std::string(source) + ": no pattern of " + std::string(name) +
                             " compiles");
  }
}

struct UserAgentClassifier::Impl {
  UaSectionDb sections[4];  // indexed by UaSection
  hs_scratch_t* scratch_prototype = nullptr;
  pcre2_match_context* match_context = nullptr;

  ~Impl() {
    hs_free_scratch(scratch_prototype);
    pcre2_match_context_free(match_context);
  }
};

namespace {

void AddSection(const UapYamlSection& yaml, std::string_view replacement_key,
                std::string_view source, UaSectionDb* section) {
  for (const UapYamlEntry& entry : yaml.entries) {
    const std::string* regex = entry.Find("regex");
    if (regex == nullptr) {
      throw std::runtime_error(std::string(source) + ":" + std::to_string(entry.line) + ": " +
                               yaml.name + " item without a regex");
    }
    Pattern p;
    p.regex = *regex;
    const std::string* flag = entry.Find("regex_flag");
    if (flag != nullptr && *flag != "i") {
      throw std::runtime_error(std::string(source) + ":" + std::to_string(entry.line) +
                               ": regex_flag '" + *flag + "', expected 'i'");
    }
    p.caseless = flag != nullptr;
    if (const std::string* r = entry.Find(replacement_key)) p.replacement = *r;
    section->patterns.push_back(std::move(p));
  }
}

std::string EscapeLiteral(std::string_view literal) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : literal) {
    const auto b = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out.push_back(c);
    } else {
      out += "\\x";
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  }
  return out;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool OneOf(std::string_view s, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

}  // namespace

UserAgentClassifier::UserAgentClassifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UserAgentClassifier::~UserAgentClassifier() = default;

std::unique_ptr<const UserAgentClassifier> UserAgentClassifier::Load(
    const std::string& regexes_path) {
  std::string text;
  if (!ReadWholeFile(regexes_path, &text)) {
    throw std::runtime_error("cannot read uap-core regexes '" + regexes_path +
                             "' (Debian package uap-core)");
  }
  return FromYaml(text, regexes_path);
}

std::unique_ptr<const UserAgentClassifier> UserAgentClassifier::FromYaml(std::string_view yaml,
                                                                         std::string_view source) {
  auto impl = std::make_unique<Impl>();
  const std::vector<UapYamlSection> sections = ParseUapYaml(yaml, source);
  struct Wanted {
    std::string_view name;
    std::string_view replacement_key;
    UaSection section;
  };
  constexpr Wanted kWanted[] = {
      {"user_agent_parsers", "family_replacement", UaSection::kBrowser},
      {"os_parsers", "os_replacement", UaSection::kOs},
      {"device_parsers", "device_replacement", UaSection::kDevice},
  };
  for (const Wanted& wanted : kWanted) {
    const auto it = std::find_if(sections.begin(), sections.end(),
                                 [&](const UapYamlSection& s) { return s.name == wanted.name; });
    if (it == sections.end() || it->entries.empty()) {
      throw std::runtime_error(std::string(source) + ": no '" + std::string(wanted.name) +
                               "' list (expected uap-core's regexes.yaml)");
    }
    UaSectionDb& db = impl->sections[static_cast<size_t>(wanted.section)];
    AddSection(*it, wanted.replacement_key, source, &db);
    db.Compile(source, wanted.name);
  }
  UaSectionDb& bots = impl->sections[static_cast<size_t>(UaSection::kBots)];
  for (const std::string_view marker : kBotMarkers) {
    Pattern p;
    p.regex = EscapeLiteral(marker);
    p.caseless = true;
    p.replacement = "bot";
    bots.patterns.push_back(std::move(p));
  }
  bots.Compile("beacond bot markers", "bot marker");
  for (UaSectionDb& s : impl->sections) {
    if (s.db == nullptr) continue;
    if (hs_alloc_scratch(s.db, &impl->scratch_prototype) != HS_SUCCESS) {
      throw std::runtime_error("cannot allocate Hyperscan scratch space");
    }
  }
  impl->match_context = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(impl->match_context, kPcreMatchLimit);
  return std::unique_ptr<const UserAgentClassifier>(new UserAgentClassifier(std::move(impl)));
}

const UaPatternCounts& UserAgentClassifier::counts(UaSection section) const {
  return impl_->sections[static_cast<size_t>(section)].counts;
}

struct UserAgentCache::Scratch {
  hs_scratch_t* hs = nullptr;
  pcre2_match_data* match = nullptr;
  std::vector<uint32_t> ids;  // reserved for every pattern: pushing never allocates
  char family[3][kMaxFamilyBytes];

  ~Scratch() {
    hs_free_scratch(hs);
    pcre2_match_data_free(match);
  }
};

namespace {

// Writes the family of pattern `p` (its replacement with $1..$9 substituted, trimmed, or group
// 1) into `out`; returns it, "Other" when it is empty.
std::string_view Family(const Pattern& p, std::string_view subject, pcre2_match_data* match,
                        int groups, char* out) {
  size_t size = 0;
  auto append = [&](std::string_view s) {
    const size_t n = std::min(s.size(), kMaxFamilyBytes - size);
    std::copy_n(s.data(), n, out + size);
    size += n;
  };
  auto group = [&](int g) -> std::string_view {
    if (match == nullptr || g >= groups) return {};
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    if (ovector[2 * g] == PCRE2_UNSET) return {};
    return subject.substr(ovector[2 * g], ovector[2 * g + 1] - ovector[2 * g]);
  };
  if (p.replacement.empty()) {
    append(group(1));
  } else {
    const std::string_view r = p.replacement;
    for (size_t i = 0; i < r.size(); ++i) {
      if (r[i] == '$' && i + 1 < r.size() && r[i + 1] >= '1' && r[i + 1] <= '9') {
        append(group(r[i + 1] - '0'));
        ++i;
      } else {
        append(r.substr(i, 1));
      }
    }
  }
  std::string_view family(out, size);
  while (!family.empty() && (family.front() == ' ' || family.front() == '\t')) {
    family.remove_prefix(1);
  }
  while (!family.empty() && (family.back() == ' ' || family.back() == '\t')) {
    family.remove_suffix(1);
  }
  return family.empty() ? std::string_view("Other") : family;
}

// The family given by the first pattern of `section` matching `subject`, "Other" when none
// does; `ids` is the caller's scratch vector.
std::string_view FirstMatch(const UaSectionDb& section, std::string_view subject, hs_scratch_t* hs,
                            pcre2_match_data* match, pcre2_match_context* match_context,
                            std::vector<uint32_t>& ids, char* out) {
  ids.clear();
  if (section.db != nullptr) {
    hs_scan(section.db, subject.data(), static_cast<unsigned>(subject.size()), 0, hs, CollectMatch,
            &ids);
    std::sort(ids.begin(), ids.end());
  }
  size_t a = 0;
  size_t b = 0;
  while (a < ids.size() || b < section.pcre_only.size()) {
    uint32_t id;
    if (b == section.pcre_only.size() || (a < ids.size() && ids[a] < section.pcre_only[b])) {
      id = ids[a++];
    } else {
      id = section.pcre_only[b++];
    }
    const Pattern& p = section.patterns[id];
    if (p.mode == PatternMode::kNative && !p.needs_captures) {
      return Family(p, subject, nullptr, 0, out);
    }
    const int rc = pcre2_match(p.code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(),
                               0, 0, match, match_context);
    if (rc > 0) return Family(p, subject, match, rc, out);
  }
  return "Other";
}

}  // namespace

DeviceClass DeviceClassOf(std::string_view device_family, std::string_view os_family,
                          std::string_view user_agent) {
  if (StartsWith(device_family, "iPad") || StartsWith(device_family, "Kindle") ||
      device_family.find("Tablet") != std::string_view::npos ||
      device_family.find("MI PAD") != std::string_view::npos) {
    return DeviceClass::kTablet;
  }
  if (os_family == "Android" && user_agent.find("Mobile") == std::string_view::npos) {
    return DeviceClass::kTablet;
  }
  if (OneOf(device_family, {"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone"}) ||
      OneOf(os_family, {"iOS", "Android", "Windows Phone", "Windows Mobile", "BlackBerry OS",
                        "KaiOS", "Firefox OS", "Symbian OS", "Symbian^3", "Bada", "Sailfish",
                        "Nokia Series 40", "Tizen"})) {
    return DeviceClass::kMobile;
  }
  if (OneOf(device_family, {"Other", "Mac"}) &&
      OneOf(os_family, {"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "Debian",
                        "FreeBSD", "OpenBSD", "NetBSD", "Red Hat", "Gentoo", "Mandriva", "Solaris",
                        "Slackware", "SUSE", "Mint", "Arch Linux", "CentOS"})) {
    return DeviceClass::kDesktop;
  }
  return DeviceClass::kOther;
}

std::string_view DeviceClassName(DeviceClass device) {
  switch (device) {
    case DeviceClass::kOther:
      return "other";
    case DeviceClass::kDesktop:
      return "desktop";
    case DeviceClass::kMobile:
      return "mobile";
    case DeviceClass::kTablet:
      return "tablet";
    case DeviceClass::kBot:
      return "bot";
  }
  return "other";
}

uint8_t BrowserFamilyId(std::string_view family) {
  const auto it = std::find(kBrowserFamilies.begin(), kBrowserFamilies.end(), family);
  return it == kBrowserFamilies.end() ? 0 : static_cast<uint8_t>(it - kBrowserFamilies.begin());
}

uint8_t OsFamilyId(std::string_view family) {
  const auto it = std::find(kOsFamilies.begin(), kOsFamilies.end(), family);
  return it == kOsFamilies.end() ? 0 : static_cast<uint8_t>(it - kOsFamilies.begin());
}

UserAgentCache::UserAgentCache(const UserAgentClassifier& classifier, unsigned capacity_log2)
    : classifier_(*classifier.impl_), scratch_(std::make_unique<Scratch>()) {
  if (capacity_log2 < 1 || capacity_log2 > 24) {
    throw std::invalid_argument("user-agent cache capacity_log2 " + std::to_string(capacity_log2) +
                                ", expected 1..24");
  }
  slots_.resize(size_t{1} << capacity_log2);
  shift_ = 64 - capacity_log2;
  if (classifier_.scratch_prototype != nullptr &&
      hs_clone_scratch(classifier_.scratch_prototype, &scratch_->hs) != HS_SUCCESS) {
    throw std::runtime_error("cannot clone Hyperscan scratch space");
  }
  scratch_->match = pcre2_match_data_create(10, nullptr);
  size_t most = 0;
  for (const UaSectionDb& s : classifier_.sections) most = std::max(most, s.patterns.size());
  scratch_->ids.reserve(most);
}

UserAgentCache::~UserAgentCache() = default;

UaParse UserAgentCache::Parse(std::string_view user_agent) {
  user_agent = user_agent.substr(0, kMaxClassifiedUserAgentBytes);
  Scratch& s = *scratch_;
  auto first = [&](UaSection section, int buffer) {
    return FirstMatch(classifier_.sections[static_cast<size_t>(section)], user_agent, s.hs, s.match,
                      classifier_.match_context, s.ids, s.family[buffer]);
  };
  UaParse parse;
  parse.browser_family = first(UaSection::kBrowser, 0);
  parse.os_family = first(UaSection::kOs, 1);
  parse.device_family = first(UaSection::kDevice, 2);
  parse.bot_marker = first(UaSection::kBots, 0) != "Other";
  return parse;
}

UaClass UserAgentCache::ClassifyUncached(std::string_view user_agent) {
  Scratch& s = *scratch_;
  auto first = [&](UaSection section, int buffer) {
    return FirstMatch(classifier_.sections[static_cast<size_t>(section)], user_agent, s.hs, s.match,
                      classifier_.match_context, s.ids, s.family[buffer]);
  };
  UaClass c;
  if (user_agent.empty()) return c;
  const std::string_view device = first(UaSection::kDevice, 2);
  const bool bot = device == "Spider" || first(UaSection::kBots, 0) != "Other";
  const std::string_view browser = first(UaSection::kBrowser, 0);
  const std::string_view os = first(UaSection::kOs, 1);
  c.browser = BrowserFamilyId(browser);
  c.os = OsFamilyId(os);
  c.device = static_cast<uint8_t>(bot ? DeviceClass::kBot : DeviceClassOf(device, os, user_agent));
  c.flags = bot ? kUaFlagBot : 0;
  return c;
}

UaClass UserAgentCache::Classify(std::string_view user_agent) {
  UaClass c;
  ClassifyBatch(&user_agent, 1, &c);
  return c;
}

void UserAgentCache::ClassifyBatch(const std::string_view* user_agents, size_t n, UaClass* out) {
  // Hash a group first and prefetch its slots, so the cache-line misses overlap. The bytes of a
  // user agent are prefetched kBytesAhead user agents before it is hashed: one at a time, so
  // that the prefetches do not queue up behind each other.
  constexpr size_t kGroup = 16;
  constexpr size_t kBytesAhead = 8;
  uint64_t tags[kGroup];
  for (size_t i = 0; i < std::min(kBytesAhead, n); ++i) PrefetchBytes(user_agents[i]);
  for (size_t base = 0; base < n; base += kGroup) {
    const size_t m = std::min(kGroup, n - base);
    for (size_t i = 0; i < m; ++i) {
      if (base + i + kBytesAhead < n) PrefetchBytes(user_agents[base + i + kBytesAhead]);
      const std::string_view ua = user_agents[base + i].substr(0, kMaxClassifiedUserAgentBytes);
      tags[i] = UserAgentTag(ua);
      __builtin_prefetch(&slots_[tags[i] >> shift_]);
    }
    for (size_t i = 0; i < m; ++i) {
      Slot& slot = slots_[tags[i] >> shift_];
      if (slot.tag == tags[i]) {
        ++hits_;
        out[base + i] = slot.value;
        continue;
      }
      ++misses_;
      const UaClass c =
          ClassifyUncached(user_agents[base + i].substr(0, kMaxClassifiedUserAgentBytes));
      slot.tag = tags[i];
      slot.value = c;
      out[base + i] = c;
    }
  }
}

bool IsBotByMarkers(std::string_view user_agent) {
  if (user_agent.empty()) return false;
  const hs_database_t* db = FallbackMarkerDb();
  thread_local MarkerScratch scratch;
  if (scratch.hs == nullptr) {
    if (hs_alloc_scratch(db, &scratch.hs) != HS_SUCCESS) std::abort();
    scratch.memo.resize(size_t{1} << kMarkerMemoBits);
  }
  const uint64_t tag = UserAgentTag(user_agent);
  MarkerScratch::Answer& answer = scratch.memo[tag >> (64 - kMarkerMemoBits)];
  if (answer.tag != tag) {
    answer.tag = tag;
    answer.bot = hs_scan(db, user_agent.data(), static_cast<unsigned>(user_agent.size()), 0,
                         scratch.hs, StopAtFirstMarker, nullptr) == HS_SCAN_TERMINATED;
  }
  return answer.bot;
}

}  // namespace beacon::kernels
