// Metrics registry: Prometheus text exposition, HELP/TYPE once per family (samples written
// apart gathered under it), label escaping.
#include "host/metrics/metrics.h"

#include <gtest/gtest.h>

#include <atomic>

namespace beacon::host {
namespace {

TEST(MetricsTest, WritesPrometheusTextFormat) {
  MetricsRegistry registry;
  std::atomic<uint64_t> hits{41};
  registry.Add([&hits](MetricsWriter& out) {
    out.Counter("beacond_hits_total", "Hits seen", {}, hits.load());
    out.Counter("beacond_rejects_total", "Rejects", {{"reason", "unknown_site"}}, 3);
    out.Counter("beacond_rejects_total", "Rejects", {{"reason", "bad\"quote\\"}}, 4);
  });
  registry.Add([](MetricsWriter& out) {
    out.Gauge("beacond_pending_bytes", "Pending", {{"shard", "1"}, {"replica", "a"}}, 1.5);
    out.FloatCounter("beacond_cpu_seconds_total", "CPU", {{"worker", "0"}}, 0.25);
    out.Counter("beacond_rejects_total", "Rejects", {{"reason", "late"}}, 5);
  });
  hits = 42;
  EXPECT_EQ(registry.Scrape(),
            "# HELP beacond_hits_total Hits seen\n"
            "# TYPE beacond_hits_total counter\n"
            "beacond_hits_total 42\n"
            "# HELP beacond_rejects_total Rejects\n"
            "# TYPE beacond_rejects_total counter\n"
            "beacond_rejects_total{reason=\"unknown_site\"} 3\n"
            "beacond_rejects_total{reason=\"bad\\\"quote\\\\\"} 4\n"
            "beacond_rejects_total{reason=\"late\"} 5\n"
            "# HELP beacond_pending_bytes Pending\n"
            "# TYPE beacond_pending_bytes gauge\n"
            "beacond_pending_bytes{shard=\"1\",replica=\"a\"} 1.5\n"
            "# HELP beacond_cpu_seconds_total CPU\n"
            "# TYPE beacond_cpu_seconds_total counter\n"
            "beacond_cpu_seconds_total{worker=\"0\"} 0.25\n");
}

}  // namespace
}  // namespace beacon::host
