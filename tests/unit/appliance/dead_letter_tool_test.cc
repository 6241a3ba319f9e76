// beaconctl dead-letter ls | retry | drop over a real spool directory.
#include "appliance/ctl/dead_letter_tool.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "host/forward/dead_letter.h"

namespace beacon::app {
namespace {

namespace fs = std::filesystem;

TEST(DeadLetterToolTest, ListsRetriesAndDrops) {
  std::string spool_dir = (fs::temp_directory_path() / "beacon-dl-tool-XXXXXX").string();
  ASSERT_NE(mkdtemp(spool_dir.data()), nullptr);
  std::ostringstream out;
  std::ostringstream err;
  EXPECT_EQ(DeadLetterList(spool_dir, out), 0);
  EXPECT_NE(out.str().find("no dead letters"), std::string::npos) << out.str();
  EXPECT_FALSE(fs::exists(spool_dir + "/dead-letter"));  // never created by beaconctl

  host::DeadLetters letters(spool_dir, 1 << 20, false);
  std::string first;
  std::string second;
  std::string third;
  std::string error;
  ASSERT_TRUE(letters.Put(1, "a", "breakdown_minutes", "HTTP 500: Code: 33", &first, &error));
  ASSERT_TRUE(letters.Put(2, "b", "site_minutes", "HTTP 400: Code: 62", &second, &error));
  ASSERT_TRUE(letters.Put(2, "c", "site_minutes", "HTTP 400: Code: 62", &third, &error));
  fs::create_directories(host::DeadLetters::ShardDir(spool_dir, 1));
  fs::create_directories(host::DeadLetters::ShardDir(spool_dir, 2));

  out.str("");
  EXPECT_EQ(DeadLetterList(spool_dir, out), 0);
  const std::string listing = out.str();
  EXPECT_NE(listing.find(first + "  1      "), std::string::npos) << listing;
  EXPECT_NE(listing.find("breakdown_minutes  HTTP 500: Code: 33"), std::string::npos) << listing;
  EXPECT_NE(listing.find("3 dead letters in"), std::string::npos) << listing;

  out.str("");
  EXPECT_EQ(DeadLetterRetry(spool_dir, {first, "404-s1"}, false, out, err), 1);
  EXPECT_NE(err.str().find("no dead letter 404-s1"), std::string::npos) << err.str();
  EXPECT_TRUE(fs::exists(host::DeadLetters::ShardDir(spool_dir, 1) + "/" + first + ".retry"));
  EXPECT_EQ(DeadLetterDrop(spool_dir, {second}, out, err), 0);
  EXPECT_EQ(DeadLetterRetry(spool_dir, {}, true, out, err), 0);
  EXPECT_TRUE(fs::exists(host::DeadLetters::ShardDir(spool_dir, 2) + "/" + third + ".retry"));
  EXPECT_FALSE(fs::exists(host::DeadLetters::ShardDir(spool_dir, 2) + "/" + second + ".retry"));
  EXPECT_TRUE(letters.List().empty());
  fs::remove_all(spool_dir);
}

}  // namespace
}  // namespace beacon::app
