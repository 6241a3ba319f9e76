// Reloader over real files: a good change is published whole, a bad file is refused with its
// reason while the running settings stay, and a key only a restart applies is reported.
#include "appliance/reload.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace beacon::app {
namespace {

class ReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/reload_test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    Write("sites.conf", "1 shop UA-1-1 shop.example\n2 blog UA-2-1 blog.example\n");
    WriteConfig("");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name, std::ios::trunc) << text;
  }
  void WriteConfig(const std::string& more) {
    Write("beacond.toml", "[sites]\nregistry = \"" + dir_ + "/sites.conf\"\n[enrich]\n" +
                              "user_agents = \"\"\n" + more);
  }
  std::string config_path() const { return dir_ + "/beacond.toml"; }

  static uint64_t Sample(const host::MetricsRegistry& registry, const std::string& key) {
    const std::string text = registry.Scrape();
    const size_t at = text.find("\n" + key + " ");
    return at == std::string::npos ? ~0ULL : std::stoull(text.substr(at + key.size() + 2));
  }

  std::string dir_;
};

TEST_F(ReloaderTest, PublishesAGoodChangeAndRefusesABadOne) {
  Reloader reloader(LoadConfig(config_path()), config_path(), "");
  host::MetricsRegistry metrics;
  reloader.RegisterMetrics(&metrics);
  const uint64_t started = reloader.live()->generation();
  EXPECT_EQ(reloader.live()->Current()->sites->size(), 2u);

  Write("sites.conf",
        "2 blog UA-2-1 blog.example\n3 news UA-3-1 news.example\n"
        "4 shop2 UA-4-1 shop.example\n");
  ReloadOutcome outcome = reloader.Reload();
  EXPECT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.message, "ok: 3 sites (+2 -1)");
  EXPECT_EQ(reloader.live()->generation(), started + 1);
  EXPECT_NE(reloader.live()->Current()->sites->FindByTrackingId("UA-3-1"), nullptr);

  const auto good = reloader.live()->Current();
  Write("sites.conf", "2 blog UA-2-1 blog.example\nnot a site line\n");
  outcome = reloader.Reload();
  EXPECT_FALSE(outcome.ok);
  EXPECT_NE(outcome.message.find("refused: " + dir_ + "/sites.conf:2: site_id"), std::string::npos)
      << outcome.message;
  EXPECT_EQ(reloader.live()->Current(), good);
  EXPECT_EQ(reloader.live()->generation(), started + 1);

  // A budget naming a site the registry no longer has is refused as well.
  Write("sites.conf", "2 blog UA-2-1 blog.example\n");
  WriteConfig("[limits.sites.shop]\nrate_per_s = 5\n");
  outcome = reloader.Reload();
  EXPECT_FALSE(outcome.ok);
  EXPECT_NE(outcome.message.find("[limits.sites] shop: no site"), std::string::npos)
      << outcome.message;
  EXPECT_EQ(Sample(metrics, "beacond_config_reloads_total{outcome=\"ok\"}"), 1u);
  EXPECT_EQ(Sample(metrics, "beacond_config_reloads_total{outcome=\"refused\"}"), 2u);
  EXPECT_EQ(Sample(metrics, "beacond_config_last_reload_successful"), 0u);
  Write("sites.conf", "2 blog UA-2-1 blog.example\n");
  WriteConfig("");
  EXPECT_TRUE(reloader.Reload().ok);
  EXPECT_EQ(Sample(metrics, "beacond_config_last_reload_successful"), 1u);
}

TEST_F(ReloaderTest, ReportsKeysThatNeedARestartAndAppliesTheRest) {
  Reloader reloader(LoadConfig(config_path()), config_path(), "");
  host::MetricsRegistry metrics;
  reloader.RegisterMetrics(&metrics);
  WriteConfig("[http]\nlisten = \"127.0.0.1:8081\"\n[limits]\nsite_rate_per_s = 10\n");
  ReloadOutcome outcome = reloader.Reload();
  EXPECT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.message, "ok: 2 sites (+0 -0); restart needed for: http.listen");
  EXPECT_TRUE(reloader.live()->Current()->budgets->enabled());
  EXPECT_EQ(Sample(metrics, "beacond_config_restart_pending_keys"), 1u);
  // Still pending on the next reload: the running listener is the old one.
  EXPECT_EQ(reloader.Reload().message, outcome.message);
  WriteConfig("");
  EXPECT_EQ(reloader.Reload().message, "ok: 2 sites (+0 -0)");
  EXPECT_FALSE(reloader.live()->Current()->budgets->enabled());
  EXPECT_EQ(Sample(metrics, "beacond_config_restart_pending_keys"), 0u);
}

// A registry that opens but cannot be read (a directory, a read error) is refused, not taken
// as a registry of no sites that would reject every beacon as unknown_site.
TEST_F(ReloaderTest, RefusesARegistryThatCannotBeRead) {
  Reloader reloader(LoadConfig(config_path()), config_path(), "");
  const auto running = reloader.live()->Current();
  std::filesystem::create_directory(dir_ + "/sites.d");
  Write("beacond.toml",
        "[sites]\nregistry = \"" + dir_ + "/sites.d\"\n[enrich]\nuser_agents = \"\"\n");
  const ReloadOutcome outcome = reloader.Reload();
  EXPECT_FALSE(outcome.ok) << outcome.message;
  EXPECT_NE(outcome.message.find("cannot read site registry '" + dir_ + "/sites.d'"),
            std::string::npos)
      << outcome.message;
  EXPECT_EQ(reloader.live()->Current(), running);
  EXPECT_EQ(reloader.live()->Current()->sites->size(), 2u);
}

TEST_F(ReloaderTest, TheSitesOptionOverridesTheFileOnEveryReload) {
  Write("other.conf", "9 other UA-9-1 other.example\n");
  Config config = LoadConfig(config_path());
  config.sites_path = dir_ + "/other.conf";
  Reloader reloader(config, config_path(), dir_ + "/other.conf");
  EXPECT_EQ(reloader.Reload().message, "ok: 1 sites (+0 -0)");
  EXPECT_NE(reloader.live()->Current()->sites->FindByTrackingId("UA-9-1"), nullptr);
}

}  // namespace
}  // namespace beacon::app
