// beaconctl top: tables from scrapes, sorting, filtering and the screen.
#include "appliance/ctl/top.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <utility>

namespace beacon::app {
namespace {

std::string Format(const char* format, double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), format, v);
  return buf;
}

// 0, 0.25, 12.5, 950, 12.3k, 4.56M: three significant digits at most.
std::string FormatSi(double v) {
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e9) return Format("%.3gG", v / 1e9);
  if (a >= 1e6) return Format("%.3gM", v / 1e6);
  if (a >= 1e4) return Format("%.3gk", v / 1e3);
  if (a >= 100) return Format("%.0f", v);
  return Format("%.3g", v);
}

// A node's two scrapes: levels from the last, rates when there are two.
struct Scrapes {
  const Scrape* before;
  const Scrape& after;
  bool rates() const { return before != nullptr; }
  double Rate(std::string_view name, const SampleLabels& match = {}) const {
    return before == nullptr ? 0 : app::Rate(*before, after, name, match);
  }
  double Level(std::string_view name, const SampleLabels& match = {}) const {
    return after.Sum(name, match);
  }
};

class RowBuilder {
 public:
  explicit RowBuilder(bool rates) : rates_(rates) {}
  RowBuilder& Text(std::string text) { return Cell(std::move(text), 0); }
  RowBuilder& Level(double v) { return Cell(FormatSi(v), v); }
  // Counts are shown exactly: they are compared with /metrics and ClickHouse.
  RowBuilder& Count(double v) { return Cell(Format("%.0f", v), v); }
  RowBuilder& Mb(double bytes) { return Cell(Format("%.1f", bytes / 1e6), bytes); }
  // "-" until there are two scrapes to take a rate from.
  RowBuilder& Rate(double v) { return rates_ ? Cell(FormatSi(v), v) : Cell("-", 0); }
  RowBuilder& Percent(double share) {
    return rates_ ? Cell(Format("%.0f%%", share * 100), share) : Cell("-", 0);
  }
  TableRow Build() { return std::move(row_); }

 private:
  RowBuilder& Cell(std::string text, double key) {
    row_.cells.push_back(std::move(text));
    row_.keys.push_back(key);
    return *this;
  }
  bool rates_;
  TableRow row_;
};

Table MakeTable(std::string title, std::initializer_list<std::pair<const char*, bool>> columns) {
  Table table;
  table.title = std::move(title);
  for (const auto& [name, numeric] : columns) table.columns.push_back({name, numeric});
  return table;
}

void AddNodeRow(const NodeScrapes& node, Table* table) {
  if (!node.after.has_value()) {
    table->rows.push_back(RowBuilder(false)
                              .Text(node.node)
                              .Text("down: " + (node.error.empty() ? "waiting" : node.error))
                              .Build());
    return;
  }
  const Scrapes s{node.before ? &*node.before : nullptr, *node.after};
  const double accepted = s.Level("beacond_events_accepted_total");
  const double unacked = accepted - s.Level("beacond_forward_acknowledged_events_total");
  const double accepted_rate = s.Rate("beacond_events_accepted_total");
  RowBuilder row(s.rates());
  row.Text(node.node)
      .Text(node.error.empty() ? "up" : "stale: " + node.error)
      .Rate(accepted_rate)
      .Rate(s.Rate("beacond_rejects_total"))
      .Rate(s.Rate("beacond_http_requests_total"))
      .Rate(s.Rate("beacond_udp_datagrams_total"))
      .Rate(s.Rate("beacond_dpdk_beacons_total"))
      .Rate(s.Rate("beacond_http_responses_total", {{"code", "503"}}) +
            s.Rate("beacond_http_responses_total", {{"code", "429"}}))
      .Mb(s.Level("beacond_forward_pending_bytes"))
      .Mb(s.Level("beacond_forward_spool_bytes"))
      .Count(unacked)
      .Rate(unacked / std::max(accepted_rate, 1.0))
      .Rate(s.Rate("beacond_forward_inserts_total", {{"result", "failed"}}))
      .Level(s.Level("beacond_forward_last_insert_seconds") * 1000);
  table->rows.push_back(row.Build());
}

// Beacons by ingress and format: HTTP by endpoint, then the relays.
void AddFormatRows(const NodeScrapes& node, const Scrapes& s, Table* table) {
  const auto totals = s.after.SumBy("beacond_http_requests_total", "endpoint");
  for (const auto& [endpoint, total] : totals) {
    if (total == 0) continue;
    table->rows.push_back(RowBuilder(s.rates())
                              .Text(node.node)
                              .Text("http")
                              .Text(endpoint)
                              .Rate(s.Rate("beacond_http_requests_total", {{"endpoint", endpoint}}))
                              .Count(total)
                              .Build());
  }
  for (const auto& [ingress, name] : {std::pair{"udp", "beacond_udp_datagrams_total"},
                                      std::pair{"dpdk", "beacond_dpdk_beacons_total"}}) {
    if (!s.after.Has(name)) continue;
    table->rows.push_back(RowBuilder(s.rates())
                              .Text(node.node)
                              .Text(ingress)
                              .Text("relay")
                              .Rate(s.Rate(name))
                              .Count(s.Level(name))
                              .Build());
  }
}

void AddRejectRows(const NodeScrapes& node, const Scrapes& s, Table* table) {
  for (const auto& [family, prefix] : {std::pair{"beacond_rejects_total", ""},
                                       std::pair{"beacond_http_parse_rejects_total", "http:"}}) {
    for (const auto& [reason, total] : s.after.SumBy(family, "reason")) {
      if (total == 0) continue;
      table->rows.push_back(RowBuilder(s.rates())
                                .Text(node.node)
                                .Text(prefix + reason)
                                .Rate(s.Rate(family, {{"reason", reason}}))
                                .Count(total)
                                .Build());
    }
  }
}

void AddSiteRows(const NodeScrapes& node, const Scrapes& s, Table* table) {
  for (const Sample& sample : s.after.samples) {
    if (sample.name != "beacond_site_events_accepted_total") continue;
    const std::string site(sample.Label("site"));
    table->rows.push_back(RowBuilder(s.rates())
                              .Text(node.node)
                              .Text(site)
                              .Text(std::string(sample.Label("name")))
                              .Rate(s.Rate("beacond_site_events_accepted_total", {{"site", site}}))
                              .Count(sample.value)
                              .Build());
  }
}

void AddWorkerRows(const NodeScrapes& node, const Scrapes& s, Table* table) {
  for (const auto& [worker, ticks] : s.after.SumBy("beacond_worker_ticks_total", "worker")) {
    const SampleLabels w = {{"worker", worker}};
    table->rows.push_back(RowBuilder(s.rates())
                              .Text(node.node)
                              .Text(worker)
                              .Percent(s.Rate("beacond_worker_cpu_seconds_total", w))
                              .Rate(s.Rate("beacond_worker_beacons_total", w))
                              .Rate(s.Rate("beacond_worker_ticks_total", w))
                              .Mb(s.Level("beacond_aggregator_bytes", w))
                              .Mb(s.Level("beacond_aggregator_bytes_bound", w))
                              .Build());
  }
}

void AddShardRows(const NodeScrapes& node, const Scrapes& s, Table* table) {
  for (const auto& [shard, records] : s.after.SumBy("beacond_forward_spool_records", "shard")) {
    const SampleLabels ok = {{"shard", shard}, {"result", "ok"}};
    const SampleLabels failed = {{"shard", shard}, {"result", "failed"}};
    const SampleLabels in_shard = {{"shard", shard}};
    table->rows.push_back(RowBuilder(s.rates())
                              .Text(node.node)
                              .Text(shard)
                              .Rate(s.Rate("beacond_forward_shard_inserts_total", ok))
                              .Rate(s.Rate("beacond_forward_shard_inserts_total", failed))
                              .Rate(s.Rate("beacond_forward_failovers_total", in_shard))
                              .Count(records)
                              .Mb(s.Level("beacond_forward_spool_bytes", in_shard))
                              .Build());
  }
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool RowMatches(const TableRow& row, const std::string& needle) {
  return std::any_of(row.cells.begin(), row.cells.end(), [&needle](const std::string& cell) {
    return Lower(cell).find(needle) != std::string::npos;
  });
}

// Column widths of `table` over its header and `rows` rows.
std::vector<size_t> Widths(const Table& table, size_t rows) {
  std::vector<size_t> widths;
  for (const TableColumn& c : table.columns) widths.push_back(c.name.size() + 1);
  for (size_t r = 0; r < rows; ++r) {
    const auto& cells = table.rows[r].cells;
    for (size_t c = 0; c < cells.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], cells[c].size());
    }
  }
  return widths;
}

std::string Line(const Table& table, const std::vector<std::string>& cells,
                 const std::vector<size_t>& widths, size_t width) {
  std::string line;
  for (size_t c = 0; c < cells.size() && c < widths.size(); ++c) {
    const std::string& cell = cells[c];
    const std::string pad(widths[c] - std::min(widths[c], cell.size()), ' ');
    if (c > 0) line += "  ";
    line += table.columns[c].numeric ? pad + cell : cell + pad;
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line.substr(0, width);
}

// Rows each table shows: every table its title and header; rows shared out in turn.
std::vector<size_t> ShareRows(const std::vector<Table>& tables, size_t height) {
  std::vector<size_t> shown(tables.size(), 0);
  size_t left = height > 1 + 3 * tables.size() ? height - 1 - 3 * tables.size() : 0;
  for (bool more = true; more && left > 0;) {
    more = false;
    for (size_t t = 0; t < tables.size() && left > 0; ++t) {
      if (shown[t] < tables[t].rows.size()) {
        ++shown[t];
        --left;
        more = true;
      }
    }
  }
  return shown;
}

}  // namespace

std::vector<Table> BuildTables(const std::vector<NodeScrapes>& nodes) {
  std::vector<Table> tables = {
      MakeTable("nodes", {{"node", false},
                          {"state", false},
                          {"accepted/s", true},
                          {"rejected/s", true},
                          {"http/s", true},
                          {"udp/s", true},
                          {"dpdk/s", true},
                          {"503+429/s", true},
                          {"queue MB", true},
                          {"spool MB", true},
                          {"unacked", true},
                          {"ch lag s", true},
                          {"ins err/s", true},
                          {"insert ms", true}}),
      MakeTable(
          "beacons by ingress and format",
          {{"node", false}, {"ingress", false}, {"format", false}, {"/s", true}, {"total", true}}),
      MakeTable("sites", {{"node", false},
                          {"site", false},
                          {"name", false},
                          {"accepted/s", true},
                          {"total", true}}),
      MakeTable("rejects by reason",
                {{"node", false}, {"reason", false}, {"/s", true}, {"total", true}}),
      MakeTable("workers", {{"node", false},
                            {"worker", false},
                            {"cpu", true},
                            {"beacons/s", true},
                            {"ticks/s", true},
                            {"agg MB", true},
                            {"bound MB", true}}),
      MakeTable("clickhouse shards", {{"node", false},
                                      {"shard", false},
                                      {"ok/s", true},
                                      {"failed/s", true},
                                      {"failover/s", true},
                                      {"spooled", true},
                                      {"spool MB", true}}),
  };
  tables[0].filterable = false;
  for (const NodeScrapes& node : nodes) {
    AddNodeRow(node, &tables[0]);
    if (!node.after.has_value()) continue;
    const Scrapes s{node.before ? &*node.before : nullptr, *node.after};
    AddFormatRows(node, s, &tables[1]);
    AddSiteRows(node, s, &tables[2]);
    AddRejectRows(node, s, &tables[3]);
    AddWorkerRows(node, s, &tables[4]);
    AddShardRows(node, s, &tables[5]);
  }
  return tables;
}

bool HandleKey(int key, size_t max_columns, ViewState* state) {
  constexpr int kEscape = 27;
  if (state->editing) {
    if (key == '\r' || key == '\n') {
      state->filter = state->draft;
      state->editing = false;
    } else if (key == kEscape) {
      state->editing = false;
    } else if (key == 127 || key == 8) {
      if (!state->draft.empty()) state->draft.pop_back();
    } else if (key >= 32 && key < 127) {
      state->draft.push_back(static_cast<char>(key));
    }
    return true;
  }
  switch (key) {
    case 'q':
    case 'Q':
      return false;
    case 's':
      state->sort = (state->sort + 1) % (max_columns + 1);
      break;
    case '/':
      state->editing = true;
      state->draft = state->filter;
      break;
    case kEscape:
      state->filter.clear();
      break;
    default:
      break;
  }
  return true;
}

std::vector<int> DecodeKeys(std::string_view bytes) {
  std::vector<int> keys;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == 27 && i + 1 < bytes.size() && bytes[i + 1] == '[') {
      i += 2;  // CSI: parameters up to a final byte in 0x40..0x7e
      while (i < bytes.size() && (bytes[i] < 0x40 || bytes[i] > 0x7e)) ++i;
      continue;
    }
    if (c == 27 && i + 2 < bytes.size() && bytes[i + 1] == 'O') {
      i += 2;  // SS3: one more byte
      continue;
    }
    keys.push_back(c);
  }
  return keys;
}

void ApplyView(const ViewState& state, Table* table) {
  if (table->filterable && !state.filter.empty()) {
    const std::string needle = Lower(state.filter);
    std::erase_if(table->rows, [&needle](const TableRow& row) { return !RowMatches(row, needle); });
  }
  if (state.sort == 0 || state.sort > table->columns.size()) return;
  const size_t c = state.sort - 1;
  const bool numeric = table->columns[c].numeric;
  std::stable_sort(table->rows.begin(), table->rows.end(),
                   [c, numeric](const TableRow& a, const TableRow& b) {
                     if (c >= a.cells.size() || c >= b.cells.size())
                       return a.cells.size() > b.cells.size();
                     return numeric ? a.keys[c] > b.keys[c] : a.cells[c] < b.cells[c];
                   });
}

std::vector<std::string> RenderScreen(const std::vector<Table>& tables, const ViewState& state,
                                      const std::string& header, size_t width, size_t height) {
  std::vector<std::string> lines = {header.substr(0, width)};
  const std::vector<size_t> shown = ShareRows(tables, height);
  for (size_t t = 0; t < tables.size(); ++t) {
    const Table& table = tables[t];
    const std::vector<size_t> widths = Widths(table, shown[t]);
    std::string title = "-- " + table.title;
    if (shown[t] < table.rows.size()) {
      title += " (" + std::to_string(table.rows.size() - shown[t]) + " more rows)";
    }
    lines.push_back(title.substr(0, width));
    std::vector<std::string> names;
    for (size_t c = 0; c < table.columns.size(); ++c) {
      names.push_back(table.columns[c].name + (state.sort == c + 1 ? "*" : ""));
    }
    lines.push_back(Line(table, names, widths, width));
    for (size_t r = 0; r < shown[t]; ++r)
      lines.push_back(Line(table, table.rows[r].cells, widths, width));
    if (t + 1 < tables.size()) lines.emplace_back();
  }
  if (lines.size() > height) lines.resize(height);
  return lines;
}

}  // namespace beacon::app
