// SiteRowCap: each site holds at most its cap of value rows, (other) rows always; one site at
// its cap leaves the others alone; the decisions follow the calls only; Clear starts afresh.
#include "host/forward/site_row_cap.h"

#include <gtest/gtest.h>

#include <vector>

namespace beacon::host {
namespace {

TEST(SiteRowCapTest, ASiteAtItsCapFoldsItsNewValuesOthersUnaffected) {
  SiteRowCap cap(3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(cap.Admit(1, false));
  EXPECT_FALSE(cap.Admit(1, false));
  EXPECT_FALSE(cap.Admit(1, false));
  EXPECT_TRUE(cap.Admit(1, true));  // its group's (other) row
  EXPECT_EQ(cap.held(1), 4u);
  EXPECT_EQ(cap.folded_rows(), 2u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(cap.Admit(2, false));
  EXPECT_EQ(cap.held(2), 3u);
  cap.Clear();
  EXPECT_EQ(cap.held(1), 0u);
  EXPECT_TRUE(cap.Admit(1, false));
  EXPECT_EQ(cap.folded_rows(), 2u);
}

TEST(SiteRowCapTest, NoCapTakesEverything) {
  SiteRowCap cap(0);
  for (int i = 0; i < 10'000; ++i) EXPECT_TRUE(cap.Admit(7, false));
  EXPECT_EQ(cap.folded_rows(), 0u);
}

TEST(SiteRowCapTest, DecisionsAreAFunctionOfTheCallOrder) {
  const auto run = [] {
    SiteRowCap cap(5);
    std::vector<bool> taken;
    for (uint32_t i = 0; i < 100; ++i) taken.push_back(cap.Admit(i % 3, i % 7 == 0));
    return taken;
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace beacon::host
