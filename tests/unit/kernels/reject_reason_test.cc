// Reject reasons: unique names that round-trip, counters per reason.
#include "kernels/reject_reason.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace beacon::kernels {
namespace {

TEST(RejectReasonTest, NamesAreUniqueSnakeCaseAndRoundTrip) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kRejectReasonCount; ++i) {
    const auto reason = static_cast<RejectReason>(i);
    const std::string_view name = RejectReasonName(reason);
    EXPECT_TRUE(names.insert(name).second) << name;
    for (char c : name)
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << name;
    RejectReason parsed{};
    ASSERT_TRUE(ParseRejectReason(name, &parsed)) << name;
    EXPECT_EQ(parsed, reason);
  }
  RejectReason unused{};
  EXPECT_FALSE(ParseRejectReason("no_such_reason", &unused));
}

TEST(RejectReasonTest, CountersCountPerReason) {
  RejectCounters counters;
  counters.Add(RejectReason::kUnknownSite);
  counters.Add(RejectReason::kUnknownSite, 2);
  counters.Add(RejectReason::kBotUserAgent);
  EXPECT_EQ(counters.Get(RejectReason::kUnknownSite), 3u);
  EXPECT_EQ(counters.Get(RejectReason::kBotUserAgent), 1u);
  EXPECT_EQ(counters.Get(RejectReason::kInvalidUtf8), 0u);
  EXPECT_EQ(counters.Total(), 4u);
}

}  // namespace
}  // namespace beacon::kernels
