// UserAgentClassifier and UserAgentCache against uap-core's own test files (Debian uap-core),
// bot detection, device classes, the fallback tiers and the cache bound.
#include "kernels/enrich/user_agent.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kernels/enrich/uap_yaml.h"

namespace beacon::kernels {
namespace {

constexpr std::string_view kUapDir = "/usr/share/uap-core";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot read " << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class UserAgentTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { classifier_ = UserAgentClassifier::Load().release(); }
  static void TearDownTestSuite() {
    delete classifier_;
    classifier_ = nullptr;
  }
  static const UserAgentClassifier* classifier_;
};
const UserAgentClassifier* UserAgentTest::classifier_ = nullptr;

enum class Field { kBrowser, kOs, kDevice };

// Runs every test case of the uap-core files `files` on `field`; prints the pass rate per file
// and the mismatches; returns the overall pass rate.
double PassRate(const UserAgentClassifier& classifier, const std::vector<std::string>& files,
                Field field, size_t* cases) {
  UserAgentCache cache(classifier);
  size_t total = 0;
  size_t passed = 0;
  for (const std::string& file : files) {
    const std::string path = std::string(kUapDir) + "/" + file;
    const auto sections = ParseUapYaml(ReadFile(path), path);
    size_t file_total = 0;
    size_t file_passed = 0;
    for (const auto& section : sections) {
      for (const UapYamlEntry& entry : section.entries) {
        const std::string* ua = entry.Find("user_agent_string");
        const std::string* family = entry.Find("family");
        if (ua == nullptr || family == nullptr) continue;
        const UaParse parse = cache.Parse(*ua);
        const std::string& got = field == Field::kBrowser ? parse.browser_family
                                 : field == Field::kOs    ? parse.os_family
                                                          : parse.device_family;
        ++file_total;
        if (got == *family) {
          ++file_passed;
        } else {
          std::printf("  mismatch %s:%d want '%s' got '%s' ua '%s'\n", file.c_str(), entry.line,
                      family->c_str(), got.c_str(), ua->c_str());
        }
      }
    }
    std::printf("%s: %zu/%zu pass (%.3f%%)\n", file.c_str(), file_passed, file_total,
                file_total == 0 ? 0.0 : 100.0 * file_passed / file_total);
    total += file_total;
    passed += file_passed;
  }
  *cases = total;
  return total == 0 ? 0.0 : static_cast<double>(passed) / total;
}

TEST_F(UserAgentTest, EveryUapPatternCompilesAndIsCounted) {
  const auto sections = ParseUapYaml(ReadFile(std::string(kDefaultUapRegexesPath)), "regexes");
  std::map<std::string, size_t> sizes;
  for (const auto& s : sections) sizes[s.name] = s.entries.size();
  const std::pair<UaSection, const char*> kSections[] = {
      {UaSection::kBrowser, "user_agent_parsers"},
      {UaSection::kOs, "os_parsers"},
      {UaSection::kDevice, "device_parsers"}};
  for (const auto& [section, name] : kSections) {
    const UaPatternCounts& c = classifier_->counts(section);
    std::printf("%s: %zu native, %zu prefiltered, %zu pcre-only, %zu unsupported\n", name, c.native,
                c.prefiltered, c.pcre_only, c.unsupported);
    EXPECT_EQ(c.total(), sizes[name]) << name;
    EXPECT_EQ(c.unsupported, 0u) << name;
    EXPECT_GT(c.native, c.total() / 2) << name;
  }
  EXPECT_EQ(classifier_->counts(UaSection::kBots).native, kBotMarkers.size());
}

TEST_F(UserAgentTest, BrowserFamiliesMatchUapTests) {
  size_t cases = 0;
  const double rate = PassRate(
      *classifier_,
      {"tests/test_ua.yaml", "test_resources/firefox_user_agent_strings.yaml",
       "test_resources/opera_mini_user_agent_strings.yaml", "test_resources/pgts_browser_list.yaml",
       "test_resources/podcasting_user_agent_strings.yaml"},
      Field::kBrowser, &cases);
  std::printf("browser family: %.3f%% of %zu cases\n", 100 * rate, cases);
  EXPECT_GT(cases, 14000u);
  EXPECT_GE(rate, 0.995);
}

TEST_F(UserAgentTest, OsFamiliesMatchUapTests) {
  size_t cases = 0;
  const double rate =
      PassRate(*classifier_, {"tests/test_os.yaml", "test_resources/additional_os_tests.yaml"},
               Field::kOs, &cases);
  std::printf("OS family: %.3f%% of %zu cases\n", 100 * rate, cases);
  EXPECT_GT(cases, 450u);
  EXPECT_GE(rate, 0.995);
}

TEST_F(UserAgentTest, DeviceFamiliesMatchUapTests) {
  size_t cases = 0;
  const double rate = PassRate(*classifier_, {"tests/test_device.yaml"}, Field::kDevice, &cases);
  std::printf("device family: %.3f%% of %zu cases\n", 100 * rate, cases);
  EXPECT_GT(cases, 16000u);
  EXPECT_GE(rate, 0.995);
}

TEST_F(UserAgentTest, DetectsBots) {
  UserAgentCache cache(*classifier_);
  const char* kBots[] = {
      "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
      "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like "
      "Gecko) Chrome/119.0.6045.199 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
      "+http://www.google.com/bot.html)",
      "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
      "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
      "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
      "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
      "curl/8.4.0",
      "python-requests/2.31.0",
      "Python-urllib/3.11",
      "Wget/1.21.3",
      "Go-http-client/1.1",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "HeadlessChrome/120.0.6099.109 Safari/537.36",
      "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
      "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
      "Twitterbot/1.0",
      "Mozilla/5.0 (compatible; DuckDuckBot-Https/1.1; https://duckduckgo.com/duckduckbot)",
  };
  for (const char* ua : kBots) {
    const UaClass c = cache.Classify(ua);
    EXPECT_TRUE(c.is_bot()) << ua;
    EXPECT_EQ(c.device_class(), DeviceClass::kBot) << ua;
  }
}

TEST_F(UserAgentTest, ClassifiesBrowsers) {
  UserAgentCache cache(*classifier_);
  struct Case {
    const char* ua;
    DeviceClass device;
    std::string_view browser;
    std::string_view os;
  };
  const Case kCases[] = {
      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/120.0.0.0 Safari/537.36",
       DeviceClass::kDesktop, "Chrome", "Windows"},
      {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
       "Version/17.1 Safari/605.1.15",
       DeviceClass::kDesktop, "Safari", "Mac OS X"},
      {"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
       DeviceClass::kDesktop, "Firefox", "Ubuntu"},
      {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61",
       DeviceClass::kDesktop, "Edge", "Windows"},
      {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
       "like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
       DeviceClass::kMobile, "Mobile Safari", "iOS"},
      {"Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
       "Version/16.6 Mobile/15E148 Safari/604.1",
       DeviceClass::kTablet, "Mobile Safari", "iOS"},
      {"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/120.0.6099.43 Mobile Safari/537.36",
       DeviceClass::kMobile, "Chrome Mobile", "Android"},
      {"Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/119.0.0.0 Safari/537.36",
       DeviceClass::kTablet, "Chrome", "Android"},
      {"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
       "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
       DeviceClass::kMobile, "Samsung Internet", "Android"},
      {"Mozilla/5.0 (Linux; Android 9; CUBOT P30) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/96.0.4664.104 Mobile Safari/537.36",
       DeviceClass::kMobile, "Chrome Mobile", "Android"},
      {"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/120.0.0.0 Safari/537.36",
       DeviceClass::kDesktop, "Chrome", "Chrome OS"},
      {"Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/79.0.3945.79 Safari/537.36 WebAppManager",
       DeviceClass::kOther, "Chrome", "Other"},
  };
  for (const Case& k : kCases) {
    const UaClass c = cache.Classify(k.ua);
    EXPECT_FALSE(c.is_bot()) << k.ua;
    EXPECT_EQ(DeviceClassName(c.device_class()), DeviceClassName(k.device)) << k.ua;
    EXPECT_EQ(kBrowserFamilies[c.browser], k.browser) << k.ua;
    EXPECT_EQ(kOsFamilies[c.os], k.os) << k.ua;
  }
  EXPECT_EQ(cache.Classify(""), UaClass{});
}

TEST_F(UserAgentTest, UnlistedFamiliesAreOther) {
  UserAgentCache cache(*classifier_);
  const UaParse parse = cache.Parse(
      "Mozilla/5.0 (X11; Linux x86_64; rv:60.0) Gecko/20100101 "
      "Firefox/60.0 PaleMoon/28.0.0");
  EXPECT_EQ(parse.browser_family, "Pale Moon");
  EXPECT_EQ(BrowserFamilyId(parse.browser_family), 0);
  EXPECT_EQ(OsFamilyId("Plan 9"), 0);
  EXPECT_EQ(BrowserFamilyId("Chrome"), 1);
  EXPECT_EQ(kOsFamilies[OsFamilyId("Android")], "Android");
}

TEST_F(UserAgentTest, EveryListedFamilyIsAUapFamily) {
  // A family uap never produces would be an id nothing maps to.
  const std::string regexes = ReadFile(std::string(kDefaultUapRegexesPath));
  for (size_t i = 1; i < kBrowserFamilies.size(); ++i) {
    EXPECT_NE(regexes.find(kBrowserFamilies[i]), std::string::npos) << kBrowserFamilies[i];
  }
  for (size_t i = 1; i < kOsFamilies.size(); ++i) {
    EXPECT_NE(regexes.find(kOsFamilies[i]), std::string::npos) << kOsFamilies[i];
  }
}

TEST_F(UserAgentTest, WorkersShareOneClassifier) {
  std::vector<std::string> uas;
  const std::string path = std::string(kUapDir) + "/tests/test_ua.yaml";
  for (const auto& section : ParseUapYaml(ReadFile(path), path)) {
    for (const UapYamlEntry& entry : section.entries) {
      if (const std::string* ua = entry.Find("user_agent_string")) uas.push_back(*ua);
    }
  }
  std::vector<std::string_view> views(uas.begin(), uas.end());
  std::vector<UaClass> expected(views.size());
  UserAgentCache(*classifier_).ClassifyBatch(views.data(), views.size(), expected.data());
  std::vector<std::vector<UaClass>> got(2, std::vector<UaClass>(views.size()));
  std::vector<std::thread> workers;
  for (size_t t = 0; t < got.size(); ++t) {
    workers.emplace_back([&, t] {
      UserAgentCache cache(*classifier_);
      cache.ClassifyBatch(views.data(), views.size(), got[t].data());
    });
  }
  for (std::thread& w : workers) w.join();
  for (const auto& g : got) EXPECT_TRUE(g == expected);
}

TEST_F(UserAgentTest, CacheHitsRepeatsAndStaysBounded) {
  UserAgentCache cache(*classifier_, 4);  // 16 slots
  EXPECT_EQ(cache.capacity(), 16u);
  std::vector<std::string> uas;
  for (int i = 0; i < 200; ++i) {
    uas.push_back("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/" + std::to_string(i) +
                  ".0.0.0 Safari/537.36");
  }
  std::vector<std::string_view> views(uas.begin(), uas.end());
  std::vector<UaClass> out(views.size());
  cache.ClassifyBatch(views.data(), views.size(), out.data());
  EXPECT_EQ(cache.misses(), 200u);
  EXPECT_EQ(cache.hits(), 0u);
  for (const UaClass& c : out) {
    EXPECT_EQ(kBrowserFamilies[c.browser], "Chrome");
    EXPECT_EQ(c.device_class(), DeviceClass::kDesktop);
  }
  // 200 user agents cannot all stay in 16 slots: at most 16 of them hit on a second pass.
  cache.ClassifyBatch(views.data(), views.size(), out.data());
  EXPECT_LE(cache.hits(), 16u);
  EXPECT_GE(cache.misses(), 384u);
  // One user agent repeated: one miss, then hits, same answer.
  const uint64_t misses = cache.misses();
  const uint64_t hits = cache.hits();
  std::vector<std::string_view> same(50, "curl/8.4.0");
  cache.ClassifyBatch(same.data(), same.size(), out.data());
  EXPECT_EQ(cache.misses(), misses + 1);
  EXPECT_EQ(cache.hits(), hits + 49);
  for (const UaClass& c : std::vector<UaClass>(out.begin(), out.begin() + 50)) {
    EXPECT_TRUE(c.is_bot());
  }
}

TEST_F(UserAgentTest, LongUserAgentsAreClassifiedOnTheirPrefix) {
  UserAgentCache cache(*classifier_);
  const std::string base =
      "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
  const std::string tail_a(2000, 'a');
  const std::string tail_b(2000, 'b');
  const std::string prefix_fill(kMaxClassifiedUserAgentBytes - base.size(), ' ');
  EXPECT_TRUE(cache.Classify(base + prefix_fill + tail_a).is_bot());
  // Same first kMaxClassifiedUserAgentBytes bytes: the same cache entry.
  EXPECT_TRUE(cache.Classify(base + prefix_fill + tail_b).is_bot());
  EXPECT_EQ(cache.misses(), 1u);
  EXPECT_FALSE(cache.Classify(std::string(kMaxClassifiedUserAgentBytes, 'x') + "curl/8").is_bot());
}

TEST(UserAgentTiersTest, FallbackTiersKeepFileOrder) {
  // A branch reset Hyperscan refuses outright, a backreference and a lookahead it takes only as
  // prefilters, and a plain pattern: the first matching one in file order must win whatever
  // engine decides it.
  const std::string yaml = R"(user_agent_parsers:
  - regex: '(?|(Reset)-x|(Reset)-y)'
    family_replacement: '$1 branch'
  - regex: '(Twin)-(\w+)-\2'
    family_replacement: '$1 repeated'
  - regex: '(Look)(?=ahead)'
  - regex: '(\w+)/(\d+)'
os_parsers:
  - regex: '(Plain OS)'
device_parsers:
  - regex: 'Zyx(?!man)'
    regex_flag: 'i'
    device_replacement: 'Spider'
)";
  const auto classifier = UserAgentClassifier::FromYaml(yaml, "tiers");
  const UaPatternCounts& browser = classifier->counts(UaSection::kBrowser);
  EXPECT_EQ(browser.native, 1u);
  EXPECT_EQ(browser.prefiltered, 2u);
  EXPECT_EQ(browser.pcre_only, 1u);
  EXPECT_EQ(classifier->counts(UaSection::kDevice).prefiltered, 1u);
  UserAgentCache cache(*classifier);
  EXPECT_EQ(cache.Parse("Reset-y Foo/1").browser_family, "Reset branch");
  EXPECT_EQ(cache.Parse("Reset-z Foo/1").browser_family, "Foo");
  EXPECT_EQ(cache.Parse("Twin-ab-ab Foo/1").browser_family, "Twin repeated");
  EXPECT_EQ(cache.Parse("Twin-ab-cd Foo/1").browser_family, "Foo");
  EXPECT_EQ(cache.Parse("Lookahead Foo/1").browser_family, "Look");
  EXPECT_EQ(cache.Parse("Lookaway Foo/1").browser_family, "Foo");
  EXPECT_EQ(cache.Parse("nothing").browser_family, "Other");
  EXPECT_EQ(cache.Parse("Plain OS").os_family, "Plain OS");
  EXPECT_EQ(cache.Parse("a ZYX b").device_family, "Spider");
  EXPECT_TRUE(cache.Classify("a ZYX b").is_bot());
  EXPECT_FALSE(cache.Classify("a Zyxman b").is_bot());
}

TEST(UserAgentTiersTest, RejectsFilesThatAreNotUapRegexes) {
  EXPECT_THROW(UserAgentClassifier::FromYaml("user_agent_parsers:\n  - regex: 'a'\n", "x"),
               std::runtime_error);
  EXPECT_THROW(UserAgentClassifier::Load("/nonexistent/regexes.yaml"), std::runtime_error);
  try {
    UserAgentClassifier::FromYaml(
        "user_agent_parsers:\n  - regex: 'a'\n    regex_flag: 'x'\nos_parsers:\n  - regex: "
        "'b'\ndevice_parsers:\n  - regex: 'c'\n",
        "flags.yaml");
    FAIL() << "a bad regex_flag was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("flags.yaml:2"), std::string::npos) << e.what();
  }
}

// IsBotByMarkers, the check without a classifier: real crawler, script and browser user agents.
TEST(BotMarkersTest, FlagsCrawlersScriptsAndHeadlessBrowsers) {
  const std::string_view bots[] = {
      "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
      "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
      "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
      "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
      "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
      "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
      "CCBot/2.0 (https://commoncrawl.org/faq/)",
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "HeadlessChrome/120.0.0.0 Safari/537.36",
      "Mozilla/5.0 (Linux; Android 11) AppleWebKit/537.36 Chrome/119.0 Mobile Safari/537.36 "
      "Chrome-Lighthouse",
      "curl/8.4.0",
      "Wget/1.21.3",
      "python-requests/2.31.0",
      "Python-urllib/3.11",
      "Go-http-client/1.1",
      "Java/17.0.2",
      "libwww-perl/6.72",
      "Scrapy/2.11.0 (+https://scrapy.org)",
      "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 PhantomJS/2.1.1 Safari/538.1",
      "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
      "Mediapartners-Google",
      "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 BingPreview/1.0b",
      "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
      "GOOGLEBOT",
  };
  for (const auto ua : bots) EXPECT_TRUE(IsBotByMarkers(ua)) << ua;
}

TEST(BotMarkersTest, PassesBrowsers) {
  const std::string_view browsers[] = {
      "",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
      "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
      "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.6099.43 Mobile Safari/537.36",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
      "curly",
      "bo",
  };
  for (const auto ua : browsers) EXPECT_FALSE(IsBotByMarkers(ua)) << ua;
}

// The brute-force definition of IsBotByMarkers: lower-case the ASCII letters, then search.
bool BotByMarkersReference(std::string_view user_agent) {
  std::string lower(user_agent);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  for (const auto marker : kBotMarkers) {
    if (lower.find(marker) != std::string::npos) return true;
  }
  return lower.find("bot") != std::string::npos;
}

// Random user agents spliced from marker pieces in mixed case, near misses and bytes that fold
// only outside ASCII (the Kelvin sign, a long s, Latin-1 capitals), anywhere in the string.
TEST(BotMarkersTest, AgreesWithBruteForceOnRandomUserAgents) {
  std::vector<std::string> pieces = {"Mozilla/5.0 ",
                                     "(KHTML, like Gecko) ",
                                     "AppleWebKit",
                                     "b",
                                     "o",
                                     "t",
                                     "B",
                                     "O",
                                     "T",
                                     "-",
                                     "/",
                                     " ",
                                     "\xe2\x84\xaa",
                                     "\xc5\xbf",
                                     "\xc0",
                                     "\xff",
                                     "curl",
                                     "CUBOT",
                                     "Wget",
                                     "jav"};
  for (const auto marker : kBotMarkers) {
    pieces.emplace_back(marker.substr(0, marker.size() / 2));
    pieces.emplace_back(marker.substr(marker.size() / 2));
  }
  uint64_t state = 7;
  const auto next = [&state](uint64_t bound) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % bound;
  };
  int bots = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string ua;
    const uint64_t count = next(12);
    for (uint64_t p = 0; p < count; ++p) {
      std::string piece = pieces[next(pieces.size())];
      for (char& c : piece) {
        if (c >= 'a' && c <= 'z' && next(3) == 0) c = static_cast<char>(c - 32);
      }
      ua += piece;
    }
    const bool expected = BotByMarkersReference(ua);
    bots += expected ? 1 : 0;
    ASSERT_EQ(IsBotByMarkers(ua), expected) << ua;
  }
  EXPECT_GT(bots, 1000);
  EXPECT_LT(bots, 19000);
}

// Answers come from the thread's memo on repeats: bots and browsers interleaved, asked again
// right away and again after thousands of other user agents have overwritten the memo.
TEST(BotMarkersTest, RepeatedUserAgentsKeepTheirAnswers) {
  std::vector<std::string> user_agents;
  for (int i = 0; i < 6000; ++i) {
    user_agents.push_back((i % 3 == 0 ? "Spider-" : "Mozilla/5.0 Gecko-") + std::to_string(i));
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (const std::string& ua : user_agents) {
      const bool expected = BotByMarkersReference(ua);
      ASSERT_EQ(IsBotByMarkers(ua), expected) << ua;
      ASSERT_EQ(IsBotByMarkers(ua), expected) << ua;
    }
  }
}

// Each thread scans with its own scratch space.
TEST(BotMarkersTest, ThreadsCheckConcurrently) {
  std::vector<std::thread> threads;
  std::vector<int> flagged(4, 0);
  for (size_t t = 0; t < flagged.size(); ++t) {
    threads.emplace_back([t, &flagged] {
      for (int i = 0; i < 1000; ++i) {
        flagged[t] += IsBotByMarkers("Mozilla/5.0 (compatible; Googlebot/2.1)") ? 1 : 0;
        flagged[t] -= IsBotByMarkers("Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0") ? 1 : 0;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const int f : flagged) EXPECT_EQ(f, 1000);
}

TEST(BotMarkersTest, MarkersAreLowerCaseAndNonEmpty) {
  for (const auto marker : kBotMarkers) {
    ASSERT_FALSE(marker.empty());
    for (const char c : marker) EXPECT_FALSE(c >= 'A' && c <= 'Z') << marker;
  }
}

}  // namespace
}  // namespace beacon::kernels
