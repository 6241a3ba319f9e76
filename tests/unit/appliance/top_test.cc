// beaconctl top's steps: a scrape written by beacond's own MetricsRegistry read back, rates
// across a restart, the tables of two scrapes, sorting, filtering, keys and the screen.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "appliance/ctl/scrape.h"
#include "appliance/ctl/top.h"
#include "host/metrics/metrics.h"

namespace beacon::app {
namespace {

// What a node with `accepted` events, `unknown` unknown_site rejects, two workers and one
// shard exposes, written by the registry beacond scrapes.
std::string NodeText(uint64_t accepted, uint64_t unknown, uint64_t collect, double cpu0) {
  host::MetricsRegistry registry;
  registry.Add([=](host::MetricsWriter& out) {
    out.Counter("beacond_events_accepted_total", "h", {}, accepted);
    out.Counter("beacond_rejects_total", "h", {{"reason", "unknown_site"}}, unknown);
    out.Counter("beacond_rejects_total", "h", {{"reason", "bot_user_agent"}}, 0);
    out.Counter("beacond_http_requests_total", "h", {{"endpoint", "collect"}}, collect);
    out.Counter("beacond_http_requests_total", "h", {{"endpoint", "g_collect"}}, 0);
    out.Counter("beacond_site_events_accepted_total", "h", {{"site", "7"}, {"name", "shop"}},
                accepted);
    out.Counter("beacond_forward_acknowledged_events_total", "h", {}, accepted / 2);
    out.Gauge("beacond_forward_pending_bytes", "h", {}, 2'500'000);
    out.Counter("beacond_forward_shard_inserts_total", "h", {{"shard", "1"}, {"result", "ok"}}, 9);
    out.Gauge("beacond_forward_spool_records", "h", {{"shard", "1"}}, 3);
    out.Gauge("beacond_forward_spool_bytes", "h", {{"shard", "1"}}, 1'000'000);
    out.FloatCounter("beacond_worker_cpu_seconds_total", "h", {{"worker", "0"}}, cpu0);
    out.FloatCounter("beacond_worker_cpu_seconds_total", "h", {{"worker", "1"}}, 0);
    out.Counter("beacond_worker_ticks_total", "h", {{"worker", "0"}}, 10);
    out.Counter("beacond_worker_ticks_total", "h", {{"worker", "1"}}, 10);
  });
  return registry.Scrape();
}

TEST(ScrapeTest, ReadsBackWhatTheRegistryWrites) {
  const auto samples = ParseScrape(NodeText(100, 7, 90, 0.5));
  const Scrape scrape{0, samples};
  EXPECT_EQ(scrape.Sum("beacond_events_accepted_total"), 100);
  EXPECT_EQ(scrape.Sum("beacond_rejects_total"), 7);
  EXPECT_EQ(scrape.Sum("beacond_rejects_total", {{"reason", "unknown_site"}}), 7);
  EXPECT_EQ(scrape.Sum("beacond_worker_cpu_seconds_total", {{"worker", "0"}}), 0.5);
  EXPECT_EQ(scrape.SumBy("beacond_forward_spool_bytes", "shard").at("1"), 1'000'000);
  EXPECT_FALSE(scrape.Has("beacond_udp_datagrams_total"));
}

TEST(ScrapeTest, UnescapesLabelsAndSkipsWhatDoesNotParse) {
  const auto samples = ParseScrape(
      "# HELP x y\n"
      "a{k=\"q\\\"u\\\\o\\nte\",j=\"2\"} 1.5 1700000000\n"
      "b +Inf\n"
      "c{broken 3\n"
      "\n"
      "d 4\r\n");
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[0].Label("k"), "q\"u\\o\nte");
  EXPECT_EQ(samples[0].Label("j"), "2");
  EXPECT_EQ(samples[0].value, 1.5);
  EXPECT_TRUE(std::isinf(samples[1].value));
  EXPECT_EQ(samples[2].name, "d");
  EXPECT_EQ(samples[2].value, 4);
}

TEST(ScrapeTest, RatesPerSecondAndAcrossARestart) {
  const Scrape before{10, ParseScrape(NodeText(100, 7, 90, 0))};
  const Scrape after{12, ParseScrape(NodeText(300, 9, 290, 0.5))};
  EXPECT_EQ(Rate(before, after, "beacond_events_accepted_total"), 100);
  EXPECT_EQ(RatesBy(before, after, "beacond_rejects_total", "reason").at("unknown_site"), 1);
  const Scrape restarted{14, ParseScrape(NodeText(50, 0, 40, 0))};
  EXPECT_EQ(Rate(after, restarted, "beacond_events_accepted_total"), 25);
  EXPECT_EQ(PerSecond(1, 2, 0), 0);
}

std::vector<NodeScrapes> TwoNodes() {
  NodeScrapes a{"a:9464", Scrape{0, ParseScrape(NodeText(100, 7, 90, 0))},
                Scrape{1, ParseScrape(NodeText(1100, 27, 990, 0.25))}, ""};
  NodeScrapes down{"b:9464", {}, {}, "Couldn't connect to server"};
  return {a, down};
}

const Table& Titled(const std::vector<Table>& tables, const std::string& title) {
  return *std::find_if(tables.begin(), tables.end(),
                       [&title](const Table& t) { return t.title == title; });
}

TEST(TopTest, TablesOfRatesAndLevels) {
  const auto tables = BuildTables(TwoNodes());
  const Table& nodes = Titled(tables, "nodes");
  ASSERT_EQ(nodes.rows.size(), 2u);
  const auto& a = nodes.rows[0].cells;
  EXPECT_EQ(a[0], "a:9464");
  EXPECT_EQ(a[1], "up");
  EXPECT_EQ(a[2], "1000");   // accepted/s
  EXPECT_EQ(a[3], "20");     // rejected/s
  EXPECT_EQ(a[8], "2.5");    // queue MB
  EXPECT_EQ(a[10], "550");   // unacknowledged events
  EXPECT_EQ(a[11], "0.55");  // seconds of traffic they are
  EXPECT_EQ(nodes.rows[1].cells[1], "down: Couldn't connect to server");

  const Table& formats = Titled(tables, "beacons by ingress and format");
  ASSERT_EQ(formats.rows.size(), 1u);  // g_collect never seen: left out
  EXPECT_EQ(formats.rows[0].cells,
            (std::vector<std::string>{"a:9464", "http", "collect", "900", "990"}));

  const Table& sites = Titled(tables, "sites");
  ASSERT_EQ(sites.rows.size(), 1u);
  EXPECT_EQ(sites.rows[0].cells, (std::vector<std::string>{"a:9464", "7", "shop", "1000", "1100"}));

  const Table& rejects = Titled(tables, "rejects by reason");
  ASSERT_EQ(rejects.rows.size(), 1u);
  EXPECT_EQ(rejects.rows[0].cells,
            (std::vector<std::string>{"a:9464", "unknown_site", "20", "27"}));

  const Table& workers = Titled(tables, "workers");
  ASSERT_EQ(workers.rows.size(), 2u);
  EXPECT_EQ(workers.rows[0].cells[2], "25%");
  EXPECT_EQ(Titled(tables, "clickhouse shards").rows[0].cells[5], "3");
}

TEST(TopTest, OneScrapeShowsLevelsWithoutRates) {
  NodeScrapes fresh{"a:9464", {}, Scrape{0, ParseScrape(NodeText(123456, 7, 90, 0))}, ""};
  const auto tables = BuildTables({fresh});
  EXPECT_EQ(tables[0].rows[0].cells[2], "-");
  EXPECT_EQ(tables[0].rows[0].cells[10], "61728");  // counts exact, not 61.7k
  EXPECT_EQ(Titled(tables, "sites").rows[0].cells[4], "123456");
  EXPECT_EQ(Titled(tables, "rejects by reason").rows[0].cells[3], "7");
}

TEST(TopTest, KeysSortAndFilter) {
  ViewState view;
  EXPECT_TRUE(HandleKey('s', 3, &view));
  EXPECT_EQ(view.sort, 1u);
  for (int i = 0; i < 3; ++i) HandleKey('s', 3, &view);
  EXPECT_EQ(view.sort, 0u);  // cycled back to the natural order
  for (const int key : std::initializer_list<int>{'/', 'u', 'n', 'x', 127, 'k', '\r'})
    EXPECT_TRUE(HandleKey(key, 3, &view));
  EXPECT_EQ(view.filter, "unk");
  EXPECT_FALSE(view.editing);
  HandleKey('/', 3, &view);
  EXPECT_TRUE(HandleKey('q', 3, &view));  // typed into the filter, not quitting
  HandleKey(27, 3, &view);
  EXPECT_EQ(view.filter, "unk");  // Esc while typing: the filter stays as it was
  HandleKey(27, 3, &view);
  EXPECT_EQ(view.filter, "");
  EXPECT_FALSE(HandleKey('q', 3, &view));
}

TEST(TopTest, DecodesKeysAndDropsEscapeSequences) {
  EXPECT_EQ(DecodeKeys("\x1b/ab\r"), (std::vector<int>{27, '/', 'a', 'b', '\r'}));
  EXPECT_EQ(DecodeKeys("\x1b[Aq\x1b[1;5Cs\x1bOBx"), (std::vector<int>{'q', 's', 'x'}));
  EXPECT_EQ(DecodeKeys("\x1b"), (std::vector<int>{27}));
}

TEST(TopTest, SortsNumbersDescendingAndFiltersRows) {
  Table table{"t", {{"name", false}, {"n", true}}, {}, true};
  for (const auto& [name, n] : {std::pair{"beta", 2.0}, {"alpha", 10.0}, {"gamma", 5.0}}) {
    table.rows.push_back({{name, std::to_string(n)}, {0, n}});
  }
  ViewState view;
  view.sort = 2;
  Table by_n = table;
  ApplyView(view, &by_n);
  EXPECT_EQ(by_n.rows[0].cells[0], "alpha");
  EXPECT_EQ(by_n.rows[2].cells[0], "beta");
  view.sort = 1;
  view.filter = "MM";
  Table filtered = table;
  ApplyView(view, &filtered);
  ASSERT_EQ(filtered.rows.size(), 1u);
  EXPECT_EQ(filtered.rows[0].cells[0], "gamma");
  table.filterable = false;
  ApplyView(view, &table);
  EXPECT_EQ(table.rows.size(), 3u);
}

TEST(TopTest, ScreenFitsAndMarksTheSortColumn) {
  const auto tables = BuildTables(TwoNodes());
  ViewState view;
  view.sort = 3;
  const auto lines = RenderScreen(tables, view, "header", 60, 22);
  ASSERT_LE(lines.size(), 22u);
  EXPECT_EQ(lines[0], "header");
  EXPECT_EQ(lines[1], "-- nodes (1 more rows)");
  EXPECT_NE(lines[2].find("accepted/s*"), std::string::npos);
  for (const std::string& line : lines) EXPECT_LE(line.size(), 60u);
  // 22 lines hold four rows of the six tables: each cut table says how many it left out.
  const auto cut = std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("more rows)") != std::string::npos;
  });
  EXPECT_EQ(cut, 4);  // nodes, rejects, workers and shards
}

}  // namespace
}  // namespace beacon::app
