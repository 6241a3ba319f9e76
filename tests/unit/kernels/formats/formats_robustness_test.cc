// Every decoder of this folder on mutated beacons (bytes flipped, cut, duplicated, and the
// bytes each format treats specially inserted): each beacon gets at least one outcome and at
// most its event cap, nothing crashes, and ASan sees no read outside the decoders' buffers.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/formats/ga4_gtag.h"
#include "kernels/formats/ga4_mp.h"
#include "kernels/formats/snowplow.h"
#include "tests/unit/kernels/formats/format_fixture.h"

namespace beacon::kernels::testing {
namespace {

struct Seed {
  Endpoint endpoint;
  std::string payload;
  std::string query;
  size_t max_outcomes;
};

std::vector<Seed> Seeds() {
  const std::string relay_body =
      R"({\"name\":\"pageview\",\"url\":\"https://any.example/x\",\"domain\":\"any.example\"})";
  return {
      {Endpoint::kGa4Gtag, "en=page_view\nen=scroll&_et=4\r\n",
       "v=2&tid=G-ANY1&cid=1.2&dl=https%3A%2F%2Fany.example%2F", kGtagMaxEvents + 64},
      {Endpoint::kGa4Mp,
       R"({"client_id":"1.2","timestamp_micros":1700000000000000,"events":[{"name":"page_view","params":{"page_location":"https://any.example/a"}},{"name":"b"}]})",
       "measurement_id=G-SHOP1&api_secret=s3cret", 1000},
      {Endpoint::kPlausibleEvent,
       R"({"n":"pageview","u":"https://any.example/p","d":"any.example","p":{"a":"b"}})", "", 1},
      {Endpoint::kSnowplowGet, "e=pv&url=https%3A%2F%2Fany.example%2F&tv=js&p=web&aid=anyapp", "",
       1},
      {Endpoint::kSnowplowPost,
       R"({"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4","data":[{"e":"pv","url":"https://any.example/","tv":"js","p":"web","aid":"anyapp"},{"e":"se","tv":"js","p":"web","aid":"anyapp"}]})",
       "", 1000},
      {Endpoint::kUdpHitBatch,
       "v=1&tid=G-ANY1&cid=1&t=event&ec=a&ea=b\nv=1&tid=G-ANY1&cid=2&t=pageview&dl=%2Fx\n", "",
       1000},
      {Endpoint::kUdpSyslog,
       "<190>Nov 14 22:15:23 beacon: "
       "beacon1\t1700000123.000\t10.0.0.1\tPOST\t/api/event\tMozilla/5.0\t-\tDE\t" +
           relay_body,
       "", 1000},
  };
}

class FormatsRobustnessTest : public FormatTest {};

TEST_F(FormatsRobustnessTest, MutatedBeaconsEachGetBoundedOutcomes) {
  std::mt19937_64 rng(20261128);
  const std::string special = "%&=+\\\"\t\n\r{}[]:,<>-.\x80\xC3\xFF";
  for (const Seed& seed : Seeds()) {
    SCOPED_TRACE(static_cast<int>(seed.endpoint));
    for (int round = 0; round < 3000; ++round) {
      std::string payload = seed.payload;
      std::string query = seed.query;
      const int mutations = 1 + static_cast<int>(rng() % 4);
      for (int m = 0; m < mutations; ++m) {
        std::string& target = (!query.empty() && rng() % 4 == 0) ? query : payload;
        if (target.empty()) {
          target.push_back(special[rng() % special.size()]);
          continue;
        }
        const size_t at = rng() % target.size();
        switch (rng() % 5) {
          case 0:
            target[at] = static_cast<char>(rng());
            break;
          case 1:
            target.resize(at);
            break;
          case 2:
            target.insert(at, 1, special[rng() % special.size()]);
            break;
          case 3:
            target.insert(at, target.substr(at, rng() % 64));
            break;
          default:
            target.erase(at, 1 + rng() % 8);
            break;
        }
      }
      const size_t outcomes = Outcomes({seed.endpoint, payload, query}).size();
      ASSERT_GE(outcomes, 1u) << payload;
      ASSERT_LE(outcomes, seed.max_outcomes) << payload;
    }
  }
}

}  // namespace
}  // namespace beacon::kernels::testing
