// A Prometheus text scrape read back into samples, and the per-second rates between two
// scrapes of the same node: what beaconctl's views are computed from.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace beacon::app {

using SampleLabels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  std::string name;
  SampleLabels labels;  // in exposition order, values unescaped
  double value = 0;

  // The value of label `key`; "" when absent.
  std::string_view Label(std::string_view key) const;
};

// Parses exposition format 0.0.4: comments and blank lines are skipped, as are lines that do
// not parse (a view shows what it can). A trailing timestamp is ignored.
std::vector<Sample> ParseScrape(std::string_view text);

// One scrape of a node at `time_s` (a monotonic clock, seconds).
struct Scrape {
  double time_s = 0;
  std::vector<Sample> samples;

  // Sum of `name` over the samples whose labels include every pair of `match`.
  double Sum(std::string_view name, const SampleLabels& match = {}) const;
  // Sums of `name` by the value of `label` (samples without it are under "").
  std::map<std::string, double> SumBy(std::string_view name, std::string_view label) const;
  bool Has(std::string_view name) const;
};

// Per-second increase of a counter from `before` to `after`; a counter that went down (the
// node restarted) counts from zero. 0 when the scrapes are not apart in time.
double PerSecond(double before, double after, double seconds);

// PerSecond of `name` (summed over `match`) between two scrapes.
double Rate(const Scrape& before, const Scrape& after, std::string_view name,
            const SampleLabels& match = {});

// Rates of `name` by `label` between two scrapes; keys of `after`.
std::map<std::string, double> RatesBy(const Scrape& before, const Scrape& after,
                                      std::string_view name, std::string_view label);

}  // namespace beacon::app
