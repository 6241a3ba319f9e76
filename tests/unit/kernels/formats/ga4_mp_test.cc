// GA4 Measurement Protocol /mp/collect through DecodeBatch: ids and api_secret, the JSON body,
// every reject reason, the 25-event limit, timestamps and the rows of accepted events.
#include "kernels/formats/ga4_mp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/visitor.h"
#include "tests/unit/kernels/formats/format_fixture.h"

namespace beacon::kernels::testing {
namespace {

constexpr std::string_view kIds = "measurement_id=G-SHOP1&api_secret=s3cret";
constexpr std::string_view kBody =
    R"({"client_id":"123.456","events":[{"name":"page_view","params":{"page_location":"https://shop.example/cart?x=1"}}]})";

class MpTest : public FormatTest {
 protected:
  std::vector<std::string> Send(std::string body, std::string query = std::string(kIds),
                                std::string ua = "python-requests/2.31") {
    return Outcomes({Endpoint::kGa4Mp, std::move(body), std::move(query), std::move(ua)});
  }
  std::string One(std::string body, std::string query = std::string(kIds)) {
    return Outcome({Endpoint::kGa4Mp, std::move(body), std::move(query), "python-requests/2.31"});
  }
};

// The sender's User-Agent is a server library's and is not checked for bots.
TEST_F(MpTest, PageviewFromAServerSideSend) {
  EXPECT_EQ(One(std::string(kBody)), kAccepted);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_.site_id[0], 1u);
  EXPECT_EQ(events_.kind[0], EventKind::kPageview);
  EXPECT_EQ(events_.minute[0], kNowMinute);
  EXPECT_EQ(events_.flags[0], 0);
  EXPECT_EQ(LastPath(), "/cart");
  EXPECT_EQ(events_.visitor[0], VisitorFromClientId("123.456", 1, kVisitorKey));
}

TEST_F(MpTest, EventsAndTimestamps) {
  const int64_t hour_ago_us = (kNowMs - 3'600'000) * 1000;
  const std::string body = R"({"client_id":"1.2","timestamp_micros":)" +
                           std::to_string(hour_ago_us) +
                           R"(,"events":[{"name":"purchase","params":{"value":3}},)"
                           R"({"name":"login","timestamp_micros":)" +
                           std::to_string(kNowMs * 1000) + "}]}";
  EXPECT_EQ(Send(body), (std::vector<std::string>{"accepted", "accepted"}));
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_.kind[0], EventKind::kEvent);
  EXPECT_EQ(events_.minute[0], kNowMinute - 60);
  EXPECT_EQ(events_.flags[0], kFlagQueueTimeApplied);
  EXPECT_EQ(events_.minute[1], kNowMinute);
  EXPECT_EQ(events_.flags[1], 0);
}

struct Case {
  const char* name;
  std::string body;
  std::string query;
  std::string expected;
};

std::string WithEvent(const std::string& event) {
  return R"({"client_id":"1.2","events":[)" + event + "]}";
}

TEST_F(MpTest, EveryRejectReason) {
  const std::string ids(kIds);
  const std::vector<Case> cases = {
      {"body too large", std::string(kBody) + std::string(kMpMaxBodyBytes, ' '), ids,
       "batch_too_large"},
      {"bad escape", std::string(kBody), ids + "&x=%", "bad_percent_encoding"},
      {"invalid utf8 in query", std::string(kBody), ids + "&x=%FF", "invalid_utf8"},
      {"no measurement_id", std::string(kBody), "api_secret=s3cret", "missing_measurement_id"},
      {"firebase stream", std::string(kBody), "firebase_app_id=1:2:android:3&api_secret=s3cret",
       "missing_measurement_id"},
      {"unknown site", std::string(kBody), "measurement_id=G-NOPE&api_secret=s3cret",
       "unknown_site"},
      {"no api_secret", std::string(kBody), "measurement_id=G-SHOP1", "missing_api_secret"},
      {"wrong api_secret", std::string(kBody), "measurement_id=G-SHOP1&api_secret=guess",
       "bad_api_secret"},
      {"secret of no site", std::string(kBody), "measurement_id=G-ANY1&api_secret=s3cret",
       "bad_api_secret"},
      {"not json", "client_id=1", ids, "bad_json"},
      {"truncated json", std::string(kBody.substr(0, 40)), ids, "bad_json"},
      {"array body", "[]", ids, "bad_json"},
      {"invalid utf8 in json", "{\"client_id\":\"1.\xC3\x28\",\"events\":[]}", ids, "invalid_utf8"},
      {"numeric client_id", R"({"client_id":12,"events":[{"name":"a"}]})", ids, "bad_json"},
      {"events not an array", R"({"client_id":"1.2","events":{}})", ids, "bad_json"},
      {"no events", R"({"client_id":"1.2"})", ids, "bad_json"},
      {"no client_id", R"({"events":[{"name":"a"}]})", ids, "missing_client_id"},
      {"empty events", R"({"client_id":"1.2","events":[]})", ids, "empty_payload"},
      {"event not an object", WithEvent("7"), ids, "bad_json"},
      {"params not an object", WithEvent(R"({"name":"a","params":[]})"), ids, "bad_json"},
      {"no name", WithEvent(R"({"params":{}})"), ids, "missing_event_name"},
      {"bad name", WithEvent(R"({"name":"1st"})"), ids, "bad_event_name"},
      {"name of 41", WithEvent(R"({"name":")" + std::string(41, 'n') + "\"}"), ids,
       "bad_event_name"},
      {"page_location too long",
       WithEvent(R"({"name":"page_view","params":{"page_location":"https://shop.example/)" +
                 std::string(kMpMaxPageLocationBytes, 'p') + "\"}}"),
       ids, "field_too_long"},
      {"timestamp too old",
       WithEvent(R"({"name":"a","timestamp_micros":)" +
                 std::to_string((kNowMs - kMpMaxBackdateMs - 1) * 1000) + "}"),
       ids, "bad_timestamp"},
      {"timestamp in the future",
       WithEvent(R"({"name":"a","timestamp_micros":)" +
                 std::to_string((kNowMs + kMpMaxAheadMs + 1) * 1000) + "}"),
       ids, "bad_timestamp"},
      {"timestamp a string", WithEvent(R"({"name":"a","timestamp_micros":"1"})"), ids,
       "bad_timestamp"},
      {"request timestamp bad",
       R"({"client_id":"1.2","timestamp_micros":-5,"events":[{"name":"a"}]})", ids,
       "bad_timestamp"},
      {"pageview without page", WithEvent(R"({"name":"page_view"})"), ids, "missing_page"},
      {"foreign host",
       WithEvent(R"({"name":"page_view","params":{"page_location":"https://evil.example/"}})"), ids,
       "host_not_allowed"},
      {"forwarded bot",
       R"({"client_id":"1.2","user_agent":"AhrefsBot/7.0","events":[{"name":"a"}]})", ids,
       "bot_user_agent"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(One(c.body, c.query), c.expected);
  }
}

TEST_F(MpTest, TwentyFiveEventsAtMost) {
  std::string events;
  for (int i = 0; i < 27; ++i)
    events += std::string(i ? "," : "") + R"({"name":"e)" + std::to_string(i) + "\"}";
  const std::vector<std::string> outcomes = Send(WithEvent(events));
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), "accepted"), 25);
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), "too_many_events"), 2);
  // Exactly at the limits: 72 h back, a 40-byte name, a 1000-byte page_location.
  EXPECT_EQ(One(WithEvent(R"({"name":")" + std::string(40, 'n') + R"(","timestamp_micros":)" +
                          std::to_string((kNowMs - kMpMaxBackdateMs) * 1000) + "}")),
            kAccepted);
  const std::string prefix = "https://shop.example/";
  EXPECT_EQ(One(WithEvent(R"({"name":"page_view","params":{"page_location":")" + prefix +
                          std::string(kMpMaxPageLocationBytes - prefix.size(), 'p') + "\"}}")),
            kAccepted);
  // One bad event does not spoil the others.
  EXPECT_EQ(Send(WithEvent(R"({"name":"ok"},{"name":"not ok"},{"name":"fine"})")),
            (std::vector<std::string>{"accepted", "accepted", "bad_event_name"}));
}

}  // namespace
}  // namespace beacon::kernels::testing
