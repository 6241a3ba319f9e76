// MinuteAggregator and TopValues: exact sums per (site, minute), distinct visitors, every
// breakdown dimension, the top-K bound with "(other)" and its error bound checked against brute
// force, determinism, and the memory bound under floods.
#include "kernels/aggregate/minute_aggregator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>

#include "kernels/enrich/attribution.h"
#include "kernels/enrich/user_agent.h"

namespace beacon::kernels {
namespace {

void AddHit(EventBatch* batch, uint32_t site, uint32_t minute, EventKind kind, uint64_t visitor,
            std::string_view path) {
  EventDims dims;
  if (!path.empty()) dims.path = batch->AddString(path);
  batch->Append(site, minute, kind, 0, visitor, dims, 0);
}

// The uniqHLL12 state's bytes: equal bytes, equal sketches (a small one in the same order).
std::string Bytes(const UniqHll12& sketch) {
  std::string out;
  sketch.Serialize(&out);
  return out;
}

UniqHll12 SketchOf(const std::vector<uint64_t>& visitors) {
  UniqHll12 sketch;
  for (const uint64_t v : visitors) sketch.Add(v);
  return sketch;
}

std::vector<BreakdownRow> RowsOf(const EpochRows& rows, Dimension d) {
  std::vector<BreakdownRow> out;
  for (const auto& row : rows.breakdowns) {
    if (row.dimension == d) out.push_back(row);
  }
  return out;
}

TEST(MinuteAggregatorTest, SumsPerSiteMinuteAndCountsDistinctVisitors) {
  MinuteAggregator agg(3, AggregateLimits{});
  EventBatch batch;
  AddHit(&batch, 2, 100, EventKind::kPageview, 11, "/a");
  AddHit(&batch, 2, 100, EventKind::kEvent, 11, "");
  AddHit(&batch, 2, 100, EventKind::kPageview, 12, "/a");
  AddHit(&batch, 2, 100, EventKind::kPageview, 11, "/b");
  AddHit(&batch, 1, 101, EventKind::kOther, 13, "");
  AddHit(&batch, 2, 99, EventKind::kPageview, 12, "/");
  agg.Add(batch);
  EXPECT_EQ(agg.open_events(), 6u);
  EXPECT_EQ(agg.site_minutes(), 3u);
  EXPECT_EQ(agg.active_sites(), 2u);

  const EpochRows rows = agg.CloseEpoch();
  EXPECT_EQ(rows.worker, 3u);
  EXPECT_EQ(rows.epoch, 0u);
  EXPECT_EQ(rows.events, 6u);
  ASSERT_EQ(rows.site_minutes.size(), 3u);
  // Sorted by (site, minute).
  EXPECT_EQ(rows.site_minutes[0].site_id, 1u);
  EXPECT_EQ(rows.site_minutes[0].events, 1u);
  EXPECT_EQ(rows.site_minutes[1].minute, 99u);
  const SiteMinuteRow& busy = rows.site_minutes[2];
  EXPECT_EQ(busy.site_id, 2u);
  EXPECT_EQ(busy.minute, 100u);
  EXPECT_EQ(busy.pageviews, 3u);
  EXPECT_EQ(busy.events, 1u);
  // Small states keep the arrival order of the distinct visitors.
  EXPECT_EQ(Bytes(busy.visitors), Bytes(SketchOf({11, 12})));

  // Rows sorted by (site, minute, dimension, value); events without a path are in no page row.
  const auto pages = RowsOf(rows, Dimension::kPage);
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0].minute, 99u);
  EXPECT_EQ(pages[0].value, "/");
  EXPECT_EQ(pages[1].value, "/a");
  EXPECT_EQ(pages[1].pageviews, 2u);
  EXPECT_EQ(Bytes(pages[1].visitors), Bytes(SketchOf({11, 12})));
  EXPECT_EQ(pages[2].value, "/b");
  for (size_t i = 1; i < rows.breakdowns.size(); ++i) {
    const BreakdownRow& a = rows.breakdowns[i - 1];
    const BreakdownRow& b = rows.breakdowns[i];
    EXPECT_LT(std::tie(a.site_id, a.minute, a.dimension, a.value),
              std::tie(b.site_id, b.minute, b.dimension, b.value));
  }
  // No user agent class given: every hit is device "other", browser and OS "Other"; unknown
  // country and no event name make no row.
  const auto devices = RowsOf(rows, Dimension::kDevice);
  ASSERT_EQ(devices.size(), 3u);
  EXPECT_EQ(devices[2].value, "other");
  EXPECT_EQ(devices[2].pageviews, 3u);
  EXPECT_EQ(devices[2].events, 1u);
  EXPECT_EQ(RowsOf(rows, Dimension::kBrowser)[2].value, "Other");
  EXPECT_EQ(RowsOf(rows, Dimension::kOs)[2].value, "Other");
  EXPECT_TRUE(RowsOf(rows, Dimension::kCountry).empty());
  EXPECT_TRUE(RowsOf(rows, Dimension::kEventName).empty());

  const EpochRows next = agg.CloseEpoch();
  EXPECT_EQ(next.epoch, 1u);
  EXPECT_TRUE(next.empty());
  EXPECT_TRUE(next.site_minutes.empty());
  EXPECT_TRUE(next.breakdowns.empty());
}

// Thousands of (site, minute) cells in a shuffled order, so that the cell table grows many
// times: each cell's sums equal a std::map's of the same hits, the rows come sorted, and a
// second epoch starts empty.
TEST(MinuteAggregatorTest, ManySiteMinutesEqualAMapOfTheirHits) {
  std::vector<std::pair<uint32_t, uint32_t>> keys;
  for (uint32_t site = 1; site <= 60; ++site) {
    for (uint32_t minute = 1000; minute < 1050; ++minute) keys.emplace_back(site, minute);
  }
  std::mt19937_64 rng(5);
  MinuteAggregator agg(0, AggregateLimits{});
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::map<std::pair<uint32_t, uint32_t>, std::pair<uint64_t, std::set<uint64_t>>> expected;
    EventBatch batch;
    for (int i = 0; i < 40000; ++i) {
      const auto [site, minute] = keys[rng() % (epoch == 0 ? keys.size() : 100)];
      const uint64_t visitor = rng() % 7;
      AddHit(&batch, site, minute, EventKind::kPageview, visitor, "/p");
      auto& [hits, visitors] = expected[{site, minute}];
      ++hits;
      visitors.insert(visitor);
      if (batch.size() == 256) {
        agg.Add(batch);
        batch.Clear();
      }
    }
    agg.Add(batch);
    EXPECT_EQ(agg.site_minutes(), expected.size());
    EXPECT_LE(agg.memory_bytes(), MinuteAggregator::MemoryBound(
                                      AggregateLimits{}, agg.open_events(), agg.site_minutes()));
    const EpochRows rows = agg.CloseEpoch();
    ASSERT_EQ(rows.site_minutes.size(), expected.size());
    auto want = expected.begin();
    for (const SiteMinuteRow& row : rows.site_minutes) {
      EXPECT_EQ(std::make_pair(row.site_id, row.minute), want->first);
      EXPECT_EQ(row.pageviews, want->second.first);
      EXPECT_EQ(row.visitors.Estimate(), want->second.second.size());
      ++want;
    }
    EXPECT_EQ(RowsOf(rows, Dimension::kPage).size(), expected.size());
    EXPECT_TRUE(std::is_sorted(rows.breakdowns.begin(), rows.breakdowns.end(),
                               [](const BreakdownRow& a, const BreakdownRow& b) {
                                 return std::tie(a.site_id, a.minute, a.dimension, a.value) <
                                        std::tie(b.site_id, b.minute, b.dimension, b.value);
                               }));
    EXPECT_EQ(agg.site_minutes(), 0u);
  }
}

TEST(MinuteAggregatorTest, EveryDimensionGetsItsRows) {
  MinuteAggregator agg(0, AggregateLimits{});
  EventBatch batch;
  auto add = [&](EventKind kind, uint64_t visitor, std::string_view country, DeviceClass device,
                 std::string_view browser, std::string_view os, std::string_view event_name) {
    EventDims dims;
    if (kind == EventKind::kPageview) dims.path = batch.AddString("/pricing");
    dims.referrer = batch.AddString("news.ycombinator.com");
    dims.utm_source = batch.AddString("newsletter");
    dims.utm_medium = batch.AddString("email");
    dims.utm_campaign = batch.AddString("spring-sale");
    if (!event_name.empty()) dims.event_name = batch.AddString(event_name);
    dims.country = CountryFromHeader(country);
    dims.device = static_cast<uint8_t>(device);
    dims.browser = BrowserFamilyId(browser);
    dims.os = OsFamilyId(os);
    batch.Append(7, 1000, kind, 0, visitor, dims, 0);
  };
  add(EventKind::kPageview, 1, "de", DeviceClass::kMobile, "Chrome Mobile", "Android", "");
  add(EventKind::kEvent, 1, "DE", DeviceClass::kMobile, "Chrome Mobile", "Android", "play");
  add(EventKind::kPageview, 2, "XX", DeviceClass::kDesktop, "Firefox", "Windows", "");
  add(EventKind::kOther, 3, "FR", DeviceClass::kTablet, "Mobile Safari", "iOS", "timing");
  agg.Add(batch);
  const EpochRows rows = agg.CloseEpoch();

  auto values = [&](Dimension d) {
    std::map<std::string, std::tuple<uint64_t, uint64_t, size_t>> out;
    for (const auto& row : RowsOf(rows, d)) {
      out[row.value] = {row.pageviews, row.events, row.visitors.Estimate()};
    }
    return out;
  };
  using V = std::map<std::string, std::tuple<uint64_t, uint64_t, size_t>>;
  EXPECT_EQ(values(Dimension::kPage), (V{{"/pricing", {2, 0, 2}}}));
  EXPECT_EQ(values(Dimension::kReferrer), (V{{"news.ycombinator.com", {2, 2, 3}}}));
  EXPECT_EQ(values(Dimension::kUtmSource), (V{{"newsletter", {2, 2, 3}}}));
  EXPECT_EQ(values(Dimension::kUtmMedium), (V{{"email", {2, 2, 3}}}));
  EXPECT_EQ(values(Dimension::kUtmCampaign), (V{{"spring-sale", {2, 2, 3}}}));
  // "XX" is Cloudflare's unknown: no row.
  EXPECT_EQ(values(Dimension::kCountry), (V{{"DE", {1, 1, 1}}, {"FR", {0, 1, 1}}}));
  EXPECT_EQ(values(Dimension::kDevice),
            (V{{"desktop", {1, 0, 1}}, {"mobile", {1, 1, 1}}, {"tablet", {0, 1, 1}}}));
  EXPECT_EQ(
      values(Dimension::kBrowser),
      (V{{"Chrome Mobile", {1, 1, 1}}, {"Firefox", {1, 0, 1}}, {"Mobile Safari", {0, 1, 1}}}));
  EXPECT_EQ(values(Dimension::kOs),
            (V{{"Android", {1, 1, 1}}, {"Windows", {1, 0, 1}}, {"iOS", {0, 1, 1}}}));
  EXPECT_EQ(values(Dimension::kEventName), (V{{"play", {0, 1, 1}}, {"timing", {0, 1, 1}}}));
}

TEST(MinuteAggregatorTest, ValuesBeyondTheBoundFoldIntoOtherWithExactSums) {
  MinuteAggregator agg(0, AggregateLimits{.max_pages_per_site_minute = 3});
  EventBatch batch;
  for (int i = 0; i < 1000; ++i) {
    AddHit(&batch, 1, 5, EventKind::kPageview, static_cast<uint64_t>(i),
           "/random/" + std::to_string(i));
  }
  agg.Add(batch);
  const EpochRows rows = agg.CloseEpoch();
  const auto pages = RowsOf(rows, Dimension::kPage);
  ASSERT_EQ(pages.size(), 4u);  // 3 kept + (other)
  uint64_t total = 0;
  UniqHll12 visitors;
  for (const auto& row : pages) {
    total += row.pageviews;
    visitors.Merge(row.visitors);
  }
  EXPECT_EQ(total, 1000u);
  // No visitor is lost by folding: the union of the rows' sketches has the registers of all
  // 1000 visitors (a large state's bytes do not depend on the order of adds and merges).
  std::vector<uint64_t> all(1000);
  std::iota(all.begin(), all.end(), 0);
  const std::string all_bytes = Bytes(SketchOf(all));
  EXPECT_EQ(Bytes(visitors), all_bytes);
  EXPECT_TRUE(pages[0].visitors.is_large());  // (other) took 997 visitors
  EXPECT_EQ(pages[0].value, kOtherValue);
  EXPECT_EQ(pages[0].pageviews, 997u);
  EXPECT_EQ(agg.folded(Dimension::kPage), 997u);
  EXPECT_EQ(agg.folded(Dimension::kReferrer), 0u);
  EXPECT_EQ(Bytes(rows.site_minutes[0].visitors), all_bytes);
}

// Weighted sums follow the hits' weights through kept rows, evictions into (other) and the
// fixed dimensions; with every weight 1 they equal the counts.
TEST(MinuteAggregatorTest, WeightedSumsFollowTheWeightsThroughEveryRow) {
  MinuteAggregator agg(0, AggregateLimits{.max_pages_per_site_minute = 3});
  EventBatch batch;
  uint64_t weighted_pageviews = 0;
  for (int i = 0; i < 200; ++i) {
    const EventKind kind = i % 4 == 0 ? EventKind::kEvent : EventKind::kPageview;
    AddHit(&batch, 1, 5, kind, static_cast<uint64_t>(i), "/p/" + std::to_string(i % 17));
    batch.country.back() = static_cast<uint16_t>('D' << 8 | 'E');
    batch.weight.back() = i % 3 == 0 ? 10 : 1;
    if (kind == EventKind::kPageview) weighted_pageviews += batch.weight.back();
  }
  AddHit(&batch, 2, 5, EventKind::kPageview, 1, "/a");
  agg.Add(batch);
  const EpochRows rows = agg.CloseEpoch();
  ASSERT_EQ(rows.site_minutes.size(), 2u);
  EXPECT_EQ(rows.site_minutes[0].pageviews, 150u);
  EXPECT_EQ(rows.site_minutes[0].weighted_pageviews, weighted_pageviews);
  EXPECT_EQ(rows.site_minutes[0].weighted_events, 50u + 9u * 17u);  // i % 12 == 0: weight 10
  EXPECT_EQ(rows.site_minutes[1].weighted_pageviews, 1u);
  EXPECT_EQ(rows.site_minutes[1].weighted_events, 0u);
  for (const Dimension d : {Dimension::kPage, Dimension::kCountry}) {
    uint64_t pageviews = 0;
    uint64_t weighted = 0;
    uint64_t weighted_events = 0;
    for (const auto& row : RowsOf(rows, d)) {
      if (row.site_id != 1) {
        EXPECT_EQ(row.weighted_pageviews, row.pageviews);
        continue;
      }
      pageviews += row.pageviews;
      weighted += row.weighted_pageviews;
      weighted_events += row.weighted_events;
    }
    EXPECT_EQ(pageviews, 150u) << DimensionName(d);
    EXPECT_EQ(weighted, weighted_pageviews) << DimensionName(d);
    EXPECT_EQ(weighted_events, rows.site_minutes[0].weighted_events) << DimensionName(d);
  }
}

TEST(MinuteAggregatorTest, LongValuesAreCutAtACharacterBoundaryAndOtherIsOneRow) {
  MinuteAggregator agg(0, AggregateLimits{});
  EventBatch batch;
  std::string long_path = "/" + std::string(1022, 'a') + "\xC3\xA9" + "tail";  // é at 1023
  AddHit(&batch, 1, 5, EventKind::kPageview, 1, long_path);
  EventDims dims;
  dims.utm_campaign = batch.AddString(kOtherValue);
  batch.Append(1, 5, EventKind::kEvent, 0, 2, dims, 0);
  agg.Add(batch);
  const EpochRows rows = agg.CloseEpoch();
  const auto pages = RowsOf(rows, Dimension::kPage);
  ASSERT_EQ(pages.size(), 1u);
  EXPECT_EQ(pages[0].value, "/" + std::string(1022, 'a'));
  const auto campaigns = RowsOf(rows, Dimension::kUtmCampaign);
  ASSERT_EQ(campaigns.size(), 1u);
  EXPECT_EQ(campaigns[0].value, kOtherValue);
  EXPECT_EQ(campaigns[0].events, 1u);
}

TEST(MinuteAggregatorTest, ASiteMinutesMemoryDoesNotGrowWithItsVisitors) {
  auto bytes_for = [](uint64_t visitors) {
    MinuteAggregator agg(0, AggregateLimits{});
    EventBatch batch;
    for (uint64_t v = 0; v < visitors; ++v) {
      AddHit(&batch, 1, 5, EventKind::kPageview, v, "/home");
      if (batch.size() == 256) {
        agg.Add(batch);
        batch.Clear();
      }
    }
    agg.Add(batch);
    return agg.max_site_minute_bytes();
  };
  const size_t small = bytes_for(16);
  // The site-minute and its page, device, browser and OS rows keep their values from the 17th
  // visitor (32 slots), and turn large past kMediumCapacity.
  EXPECT_EQ(bytes_for(17) - small, 5 * 32 * sizeof(uint32_t));
  EXPECT_EQ(bytes_for(UniqHll12::kMediumCapacity) - small,
            5 * UniqHll12::kMediumSlots * sizeof(uint32_t));
  const size_t large = bytes_for(UniqHll12::kMediumCapacity + 1);
  EXPECT_EQ(large - small, 5 * kSketchLargeHeapBytes);
  EXPECT_EQ(bytes_for(100'000), large);
}

// The exact counts of a stream, per value.
struct Truth {
  std::map<std::string, uint64_t> hits;
  uint64_t total = 0;
};

TEST(TopValuesTest, KeptCountsAreWithinTheAdmissionErrorOfBruteForce) {
  for (const uint32_t seed : {1u, 2u, 3u, 4u}) {
    for (const uint32_t k : {10u, 50u, 200u}) {
      std::mt19937_64 rng(seed);
      // Zipf-ish over 3000 values, with a burst of new values in the middle.
      std::vector<double> weights;
      for (int i = 1; i <= 3000; ++i) weights.push_back(1.0 / std::pow(i, 1.1));
      std::discrete_distribution<int> zipf(weights.begin(), weights.end());
      TopValues top;
      Truth truth;
      uint64_t folded = 0;
      for (int i = 0; i < 30000; ++i) {
        const std::string value = (i > 10000 && i < 12000) ? "burst-" + std::to_string(i)
                                                           : "v" + std::to_string(zipf(rng));
        const bool pageview = rng() % 4 != 0;
        folded += top.Add(value, pageview, rng() % 5000, k);
        ++truth.hits[value];
        ++truth.total;
      }
      ASSERT_LE(top.size(), k);
      const uint64_t bound = truth.total / k;
      uint64_t kept_total = 0;
      uint64_t other = 0;
      uint64_t min_count_at_admission = 0;
      std::set<std::string> kept;
      for (const TopValues::Row& row : top.Rows()) {
        const uint64_t reported = row.pageviews + row.events;
        if (row.value == kOtherValue) {
          other = reported;
          continue;
        }
        kept.insert(std::string(row.value));
        kept_total += reported;
        const uint64_t exact = truth.hits.at(std::string(row.value));
        // Exact since admission: never over, and short by at most the admission error <= N/k.
        EXPECT_LE(reported, exact);
        EXPECT_LE(exact - reported, row.admission_error) << row.value;
        EXPECT_LE(row.admission_error, bound);
        min_count_at_admission = std::max(min_count_at_admission, row.admission_error);
      }
      EXPECT_EQ(kept_total + other, truth.total);  // the sums stay exact
      EXPECT_EQ(folded, other);
      // Space-Saving's guarantee: every value seen more than N/k times is kept.
      for (const auto& [value, n] : truth.hits) {
        if (n > bound) {
          EXPECT_TRUE(kept.count(value)) << value << " " << n << " k=" << k;
        }
      }
    }
  }
}

EpochRows FloodRun(uint64_t seed) {
  MinuteAggregator agg(0, AggregateLimits{.max_pages_per_site_minute = 50,
                                          .max_referrers_per_site_minute = 20,
                                          .max_event_names_per_site_minute = 10});
  std::mt19937_64 rng(seed);
  EventBatch batch;
  for (int i = 0; i < 20000; ++i) {
    EventDims dims;
    const bool pageview = rng() % 3 != 0;
    if (pageview) dims.path = batch.AddString("/p/" + std::to_string(rng() % 400));
    dims.referrer = batch.AddString("r" + std::to_string(rng() % 100) + ".example");
    if (!pageview) dims.event_name = batch.AddString("e" + std::to_string(rng() % 30));
    dims.country = static_cast<uint16_t>(('A' + rng() % 26) << 8 | ('A' + rng() % 26));
    dims.browser = static_cast<uint8_t>(rng() % 40);
    batch.Append(static_cast<uint32_t>(rng() % 3), 1000 + static_cast<uint32_t>(rng() % 2),
                 pageview ? EventKind::kPageview : EventKind::kEvent, 0, rng() % 3000, dims, 0);
    if (batch.size() == 256) {
      agg.Add(batch);
      batch.Clear();
    }
  }
  agg.Add(batch);
  return agg.CloseEpoch();
}

// Every row of `a` and `b` alike, the visitor states byte for byte; returns how many breakdown
// rows were (other) and how many had a small (order-dependent) state.
std::pair<size_t, size_t> ExpectIdenticalRows(const EpochRows& a, const EpochRows& b) {
  EXPECT_EQ(a.site_minutes.size(), b.site_minutes.size());
  for (size_t i = 0; i < std::min(a.site_minutes.size(), b.site_minutes.size()); ++i) {
    EXPECT_EQ(a.site_minutes[i].site_id, b.site_minutes[i].site_id);
    EXPECT_EQ(a.site_minutes[i].minute, b.site_minutes[i].minute);
    EXPECT_EQ(a.site_minutes[i].pageviews, b.site_minutes[i].pageviews);
    EXPECT_EQ(a.site_minutes[i].events, b.site_minutes[i].events);
    EXPECT_EQ(Bytes(a.site_minutes[i].visitors), Bytes(b.site_minutes[i].visitors));
  }
  EXPECT_EQ(a.breakdowns.size(), b.breakdowns.size());
  size_t folded_rows = 0;
  size_t small_rows = 0;
  for (size_t i = 0; i < std::min(a.breakdowns.size(), b.breakdowns.size()); ++i) {
    const BreakdownRow& x = a.breakdowns[i];
    const BreakdownRow& y = b.breakdowns[i];
    EXPECT_EQ(std::tie(x.site_id, x.minute, x.dimension, x.value, x.pageviews, x.events),
              std::tie(y.site_id, y.minute, y.dimension, y.value, y.pageviews, y.events));
    EXPECT_EQ(Bytes(x.visitors), Bytes(y.visitors));
    small_rows += !x.visitors.is_large();
    folded_rows += x.value == kOtherValue;
  }
  return {folded_rows, small_rows};
}

TEST(MinuteAggregatorTest, SameEventsGiveIdenticalRows) {
  const auto [folded_rows, small_rows] = ExpectIdenticalRows(FloodRun(9), FloodRun(9));
  EXPECT_GT(folded_rows, 0u);  // the run did evict
  EXPECT_GT(small_rows, 0u);   // and has order-dependent small states to compare
}

// Add counts a batch a block of events at a time, one dimension after another: the rows must be
// those of the same events added one by one. Every dimension's value is there for some events
// only (an unknown country too), so each dimension walks a different subset of a block.
TEST(MinuteAggregatorTest, ABatchCountsAsItsEventsOneAtATime) {
  auto run = [](size_t batch_events) {
    MinuteAggregator agg(0, AggregateLimits{.max_pages_per_site_minute = 40,
                                            .max_referrers_per_site_minute = 10,
                                            .max_utm_sources_per_site_minute = 5,
                                            .max_event_names_per_site_minute = 8});
    std::mt19937_64 rng(21);
    EventBatch batch;
    auto some = [&](std::string_view prefix, uint64_t values, uint64_t percent) {
      return rng() % 100 < percent
                 ? batch.AddString(std::string(prefix) + std::to_string(rng() % values))
                 : StrRef{};
    };
    for (int i = 0; i < 30000; ++i) {
      EventDims dims;
      const bool pageview = rng() % 3 != 0;
      if (pageview) dims.path = some("/p/", 300, 95);
      dims.referrer = some("r", 60, 40);
      dims.utm_source = some("s", 12, 30);
      dims.utm_medium = some("m", 4, 25);
      dims.utm_campaign = some("c", 20, 20);
      if (!pageview) dims.event_name = some("e", 20, 90);
      dims.country =
          rng() % 5 == 0 ? uint16_t{0} : static_cast<uint16_t>(('A' + rng() % 8) << 8 | 'E');
      dims.device = static_cast<uint8_t>(rng() % 5);
      dims.browser = static_cast<uint8_t>(rng() % 45);  // some beyond the table: "Other"
      dims.os = static_cast<uint8_t>(rng() % 22);
      batch.Append(static_cast<uint32_t>(rng() % 4), 1000 + static_cast<uint32_t>(rng() % 2),
                   pageview ? EventKind::kPageview : EventKind::kEvent, 0, rng() % 2000, dims, 0);
      if (batch.size() == batch_events) {
        agg.Add(batch);
        batch.Clear();
      }
    }
    agg.Add(batch);
    return agg.CloseEpoch();
  };
  const auto [folded_rows, small_rows] = ExpectIdenticalRows(run(1), run(1000));
  EXPECT_GT(folded_rows, 0u);
  EXPECT_GT(small_rows, 0u);
}

TEST(MinuteAggregatorTest, RowsPerSiteMinuteAndDimensionStayWithinKPlusOther) {
  const AggregateLimits limits{.max_pages_per_site_minute = 50,
                               .max_referrers_per_site_minute = 20,
                               .max_event_names_per_site_minute = 10};
  const EpochRows rows = FloodRun(3);
  std::map<std::tuple<uint32_t, uint32_t, Dimension>, uint64_t> count, hits;
  for (const auto& row : rows.breakdowns) {
    ++count[{row.site_id, row.minute, row.dimension}];
    hits[{row.site_id, row.minute, row.dimension}] += row.pageviews + row.events;
  }
  for (const auto& [key, n] : count) {
    EXPECT_LE(n, limits.TopK(std::get<2>(key)) + 1);
  }
  // Every hit is in exactly one row of a dimension it has a value for.
  for (const auto& sm : rows.site_minutes) {
    const uint64_t all = sm.pageviews + sm.events;
    EXPECT_EQ((hits[{sm.site_id, sm.minute, Dimension::kReferrer}]), all);
    EXPECT_EQ((hits[{sm.site_id, sm.minute, Dimension::kCountry}]), all);
    EXPECT_EQ((hits[{sm.site_id, sm.minute, Dimension::kBrowser}]), all);
    EXPECT_EQ((hits[{sm.site_id, sm.minute, Dimension::kPage}]), sm.pageviews);
    EXPECT_EQ((hits[{sm.site_id, sm.minute, Dimension::kEventName}]), sm.events);
  }
}

TEST(MinuteAggregatorTest, MemoryStaysWithinItsBoundUnderAFloodOfDistinctValues) {
  const AggregateLimits limits{};
  auto flood = [&](uint64_t distinct, uint64_t events, size_t* largest_cell) {
    MinuteAggregator agg(0, limits);
    EventBatch batch;
    for (uint64_t i = 0; i < events; ++i) {
      EventDims dims;
      const uint64_t v = i % distinct;
      const bool pageview = i % 2 == 0;
      const std::string value = "/flood/" + std::to_string(v) + "/padding-to-pass-the-inline-size";
      if (pageview) dims.path = batch.AddString(value);
      dims.referrer = batch.AddString("ref-" + std::to_string(v) + ".example");
      dims.utm_source = batch.AddString("s" + std::to_string(v));
      dims.utm_medium = batch.AddString("m" + std::to_string(v));
      dims.utm_campaign = batch.AddString("c" + std::to_string(v));
      if (!pageview) dims.event_name = batch.AddString("event-" + std::to_string(v));
      dims.country = static_cast<uint16_t>(('A' + v % 26) << 8 | ('A' + v / 26 % 26));
      dims.browser = static_cast<uint8_t>(v % 40);
      dims.os = static_cast<uint8_t>(v % 22);
      dims.device = static_cast<uint8_t>(v % 5);
      batch.Append(static_cast<uint32_t>(1 + i % 4), 77,
                   pageview ? EventKind::kPageview : EventKind::kEvent, 0, i, dims, 0);
      if (batch.size() == 256) {
        agg.Add(batch);
        batch.Clear();
      }
    }
    agg.Add(batch);
    EXPECT_LE(agg.memory_bytes(),
              MinuteAggregator::MemoryBound(limits, agg.open_events(), agg.site_minutes()));
    *largest_cell = agg.max_site_minute_bytes();
    EXPECT_LE(*largest_cell, MinuteAggregator::MemoryBound(limits, events / 4 + 1, 1));
    const size_t bytes = agg.memory_bytes();
    const EpochRows rows = agg.CloseEpoch();
    EXPECT_LT(agg.memory_bytes(), 4096u);  // released at close
    std::map<std::tuple<uint32_t, Dimension>, uint64_t> count;
    for (const auto& row : rows.breakdowns) ++count[{row.site_id, row.dimension}];
    for (const auto& [key, n] : count) EXPECT_LE(n, limits.TopK(std::get<1>(key)) + 1);
    return bytes;
  };
  size_t cell_few = 0, cell_many = 0;
  // The same hits over 2000 distinct values per dimension (4 x K of pages) or 200 000: the
  // kept values and their visitor sketches are bounded, whatever the number of values sent.
  const size_t few = flood(2000, 200'000, &cell_few);
  const size_t many = flood(200'000, 200'000, &cell_many);
  EXPECT_LT(static_cast<double>(many), 1.3 * static_cast<double>(few));
  EXPECT_LT(static_cast<double>(cell_many), 1.3 * static_cast<double>(cell_few));
}

}  // namespace
}  // namespace beacon::kernels
