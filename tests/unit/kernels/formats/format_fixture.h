// A fixture for the format decoder tests: a real SiteRegistry, RawBatch and DecodeBatch, and
// the outcomes ("accepted" or the reject label) of one beacon decoded alone.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/decode.h"
#include "kernels/event_batch.h"
#include "kernels/raw_batch.h"
#include "kernels/reject_reason.h"
#include "kernels/site_registry.h"

namespace beacon::kernels::testing {

// Site 1 accepts shop.example and its subdomains; site 2 any host.
inline constexpr std::string_view kFormatRegistry = R"(# site_id name tracking_ids hostnames
1 shop G-SHOP1,shop.example,shopapp shop.example,*.shop.example api_secrets=s3cret,other
2 any G-ANY1,any.example,anyapp *
)";

inline constexpr std::string_view kBrowserUa =
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
inline constexpr std::string_view kBotUa = "Mozilla/5.0 (compatible; Googlebot/2.1)";
inline constexpr int64_t kNowMs = 1'700'000'123'456;  // 2023-11-14T22:15:23.456Z
inline constexpr uint32_t kNowMinute = 28'333'335;
inline constexpr int64_t kNowDay = kNowMs / 86'400'000;
inline constexpr uint64_t kVisitorKey = 0x5eed'1234'abcd'0042;
inline constexpr std::string_view kAccepted = "accepted";

class FormatTest : public ::testing::Test {
 protected:
  struct Input {
    Endpoint endpoint;
    std::string payload{};
    std::string query{};
    std::string user_agent = std::string(kBrowserUa);
    int64_t receive_time_ms = kNowMs;
    IpAddress source = IpAddress::FromV4(0xC0A80001);
    uint16_t country = 0;
  };

  // Every outcome of one beacon decoded alone: one "accepted" per row, then one label per
  // counted reject (in reject-reason order).
  std::vector<std::string> Outcomes(const Input& in) {
    const size_t events_before = events_.size();
    std::array<uint64_t, kRejectReasonCount> before{};
    for (size_t r = 0; r < kRejectReasonCount; ++r) {
      before[r] = rejects_.Get(static_cast<RejectReason>(r));
    }
    RawBatch raw;
    EXPECT_TRUE(raw.Add(in.endpoint, IngressKind::kHttp, in.payload, in.user_agent, in.source,
                        in.receive_time_ms, in.query, in.country));
    DecodeBatch(raw, ctx_, &events_);
    std::vector<std::string> outcomes(events_.size() - events_before, std::string(kAccepted));
    for (size_t r = 0; r < kRejectReasonCount; ++r) {
      const auto reason = static_cast<RejectReason>(r);
      for (uint64_t n = before[r]; n < rejects_.Get(reason); ++n) {
        outcomes.emplace_back(RejectReasonName(reason));
      }
    }
    return outcomes;
  }

  // The single outcome of a beacon that must have exactly one.
  std::string Outcome(const Input& in) {
    const std::vector<std::string> all = Outcomes(in);
    if (all.size() != 1) {
      std::string joined;
      for (const auto& o : all) joined += o + " ";
      ADD_FAILURE() << "expected one outcome, got " << all.size() << ": " << joined;
      return "several";
    }
    return all[0];
  }

  std::string_view LastPath() const { return events_.str(events_.path.back()); }
  std::string_view Last(const std::vector<StrRef>& column) const {
    return events_.str(column.back());
  }

  SiteRegistry sites_ = SiteRegistry::Parse(kFormatRegistry);
  RejectCounters rejects_;
  DecodeContext ctx_{&sites_, &rejects_, kVisitorKey, {kNowDay, 0x1111'2222'3333'4444, 0}};
  EventBatch events_;
};

}  // namespace beacon::kernels::testing
