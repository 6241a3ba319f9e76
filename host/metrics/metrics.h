// The metrics registry: components register collectors that write their counters at scrape
// time, so the hot path only bumps its own relaxed atomics and never takes a lock.
// Output: Prometheus text exposition format 0.0.4.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace beacon::host {

using MetricLabels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// Writes one scrape. HELP/TYPE lines are written once per family, the first time a name is
// seen; samples of a family written apart (e.g. shard by shard) are gathered under it, as
// the exposition format requires.
class MetricsWriter {
 public:
  void Counter(std::string_view name, std::string_view help, MetricLabels labels, uint64_t value);
  void Gauge(std::string_view name, std::string_view help, MetricLabels labels, double value);
  // A counter of a non-integral quantity (CPU seconds).
  void FloatCounter(std::string_view name, std::string_view help, MetricLabels labels,
                    double value);
  // The families in the order they were first written.
  std::string text() const;

 private:
  void Sample(std::string_view type, std::string_view name, std::string_view help,
              MetricLabels labels, std::string_view value);
  std::vector<std::pair<std::string, std::string>> families_;  // name, HELP/TYPE and samples
  std::map<std::string, size_t, std::less<>> index_;           // name -> families_ index
};

class MetricsRegistry {
 public:
  using Collector = std::function<void(MetricsWriter&)>;

  // Registers a collector; it runs on the scraping thread and must only read atomics or
  // take locks that the hot path never holds.
  void Add(Collector collector);
  // Runs every collector, in registration order, and returns the exposition text.
  std::string Scrape() const;

 private:
  mutable std::mutex mu_;
  std::vector<Collector> collectors_;
};

}  // namespace beacon::host
