// Site registry: the file format, its errors, lookups and host allowlists.
#include "kernels/site_registry.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

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
