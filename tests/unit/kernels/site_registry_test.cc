// Site registry: the file format, its errors, lookups and host allowlists.
#include "kernels/site_registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace beacon::kernels {
namespace {

constexpr std::string_view kRegistry = R"(# comment line
1  shop     UA-100001-1            shop.example,*.shop.example
2  blog     UA-100002-1,G-ABC123   Blog.Example   # trailing comment

3  sandbox  UA-100003-1            *
4  app      G-XYZ987               app.example  api_secrets=s3cr3t,other
)";

TEST(SiteRegistryTest, ParsesSitesIdsAndHosts) {
  const auto registry = SiteRegistry::Parse(kRegistry);
  ASSERT_EQ(registry.size(), 4u);
  const Site* blog = registry.FindByTrackingId("G-ABC123");
  ASSERT_NE(blog, nullptr);
  EXPECT_EQ(blog->site_id, 2u);
  EXPECT_EQ(blog->name, "blog");
  EXPECT_EQ(registry.FindByTrackingId("UA-100002-1"), blog);
  EXPECT_EQ(registry.FindByTrackingId("ua-100002-1"), nullptr);  // ids are case-sensitive
  EXPECT_EQ(registry.FindByTrackingId("UA-999-1"), nullptr);
  EXPECT_TRUE(registry.FindByTrackingId("UA-100003-1")->hostnames.empty());
}

TEST(SiteRegistryTest, ApiSecrets) {
  const auto registry = SiteRegistry::Parse(kRegistry);
  const Site& app = *registry.FindByTrackingId("G-XYZ987");
  EXPECT_TRUE(SiteRegistry::ApiSecretValid(app, "s3cr3t"));
  EXPECT_TRUE(SiteRegistry::ApiSecretValid(app, "other"));
  EXPECT_FALSE(SiteRegistry::ApiSecretValid(app, "s3cr3"));
  EXPECT_FALSE(SiteRegistry::ApiSecretValid(app, ""));
  EXPECT_FALSE(SiteRegistry::ApiSecretValid(*registry.FindByTrackingId("UA-100001-1"), "s3cr3t"));
}

TEST(SiteRegistryTest, HostAllowlist) {
  const auto registry = SiteRegistry::Parse(kRegistry);
  const Site& shop = *registry.FindByTrackingId("UA-100001-1");
  EXPECT_TRUE(SiteRegistry::HostAllowed(shop, "shop.example"));
  EXPECT_TRUE(SiteRegistry::HostAllowed(shop, "SHOP.example."));
  EXPECT_TRUE(SiteRegistry::HostAllowed(shop, "shop.example:8443"));
  EXPECT_TRUE(SiteRegistry::HostAllowed(shop, "www.shop.example"));
  EXPECT_TRUE(SiteRegistry::HostAllowed(shop, "a.b.shop.example"));
  EXPECT_FALSE(SiteRegistry::HostAllowed(shop, "evilshop.example"));
  EXPECT_FALSE(SiteRegistry::HostAllowed(shop, "shop.example.evil"));
  EXPECT_FALSE(SiteRegistry::HostAllowed(shop, ""));
  const Site& blog = *registry.FindByTrackingId("UA-100002-1");
  EXPECT_TRUE(SiteRegistry::HostAllowed(blog, "blog.example"));  // stored lower-case
  EXPECT_FALSE(SiteRegistry::HostAllowed(blog, "www.blog.example"));
  const Site& sandbox = *registry.FindByTrackingId("UA-100003-1");
  EXPECT_TRUE(SiteRegistry::HostAllowed(sandbox, "anything.test"));
}

// The port is what follows the last ':' (none is cut from an IPv6 literal).
TEST(SiteRegistryTest, HostAllowlistCutsAtTheLastColon) {
  const auto registry = SiteRegistry::Parse(kRegistry);
  const Site& shop = *registry.FindByTrackingId("UA-100001-1");
  const std::pair<std::string_view, bool> cases[] = {
      {"shop.example:", true},     {"www.shop.example.:443", true},
      {"shop.example:1:2", false}, {"evil.example:shop.example", false},
      {"[::1]:443", false},        {":", false},
  };
  for (const auto& [host, allowed] : cases) {
    EXPECT_EQ(SiteRegistry::HostAllowed(shop, host), allowed) << host;
  }
}

// The flat tracking-id table against a linear search of every site's ids: thousands of ids of
// many lengths (prefixes of one another), present and absent, after a copy of the registry too.
TEST(SiteRegistryTest, TrackingIdTableMatchesLinearSearch) {
  std::mt19937_64 rng(11);
  std::string text;
  std::vector<std::string> ids;
  for (uint32_t site = 1; site <= 700; ++site) {
    std::string list;
    for (size_t k = 0, n = 1 + rng() % 4; k < n; ++k) {
      std::string id = (rng() % 2 ? "UA-" : "G-") + std::to_string(rng() % 100000);
      if (rng() % 5 == 0) id += std::string(rng() % 40, 'x');
      if (std::find(ids.begin(), ids.end(), id) != ids.end()) continue;
      ids.push_back(id);
      list += (list.empty() ? "" : ",") + id;
    }
    if (list.empty()) {
      list = "S-" + std::to_string(site);
      ids.push_back(list);
    }
    text += std::to_string(site) + " s" + std::to_string(site) + " " + list + " *\n";
  }
  const SiteRegistry parsed = SiteRegistry::Parse(text);
  const SiteRegistry copy = parsed;  // NOLINT(performance-unnecessary-copy-initialization)
  auto linear = [&](std::string_view id) -> const Site* {
    for (const Site& site : copy.sites()) {
      for (const std::string& own : site.tracking_ids) {
        if (own == id) return &site;
      }
    }
    return nullptr;
  };
  std::vector<std::string> probes = ids;
  for (const std::string& id : ids) {
    probes.push_back(id.substr(0, id.size() - 1));
    probes.push_back(id + "0");
    probes.push_back("u" + id.substr(1));
  }
  probes.emplace_back("");
  size_t found = 0;
  for (const std::string& probe : probes) {
    const Site* expected = linear(probe);
    found += expected != nullptr;
    EXPECT_EQ(copy.FindByTrackingId(probe), expected) << probe;
    const Site* in_parsed = parsed.FindByTrackingId(probe);
    EXPECT_EQ(in_parsed == nullptr ? 0u : in_parsed->site_id,
              expected == nullptr ? 0u : expected->site_id)
        << probe;
  }
  EXPECT_GE(found, ids.size());
}

// Ids of every length from 1 to 40 bytes, each beside ids that differ from it in one byte (at
// its start, middle or end) or in length: only the id itself finds its site.
TEST(SiteRegistryTest, TrackingIdsOfEveryLengthFindOnlyThemselves) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string text;
  std::vector<std::string> ids;
  for (size_t size = 1; size <= 40; ++size) {
    std::string id;
    for (size_t i = 0; i < size; ++i) id += alphabet[(size * 7 + i * 13) % alphabet.size()];
    ids.push_back(id);
    text += std::to_string(size) + " s" + std::to_string(size) + " " + id + " *\n";
  }
  const SiteRegistry registry = SiteRegistry::Parse(text);
  for (size_t k = 0; k < ids.size(); ++k) {
    const std::string& id = ids[k];
    const Site* site = registry.FindByTrackingId(id);
    ASSERT_NE(site, nullptr) << id;
    EXPECT_EQ(site->site_id, k + 1) << id;
    for (const size_t at : {size_t{0}, id.size() / 2, id.size() - 1}) {
      std::string changed = id;
      changed[at] = changed[at] == '!' ? '?' : '!';
      EXPECT_EQ(registry.FindByTrackingId(changed), nullptr) << changed;
    }
    EXPECT_EQ(registry.FindByTrackingId(id + "!"), nullptr) << id;
    if (id.size() > 1) {
      EXPECT_EQ(registry.FindByTrackingId(std::string_view(id).substr(1)), nullptr) << id;
    }
  }
}

void ExpectParseError(std::string_view text, std::string_view fragment) {
  try {
    SiteRegistry::Parse(text, "sites.conf");
    FAIL() << "no error for: " << text;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(SiteRegistryTest, ErrorsNameTheLineAndWhatWasExpected) {
  ExpectParseError("1 a UA-1\n", "sites.conf:1: expected 4 or 5 columns");
  ExpectParseError("1 a UA-1 * secret=x\n", "expected api_secrets=");
  ExpectParseError("1 a UA-1 * api_secrets=a,,b\n", "empty api secret");
  ExpectParseError("\n0 a UA-1 *\n", "sites.conf:2: site_id '0'");
  ExpectParseError("x a UA-1 *\n", "site_id 'x'");
  ExpectParseError("4294967296 a UA-1 *\n", "site_id '4294967296'");
  ExpectParseError("1 a UA-1 *\n1 b UA-2 *\n", "already defined on line 1");
  ExpectParseError("1 a UA-1 *\n2 b UA-1 *\n", "tracking id 'UA-1' already belongs");
  ExpectParseError("1 a UA-1,,UA-2 *\n", "empty tracking id");
  ExpectParseError("1 a/b UA-1 *\n", "name 'a/b'");
  ExpectParseError("1 a UA-1 exa_mple.com\n", "hostname 'exa_mple.com'");
  ExpectParseError("1 a UA-1 *.\n", "hostname '*.'");
}

TEST(SiteRegistryTest, LoadNamesAMissingFile) {
  EXPECT_THROW(SiteRegistry::Load("/nonexistent/sites.conf"), std::runtime_error);
}

}  // namespace
}  // namespace beacon::kernels
