// UniqHll12 against a real clickhouse-server 18.16 (scripts/clickhouse-local): our Serialize()
// equals the server's uniqHLL12State byte for byte, and our states inserted as RowBinary into an
// AggregateFunction(uniqHLL12, UInt64) column merge to what uniqHLL12 says over the raw values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "host/forward/clickhouse_client.h"
#include "kernels/sketch/uniq_hll12.h"
#include "tests/unit/host/forward/local_clickhouse.h"

namespace beacon::kernels {
namespace {

using host::ClickHouseClient;
using host::LocalClickHouse;

constexpr char kDatabase[] = "sketch_test";

struct ValueSet {
  uint32_t id = 0;
  std::vector<uint64_t> values;
};

// Values whose IntHash32 is 0, then pairs of values that
// share an IntHash32: 25 values, 12 distinct hashes.
constexpr uint64_t kCollidingValues[] = {
    0,      528038771, 1530889310, 51214,  184223, 165281, 311785, 50510,  184927,
    26713,  175863,    194250,     282283, 85617,  339583, 69656,  180108, 49998,
    185439, 155633,    361042,     11834,  91898,  56818,  335175};

// The colliding values (shuffled), then `random` random ones: 16 of them and one more cross to
// large with fewer hashes; with 360 more the medium set holds 385 values in 372 hashes; with
// 380, 392 hashes are large.
void AddCollidingSets(std::mt19937_64& rng, std::vector<ValueSet>* sets) {
  for (const size_t random : {size_t{0}, size_t{1}, size_t{360}, size_t{380}}) {
    ValueSet set;
    set.id = static_cast<uint32_t>(sets->size());
    set.values.assign(std::begin(kCollidingValues), std::end(kCollidingValues));
    std::shuffle(set.values.begin(), set.values.end(), rng);
    if (random == 1) set.values.resize(UniqHll12::kSmallCapacity);
    for (size_t i = 0; i < random; ++i) set.values.push_back(rng());
    sets->push_back(std::move(set));
  }
}

// Random sets of each size; every third set draws from n / 2 values so that it repeats some.
std::vector<ValueSet> MakeSets() {
  const std::vector<std::pair<size_t, int>> sizes_and_counts = {
      {0, 3}, {1, 20}, {15, 20}, {16, 20}, {17, 20}, {100, 20}, {1000, 20}, {100000, 4}};
  std::mt19937_64 rng(20250219);
  std::vector<ValueSet> sets;
  for (const auto& [n, count] : sizes_and_counts) {
    for (int c = 0; c < count; ++c) {
      ValueSet set;
      set.id = static_cast<uint32_t>(sets.size());
      const bool repeats = c % 3 == 2 && n > 1;
      for (size_t i = 0; i < n; ++i) {
        set.values.push_back(repeats ? rng() % (n / 2) : rng());
      }
      sets.push_back(std::move(set));
    }
  }
  AddCollidingSets(rng, &sets);
  return sets;
}

void PutUInt32(uint32_t v, std::string* out) { out->append(reinterpret_cast<const char*>(&v), 4); }

void PutVarUInt(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

UniqHll12 SketchOf(const std::vector<uint64_t>& values) {
  UniqHll12 sketch;
  for (uint64_t v : values) sketch.Add(v);
  return sketch;
}

// "id\tvalue" lines into a map.
std::map<uint32_t, uint64_t> ParseIdValues(const std::string& tsv) {
  std::map<uint32_t, uint64_t> result;
  std::istringstream in(tsv);
  uint32_t id = 0;
  uint64_t value = 0;
  while (in >> id >> value) result[id] = value;
  return result;
}

class UniqHll12AgainstServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sets_ = new std::vector<ValueSet>(MakeSets());
    client_ = new ClickHouseClient(host::Endpoint(LocalClickHouse::Shared().url(), kDatabase));
    Run(std::string("CREATE DATABASE IF NOT EXISTS ") + kDatabase);
    Run("CREATE TABLE sets (id UInt32, vals Array(UInt64)) ENGINE = Memory");
    Run("CREATE TABLE states (id UInt32, s AggregateFunction(uniqHLL12, UInt64)) "
        "ENGINE = Memory");
    std::string rows;
    for (const ValueSet& set : *sets_) {
      PutUInt32(set.id, &rows);
      PutVarUInt(set.values.size(), &rows);
      rows.append(reinterpret_cast<const char*>(set.values.data()), 8 * set.values.size());
    }
    const auto inserted = client_->InsertRowBinary("sets", rows);
    ASSERT_TRUE(inserted.ok()) << inserted.status << " " << inserted.error << inserted.body;
  }

  static void TearDownTestSuite() {
    Run(std::string("DROP DATABASE IF EXISTS ") + kDatabase);
    delete client_;
    delete sets_;
  }

  static std::string Run(const std::string& sql) {
    const auto result = client_->Execute(sql);
    EXPECT_TRUE(result.ok()) << sql << ": " << result.status << " " << result.error << result.body;
    return result.body;
  }

  static std::vector<ValueSet>* sets_;
  static ClickHouseClient* client_;
};

std::vector<ValueSet>* UniqHll12AgainstServer::sets_ = nullptr;
ClickHouseClient* UniqHll12AgainstServer::client_ = nullptr;

// The state the materialized view makes today (arrayReduce over the array, in its order).
TEST_F(UniqHll12AgainstServer, SerializeEqualsTheServersStateByteForByte) {
  const std::string out =
      Run("SELECT id, arrayReduce('uniqHLL12State', vals) FROM sets ORDER BY id FORMAT RowBinary");
  std::string_view rest = out;
  size_t compared = 0;
  size_t large = 0;
  for (const ValueSet& set : *sets_) {
    ASSERT_GE(rest.size(), 4u);
    uint32_t id = 0;
    memcpy(&id, rest.data(), 4);
    ASSERT_EQ(id, set.id);
    rest.remove_prefix(4);
    UniqHll12 server;
    const size_t taken = server.Deserialize(rest);
    ASSERT_NE(taken, 0u) << "set " << id << ": the server's state does not parse";
    const std::string_view server_bytes = rest.substr(0, taken);
    rest.remove_prefix(taken);
    std::string ours;
    SketchOf(set.values).Serialize(&ours);
    EXPECT_EQ(ours, server_bytes) << "set " << id << " of " << set.values.size() << " values";
    ++compared;
    large += server.is_large() ? 1 : 0;
  }
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(compared, sets_->size());
  EXPECT_GT(large, 40u);
}

TEST_F(UniqHll12AgainstServer, InsertedStatesMergeToTheServersCountOfTheRawValues) {
  std::string rows;
  for (const ValueSet& set : *sets_) {
    PutUInt32(set.id, &rows);
    SketchOf(set.values).Serialize(&rows);
  }
  const auto inserted = client_->InsertRowBinary("states", rows);
  ASSERT_TRUE(inserted.ok()) << inserted.status << " " << inserted.error << inserted.body;

  const auto merged =
      ParseIdValues(Run("SELECT id, uniqHLL12Merge(s) FROM states GROUP BY id ORDER BY id"));
  const auto raw =
      ParseIdValues(Run("SELECT id, arrayReduce('uniqHLL12', vals) FROM sets ORDER BY id"));
  ASSERT_EQ(merged.size(), sets_->size());
  ASSERT_EQ(raw.size(), sets_->size());
  for (const ValueSet& set : *sets_) {
    EXPECT_EQ(merged.at(set.id), raw.at(set.id)) << "set " << set.id;
    EXPECT_EQ(SketchOf(set.values).Estimate(), raw.at(set.id)) << "set " << set.id;
  }

  // Unions across sets: groups of states merged by the server, by us, and the raw values.
  const auto merged_groups = ParseIdValues(
      Run("SELECT id % 7, uniqHLL12Merge(s) FROM states GROUP BY id % 7 ORDER BY id % 7"));
  const auto raw_groups = ParseIdValues(
      Run("SELECT id % 7, uniqHLL12(v) FROM sets ARRAY JOIN vals AS v GROUP BY id % 7"));
  std::map<uint32_t, UniqHll12> ours;
  for (const ValueSet& set : *sets_) ours[set.id % 7].Merge(SketchOf(set.values));
  ASSERT_EQ(merged_groups.size(), 7u);
  for (const auto& [group, sketch] : ours) {
    EXPECT_EQ(merged_groups.at(group), raw_groups.at(group)) << "group " << group;
    EXPECT_EQ(sketch.Estimate(), raw_groups.at(group)) << "group " << group;
  }
}

}  // namespace
}  // namespace beacon::kernels
