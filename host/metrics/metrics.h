// The metrics registry: components register collectors that write their counters at scrape
// time, so the hot path only bumps its own relaxed atomics and never takes a lock.
// Output: Prometheus text exposition format 0.0.4.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace beacon::host {

using MetricLabels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// Writes one scrape. HELP/TYPE lines are written once per family, the first time a name is
// seen; samples of a family must be written together.
class MetricsWriter {
 public:
  void Counter(std::string_view name, std::string_view help, MetricLabels labels, uint64_t value);
  void Gauge(std::string_view name, std::string_view help, MetricLabels labels, double value);
  // A counter of a non-integral quantity (CPU seconds).
  void FloatCounter(std::string_view name, std::string_view help, MetricLabels labels,
                    double value);
  const std::string& text() const { return text_; }

 private:
  void Sample(std::string_view type, std::string_view name, std::string_view help,
              MetricLabels labels, std::string_view value);
  std::string text_;
  std::string last_family_;
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
