// The ground truth of a beacon-gen run: what beacond must count for the hits it answered 2xx.
// File format: bench/gen/README.md, "Ground truth file".
#pragma once

#include <cstdint>
#include <istream>
#include <map>
#include <ostream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "bench/gen/traffic_model.h"

namespace beacon::bench {

// The aggregates of a run, as written to and read from the truth file.
struct TruthSummary {
  struct SiteMinute {
    uint64_t pageviews = 0;
    uint64_t events = 0;  // event and other (timing, exception, ...) hits
    uint64_t visitors = 0;
    bool operator==(const SiteMinute&) const = default;
  };
  uint64_t sent_hits = 0;
  uint64_t accepted = 0;
  std::map<std::pair<uint32_t, uint32_t>, SiteMinute> site_minutes;  // (site, unix minute)
  std::map<uint32_t, uint64_t> site_visitors;                        // over the whole run
  std::map<std::pair<uint32_t, std::string>, uint64_t> pages;        // (site, path) -> pageviews
  std::map<std::string, uint64_t> rejects;                           // reason label -> hits
  // Breakdowns: (site, minute, dimension label, value) -> pageviews and events (visitors 0),
  // and (site, dimension label, value) -> distinct visitors over the run.
  using BreakdownKey = std::tuple<uint32_t, uint32_t, std::string, std::string>;
  using BreakdownValue = std::tuple<uint32_t, std::string, std::string>;
  std::map<BreakdownKey, SiteMinute> breakdowns;
  std::map<BreakdownValue, uint64_t> breakdown_visitors;

  bool operator==(const TruthSummary&) const = default;
  // Adds the truth of another run against the same beacond (a phase of a test). Visitor counts
  // add up: right when the runs' visitors differ, as they do with different seeds.
  void Add(const TruthSummary& other);
  void Write(std::ostream& out) const;
  // Parses a truth file; throws std::runtime_error naming `source` and the bad line.
  static TruthSummary Read(std::istream& in, const std::string& source);
};

// Accumulates hits as their requests are answered. One per sender thread, merged at the end.
class GroundTruth {
 public:
  // Counts one sent hit; `minute` (unix minutes of its event time) matters when accepted.
  void Record(const Hit& hit, uint32_t minute);
  void Merge(const GroundTruth& other);
  TruthSummary Summary() const;

 private:
  struct Cell {
    uint64_t pageviews = 0;
    uint64_t events = 0;
    std::unordered_set<std::string> visitors;
  };
  uint64_t sent_hits_ = 0;
  std::map<std::pair<uint32_t, uint32_t>, Cell> site_minutes_;
  std::map<uint32_t, std::unordered_set<std::string>> site_visitors_;
  std::map<std::pair<uint32_t, std::string>, uint64_t> pages_;
  std::map<std::string, uint64_t> rejects_;
  std::map<TruthSummary::BreakdownKey, std::pair<uint64_t, uint64_t>> breakdowns_;
  // Visitor ids as Hash64 values: a string per (value, visitor) would not fit 1M-hit runs.
  std::map<TruthSummary::BreakdownValue, std::unordered_set<uint64_t>> breakdown_visitors_;
};

}  // namespace beacon::bench
