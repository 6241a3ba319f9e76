// JsonMembers against at_key and JsonString, the lookups it replaces, on objects with duplicate,
// escaped, null and wrongly typed members.
#include "kernels/formats/json_members.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "kernels/formats/common.h"

namespace beacon::kernels::testing {
namespace {

constexpr std::array<std::string_view, 4> kKeys = {"name", "n", "url", "a\"b"};

size_t KeyOf(std::string_view key) {
  for (size_t k = 0; k < kKeys.size(); ++k) {
    if (key == kKeys[k]) return k;
  }
  return kKeys.size();
}

TEST(JsonMembersTest, FindsWhatAtKeyAndJsonStringFind) {
  // Member keys as written (one escaped: it reads as the fourth key) and values of every type.
  constexpr std::array<std::string_view, 6> kWrittenKeys = {"name",   "n",     "url",
                                                            "a\\\"b", "other", "nam"};
  constexpr std::array<std::string_view, 6> kValues = {"\"x\"", "\"\"", "null", "1", "{}", "[1]"};
  uint64_t seed = 1;
  const auto next = [&seed](uint64_t n) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (seed >> 33) % n;
  };
  simdjson::dom::parser parser;
  for (int round = 0; round < 3000; ++round) {
    std::string json = "{";
    const uint64_t members = next(7);
    for (uint64_t m = 0; m < members; ++m) {
      if (m > 0) json += ',';
      json += "\"" + std::string(kWrittenKeys[next(kWrittenKeys.size())]) +
              "\":" + std::string(kValues[next(kValues.size())]);
    }
    json += "}";
    simdjson::dom::object object;
    ASSERT_EQ(parser.parse(json).get(object), simdjson::SUCCESS) << json;
    const JsonMembers<kKeys.size()> found(object, KeyOf);
    for (size_t k = 0; k < kKeys.size(); ++k) {
      simdjson::dom::element expected;
      simdjson::dom::element got;
      const bool present = object.at_key(kKeys[k]).get(expected) == simdjson::SUCCESS;
      ASSERT_EQ(found.Get(k, &got), present) << json << " " << kKeys[k];
      if (present) {
        EXPECT_EQ(simdjson::to_string(got), simdjson::to_string(expected)) << json;
      }
      std::string_view expected_string;
      std::string_view got_string;
      ASSERT_EQ(found.String(k, &got_string), JsonString(object, kKeys[k], &expected_string))
          << json << " " << kKeys[k];
      EXPECT_EQ(got_string, expected_string) << json;
    }
  }
}

}  // namespace
}  // namespace beacon::kernels::testing
